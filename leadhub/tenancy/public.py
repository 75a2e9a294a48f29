"""Public endpoints: pages and APIs that a visitor's browser or another system reaches without a
session or an API key (embedded forms, the tracking snippet, hosted landing pages, ad webhooks).

The tenant comes from the URL instead: a `PublicKey` names one object of one organization, or a
resolver maps an organization's slug. `public_endpoint` resolves it before the view runs and runs the
view inside `tenant_context`, rolled back on any 4xx/5xx exactly like the middleware does for signed-in
requests; the middleware leaves these paths alone (`is_public_path`) so that a visitor who happens to
be signed in to LeadHub does not submit a form into their own organization.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from leadhub.tenancy import idempotency
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.errors import json_error
from leadhub.tenancy.models import Organization, PublicKey, PublicKeyKind

# Every public URL starts with one of these; nothing else may.
PUBLIC_PREFIXES: tuple[str, ...] = ("/embed/", "/f/", "/t/", "/t.js", "/p/", "/hooks/", "/r/")

Resolver = Callable[..., int | None]


def is_public_path(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


def public_key_issue(*, organization: Organization | int, kind: str, object_id: int) -> PublicKey:
    """A new unguessable key for one object; the object keeps the key string for its embed code."""
    organization_id = organization if isinstance(organization, int) else organization.pk
    prefix = {
        "form": "f",
        "tracking": "t",
        "landing_page": "p",
        "ad_source": "h",
        "referral": "r",
        "chat": "c",
    }.get(kind, "x")
    return PublicKey.objects.create(
        key=f"{prefix}_{secrets.token_urlsafe(18)}",
        organization_id=organization_id,
        kind=kind,
        object_id=object_id,
    )


def public_key_revoke(*, key: str) -> None:
    PublicKey.objects.filter(key=key, revoked_at__isnull=True).update(revoked_at=timezone.now())


def public_key_resolve(kind: str, key: str) -> PublicKey | None:
    if not key or len(key) > 40:
        return None
    return (
        PublicKey.objects.filter(key=key, kind=kind, revoked_at__isnull=True)
        .select_related("organization")
        .first()
    )


def by_public_key(kind: PublicKeyKind | str, param: str = "key") -> Resolver:
    """Resolver for a URL that carries a public key in `param`; sets `request.public_key`."""

    def resolve(request: HttpRequest, **kwargs: Any) -> int | None:
        found = public_key_resolve(str(kind), str(kwargs.get(param) or request.GET.get(param) or ""))
        if found is None:
            return None
        request.public_key = found  # type: ignore[attr-defined]
        return found.organization_id

    return resolve


def by_organization_slug(param: str = "org") -> Resolver:
    def resolve(request: HttpRequest, **kwargs: Any) -> int | None:
        return Organization.objects.filter(slug=kwargs.get(param, "")).values_list("pk", flat=True).first()

    return resolve


def public_endpoint(resolver: Resolver, *, reason: str, csrf: bool = False) -> Callable[[Any], Any]:
    """Run a public view as the organization `resolver` finds in its URL, or answer 404.

    `reason` is shown by the isolation sweep, which exempts these routes: whoever holds the key may
    reach its object, and only that object. Cross-site posts (a form on a customer's site) carry no
    LeadHub CSRF token, so the view is CSRF-exempt unless `csrf=True`.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            organization_id = resolver(request, **kwargs)
            if organization_id is None:
                raise Http404("No such page.")
            found = getattr(request, "public_key", None)
            organization = (
                found.organization
                if found is not None and found.organization_id == organization_id
                else Organization.objects.get(pk=organization_id)
            )
            request.organization = organization  # type: ignore[attr-defined]
            replay = idempotency.lookup(request)
            if replay is not None:
                return replay
            conflict = False
            with tenant_context(organization):
                response = view(request, *args, **kwargs)
                if response.status_code >= 400:
                    transaction.set_rollback(True)
                else:
                    conflict = not idempotency.store(request, response)
            if conflict:
                return idempotency.lookup(request) or json_error(
                    409, "idempotency_conflict", "A request with this Idempotency-Key is still in progress."
                )
            return response

        wrapper.isolation_exempt = reason  # type: ignore[attr-defined]
        wrapper.public_endpoint = True  # type: ignore[attr-defined]
        return wrapper if csrf else csrf_exempt(wrapper)

    return decorate

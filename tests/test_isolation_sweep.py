"""The isolation sweep of DESIGN.md: every route, tried with another organization's ids.

The routes are discovered from the URL resolver, so an endpoint added later is swept without anyone
remembering to add it here. For every route that carries an object id, the sweep asks the view which
model the id belongs to (DRF viewsets and class-based views set `model`, function views are marked with
`@for_model(Model)`), takes that model's row of *another* organization, and calls the route with every
method, as this organization's admin (session) and with this organization's API key. The answer must be
the one a missing id gets (404 for a detail route): never 2xx, never 500, never a byte of the other
organization's data. Routes without an id are read as this organization, and the other organization's
marker strings must not appear in the answer.

`isolation_sweep()` returns what it found instead of asserting, so that a test can also prove that it
catches a deliberately leaky view.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.test import Client, override_settings
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, path, resolve
from django.urls.converters import IntConverter, UUIDConverter
from django.utils import timezone
from django.utils.regex_helper import normalize

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.models import ApiKey, Membership, Organization
from leadhub.tenancy.rls import tenant_models
from leadhub.tenancy.services import Actor, api_key_create
from leads.models import Contact, Lead
from tests.conftest import clear_test_cache, login, make_api_client

# Not application routes, or documentation of them.
SKIPPED_PREFIXES = ("admin/", "static/", "media/", "api/schema/", "api/docs/", "__debug__/")
ID_PARAM = re.compile(r"(^|_)(pk|id|uuid|slug|key)$")
OBJECT_METHODS = ("GET", "PUT", "PATCH", "DELETE", "POST")
MISSING_INT_ID = 2_000_000_000


# --- data: one row of every tenant model, each carrying a marker string ----------------------


@dataclass
class TenantData:
    """An organization with one row of every tenant model, and the strings that betray its data."""

    organization: Organization
    user: Any
    membership: Membership
    api_key: ApiKey
    marker: str
    rows: dict[type[models.Model], models.Model] = field(default_factory=dict)

    @property
    def tell_tales(self) -> list[str]:
        """Strings that appear only in this organization's data."""
        return [self.marker, self.organization.name, self.user.email, self.api_key.name]

    def row_for(self, model: type[models.Model]) -> models.Model | None:
        """This organization's row of `model` (tenant models, and the tenant core's own tables)."""
        if model in self.rows:
            return self.rows[model]
        specials: dict[type[models.Model], models.Model] = {
            Organization: self.organization,
            Membership: self.membership,
            ApiKey: self.api_key,
            get_user_model(): self.user,
        }
        return specials.get(model)


def _ordered(candidates: list[type[models.Model]]) -> list[type[models.Model]]:
    """Tenant models with each one after the models its required foreign keys point to."""
    ordered: list[type[models.Model]] = []
    pending = list(candidates)
    while pending:
        progressed = False
        for model in list(pending):
            needs = {
                f.related_model
                for f in model._meta.concrete_fields
                if f.is_relation
                and not f.null
                and f.related_model in candidates
                and f.related_model is not model
            }
            if needs <= set(ordered):
                ordered.append(model)
                pending.remove(model)
                progressed = True
        if not progressed:
            raise AssertionError(f"Required foreign keys form a cycle between {pending}: build them by hand.")
    return ordered


def _field_value(model_field: models.Field, marker: str, data: TenantData) -> Any:
    """A valid value for `model_field`; free text carries the row's marker."""
    if model_field.is_relation:
        target = model_field.related_model
        assert isinstance(target, type)
        related = data.row_for(target)
        if related is not None:
            return related
        if model_field.null:
            return None
        raise AssertionError(
            f"The sweep cannot build a {model_field.model.__name__}: "
            f"{model_field.name} needs a {target.__name__}."
        )
    default = model_field.get_default() if model_field.has_default() else None
    if model_field.choices:
        return default if model_field.has_default() else model_field.flatchoices[0][0]
    if isinstance(model_field, models.EmailField):
        return f"{marker}@example.com"
    if isinstance(model_field, models.URLField):
        return f"https://{marker}.example.com/"
    if isinstance(model_field, models.CharField | models.TextField):
        if default not in (None, ""):
            return default  # a meaningful default (a currency, a content type) stays
        max_length = model_field.max_length or len(marker)
        if max_length >= len(marker):
            return marker
        return "" if model_field.blank else marker[:max_length]
    if model_field.has_default():
        return default
    if model_field.null:
        return None
    if isinstance(model_field, models.BooleanField):
        return False
    if isinstance(model_field, models.DecimalField):
        return Decimal("1")
    if isinstance(model_field, models.FloatField):
        return 1.0
    if isinstance(model_field, models.IntegerField):
        return 1
    if isinstance(model_field, models.DateTimeField):
        return timezone.now()
    if isinstance(model_field, models.DateField):
        return timezone.localdate()
    if isinstance(model_field, models.TimeField):
        return dt.time(9, 0)
    if isinstance(model_field, models.DurationField):
        return dt.timedelta(minutes=5)
    if isinstance(model_field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(model_field, models.JSONField):
        return {}
    if isinstance(model_field, models.BinaryField):
        return marker.encode()
    if isinstance(model_field, models.GenericIPAddressField):
        return "192.0.2.10"
    raise AssertionError(f"The sweep does not know how to fill {model_field!r}; teach _field_value.")


def tenant_data_build(
    *, organization: Organization, user: Any, membership: Membership, api_key: ApiKey
) -> TenantData:
    """One row of every tenant model in `organization`, related to each other where the schema allows."""
    marker = f"canary{secrets.token_hex(4)}"
    data = TenantData(
        organization=organization, user=user, membership=membership, api_key=api_key, marker=marker
    )
    with tenant_context(organization):
        for index, model in enumerate(_ordered(tenant_models())):
            row_marker = f"{marker}x{index:02d}"
            values: dict[str, Any] = {}
            for model_field in model._meta.concrete_fields:
                if model_field.primary_key or model_field.name == "organization":
                    continue
                if getattr(model_field, "generated", False):
                    continue  # computed by the database from the other columns
                if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
                    continue
                if model_field.is_relation and model_field.related_model is model:
                    continue  # a tree's root has no parent
                values[model_field.name] = _field_value(model_field, row_marker, data)
            instance = model(organization=organization, **values)
            instance.save()
            data.rows[model] = instance
    return data


def member_tenant_data(organization: Organization, user: Any) -> TenantData:
    """`organization` with an API key of its own and one row of every tenant model; `user` is a member."""
    membership = Membership.objects.get(organization=organization, user=user)
    with tenant_context(organization):
        key, _ = api_key_create(
            organization=organization,
            name=f"key {secrets.token_hex(6)}",
            actor=Actor.system("isolation sweep"),
        )
    return tenant_data_build(organization=organization, user=user, membership=membership, api_key=key)


# --- routes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pattern: str  # e.g. "api/v1/leads/%(pk)s/"
    params: tuple[str, ...]
    converters: dict[str, Any]
    callback: Callable[..., Any]

    @property
    def id_params(self) -> list[str]:
        return [
            p
            for p in self.params
            if ID_PARAM.search(p) or isinstance(self.converters.get(p), IntConverter | UUIDConverter)
        ]

    def __str__(self) -> str:
        view = (
            getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None) or self.callback
        )
        where = f"{view.__module__}.{getattr(view, '__qualname__', view)}"
        actions = getattr(self.callback, "actions", None)
        shown = "/" + self.pattern % {p: f"<{p}>" for p in self.params}
        return f"{shown} ({where}{' ' + str(actions) if actions else ''})"


def routes_discover(urlconf: Any = None) -> list[Route]:
    """Every URL pattern of the project, walking includes recursively."""
    found: list[Route] = []

    def walk(patterns: Iterable[URLPattern | URLResolver], prefix: str, converters: dict[str, Any]) -> None:
        for entry in patterns:
            regex = entry.pattern.regex.pattern.removeprefix("^")
            combined_converters = {**converters, **getattr(entry.pattern, "converters", {})}
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + regex, combined_converters)
                continue
            pattern, params = normalize(prefix + regex)[0]
            if "format" in params:  # DRF's ".json" twin of a route that is swept anyway
                continue
            if pattern.startswith(SKIPPED_PREFIXES):
                continue
            found.append(Route(pattern, tuple(params), combined_converters, entry.callback))

    walk(get_resolver(urlconf).url_patterns, "", {})
    return found


def _view_holders(callback: Callable[..., Any]) -> Iterator[Any]:
    seen: Any = callback
    while seen is not None:
        yield seen
        seen = getattr(seen, "__wrapped__", None)
    for attribute in ("cls", "view_class"):
        if getattr(callback, attribute, None) is not None:
            yield getattr(callback, attribute)


def declared_model(callback: Callable[..., Any]) -> type[models.Model] | None:
    for holder in _view_holders(callback):
        model = getattr(holder, "model", None)
        if isinstance(model, type) and issubclass(model, models.Model):
            return model
        queryset = getattr(holder, "queryset", None)
        if queryset is not None and hasattr(queryset, "model"):
            return queryset.model
    return None


def exemption(callback: Callable[..., Any]) -> str:
    """Why a route serves any organization's object on purpose (a public form by its public key)."""
    for holder in _view_holders(callback):
        reason = getattr(holder, "isolation_exempt", "")
        if reason:
            return str(reason)
    return ""


def _models_by_name() -> dict[str, type[models.Model]]:
    names: dict[str, type[models.Model]] = {}
    candidates: list[type[models.Model]] = [
        *tenant_models(),
        Organization,
        Membership,
        ApiKey,
        get_user_model(),
    ]
    for model in candidates:
        names[model._meta.model_name or ""] = model
        names[re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()] = model
    names["user"] = get_user_model()
    names["member"] = Membership
    names["org"] = Organization
    return names


def _lookup_attribute(route: Route, param: str, model: type[models.Model]) -> tuple[type[models.Model], str]:
    """(model, attribute) whose value goes into URL parameter `param`."""
    for holder in _view_holders(route.callback):
        if getattr(holder, "lookup_url_kwarg", None) == param or (
            getattr(holder, "lookup_url_kwarg", None) is None
            and getattr(holder, "lookup_field", None) == param
        ):
            return model, holder.lookup_field
        if hasattr(holder, "slug_url_kwarg") and holder.slug_url_kwarg == param:
            return model, holder.slug_field
    stem = re.sub(r"_?(pk|id|uuid|slug|key)$", "", param)
    named = _models_by_name().get(stem) if stem else None
    if named is not None and named is not model:
        suffix = param[len(stem) :].lstrip("_")
        return named, ("pk" if suffix in {"pk", "id"} else suffix)
    field_names = {f.name for f in model._meta.concrete_fields}
    if param in field_names and param not in {"id", "pk"}:
        return model, param
    return model, "pk"


def _plain_value(route: Route, param: str, model: type[models.Model] | None) -> Any:
    """A valid value for a parameter that is not an object id (a stage, a report name)."""
    for candidate in [model, *tenant_models()]:
        if candidate is None:
            continue
        try:
            model_field = candidate._meta.get_field(param)
        except FieldDoesNotExist:
            continue
        if getattr(model_field, "choices", None):
            return model_field.flatchoices[0][0]  # type: ignore[union-attr]
    return 1 if isinstance(route.converters.get(param), IntConverter) else "x"


def _missing_like(value: Any) -> Any:
    if isinstance(value, int):
        return MISSING_INT_ID
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    return f"missing{secrets.token_hex(4)}"


def _url(route: Route, values: dict[str, Any], urlconf: Any) -> str:
    url = "/" + route.pattern % {name: str(value) for name, value in values.items()}
    # A route ending in "/?" normalises to its slash-less form; prefer the canonical one with the slash.
    if not url.endswith("/"):
        with contextlib.suppress(Resolver404):
            if resolve(url + "/", urlconf).func is route.callback:
                url += "/"
    return url


# --- the sweep -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    route: str
    method: str
    principal: str
    problem: str

    def __str__(self) -> str:
        return f"{self.method} {self.route} as {self.principal}: {self.problem}"


@dataclass
class SweepReport:
    leaks: list[Leak] = field(default_factory=list)
    object_routes: list[str] = field(default_factory=list)
    collection_routes: list[str] = field(default_factory=list)
    exempt_routes: list[str] = field(default_factory=list)


def _body(response: HttpResponse) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")  # type: ignore[attr-defined]
    return response.content.decode(errors="replace")


def _call(client: Client, method: str, url: str, *, api: bool) -> Any:
    clear_test_cache()  # rate-limit counters: a 429 would hide what the route really answers
    if method == "GET":
        return client.get(url)
    if api:
        return client.generic(method, url, json.dumps({}), content_type="application/json")
    return client.generic(method, url, "", content_type="application/x-www-form-urlencoded")


def isolation_sweep(
    *,
    theirs: TenantData,
    session_client: Callable[[], Client],
    api_client: Callable[[], Client],
    urlconf: Any = None,
) -> SweepReport:
    """Call every route with the given clients (another organization's) and `theirs`' ids; return every
    answer that betrays `theirs`."""
    report = SweepReport()
    principals = {"admin session": session_client, "API key": api_client}

    def request(route: Route, method: str, principal: str, url: str) -> tuple[int | None, str]:
        client = principals[principal]()
        try:
            # A savepoint per request: a view's database error must not poison the test's transaction.
            with transaction.atomic():
                response = _call(client, method, url, api=url.startswith("/api/"))
        except Exception as exc:
            report.leaks.append(Leak(str(route), method, principal, f"raised {type(exc).__name__}: {exc}"))
            return None, ""
        return response.status_code, _body(response)

    def betrays(route: Route, method: str, principal: str, status: int | None, body: str) -> None:
        if status is not None and status >= 500:
            report.leaks.append(Leak(str(route), method, principal, f"answered {status}"))
        for tell_tale in theirs.tell_tales:
            if tell_tale and tell_tale in body:
                report.leaks.append(
                    Leak(
                        str(route),
                        method,
                        principal,
                        f"the answer contains the other organization's {tell_tale!r}",
                    )
                )

    for route in routes_discover(urlconf):
        reason = exemption(route.callback)
        if reason:
            report.exempt_routes.append(f"{route}: {reason}")
            continue
        model = declared_model(route.callback)
        id_params = route.id_params
        if not id_params:
            report.collection_routes.append(str(route))
            url = _url(route, {p: _plain_value(route, p, model) for p in route.params}, urlconf)
            for principal in principals:
                status, body = request(route, "GET", principal, url)
                betrays(route, "GET", principal, status, body)
            continue
        if model is None:
            report.leaks.append(
                Leak(
                    str(route),
                    "*",
                    "-",
                    "the route takes an object id but declares no model: set `model = X` on the view "
                    "class or viewset, or decorate the function view with @for_model(X) "
                    "(leadhub.tenancy.decorators), "
                    "so the isolation sweep can try it with another organization's id",
                )
            )
            continue
        report.object_routes.append(str(route))
        foreign: dict[str, Any] = {}
        missing: dict[str, Any] = {}
        unknown = ""
        for param in route.params:
            if param not in id_params:
                foreign[param] = missing[param] = _plain_value(route, param, model)
                continue
            target, attribute = _lookup_attribute(route, param, model)
            row = theirs.row_for(target)
            if row is None:
                unknown = f"no row of {target.__name__} to try for <{param}>"
                break
            foreign[param] = getattr(row, attribute)
            missing[param] = _missing_like(foreign[param])
        if unknown:
            report.leaks.append(Leak(str(route), "*", "-", f"the sweep cannot try this route: {unknown}"))
            continue
        foreign_url, missing_url = _url(route, foreign, urlconf), _url(route, missing, urlconf)
        for principal in principals:
            for method in OBJECT_METHODS:
                expected, _ = request(route, method, principal, missing_url)
                status, body = request(route, method, principal, foreign_url)
                betrays(route, method, principal, status, body)
                if status is None or status >= 500:
                    continue
                if 200 <= status < 300:
                    report.leaks.append(
                        Leak(
                            str(route), method, principal, f"answered {status} for another organization's id"
                        )
                    )
                elif expected is not None and status != expected:
                    report.leaks.append(
                        Leak(
                            str(route),
                            method,
                            principal,
                            f"answered {status} for another organization's id "
                            f"but {expected} for a missing one",
                        )
                    )
    return report


def _rows_left(data: TenantData) -> dict[str, int]:
    with tenant_context(data.organization):
        return {
            model.__name__: model._base_manager.filter(pk=row.pk).count() for model, row in data.rows.items()
        }


@pytest.fixture
def sweep_parties(
    org: Organization, other_org: Organization, admin_user: Any, other_admin: Any
) -> tuple[TenantData, TenantData, Callable[[], Client], Callable[[], Client]]:
    # Our organization holds rows too, so that pages and lists render real data while the sweep looks
    # for theirs.
    ours = member_tenant_data(org, admin_user)
    theirs = member_tenant_data(other_org, other_admin)
    key_client = make_api_client(org)
    signed_in: list[Client] = []

    def session_client() -> Client:
        # One session for the whole sweep, signed in again only if a route signed it out or switched it
        # to another organization.
        session = signed_in[0].session if signed_in else None
        if session is None or (
            session.get(SESSION_KEY) != str(admin_user.pk) or session.get("organization_id") != org.pk
        ):
            signed_in[:] = [login(admin_user, org)]
        return signed_in[0]

    return ours, theirs, session_client, (lambda: key_client)


def _explain(report: SweepReport) -> str:
    return "\n".join(["Cross-tenant access found:", *(f"  {leak}" for leak in report.leaks)])


def test_no_route_lets_one_organization_reach_anothers_data(sweep_parties: Any) -> None:
    _, theirs, session_client, api_client = sweep_parties
    report = isolation_sweep(theirs=theirs, session_client=session_client, api_client=api_client)

    assert not report.leaks, _explain(report)
    assert report.collection_routes and report.object_routes, "the sweep found no routes to try"
    # Nothing of the other organization was changed or deleted by the PUT/PATCH/DELETE/POST calls.
    assert set(_rows_left(theirs).values()) == {1}


def test_every_tenant_model_has_a_row_to_sweep_with(sweep_parties: Any) -> None:
    _, theirs, _, _ = sweep_parties
    assert set(theirs.rows) == set(tenant_models())
    with tenant_context(theirs.organization):
        contact = Contact.objects.get(pk=theirs.rows[Contact].pk)
    assert contact.email.startswith(theirs.marker)


# --- proof that the sweep catches what it is meant to catch ----------------------------------


@for_model(Lead)
def _leaky_lead_detail(request: HttpRequest, pk: int) -> JsonResponse:
    lead = Lead.unscoped.select_related("contact").get(pk=pk)  # the forgotten tenant filter
    return JsonResponse({"id": lead.pk, "email": lead.contact.email})


@for_model(Lead)
def _scoped_lead_detail(request: HttpRequest, pk: int) -> JsonResponse:
    lead = get_object_or_404(Lead.objects.select_related("contact"), pk=pk)
    return JsonResponse({"id": lead.pk, "email": lead.contact.email})


@for_model(Organization)
def _leaky_organization_detail(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"name": Organization.objects.get(pk=pk).name})


def _leaky_member_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"emails": list(Membership.objects.values_list("user__email", flat=True))})


def _scoped_contact_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"emails": list(Contact.objects.values_list("email", flat=True))})


def _undeclared_lead_notes(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"notes": []})


def _not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "not found"}, status=404)


class LeakyUrls:
    handler404 = staticmethod(_not_found)
    urlpatterns = [
        path("leaky/leads/<int:pk>/", _leaky_lead_detail),
        path("scoped/leads/<int:pk>/", _scoped_lead_detail),
        path("leaky/organizations/<int:pk>/", _leaky_organization_detail),
        path("leaky/members/", _leaky_member_list),
        path("scoped/contacts/", _scoped_contact_list),
        path("undeclared/leads/<int:pk>/notes/", _undeclared_lead_notes),
    ]


def test_the_sweep_catches_a_view_that_forgets_the_tenant(sweep_parties: Any) -> None:
    _, theirs, session_client, api_client = sweep_parties
    with override_settings(ROOT_URLCONF=LeakyUrls):
        report = isolation_sweep(
            theirs=theirs, session_client=session_client, api_client=api_client, urlconf=LeakyUrls
        )

    flagged = {leak.route.split(" ")[0] for leak in report.leaks}
    assert flagged == {
        "/leaky/leads/<pk>/",
        "/leaky/organizations/<pk>/",
        "/leaky/members/",
        "/undeclared/leads/<pk>/notes/",
    }, _explain(report)
    undeclared = [leak for leak in report.leaks if leak.route.startswith("/undeclared/")]
    assert "declares no model" in undeclared[0].problem and "@for_model" in undeclared[0].problem
    leaky_lead = [leak for leak in report.leaks if leak.route.startswith("/leaky/leads/")]
    # SQLite hands the row over (200 with the other organization's email); PostgreSQL's row-level security
    # hides it, so the forgotten filter surfaces as an error instead. Both are reported.
    assert any("200" in leak.problem or "raised" in leak.problem for leak in leaky_lead)
    assert {leak.principal for leak in leaky_lead} == {"admin session", "API key"}

"""Resolve the tenant once per request and run the request inside it.

Browser requests take the tenant from the user's membership (the organization they switched to, kept
in the session); API requests carrying `Authorization: Bearer <key>` take it from the key. Views
receive `request.organization`; nothing downstream reads a tenant id from the request again.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from leadhub.tenancy import idempotency
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.errors import json_error
from leadhub.tenancy.public import is_public_path
from leadhub.tenancy.selectors import membership_for_request
from leadhub.tenancy.services import api_key_authenticate

SESSION_ORGANIZATION_KEY = "organization_id"


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        request.api_key = None  # type: ignore[attr-defined]

        if is_public_path(request.path_info):
            # Public endpoints take the tenant from their URL (leadhub.tenancy.public), never from the
            # visitor's own LeadHub session.
            return self.get_response(request)
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        if authorization.lower().startswith("bearer "):
            key = api_key_authenticate(authorization[7:])
            if key is None:
                return json_error(401, "invalid_api_key", "The API key is missing, malformed or revoked.")
            request.api_key = key  # type: ignore[attr-defined]
            request.organization = key.organization  # type: ignore[attr-defined]
        elif request.user.is_authenticated:
            membership = membership_for_request(
                user=request.user, organization_id=request.session.get(SESSION_ORGANIZATION_KEY)
            )
            if membership is not None:
                request.membership = membership  # type: ignore[attr-defined]
                request.organization = membership.organization  # type: ignore[attr-defined]

        organization = request.organization  # type: ignore[attr-defined]
        if organization is None:
            return self.get_response(request)
        replay = idempotency.lookup(request)
        if replay is not None:
            return replay
        conflict = False
        with tenant_context(organization):
            response = self.get_response(request)
            if response.status_code >= 400:
                # Django turns a view's exception into a response before it reaches this middleware,
                # so the transaction would otherwise commit a half-done write.
                transaction.set_rollback(True)
            else:
                conflict = not idempotency.store(request, response)
        if conflict:
            # A concurrent request with the same key won the race; answer with its stored result.
            return idempotency.lookup(request) or json_error(
                409, "idempotency_conflict", "A request with this Idempotency-Key is still in progress."
            )
        return response

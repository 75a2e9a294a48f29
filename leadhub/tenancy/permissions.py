from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from leadhub.tenancy.models import ApiKeyScope, Role


class HasTenant(BasePermission):
    """A resolved tenant and a principal allowed on this view.

    API keys need the full scope unless the view declares `capture_scope_allowed = True`; members need
    one of the view's `allowed_roles` (all roles when the view does not narrow them).
    """

    message = "Authenticate with an API key (Authorization: Bearer <key>) or a dashboard session."

    def has_permission(self, request: Request, view: Any) -> bool:
        organization = getattr(request._request, "organization", None)
        if organization is None:
            return False
        key = getattr(request._request, "api_key", None)
        if key is not None:
            if key.scope == ApiKeyScope.FULL:
                return True
            if getattr(view, "capture_scope_allowed", False):
                return True
            self.message = "This API key has the capture scope only; this endpoint needs a full-access key."
            return False
        membership = getattr(request._request, "membership", None)
        if membership is None:
            return False
        allowed = getattr(view, "allowed_roles", None)
        if allowed is not None and membership.role not in allowed:
            self.message = "Your role does not allow this action."
            return False
        return True


class IsTenantAdmin(HasTenant):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        membership = getattr(request._request, "membership", None)
        if membership is not None and membership.role != Role.ADMIN:
            self.message = "Only organization admins can do this."
            return False
        return True

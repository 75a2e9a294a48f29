"""DRF authentication that reuses what TenantMiddleware resolved: the tenant is resolved once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        key = getattr(request._request, "api_key", None)
        if key is None:
            return None
        return AnonymousUser(), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class TenantSessionAuthentication(SessionAuthentication):
    """Dashboard users calling the API from the browser: session plus CSRF, within their membership."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if getattr(request._request, "membership", None) is None:
            return None
        return super().authenticate(request)

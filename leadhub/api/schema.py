"""OpenAPI documentation shared by every API view: the error shape as one component, the error
responses each operation can give, and the `Idempotency-Key` header on POSTs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID) of at most 255 characters. A retry with the same key and body returns "
        "the first answer (with `Idempotent-Replayed: true`) and writes nothing; the same key with a "
        "different body is refused with 422. Keys are kept for 24 hours."
    ),
)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: validation_error, not_found, throttled, ...")
    message = serializers.CharField(help_text="A sentence for people.")

    def get_fields(self) -> dict[str, serializers.Field]:
        # `fields` is also an attribute of every serializer, so the field is added here, not declared.
        return {
            **super().get_fields(),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text="Messages per field; nested ones as dotted paths (items.3.contact).",
            ),
        }


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_DESCRIPTIONS = {
    "400": "The request is invalid; `error.fields` names each field and why.",
    "401": "The API key is missing, malformed or revoked.",
    "403": "The key's scope or the user's role does not allow this.",
    "404": "No such resource in this organization.",
    "409": "A request with this Idempotency-Key is still in progress.",
    "422": "This Idempotency-Key was already used for a different request.",
    "429": "Too many requests; retry after the number of seconds in `Retry-After`.",
}


class LeadHubAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        fields = getattr(self.view, "ordering_fields", None)
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "ordering" and fields:
                parameter["description"] = (
                    f"Sort by one of: {', '.join(fields)}; prefix with `-` for descending "
                    f"(default `{getattr(self.view, 'ordering', '-id')}`). Ties are broken by id."
                )
        codes = ["401", "403", "429"]
        if self.method in {"POST", "PUT", "PATCH"} or (self.method == "GET" and self._is_list_view()):
            codes.append("400")
        if self.method == "POST":
            codes += ["409", "422"]
        if "{" in self.path:
            codes.append("404")
        ref = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for code in sorted(codes):
            responses.setdefault(
                code,
                {"description": _ERROR_DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}},
            )
        if "429" in responses:
            responses["429"].setdefault(
                "headers",
                {
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "description": "Seconds until the next allowed call.",
                    }
                },
            )
        return operation


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "leadhub.tenancy.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "lh_<prefix>_<secret>",
            "description": "An organization's API key: `Authorization: Bearer lh_...`.",
        }


class TenantSessionScheme(OpenApiAuthenticationExtension):
    target_class = "leadhub.tenancy.authentication.TenantSessionAuthentication"
    name = "Session"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A dashboard session (CSRF token on writes), in the organization chosen there.",
        }

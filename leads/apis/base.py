"""Shared pieces of the capture API: the base viewset, error helpers, bulk answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.api.base import TenantGenericViewSet
from leadhub.api.errors import django_validation_fields
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leads import services
from leads.models import CustomField, CustomFieldEntity

MARKETING_ROLES = frozenset({Role.ADMIN, Role.MARKETER})


CUSTOM_FIELD_PARAMETER = OpenApiParameter(
    name="cf.<key>",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.QUERY,
    required=False,
    description=(
        "Custom field filters: replace `<key>` with a custom field's key, e.g. `cf.plan=pro`. Number and "
        "date fields also take `cf.<key>__gte=` and `cf.<key>__lte=`. Text compares case-insensitively. An "
        "unknown key is a 400 naming the parameter."
    ),
)


def errors_of(exc: DjangoValidationError | serializers.ValidationError) -> dict[str, list[str]]:
    if isinstance(exc, DjangoValidationError):
        return django_validation_fields(exc)
    detail = exc.detail
    if isinstance(detail, Mapping):
        return {
            key: [str(m) for m in (value if isinstance(value, list) else [value])]
            for key, value in detail.items()
        }
    return {"non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


def flat_errors(errors: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors as {"a.b": [messages]} (the shape of the API's error `fields`)."""
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flat_errors(value, path))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value):
                flat.update(flat_errors(item, f"{path}.{index}"))
        else:
            flat[path] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return flat


def validate_each(
    serializer: serializers.Serializer, items: list[Any], errors: dict[int, dict[str, list[str]]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Validate items one by one with a single serializer instance (DRF builds its fields once, which
    is most of the cost of a serializer), yielding (index, data) and recording errors by index."""
    for index, raw in enumerate(items):
        try:
            data = serializer.run_validation(raw)
        except serializers.ValidationError as exc:
            detail = exc.detail
            errors[index] = flat_errors(detail) if isinstance(detail, Mapping) else errors_of(exc)
            continue
        yield index, dict(data)


class ApiViewSet(TenantGenericViewSet):
    """PATCH rather than PUT; reads for every role, writes for `write_roles` (None: every role)."""

    schema = LeadHubAutoSchema()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    write_roles: ClassVar[frozenset[str] | None] = None
    output_serializer: ClassVar[type[serializers.Serializer]]

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        if self.request.method in SAFE_METHODS:
            return None
        return self.write_roles

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request._request)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return self.output_serializer

    def parse(
        self, serializer_class: type[serializers.Serializer], *, partial: bool = False, **context: Any
    ) -> dict[str, Any]:
        serializer = serializer_class(
            data=self.request.data, partial=partial, context={**self.get_serializer_context(), **context}
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def render(self, instance: Any, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(
            self.output_serializer(instance, context=self.get_serializer_context()).data, status=status_code
        )

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        data = self.output_serializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self.render(self.get_object())


def contact_custom_clean(
    contact_data: Mapping[str, Any], prefix: str, definitions: Mapping[str, dict[str, CustomField]]
) -> None:
    """Check a captured contact's (and its company's) custom values with paths that name them."""
    services.custom_values_clean(
        entity=CustomFieldEntity.CONTACT,
        values=contact_data.get("custom_fields"),
        field_prefix=f"{prefix}.custom_fields",
        definitions=dict(definitions[CustomFieldEntity.CONTACT]),
    )
    company = contact_data.get("company") or {}
    services.custom_values_clean(
        entity=CustomFieldEntity.COMPANY,
        values=company.get("custom_fields"),
        field_prefix=f"{prefix}.company.custom_fields",
        definitions=dict(definitions[CustomFieldEntity.COMPANY]),
    )


def custom_definitions() -> dict[str, dict[str, CustomField]]:
    by_entity: dict[str, dict[str, CustomField]] = {
        CustomFieldEntity.CONTACT: {},
        CustomFieldEntity.COMPANY: {},
    }
    for field in CustomField.objects.all():
        by_entity.setdefault(field.entity, {})[field.key] = field
    return by_entity


BulkRun = Callable[
    [list[dict[str, Any]], bool], tuple[dict[int, dict[str, Any]], dict[int, dict[str, list[str]]]]
]


def bulk_answer(envelope: dict[str, Any], run: BulkRun) -> Response:
    items, partial = envelope["items"], envelope["partial"]
    results, errors = run(items, partial)
    if errors and not partial:
        # The exception handler answers 400 and rolls the whole request back: nothing is written.
        raise serializers.ValidationError(
            {"items": {str(index): item_errors for index, item_errors in sorted(errors.items())}}
        )
    rows = [results.get(i) or {"index": i, "errors": errors[i]} for i in range(len(items))]
    body = {"results": rows, "succeeded": len(results), "failed": len(errors)}
    return Response(body, status=status.HTTP_207_MULTI_STATUS if errors else status.HTTP_201_CREATED)

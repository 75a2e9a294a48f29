"""Custom field definitions."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.tenancy.models import Organization
from leads import selectors, services
from leads.apis.base import MARKETING_ROLES, ApiViewSet
from leads.models import CustomField
from leads.serializers import (
    CustomFieldCreateSerializer,
    CustomFieldOutputSerializer,
    CustomFieldUpdateSerializer,
)


class CustomFieldViewSet(ApiViewSet):
    """Definitions of the organization's custom fields on contacts and companies. A field's type cannot
    change while records hold values for it; deleting a field removes its values."""

    model = CustomField
    output_serializer = CustomFieldOutputSerializer
    ordering_fields = ["id", "position"]
    ordering = "id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[CustomField]:
        return selectors.custom_field_list(organization=organization)

    @extend_schema(request=CustomFieldCreateSerializer, responses={201: CustomFieldOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(CustomFieldCreateSerializer)
        field = services.custom_field_create(
            entity=data["entity"],
            key=data["key"],
            label=data.get("label", ""),
            field_type=data["field_type"],
            choices=data.get("choices"),
            help_text=data.get("help_text", ""),
            position=data.get("position", 0),
        )
        return self.render(field, status.HTTP_201_CREATED)

    @extend_schema(request=CustomFieldUpdateSerializer, responses=CustomFieldOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        field = self.get_object()
        data = self.parse(CustomFieldUpdateSerializer, partial=True, custom_field=field)
        return self.render(services.custom_field_update(field=field, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.custom_field_delete(field=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

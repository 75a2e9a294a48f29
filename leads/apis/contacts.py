"""Contacts and companies."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.tenancy.models import Organization
from leads import selectors, services
from leads.apis.base import CUSTOM_FIELD_PARAMETER, ApiViewSet
from leads.filters import CompanyFilter, ContactFilter
from leads.models import Company, Contact
from leads.serializers import (
    CompanyInputSerializer,
    CompanyOutputSerializer,
    ContactInputSerializer,
    ContactOutputSerializer,
)


@extend_schema_view(list=extend_schema(parameters=[CUSTOM_FIELD_PARAMETER]))
class CompanyViewSet(ApiViewSet):
    """Companies (accounts) contacts work for; `custom_fields` holds the company's custom field values."""

    model = Company
    output_serializer = CompanyOutputSerializer
    filterset_class = CompanyFilter
    ordering_fields = ["id", "name", "created_at"]
    ordering = "-id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Company]:
        return selectors.company_list(organization=organization)

    @extend_schema(request=CompanyInputSerializer, responses={201: CompanyOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(CompanyInputSerializer)
        return self.render(services.company_create(data=data, actor=self.actor), status.HTTP_201_CREATED)

    @extend_schema(request=CompanyInputSerializer, responses=CompanyOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        company = self.get_object()
        data = self.parse(CompanyInputSerializer, partial=True)
        return self.render(services.company_update(company=company, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.company_delete(company=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(list=extend_schema(parameters=[CUSTOM_FIELD_PARAMETER]))
class ContactViewSet(ApiViewSet):
    """People. Unique per organization by normalised email: POST upserts (200 when the email was known,
    and known values are never overwritten with blanks); PATCH edits (blanks clear)."""

    model = Contact
    output_serializer = ContactOutputSerializer
    filterset_class = ContactFilter
    ordering_fields = ["id", "created_at", "updated_at"]
    ordering = "-id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Contact]:
        return selectors.contact_list(organization=organization)

    @extend_schema(
        request=ContactInputSerializer, responses={201: ContactOutputSerializer, 200: ContactOutputSerializer}
    )
    def create(self, request: Request) -> Response:
        data = self.parse(ContactInputSerializer)
        contact, created = services.contact_upsert(data=data, actor=self.actor)
        return self.render(contact, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=ContactInputSerializer, responses=ContactOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        data = self.parse(ContactInputSerializer, partial=True)
        return self.render(services.contact_update(contact=contact, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.contact_delete(contact=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

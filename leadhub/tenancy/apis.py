"""Tenancy API (/api/v1/...): who is calling, and the organization's admin surfaces — API keys, members
and the audit log. Admin-only for dashboard users; a full-scope API key may use them too."""

from __future__ import annotations

from typing import ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadhub.api.base import TenantGenericViewSet
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import ApiKey, AuditLog, Membership, Organization
from leadhub.tenancy.permissions import HasTenant, IsTenantAdmin
from leadhub.tenancy.selectors import organization_members
from leadhub.tenancy.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeyOutputSerializer,
    AuditLogSerializer,
    MemberOutputSerializer,
    MemberUpdateSerializer,
    MeSerializer,
    me_data,
)
from leadhub.tenancy.services import Actor, api_key_create, api_key_revoke, membership_remove, membership_set


class MeApi(APIView):
    """The caller: a signed-in user with their role, or an API key, and the organization."""

    schema = LeadHubAutoSchema()
    permission_classes = [HasTenant]
    # Any key may ask who it is, so that a misconfigured form key is easy to diagnose.
    capture_scope_allowed = True

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(me_data(request._request)).data)


class AdminViewSet(TenantGenericViewSet):
    schema = LeadHubAutoSchema()
    permission_classes = [IsTenantAdmin]
    lookup_value_regex = r"\d+"
    output_serializer: ClassVar[type[serializers.Serializer]]

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request._request)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return self.output_serializer

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.output_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.output_serializer(self.get_object()).data)


class ApiKeyViewSet(AdminViewSet):
    """The organization's API keys. The full key is in the creation answer only; DELETE (or POST
    .../revoke/) revokes a key, which stays listed with its revocation time."""

    model = ApiKey
    output_serializer = ApiKeyOutputSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    filterset_fields: ClassVar[list[str]] = ["scope"]
    ordering_fields = ["id", "created_at"]
    ordering = "-id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[ApiKey]:
        return ApiKey.objects.filter(organization=organization).select_related("created_by")

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = api_key_create(
            organization=self.organization, actor=self.actor, **serializer.validated_data
        )
        body = ApiKeyCreatedSerializer(key, context={"raw_key": raw}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        api_key_revoke(key=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ApiKeyOutputSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request: Request, pk: str) -> Response:
        key = api_key_revoke(key=self.get_object(), actor=self.actor)
        return Response(ApiKeyOutputSerializer(key).data)


class MemberViewSet(AdminViewSet):
    """Members of the organization and their roles. Role changes and removals are audited; the last
    admin can be neither demoted nor removed."""

    model = Membership
    output_serializer = MemberOutputSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    filterset_fields: ClassVar[list[str]] = ["role"]
    ordering_fields = ["id", "created_at"]
    ordering = "id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Membership]:
        return organization_members(organization=organization)

    @extend_schema(request=MemberUpdateSerializer, responses=MemberOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        membership = self.get_object()
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_set(
            organization=self.organization,
            user=membership.user,
            role=serializer.validated_data["role"],
            actor=self.actor,
        )
        return Response(MemberOutputSerializer(membership).data)

    def destroy(self, request: Request, pk: str) -> Response:
        membership_remove(membership=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    pass


class AuditLogFilter(django_filters.FilterSet):
    action = CharInFilter(
        help_text="One or more actions, comma-separated (e.g. api_key.created,api_key.revoked)."
    )
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="On or after this ISO 8601 time."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", help_text="On or before this ISO 8601 time."
    )

    class Meta:
        model = AuditLog
        fields: ClassVar[list[str]] = []


class AuditLogViewSet(AdminViewSet):
    """Security-relevant actions of the organization (keys, roles, exports, erasures), newest first."""

    model = AuditLog
    output_serializer = AuditLogSerializer
    http_method_names = ["get", "head", "options"]
    filterset_class = AuditLogFilter
    ordering_fields = ["id", "created_at"]
    ordering = "-created_at"

    def scoped_queryset(self, organization: Organization) -> QuerySet[AuditLog]:
        return AuditLog.objects.filter(organization=organization)

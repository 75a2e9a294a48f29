"""The SLA API under /api/v1/conversion/sla/: compliance over a period, policies, business hours and
holidays. For admins and sales managers (and full-scope API keys); thin: parse, call, render."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversion.models import BusinessHours, Holiday, SlaPolicy
from conversion.sla import selectors, services
from conversion.sla.serializers import (
    BusinessHoursInputSerializer,
    BusinessHoursOutputSerializer,
    BusinessHoursUpdateSerializer,
    ComplianceQuerySerializer,
    ComplianceSerializer,
    HolidayInputSerializer,
    HolidayOutputSerializer,
    PolicyInputSerializer,
    PolicyOutputSerializer,
)
from leadhub.api.base import TenantScopedMixin
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import Organization, Role
from leads.apis.base import ApiViewSet

SLA_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER})


class SlaViewSet(ApiViewSet):
    """Reads and writes for admins and sales managers only: SLA settings are a manager's tool."""

    write_roles = SLA_ROLES

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        return SLA_ROLES


class PolicyViewSet(SlaViewSet):
    """SLA policies in the order they are tried; the first whose conditions hold applies to a handoff.
    With none matching, the default policy applies (accept in 240, first contact in 480 business
    minutes, warning at 75%, the manager notified at breach)."""

    model = SlaPolicy
    output_serializer = PolicyOutputSerializer
    ordering = "id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[SlaPolicy]:
        return SlaPolicy.objects.order_by("position", "id")

    @extend_schema(request=PolicyInputSerializer, responses={201: PolicyOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(PolicyInputSerializer)
        return self.render(services.sla_policy_create(data=data, actor=self.actor), status.HTTP_201_CREATED)

    @extend_schema(request=PolicyInputSerializer, responses=PolicyOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        policy = self.get_object()
        data = self.parse(PolicyInputSerializer, partial=True)
        return self.render(services.sla_policy_update(policy=policy, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.sla_policy_delete(policy=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BusinessHoursViewSet(SlaViewSet):
    """Weekly hours: one row per team (in the team's time zone) and one organization default (with its
    own zone) for handoffs without a team and teams without hours. POST replaces the row of that team."""

    model = BusinessHours
    output_serializer = BusinessHoursOutputSerializer
    ordering = "id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[BusinessHours]:
        return BusinessHours.objects.select_related("team").order_by("id")

    @extend_schema(request=BusinessHoursInputSerializer, responses={201: BusinessHoursOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(BusinessHoursInputSerializer)
        hours = services.business_hours_save(
            team=data["team"], week=data["week"], timezone_name=data.get("timezone"), actor=self.actor
        )
        return self.render(hours, status.HTTP_201_CREATED)

    @extend_schema(request=BusinessHoursUpdateSerializer, responses=BusinessHoursOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        hours = self.get_object()
        data = self.parse(BusinessHoursUpdateSerializer, partial=True)
        saved = services.business_hours_save(
            team=hours.team,
            week=data.get("week", hours.week),
            timezone_name=data.get("timezone", hours.timezone),
            actor=self.actor,
        )
        return self.render(saved)

    def destroy(self, request: Request, pk: str) -> Response:
        services.business_hours_delete(hours=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HolidayViewSet(SlaViewSet):
    """Closed dates, organization-wide (no team) or per team; `yearly` repeats one every year."""

    model = Holiday
    output_serializer = HolidayOutputSerializer
    ordering = "id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Holiday]:
        return Holiday.objects.order_by("date", "id")

    @extend_schema(request=HolidayInputSerializer, responses={201: HolidayOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(HolidayInputSerializer)
        holiday = services.holiday_create(actor=self.actor, **data)
        return self.render(holiday, status.HTTP_201_CREATED)

    @extend_schema(request=HolidayInputSerializer, responses=HolidayOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        holiday = self.get_object()
        data = self.parse(HolidayInputSerializer, partial=True)
        return self.render(services.holiday_update(holiday=holiday, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.holiday_delete(holiday=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ComplianceView(TenantScopedMixin, APIView):
    """SLA compliance of the clocks started in a period (whole UTC days), overall, per team and per rep:
    % decided and % first contacted within the SLA, medians in business minutes, breaches."""

    schema = LeadHubAutoSchema()
    model = None
    allowed_roles = SLA_ROLES

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="First day, YYYY-MM-DD (default: 30 days ago)."),
            OpenApiParameter("end", str, description="Last day, included (default: today)."),
            OpenApiParameter("team", int, description="Only this sales team's clocks."),
        ],
        responses=ComplianceSerializer,
    )
    def get(self, request: Request) -> Response:
        query = ComplianceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(query.validated_data)
        start, end = selectors.period_bounds(start=data.get("start"), end=data.get("end"))
        report = selectors.compliance(start=start, end=end, team=data.get("team"))
        return Response(ComplianceSerializer(report).data)

"""The queue API under /api/v1/conversion/: a rep's queue, handoffs with accept/reject/reassign, teams
and members, assignment rules, and the rejection report. Thin: parse, call a service or selector, render."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversion.models import AssignmentRule, Handoff, SalesTeam, TeamMember
from conversion.queue import selectors, services
from conversion.queue.serializers import (
    AssignmentRuleInputSerializer,
    AssignmentRuleOutputSerializer,
    AssignmentRuleUpdateSerializer,
    HandoffOutputSerializer,
    QueuePageSerializer,
    ReassignInputSerializer,
    RejectInputSerializer,
    RejectionReportSerializer,
    ReorderInputSerializer,
    TeamInputSerializer,
    TeamMemberInputSerializer,
    TeamMemberOutputSerializer,
    TeamMemberUpdateSerializer,
    TeamOutputSerializer,
    TeamUpdateSerializer,
)
from leadhub.api.base import TenantScopedMixin
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import Organization, Role
from leads.apis.base import ApiViewSet

MANAGER_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER})
QUEUE_PAGE_SIZE = 50
QUEUE_MAX_PAGE_SIZE = 200

FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=["pending", "accepted"], description="Waiting or accepted only."),
    OpenApiParameter(
        "stage", str, enum=["mql", "pql", "sql"], description="Waiting MQLs/PQLs, or accepted SQLs."
    ),
    OpenApiParameter("grade", str, enum=list("ABCDEF"), description="The lead's grade."),
    OpenApiParameter(
        "source", str, description="The lead's source channel (organic_search, paid_search...)."
    ),
]


def _forbidden(exc: PermissionError) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(str(exc))


def _role(request: Request) -> str | None:
    membership = getattr(request._request, "membership", None)
    return membership.role if membership is not None else None


class QueueView(TenantScopedMixin, APIView):
    """A rep's queue in priority and SLA order: the handoffs waiting for their decision and their accepted
    SQLs. Signed-in members get their own queue; managers, admins and API keys name a rep with
    `assigned_to` (a user id, or `none` for the fallback queue). Pages by cursor (`next`/`previous`)."""

    schema = LeadHubAutoSchema()
    model = Handoff

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "assigned_to", str, description="A rep's user id, or `none`: the fallback queue."
            ),
            *FILTER_PARAMETERS,
            OpenApiParameter("cursor", str, description="The `next` or `previous` cursor of a page."),
            OpenApiParameter("page_size", int, description=f"Rows per page, at most {QUEUE_MAX_PAGE_SIZE}."),
        ],
        responses=QueuePageSerializer,
    )
    def get(self, request: Request) -> Response:
        user_id = self._rep(request)
        filters = selectors.QueueFilters.parse(request.query_params)
        if filters.errors:
            raise exceptions.ValidationError({key: [message] for key, message in filters.errors.items()})
        size = self._size(request)
        page = selectors.queue_page(
            selectors.queue_rows(user_id=user_id, filters=filters),
            cursor=request.query_params.get("cursor"),
            size=size,
        )

        def link(cursor: str | None) -> str | None:
            if cursor is None:
                return None
            params = request.query_params.copy()
            params["cursor"] = cursor
            return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

        return Response(
            {
                "next": link(page.next_cursor),
                "previous": link(page.previous_cursor),
                "results": HandoffOutputSerializer(page.rows, many=True).data,
            }
        )

    def _size(self, request: Request) -> int:
        raw = request.query_params.get("page_size")
        if not raw:
            return QUEUE_PAGE_SIZE
        if not raw.isdigit() or not 1 <= int(raw) <= QUEUE_MAX_PAGE_SIZE:
            raise exceptions.ValidationError({"page_size": [f"A number from 1 to {QUEUE_MAX_PAGE_SIZE}."]})
        return int(raw)

    def _rep(self, request: Request) -> int | None:
        raw = request.query_params.get("assigned_to", "")
        is_key = getattr(request._request, "api_key", None) is not None
        if not raw:
            if is_key:
                raise exceptions.ValidationError(
                    {
                        "assigned_to": [
                            "An API key has no queue of its own: name the rep (a user id) or `none`."
                        ]
                    }
                )
            return request.user.pk
        if not is_key and _role(request) not in MANAGER_ROLES:
            if raw == str(request.user.pk):
                return request.user.pk
            raise exceptions.PermissionDenied("Only sales managers and admins read another rep's queue.")
        if raw == "none":
            return None
        try:
            return services.sales_user_get(raw).pk
        except ValidationError as exc:
            raise exceptions.ValidationError({"assigned_to": exc.message_dict["assigned_to"]}) from None


class HandoffViewSet(ApiViewSet):
    """Handoffs of leads to sales, newest first. Sales reps signed in see their own. `accept` makes the
    lead an SQL; `reject` recycles or disqualifies it with a reason; `reassign` (managers) hands a
    waiting lead to another rep or the fallback queue."""

    model = Handoff
    output_serializer = HandoffOutputSerializer
    ordering = "-id"
    # Decisions are checked by the service (the assigned rep, managers, admins, API keys).
    write_roles = frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.SALES_REP})
    http_method_names = ["get", "post", "head", "options"]

    def scoped_queryset(self, organization: Organization) -> QuerySet[Handoff]:
        rows = Handoff.objects.select_related("lead__contact__company", "lead__campaign")
        if _role(self.request) == Role.SALES_REP:
            rows = rows.filter(assigned_to_id=self.request.user.pk)
        params = self.request.query_params
        if params.get("status"):
            rows = rows.filter(status=params["status"])
        if params.get("assigned_to", "").isdigit():
            rows = rows.filter(assigned_to_id=int(params["assigned_to"]))
        elif params.get("assigned_to") == "none":
            rows = rows.filter(assigned_to__isnull=True)
        if params.get("lead", "").isdigit():
            rows = rows.filter(lead_id=int(params["lead"]))
        return rows

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["pending", "accepted", "rejected", "withdrawn"]),
            OpenApiParameter("assigned_to", str, description="A user id, or `none` (the fallback queue)."),
            OpenApiParameter("lead", int, description="One lead's handoffs."),
        ]
    )
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(request=None, responses=HandoffOutputSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        try:
            handoff = services.handoff_accept(handoff=self.get_object(), actor=self.actor)
        except PermissionError as exc:
            raise _forbidden(exc) from None
        return self.render(self.get_queryset().get(pk=handoff.pk))

    @extend_schema(request=RejectInputSerializer, responses=HandoffOutputSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        handoff = self.get_object()
        data = self.parse(RejectInputSerializer)
        try:
            handoff = services.handoff_reject(handoff=handoff, actor=self.actor, **data)
        except PermissionError as exc:
            raise _forbidden(exc) from None
        return self.render(self.get_queryset().get(pk=handoff.pk))

    @extend_schema(request=ReassignInputSerializer, responses={201: HandoffOutputSerializer})
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str) -> Response:
        handoff = self.get_object()
        data = self.parse(ReassignInputSerializer)
        try:
            to_user = services.sales_user_get(data["assigned_to"].pk) if data["assigned_to"] else None
            replacement = services.handoff_reassign(
                handoff=handoff, to_user=to_user, reason=data["reason"], actor=self.actor
            )
        except PermissionError as exc:
            raise _forbidden(exc) from None
        return self.render(self.get_queryset().get(pk=replacement.pk), status.HTTP_201_CREATED)


class TeamViewSet(ApiViewSet):
    """Sales teams (name, IANA time zone, manager). Managers and admins change them."""

    model = SalesTeam
    output_serializer = TeamOutputSerializer
    ordering = "id"
    write_roles = MANAGER_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[SalesTeam]:
        return SalesTeam.objects.all()

    @extend_schema(request=TeamInputSerializer, responses={201: TeamOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(TeamInputSerializer)
        return self.render(services.team_create(data=data, actor=self.actor), status.HTTP_201_CREATED)

    @extend_schema(request=TeamUpdateSerializer, responses=TeamOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        team = self.get_object()
        data = self.parse(TeamUpdateSerializer, partial=True)
        return self.render(services.team_update(team=team, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.team_delete(team=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMemberViewSet(ApiViewSet):
    """Members of sales teams with their capacity (most open leads at once) and whether they get new
    leads (`is_active`). Filter by `team`."""

    model = TeamMember
    output_serializer = TeamMemberOutputSerializer
    ordering = "id"
    write_roles = MANAGER_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[TeamMember]:
        rows = TeamMember.objects.select_related("user")
        team = self.request.query_params.get("team", "")
        if team.isdigit():
            rows = rows.filter(team_id=int(team))
        return rows

    @extend_schema(parameters=[OpenApiParameter("team", int, description="One team's members.")])
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(request=TeamMemberInputSerializer, responses={201: TeamMemberOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(TeamMemberInputSerializer)
        member = services.member_add(
            team=data["team"],
            user_id=data["user"],
            max_open_leads=data["max_open_leads"],
            is_active=data["is_active"],
            actor=self.actor,
        )
        return self.render(member, status.HTTP_201_CREATED)

    @extend_schema(request=TeamMemberUpdateSerializer, responses=TeamMemberOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        member = self.get_object()
        data = self.parse(TeamMemberUpdateSerializer, partial=True)
        return self.render(services.member_update(member=member, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.member_remove(member=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssignmentRuleViewSet(ApiViewSet):
    """Assignment rules in evaluation order. `conditions` takes countries, regions (dach, nordics,
    benelux, uk_ireland, southern_europe, north_america, latam, apac), industries, size_min, size_max
    (employees), grades (A-F) and stages (mql, pql). `reorder` sets the order of all rules at once."""

    model = AssignmentRule
    output_serializer = AssignmentRuleOutputSerializer
    ordering = "id"
    write_roles = MANAGER_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[AssignmentRule]:
        return AssignmentRule.objects.all()

    @extend_schema(request=AssignmentRuleInputSerializer, responses={201: AssignmentRuleOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(AssignmentRuleInputSerializer)
        return self.render(services.rule_create(data=data, actor=self.actor), status.HTTP_201_CREATED)

    @extend_schema(request=AssignmentRuleUpdateSerializer, responses=AssignmentRuleOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        rule = self.get_object()
        data = self.parse(AssignmentRuleUpdateSerializer, partial=True)
        return self.render(services.rule_update(rule=rule, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.rule_delete(rule=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ReorderInputSerializer, responses=AssignmentRuleOutputSerializer(many=True))
    @action(detail=False, methods=["post"])
    def reorder(self, request: Request) -> Response:
        data = self.parse(ReorderInputSerializer)
        rules = services.rules_reorder(ids=data["ids"], actor=self.actor)
        return Response(AssignmentRuleOutputSerializer(rules, many=True).data)


class RejectionReportView(TenantScopedMixin, APIView):
    """Why sales rejected handed-off leads over a period (default: the last 30 days): counts by reason,
    and by source channel and campaign with the rejection rate among decided handoffs."""

    schema = LeadHubAutoSchema()
    model = None

    @property
    def allowed_roles(self) -> frozenset[str]:
        return frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.MARKETER})

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (UTC), inclusive."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (UTC), inclusive."),
        ],
        responses=RejectionReportSerializer,
    )
    def get(self, request: Request) -> Response:
        end = self._date(request, "end") or dt.datetime.now(dt.UTC).date()
        start = self._date(request, "start") or end - dt.timedelta(days=29)
        if start > end:
            raise exceptions.ValidationError({"end": ["The end of the period must not be before its start."]})
        if (end - start).days > 731:
            raise exceptions.ValidationError({"start": ["Choose a period of at most two years."]})
        report = selectors.rejection_report(start=start, end=end)
        return Response(RejectionReportSerializer(report).data)

    def _date(self, request: Request, key: str) -> dt.date | None:
        raw = request.query_params.get(key)
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise exceptions.ValidationError({key: [f"'{raw[:20]}' is not a date (YYYY-MM-DD)."]}) from None

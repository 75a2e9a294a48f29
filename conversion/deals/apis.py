"""The deals API under /api/v1/conversion/: pipeline stages, opportunities with their won and lost actions,
accounts and onboarding steps. Thin: parse, call a service or selector, render.

A sales rep's session sees and changes their own deals; managers, admins and API keys see all of them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conversion.deals import selectors, services
from conversion.deals.serializers import (
    AccountSerializer,
    EmptySerializer,
    OnboardingStepSerializer,
    OpportunityCreateSerializer,
    OpportunityDetailSerializer,
    OpportunityFieldsSerializer,
    OpportunityLostSerializer,
    OpportunityOutputSerializer,
    PipelineStageSerializer,
    PlanStepSerializer,
)
from conversion.models import (
    Account,
    OnboardingStep,
    OnboardingStepTemplate,
    Opportunity,
    OpportunityHistory,
    PipelineStage,
)
from leadhub.tenancy.models import Organization, Role
from leads.apis.base import ApiViewSet

SALES_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.SALES_REP})
MANAGER_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER})

OPPORTUNITY_FILTERS = [
    OpenApiParameter("status", str, enum=["open", "won", "lost"], description="Only deals in this status."),
    OpenApiParameter("stage", int, description="Only deals in this pipeline stage."),
    OpenApiParameter("owner", str, description="A user id, `me` or `none`."),
    OpenApiParameter("lead", int, description="Only this lead's deals."),
    OpenApiParameter("q", str, description="Text in the deal's name."),
]


class _RoleScoped(ApiViewSet):
    @property
    def role(self) -> str | None:
        membership = getattr(self.request._request, "membership", None)
        return membership.role if membership is not None else None


class PipelineStageViewSet(ApiViewSet):
    """The organization's pipeline stages in order (the default set is made on first use). Admins and
    sales managers add and edit them; stages with deals are deactivated rather than deleted."""

    model = PipelineStage
    output_serializer = PipelineStageSerializer
    ordering = "position"
    write_roles = MANAGER_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[PipelineStage]:
        services.pipeline_stages_ensure()
        return PipelineStage.objects.order_by("position", "id")

    @extend_schema(request=PipelineStageSerializer, responses={201: PipelineStageSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(PipelineStageSerializer)
        stage = services.pipeline_stage_create(
            name=data["name"],
            probability=data["probability"],
            position=data.get("position"),
            actor=self.actor,
        )
        return self.render(stage, status.HTTP_201_CREATED)

    @extend_schema(request=PipelineStageSerializer, responses=PipelineStageSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        stage = self.get_object()
        data = self.parse(PipelineStageSerializer, partial=True)
        return self.render(services.pipeline_stage_update(stage=stage, data=data, actor=self.actor))


class OpportunityViewSet(_RoleScoped):
    """Deals. Creating one for an SQL lead moves the lead to opportunity; `won` makes the lead a
    customer, its company an account and enrols it in onboarding (a second `won` changes nothing);
    `lost` takes a reason and sends the lead back (recycled, or disqualified when not a fit)."""

    model = Opportunity
    output_serializer = OpportunityOutputSerializer
    ordering = "-id"
    write_roles = SALES_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[Opportunity]:
        queryset = selectors.opportunities_visible(user=self.request.user, role=self.role)
        if self.action == "list":
            return selectors.opportunities_filter(queryset, self.request.query_params, user=self.request.user)
        return queryset.prefetch_related(
            Prefetch("history", queryset=OpportunityHistory.objects.select_related("from_stage", "to_stage"))
        )

    def _detail(self, opportunity: Opportunity, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=opportunity.pk)
        return Response(
            OpportunityDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code
        )

    @extend_schema(parameters=OPPORTUNITY_FILTERS)
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(responses=OpportunityDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._detail(self.get_object())

    @extend_schema(request=OpportunityCreateSerializer, responses={201: OpportunityDetailSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(OpportunityCreateSerializer)
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in {"lead", "name"}}
        if self.role == Role.SALES_REP:
            kwargs["owner"] = request.user
        opportunity = services.opportunity_create(
            lead=data["lead"], name=data["name"], actor=self.actor, **kwargs
        )
        return self._detail(opportunity, status.HTTP_201_CREATED)

    @extend_schema(request=OpportunityFieldsSerializer, responses=OpportunityDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        opportunity = self.get_object()
        data = self.parse(OpportunityFieldsSerializer, partial=True)
        if self.role == Role.SALES_REP:
            data.pop("owner", None)
        return self._detail(services.opportunity_update(opportunity=opportunity, data=data, actor=self.actor))

    @extend_schema(request=EmptySerializer, responses=OpportunityDetailSerializer)
    @action(detail=True, methods=["post"])
    def won(self, request: Request, pk: str) -> Response:
        return self._detail(services.opportunity_win(opportunity=self.get_object(), actor=self.actor))

    @extend_schema(request=OpportunityLostSerializer, responses=OpportunityDetailSerializer)
    @action(detail=True, methods=["post"])
    def lost(self, request: Request, pk: str) -> Response:
        opportunity = self.get_object()
        data = self.parse(OpportunityLostSerializer)
        lost = services.opportunity_lose(
            opportunity=opportunity,
            reason=data["lost_reason"],
            note=data.get("lost_note", ""),
            actor=self.actor,
        )
        return self._detail(lost)


class AccountViewSet(ApiViewSet):
    """Customers: companies with a won deal, newest first."""

    model = Account
    output_serializer = AccountSerializer
    ordering = "-id"
    http_method_names = ["get", "head", "options"]

    def scoped_queryset(self, organization: Organization) -> QuerySet[Account]:
        return selectors.account_list()


class OnboardingStepViewSet(_RoleScoped):
    """Onboarding checklist steps of accounts, with owners and due dates; `complete` and `reopen` them.
    A sales rep sees the steps they own."""

    model = OnboardingStep
    output_serializer = OnboardingStepSerializer
    ordering = "due_date"
    write_roles = SALES_ROLES
    http_method_names = ["get", "post", "head", "options"]

    def scoped_queryset(self, organization: Organization) -> QuerySet[OnboardingStep]:
        queryset = selectors.onboarding_steps(user=self.request.user, role=self.role)
        account = str(self.request.query_params.get("account") or "")
        if account.isdigit():
            queryset = queryset.filter(enrollment__account_id=int(account))
        if self.request.query_params.get("open") == "true":
            queryset = queryset.filter(completed_at__isnull=True)
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("account", int, description="Only this account's steps."),
            OpenApiParameter("open", bool, description="`true`: only steps not done yet."),
        ]
    )
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(request=EmptySerializer, responses=OnboardingStepSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str) -> Response:
        return self.render(
            services.onboarding_step_set_done(step=self.get_object(), done=True, actor=self.actor)
        )

    @extend_schema(request=EmptySerializer, responses=OnboardingStepSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        return self.render(
            services.onboarding_step_set_done(step=self.get_object(), done=False, actor=self.actor)
        )


class OnboardingPlanStepViewSet(ApiViewSet):
    """The default onboarding plan's steps (the standard 90-day plan is made on first use). Admins and
    sales managers add and remove steps; accounts already enrolled keep theirs."""

    model = OnboardingStepTemplate
    output_serializer = PlanStepSerializer
    ordering = "id"
    write_roles = MANAGER_ROLES
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scoped_queryset(self, organization: Organization) -> QuerySet[OnboardingStepTemplate]:
        plan = services.onboarding_plan_default()
        return OnboardingStepTemplate.objects.filter(plan=plan).select_related("owner_user")

    @extend_schema(request=PlanStepSerializer, responses={201: PlanStepSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(PlanStepSerializer)
        step = services.onboarding_plan_step_add(
            title=data["title"],
            day_offset=data["day_offset"],
            owner_role=data.get("owner_role", "account_owner"),
            owner_user=data.get("owner_user"),
            actor=self.actor,
        )
        return self.render(step, status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str) -> Response:
        services.onboarding_plan_step_delete(step=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

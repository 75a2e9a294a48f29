"""The scoring API under /api/v1/scoring/: models, versions and rules, publishing and backtests, the
lifecycle thresholds, recompute jobs, and each lead's score breakdown, ledger, adjustments and BANT.
Thin: parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadhub.api.base import TenantGenericViewSet, TenantScopedMixin
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.apis.base import MARKETING_ROLES, ApiViewSet
from leads.models import Lead
from scoring import selectors, services
from scoring.models import BacktestRun, ModelVersion, RecomputeJob, RecomputeKind, Rule, ScoringModel
from scoring.serializers import (
    AdjustmentInputSerializer,
    BacktestInputSerializer,
    BacktestOutputSerializer,
    BantInputSerializer,
    BantOutputSerializer,
    DraftCreateSerializer,
    ExplanationSerializer,
    LifecyclePolicySerializer,
    RecomputeJobOutputSerializer,
    RuleInputSerializer,
    RuleOutputSerializer,
    RuleUpdateSerializer,
    ScoreChangeOutputSerializer,
    ScoringModelInputSerializer,
    ScoringModelOutputSerializer,
    ScoringModelUpdateSerializer,
    VersionOutputSerializer,
    VersionUpdateSerializer,
)
from scoring.starter import STARTER_RULES


class ScoringModelViewSet(ApiViewSet):
    """Scoring models. Creating one creates its first draft version (empty, or with the starter rules)."""

    model = ScoringModel
    output_serializer = ScoringModelOutputSerializer
    ordering = "id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[ScoringModel]:
        return ScoringModel.objects.order_by("id")

    @extend_schema(request=ScoringModelInputSerializer, responses={201: ScoringModelOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(ScoringModelInputSerializer)
        model = services.scoring_model_create(
            name=data["name"],
            description=data["description"],
            actor=self.actor,
            rules=STARTER_RULES if data["starter"] else None,
        )
        return self.render(model, status.HTTP_201_CREATED)

    @extend_schema(request=ScoringModelUpdateSerializer, responses=ScoringModelOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        model = self.get_object()
        data = self.parse(ScoringModelUpdateSerializer, partial=True)
        return self.render(services.scoring_model_update(model=model, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.scoring_model_delete(model=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionViewSet(ApiViewSet):
    """Versions with their rules. POST creates a draft (copying `based_on`, or the model's newest
    version); only drafts change. `publish` makes a draft live and starts the recompute of every lead;
    `backtest` tests a version against the organization's history."""

    model = ModelVersion
    output_serializer = VersionOutputSerializer
    ordering = "-id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[ModelVersion]:
        queryset = ModelVersion.objects.select_related("scoring_model").prefetch_related(
            Prefetch(
                "rules",
                queryset=Rule.objects.order_by("dimension", "position", "id"),
                to_attr="prefetched_rules",
            )
        )
        scoring_model = self.request.query_params.get("scoring_model")
        if scoring_model and scoring_model.isdigit():
            queryset = queryset.filter(scoring_model_id=int(scoring_model))
        return queryset

    def _fresh(self, version: ModelVersion) -> ModelVersion:
        return self.get_queryset().get(pk=version.pk)

    @extend_schema(
        request=DraftCreateSerializer,
        responses={201: VersionOutputSerializer},
        parameters=[OpenApiParameter("scoring_model", int, description="Only this model's versions.")],
    )
    def create(self, request: Request) -> Response:
        data = self.parse(DraftCreateSerializer)
        draft = services.version_create(
            scoring_model=data["scoring_model"], based_on=data.get("based_on"), actor=self.actor
        )
        return self.render(self._fresh(draft), status.HTTP_201_CREATED)

    @extend_schema(request=VersionUpdateSerializer, responses=VersionOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        data = self.parse(VersionUpdateSerializer, partial=True)
        services.version_update(version=version, data=data, actor=self.actor)
        return self.render(self._fresh(version))

    def destroy(self, request: Request, pk: str) -> Response:
        services.version_delete(version=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: RecomputeJobOutputSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        job = services.version_publish(version=self.get_object(), actor=self.actor)
        return Response(RecomputeJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=BacktestInputSerializer, responses={202: BacktestOutputSerializer})
    @action(detail=True, methods=["post"])
    def backtest(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        data = self.parse(BacktestInputSerializer)
        run = services.backtest_start(version=version, target_mql=data.get("target_mql"), actor=self.actor)
        run.refresh_from_db()  # the task may have run already (no broker: tasks run in-process)
        return Response(BacktestOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RuleViewSet(ApiViewSet):
    """Rules of versions (filter with ?version=). Only a draft's rules change; an invalid rule is a 400
    whose `error.fields` name each setting and what is wrong with it."""

    model = Rule
    output_serializer = RuleOutputSerializer
    ordering = "id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[Rule]:
        queryset = Rule.objects.order_by("id")
        version = self.request.query_params.get("version")
        if version and version.isdigit():
            queryset = queryset.filter(version_id=int(version))
        return queryset

    @extend_schema(request=RuleInputSerializer, responses={201: RuleOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(RuleInputSerializer)
        version = data.pop("version")
        return self.render(
            services.rule_create(version=version, data=data, actor=self.actor), status.HTTP_201_CREATED
        )

    @extend_schema(request=RuleUpdateSerializer, responses=RuleOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        rule = self.get_object()
        data = self.parse(RuleUpdateSerializer, partial=True)
        return self.render(services.rule_update(rule=rule, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.rule_delete(rule=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BacktestViewSet(ApiViewSet):
    """Backtest runs (started with POST /scoring/versions/{id}/backtest/); poll until `status` is done."""

    model = BacktestRun
    output_serializer = BacktestOutputSerializer
    ordering = "-id"
    http_method_names = ["get", "head", "options"]

    def scoped_queryset(self, organization: Organization) -> QuerySet[BacktestRun]:
        return BacktestRun.objects.order_by("-id")


class RecomputeJobViewSet(ApiViewSet):
    """Recompute and decay jobs with their progress; POST starts a full recompute with the live version."""

    model = RecomputeJob
    output_serializer = RecomputeJobOutputSerializer
    ordering = "-id"
    http_method_names = ["get", "post", "head", "options"]
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[RecomputeJob]:
        return RecomputeJob.objects.order_by("-id")

    @extend_schema(request=None, responses={202: RecomputeJobOutputSerializer})
    def create(self, request: Request) -> Response:
        version = services.live_version()
        if version is None:
            return Response(
                {"error": {"code": "no_live_version", "message": "No scoring model is live.", "fields": {}}},
                status=status.HTTP_409_CONFLICT,
            )
        job = services.recompute_job_create(version=version, kind=RecomputeKind.FULL, actor=self.actor)
        job.refresh_from_db()
        return Response(RecomputeJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class LedgerPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = "-id"


class LeadScoringViewSet(TenantGenericViewSet):
    """A lead's qualification: GET its score broken down by rule with the plain-words explanation,
    `ledger` every change of its scores, `adjust` a manual adjustment (author recorded), `bant` its
    BANT answers with who answered and when."""

    model = Lead
    schema = LeadHubAutoSchema()
    serializer_class = ExplanationSerializer
    http_method_names = ["get", "post", "head", "options"]
    lookup_value_regex = r"\d+"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Lead]:
        return Lead.objects.all()

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        # Anyone may read a lead's score and answer BANT; adjusting a score is for marketing.
        return MARKETING_ROLES if getattr(self, "action", "") == "adjust" else None

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request._request)

    def parse(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ExplanationSerializer(selectors.lead_explanation(self.get_object())).data)

    @extend_schema(responses=ScoreChangeOutputSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=LedgerPagination, filter_backends=[])
    def ledger(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        page = self.paginate_queryset(selectors.lead_ledger(lead))
        rows = list(page or [])
        context = {"row_rules": selectors.ledger_row_rules(rows)}
        return self.get_paginated_response(ScoreChangeOutputSerializer(rows, many=True, context=context).data)

    @extend_schema(request=AdjustmentInputSerializer, responses={201: ScoreChangeOutputSerializer})
    @action(detail=True, methods=["post"])
    def adjust(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        data = self.parse(AdjustmentInputSerializer)
        change = services.score_adjust(lead=lead, points=data["points"], note=data["note"], actor=self.actor)
        return Response(ScoreChangeOutputSerializer(change).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=BantInputSerializer,
        responses={200: BantOutputSerializer(many=True), 201: BantOutputSerializer},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def bant(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        if request.method == "GET":
            return Response(BantOutputSerializer(selectors.bant_history(lead), many=True).data)
        data = self.parse(BantInputSerializer)
        answer = services.bant_answer_record(
            lead=lead, field=data["field"], value=data["value"], source=data["source"], actor=self.actor
        )
        return Response(BantOutputSerializer(answer).data, status=status.HTTP_201_CREATED)


class ThresholdsView(TenantScopedMixin, APIView):
    """The organization's lifecycle thresholds: MQL score and minimum grade, PQL product-usage points,
    the recycle floor. PATCH changes them (admins and marketers)."""

    schema = LeadHubAutoSchema()
    model = None

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        return None if self.request.method in ("GET", "HEAD", "OPTIONS") else MARKETING_ROLES

    @extend_schema(responses=LifecyclePolicySerializer)
    def get(self, request: Request) -> Response:
        return Response(LifecyclePolicySerializer(services.lifecycle_policy_get()).data)

    @extend_schema(request=LifecyclePolicySerializer, responses=LifecyclePolicySerializer)
    def patch(self, request: Request) -> Response:
        serializer = LifecyclePolicySerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        policy = services.lifecycle_policy_update(
            data=dict(serializer.validated_data), actor=Actor.from_request(request._request)
        )
        return Response(LifecyclePolicySerializer(policy).data)

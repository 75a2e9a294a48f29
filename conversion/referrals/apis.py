"""The referral programme's API under /api/v1/conversion/referrals/: the reward rule, customer contacts'
codes and links, rewards (approve, pay) and the programme's results. Thin: parse, call, render."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversion.models import ReferralReward
from conversion.referrals import selectors, services
from conversion.referrals.serializers import (
    ProgrammeSerializer,
    ReferralCodeIssueSerializer,
    ReferralCodeSerializer,
    ResultsSerializer,
    RewardSerializer,
    RewardStatusSerializer,
)
from leadhub.api.base import TenantScopedMixin
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import Actor
from leads.apis.base import ApiViewSet
from leads.models import ReferralCode

PROGRAMME_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.MARKETER})


class ProgrammeView(TenantScopedMixin, APIView):
    """The referral programme's reward rule: a fixed amount per won deal, or a percentage of the deal's
    value. PATCH changes it (admins, sales managers and marketers); rewards already earned keep theirs."""

    schema = LeadHubAutoSchema()
    model = None

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        return PROGRAMME_ROLES

    @extend_schema(responses=ProgrammeSerializer)
    def get(self, request: Request) -> Response:
        return Response(ProgrammeSerializer(services.referral_programme_get()).data)

    @extend_schema(request=ProgrammeSerializer, responses=ProgrammeSerializer)
    def patch(self, request: Request) -> Response:
        serializer = ProgrammeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        programme = services.referral_programme_update(
            data=dict(serializer.validated_data), actor=Actor.from_request(request._request)
        )
        return Response(ProgrammeSerializer(programme).data)


class ResultsView(TenantScopedMixin, APIView):
    """Referred leads' conversion rate and won deal value against every other source channel, and each
    referrer's referrals, conversions, won value and rewards by status."""

    schema = LeadHubAutoSchema()
    model = None

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        return PROGRAMME_ROLES

    @extend_schema(responses=ResultsSerializer)
    def get(self, request: Request) -> Response:
        results = {"channels": selectors.programme_results(), "referrers": selectors.referrer_table()}
        return Response(ResultsSerializer(results).data)


class ReferralCodeViewSet(ApiViewSet):
    """Customer contacts' referral codes and shareable links (`/r/<key>`). POST gives a customer contact
    its code (the same one on every call)."""

    model = ReferralCode
    output_serializer = ReferralCodeSerializer
    ordering = "-id"
    http_method_names = ["get", "post", "head", "options"]
    write_roles = PROGRAMME_ROLES | {Role.SALES_REP}

    def scoped_queryset(self, organization: Organization) -> QuerySet[ReferralCode]:
        return selectors.referral_codes_of_customers()

    @extend_schema(request=ReferralCodeIssueSerializer, responses={201: ReferralCodeSerializer})
    def create(self, request: Request) -> Response:
        contact = self.parse(ReferralCodeIssueSerializer)["contact"]
        if not services.customer_contacts().filter(pk=contact.pk).exists():
            raise ValidationError({"contact": ["Only a customer's contact gets a referral code."]})
        code = services.referral_code_for_contact(contact=contact, actor=self.actor)
        return self.render(code, status.HTTP_201_CREATED)


class RewardViewSet(ApiViewSet):
    """Rewards earned by referrers, one per won deal of a referred lead; `status` moves them from pending
    to approved to paid (admins and sales managers)."""

    model = ReferralReward
    output_serializer = RewardSerializer
    ordering = "-id"
    http_method_names = ["get", "post", "head", "options"]
    write_roles = frozenset({Role.ADMIN, Role.SALES_MANAGER})

    def scoped_queryset(self, organization: Organization) -> QuerySet[ReferralReward]:
        queryset = selectors.reward_list()
        wanted = self.request.query_params.get("status")
        return queryset.filter(status=wanted) if wanted else queryset

    @extend_schema(request=RewardStatusSerializer, responses=RewardSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, pk: str) -> Response:
        reward = self.get_object()
        data = self.parse(RewardStatusSerializer)
        return self.render(
            services.referral_reward_set_status(reward=reward, status=data["status"], actor=self.actor)
        )

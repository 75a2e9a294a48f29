"""Campaigns and their daily spend."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.tenancy.models import Organization
from leads import selectors, services
from leads.apis.base import MARKETING_ROLES, ApiViewSet
from leads.filters import CampaignFilter, CampaignSpendFilter
from leads.models import Campaign, CampaignSpend
from leads.serializers import (
    CampaignInputSerializer,
    CampaignOutputSerializer,
    CampaignSpendInputSerializer,
    CampaignSpendOutputSerializer,
    CampaignSpendUpdateSerializer,
)


class CampaignViewSet(ApiViewSet):
    """Campaigns by channel, with UTM values and dates; their spend is at /spend/."""

    model = Campaign
    output_serializer = CampaignOutputSerializer
    filterset_class = CampaignFilter
    ordering_fields = ["id", "name", "start_date", "created_at"]
    ordering = "-id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[Campaign]:
        return selectors.campaign_list(organization=organization)

    @extend_schema(request=CampaignInputSerializer, responses={201: CampaignOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(CampaignInputSerializer)
        return self.render(services.campaign_create(data=data, actor=self.actor), status.HTTP_201_CREATED)

    @extend_schema(request=CampaignInputSerializer, responses=CampaignOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        data = self.parse(CampaignInputSerializer, partial=True)
        return self.render(services.campaign_update(campaign=campaign, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.campaign_delete(campaign=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignSpendViewSet(ApiViewSet):
    """Spend of campaigns by day, flat with a `campaign` filter. POST sets a campaign's spend of one day:
    201 for a new day, 200 when it replaced the day's existing amount."""

    model = CampaignSpend
    output_serializer = CampaignSpendOutputSerializer
    filterset_class = CampaignSpendFilter
    ordering_fields = ["id", "date"]
    ordering = "-date"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[CampaignSpend]:
        return selectors.campaign_spend_list(organization=organization)

    @extend_schema(
        request=CampaignSpendInputSerializer,
        responses={201: CampaignSpendOutputSerializer, 200: CampaignSpendOutputSerializer},
    )
    def create(self, request: Request) -> Response:
        data = self.parse(CampaignSpendInputSerializer)
        existed = CampaignSpend.objects.filter(campaign=data["campaign"], date=data["date"]).exists()
        spend = services.campaign_spend_set(
            campaign=data["campaign"],
            date=data["date"],
            amount=data["amount"],
            currency=data.get("currency", ""),
            note=data.get("note", ""),
        )
        return self.render(spend, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(request=CampaignSpendUpdateSerializer, responses=CampaignSpendOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        spend = self.get_object()
        data = self.parse(CampaignSpendUpdateSerializer, partial=True)
        spend = services.campaign_spend_set(
            campaign=spend.campaign,
            date=spend.date,
            amount=data.get("amount", spend.amount),
            currency=data.get("currency") or spend.currency,
            note=data.get("note", spend.note),
        )
        return self.render(spend)

    def destroy(self, request: Request, pk: str) -> Response:
        services.campaign_spend_delete(spend=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""REST API of tracking: server-side events in bulk."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.api.base import TenantGenericViewSet
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.services import Actor
from leads.apis.base import MARKETING_ROLES, bulk_answer
from leads.models import Channel, Touchpoint, TouchpointType
from leads.serializers import BulkOptionsSerializer, BulkRequestSerializer, BulkResponseSerializer
from leads.tracking.events import TYPE_ALIASES, events_ingest


class EventItemSerializer(serializers.Serializer):
    """One event (documentation of the shape; the endpoint checks items without a serializer)."""

    type = serializers.ChoiceField(
        choices=TouchpointType.choices,
        help_text=f"A touchpoint type, or an alias: {', '.join(sorted(TYPE_ALIASES))}.",
    )
    email = serializers.EmailField(
        required=False, help_text="Who did it; the contact is created or updated, with a lead if it has none."
    )
    anonymous_id = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The visitor id of the tracking snippet (leadhub.visitorId()). With an email, the "
        "visitor's earlier anonymous touchpoints are stitched to the contact's lead.",
    )
    external_id = serializers.CharField(
        required=False, max_length=100, help_text="Your id of the event: a retry is not stored twice."
    )
    occurred_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, help_text="Defaults to what the UTM values and referrer say."
    )
    campaign = serializers.IntegerField(required=False, min_value=1, help_text="Campaign id.")
    url = serializers.CharField(required=False, max_length=2000)
    referrer = serializers.CharField(required=False, max_length=2000)
    utm_source = serializers.CharField(required=False, max_length=200)
    utm_medium = serializers.CharField(required=False, max_length=200)
    utm_campaign = serializers.CharField(required=False, max_length=200)
    utm_content = serializers.CharField(required=False, max_length=200)
    utm_term = serializers.CharField(required=False, max_length=200)
    properties = serializers.DictField(required=False, help_text="Free properties, at most 4 KB of JSON.")
    contact = serializers.DictField(
        required=False, help_text="Contact fields to fill in (first_name, last_name, job_title, company...)."
    )


class EventBatchSerializer(BulkOptionsSerializer):
    items = EventItemSerializer(many=True, help_text=f"At most {settings.LEADHUB_BULK_MAX_ITEMS} events.")


class EventViewSet(TenantGenericViewSet):
    """Server-side events: product sign-ups and usage, webinar attendance, downloads, ad clicks."""

    schema = LeadHubAutoSchema()
    model = Touchpoint
    # A capture key (the kind a product backend or a webinar tool holds) may send events.
    capture_scope_allowed = True
    # Signed-in members: the roles that manage capture.
    allowed_roles = MARKETING_ROLES
    # Thousands of events a second arrive in few, large requests.
    rate_per_minute = max(6000, settings.LEADHUB_API_RATE_PER_MINUTE)

    @extend_schema(
        request=EventBatchSerializer,
        responses={
            201: BulkResponseSerializer,
            207: OpenApiResponse(
                BulkResponseSerializer, description="Partial mode: some events were refused."
            ),
        },
        description=(
            "Record up to 1,000 events in one transaction, each identified by `email` and/or `anonymous_id`. "
            "All or nothing by default (400 with `items.<index>.<field>` errors); with `partial: true` the "
            "valid events are stored and the refused ones reported (207). An event whose `external_id` is "
            "already stored answers with the stored id and `created: false`."
        ),
    )
    @action(detail=False, methods=["post"])
    def batch(self, request: Request) -> Response:
        serializer = BulkRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = Actor.from_request(request._request)
        return bulk_answer(
            dict(serializer.validated_data),
            lambda items, partial: events_ingest(items=items, actor=actor, partial=partial),
        )

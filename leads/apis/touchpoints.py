"""Touchpoints: CRUD and bulk recording."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.tenancy.models import Organization
from leads import selectors, services
from leads.apis.base import ApiViewSet, bulk_answer, validate_each
from leads.filters import TouchpointFilter
from leads.models import Campaign, Contact, Touchpoint
from leads.serializers import (
    BulkRequestSerializer,
    BulkResponseSerializer,
    TouchpointBulkSerializer,
    TouchpointCreateSerializer,
    TouchpointOutputSerializer,
    TouchpointUpdateSerializer,
)


def _touchpoints_build(
    items: list[dict[str, Any]], *, context: dict[str, Any]
) -> tuple[dict[int, Touchpoint], dict[int, dict[str, list[str]]]]:
    """Validate touchpoint items and resolve their references with one query per kind of id."""
    parsed: dict[int, dict[str, Any]] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, data in validate_each(TouchpointCreateSerializer(context=context), items, errors):
        parsed[index] = data

    leads = selectors.leads_by_id(d["lead"] for d in parsed.values() if d.get("lead"))
    contact_ids = selectors.ids_existing(Contact, (d["contact"] for d in parsed.values() if d.get("contact")))
    by_email = selectors.contact_ids_by_email(
        services.email_normalize(d["email"]) for d in parsed.values() if d.get("email")
    )
    campaigns = {
        c.pk: c
        for c in Campaign.objects.filter(pk__in={d["campaign"] for d in parsed.values() if d.get("campaign")})
    }
    # Touchpoints given by contact (id or email) go to that contact's current journey.
    current_leads = selectors.current_lead_ids_by_contact(
        [d["contact"] for d in parsed.values() if d.get("contact") and not d.get("lead")]
        + [
            by_email[services.email_normalize(d["email"])]
            for d in parsed.values()
            if d.get("email") and not d.get("lead") and services.email_normalize(d["email"]) in by_email
        ]
    )

    touchpoints: dict[int, Touchpoint] = {}
    for index, data in parsed.items():
        item_errors: dict[str, list[str]] = {}
        lead_id = data.get("lead")
        contact_id: int | None = None
        if lead_id:
            if lead_id not in leads:
                item_errors["lead"] = [f"No lead with id {lead_id} exists."]
            else:
                contact_id = leads[lead_id].contact_id
        if data.get("contact"):
            if data["contact"] not in contact_ids:
                item_errors["contact"] = [f"No contact with id {data['contact']} exists."]
            elif contact_id is not None and contact_id != data["contact"]:
                item_errors["contact"] = ["This is not the lead's contact."]
            contact_id = contact_id or data["contact"]
        if data.get("email"):
            found = by_email.get(services.email_normalize(data["email"]))
            if found is None:
                item_errors["email"] = ["No contact with this email exists."]
            elif contact_id is not None and contact_id != found:
                item_errors["email"] = [
                    "This email belongs to another contact than the lead's or the contact's."
                ]
            contact_id = contact_id or found
        campaign = campaigns.get(data["campaign"]) if data.get("campaign") else None
        if data.get("campaign") and campaign is None:
            item_errors["campaign"] = [f"No campaign with id {data['campaign']} exists."]
        if item_errors:
            errors[index] = item_errors
            continue
        if not lead_id and contact_id is not None:
            lead_id = current_leads.get(contact_id)
        fields = {
            k: v for k, v in data.items() if k not in {"lead", "contact", "email", "campaign", "occurred_at"}
        }
        touchpoint = Touchpoint(lead_id=lead_id, contact_id=contact_id, campaign=campaign, **fields)
        if data.get("occurred_at"):
            touchpoint.occurred_at = data["occurred_at"]
        touchpoints[index] = touchpoint
    return touchpoints, errors


def _touchpoints_store(touchpoints: dict[int, Touchpoint]) -> dict[int, dict[str, Any]]:
    """Record in one insert; an item whose external_id was already stored answers with the stored id."""
    services.touchpoints_record(touchpoints=list(touchpoints.values()))
    repeated = {t.external_id for t in touchpoints.values() if t.pk is None and t.external_id}
    stored = (
        dict(Touchpoint.objects.filter(external_id__in=repeated).values_list("external_id", "pk"))
        if repeated
        else {}
    )
    return {
        index: {"index": index, "id": t.pk or stored.get(t.external_id), "created": t.pk is not None}
        for index, t in touchpoints.items()
    }


class TouchpointViewSet(ApiViewSet):
    """Interactions with a time. A touchpoint belongs to a `lead`, to a contact (`contact` id or `email`;
    it joins the contact's current lead) or only to an `anonymous_id`. `external_id` makes retries safe."""

    model = Touchpoint
    output_serializer = TouchpointOutputSerializer
    filterset_class = TouchpointFilter
    ordering_fields = ["id", "occurred_at"]
    ordering = "-occurred_at"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Touchpoint]:
        return selectors.touchpoint_list(organization=organization)

    @extend_schema(
        request=TouchpointCreateSerializer,
        responses={201: TouchpointOutputSerializer, 200: TouchpointOutputSerializer},
        description="Record one touchpoint (200 with the stored one when its `external_id` is known).",
    )
    def create(self, request: Request) -> Response:
        if not isinstance(request.data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        touchpoints, errors = _touchpoints_build([dict(request.data)], context=self.get_serializer_context())
        if errors:
            raise serializers.ValidationError(errors[0])
        result = _touchpoints_store(touchpoints)[0]
        touchpoint = Touchpoint.objects.get(pk=result["id"])
        return self.render(touchpoint, status.HTTP_201_CREATED if result["created"] else status.HTTP_200_OK)

    @extend_schema(request=TouchpointUpdateSerializer, responses=TouchpointOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        touchpoint = self.get_object()
        data = self.parse(TouchpointUpdateSerializer, partial=True)
        return self.render(services.touchpoint_update(touchpoint=touchpoint, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.touchpoint_delete(touchpoint=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=TouchpointBulkSerializer,
        responses={
            201: BulkResponseSerializer,
            207: OpenApiResponse(
                BulkResponseSerializer, description="Partial mode: some items were refused."
            ),
        },
        description="Record up to 1,000 touchpoints in one insert and one transaction. All or nothing by "
        "default (400 with `items.<index>.<field>` errors); with `partial: true` valid items are stored and "
        "the refused ones reported (207). Items with a known `external_id` answer with the stored id.",
    )
    @action(detail=False, methods=["post"], filter_backends=[])
    def bulk(self, request: Request) -> Response:
        envelope = self.parse(BulkRequestSerializer)
        context = self.get_serializer_context()

        def run(
            items: list[dict[str, Any]], partial: bool
        ) -> tuple[dict[int, dict[str, Any]], dict[int, Any]]:
            touchpoints, errors = _touchpoints_build(items, context=context)
            if errors and not partial:
                return {}, errors
            return _touchpoints_store(touchpoints), errors

        return bulk_answer(envelope, run)

"""Leads: CRUD, the stage action, history and bulk capture."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadhub.tenancy.models import Membership, Organization
from leadhub.tenancy.services import Actor
from leads import selectors, services
from leads.apis.base import (
    CUSTOM_FIELD_PARAMETER,
    ApiViewSet,
    bulk_answer,
    contact_custom_clean,
    custom_definitions,
    errors_of,
    validate_each,
)
from leads.filters import LEAD_ORDERING_FIELDS, LeadFilter
from leads.models import Campaign, Contact, Lead
from leads.serializers import (
    BulkRequestSerializer,
    BulkResponseSerializer,
    LeadBulkItemSerializer,
    LeadBulkSerializer,
    LeadCreateSerializer,
    LeadOutputSerializer,
    LeadStageChangeSerializer,
    LeadUpdateSerializer,
    StageChangeOutputSerializer,
)


class LeadOrderingFilter(OrderingFilter):
    """Orders by the public names; `last_touch_at` sorts never-touched leads as the oldest, because
    cursor pagination cannot place a NULL."""

    substitutes: ClassVar[dict[str, str]] = {"last_touch_at": "last_touch_sort"}

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> list[str]:
        ordering = super().get_ordering(request, queryset, view) or []
        mapped = []
        for term in ordering:
            descending, name = term.startswith("-"), term.lstrip("-")
            name = self.substitutes.get(name, name)
            mapped.append(f"-{name}" if descending else name)
        return mapped

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        ordering = self.get_ordering(request, queryset, view)
        if any(term.lstrip("-") == "last_touch_sort" for term in ordering):
            queryset = selectors.leads_with_last_touch_sort(queryset)
        return queryset.order_by(*ordering) if ordering else queryset


def _lead_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in {"contact", "contact_data"}}


def _lead_write(data: Mapping[str, Any], actor: Actor) -> tuple[Lead, bool]:
    if data.get("contact_data") is not None:
        return services.lead_capture(
            contact_data=data["contact_data"], lead_data=_lead_fields(data), actor=actor
        )
    return services.lead_create(contact=data["contact"], data=_lead_fields(data), actor=actor), True


@extend_schema_view(list=extend_schema(parameters=[CUSTOM_FIELD_PARAMETER]))
class LeadViewSet(ApiViewSet):
    """Leads: a contact's journey through the funnel. The stage changes only through
    POST /leads/{id}/stage/, which records who and why; GET /leads/{id}/history/ lists those changes."""

    model = Lead
    output_serializer = LeadOutputSerializer
    filterset_class = LeadFilter
    filter_backends = [DjangoFilterBackend, LeadOrderingFilter]
    ordering_fields = list(LEAD_ORDERING_FIELDS)
    ordering = "-id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Lead]:
        return selectors.lead_list(organization=organization)

    def _fresh(self, lead: Lead) -> Lead:
        return selectors.lead_list(organization=self.organization).get(pk=lead.pk)

    @extend_schema(
        request=LeadCreateSerializer,
        responses={201: LeadOutputSerializer, 200: LeadOutputSerializer},
        description=(
            "Give `contact` (an id) to start a new journey for a known contact, or `contact_data` to upsert "
            "the contact by email: its open journey is then reused (200) or a new one started (201)."
        ),
    )
    def create(self, request: Request) -> Response:
        data = self.parse(LeadCreateSerializer)
        if data.get("contact_data") is not None:
            contact_custom_clean(data["contact_data"], "contact_data", custom_definitions())
        lead, created = _lead_write(data, self.actor)
        return self.render(self._fresh(lead), status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=LeadUpdateSerializer, responses=LeadOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        data = self.parse(LeadUpdateSerializer, partial=True, lead=lead)
        services.lead_update(lead=lead, data=data, actor=self.actor)
        return self.render(self._fresh(lead))

    def destroy(self, request: Request, pk: str) -> Response:
        services.lead_delete(lead=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=LeadStageChangeSerializer,
        responses=LeadOutputSerializer,
        description=(
            "Move the lead to another stage. A move the funnel does not allow is a 400 that lists the "
            "allowed ones; disqualifying or recycling needs a `reason`."
        ),
    )
    @action(detail=True, methods=["post"])
    def stage(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        data = self.parse(LeadStageChangeSerializer)
        services.lead_change_stage(
            lead=lead, to_stage=data["stage"], reason=data.get("reason", ""), actor=self.actor
        )
        return self.render(self._fresh(lead))

    @extend_schema(
        responses=StageChangeOutputSerializer(many=True),
        filters=False,
        description="Every stage change of the lead, oldest first: from, to, when, by whom or what, why.",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk: str) -> Response:
        changes = selectors.lead_history(lead=self.get_object())
        return Response(StageChangeOutputSerializer(changes, many=True).data)

    @extend_schema(
        request=LeadBulkSerializer,
        responses={
            201: BulkResponseSerializer,
            207: OpenApiResponse(
                BulkResponseSerializer, description="Partial mode: some items were refused."
            ),
        },
        description=(
            "Create or capture up to 1,000 leads in one transaction; each item is a POST /leads/ body. "
            "All or nothing by default: any invalid item is a 400 whose `error.fields` are "
            "`items.<index>.<field>`. With `partial: true` the valid items are written and the answer "
            "(207 when some failed) lists `{index, id, created}` or `{index, errors}` per item."
        ),
    )
    @action(detail=False, methods=["post"], filter_backends=[])
    def bulk(self, request: Request) -> Response:
        envelope = self.parse(BulkRequestSerializer)
        return bulk_answer(
            envelope,
            lambda items, partial: _leads_bulk(
                items,
                partial=partial,
                organization=self.organization,
                actor=self.actor,
                context=self.get_serializer_context(),
            ),
        )


def _leads_bulk(
    items: list[dict[str, Any]],
    *,
    partial: bool,
    organization: Organization,
    actor: Actor,
    context: dict[str, Any],
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, list[str]]]]:
    """Validate every item first (ids: one query per kind), then write the valid ones."""
    parsed: dict[int, dict[str, Any]] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    definitions = custom_definitions()
    for index, data in validate_each(LeadBulkItemSerializer(context=context), items, errors):
        if data.get("contact_data") is not None:
            try:
                contact_custom_clean(data["contact_data"], "contact_data", definitions)
            except DjangoValidationError as exc:
                errors[index] = errors_of(exc)
                continue
        parsed[index] = data

    contacts = {
        c.pk: c
        for c in Contact.objects.filter(pk__in={d["contact"] for d in parsed.values() if d.get("contact")})
    }
    campaigns = {
        c.pk: c
        for c in Campaign.objects.filter(pk__in={d["campaign"] for d in parsed.values() if d.get("campaign")})
    }
    owner_ids = {d["owner"] for d in parsed.values() if d.get("owner")}
    owners = {
        m.user_id: m.user
        for m in Membership.objects.filter(organization=organization, user_id__in=owner_ids).select_related(
            "user"
        )
    }
    for index, data in list(parsed.items()):
        item_errors: dict[str, list[str]] = {}
        if data.get("contact") and data["contact"] not in contacts:
            item_errors["contact"] = [f"No contact with id {data['contact']} exists."]
        if data.get("campaign") and data["campaign"] not in campaigns:
            item_errors["campaign"] = [f"No campaign with id {data['campaign']} exists."]
        if data.get("owner") and data["owner"] not in owners:
            item_errors["owner"] = [f"User {data['owner']} is not a member of this organization."]
        if item_errors:
            errors[index] = item_errors
            del parsed[index]
            continue
        if data.get("contact"):
            data["contact"] = contacts[data["contact"]]
        if "campaign" in data:
            data["campaign"] = campaigns.get(data["campaign"]) if data["campaign"] else None
        if "owner" in data:
            data["owner"] = owners.get(data["owner"]) if data["owner"] else None
    if errors and not partial:
        return {}, errors
    return _leads_bulk_write(parsed, errors, partial=partial, actor=actor), errors


def _leads_bulk_write(
    parsed: dict[int, dict[str, Any]], errors: dict[int, dict[str, list[str]]], *, partial: bool, actor: Actor
) -> dict[int, dict[str, Any]]:
    """Upsert the captured contacts as one batch, then write every lead, in a few statements."""
    contacts: dict[int, Contact] = {
        index: data["contact"] for index, data in parsed.items() if data.get("contact") is not None
    }
    captured = sorted(index for index, data in parsed.items() if data.get("contact") is None)
    upserted, contact_errors = services.contacts_bulk_upsert(
        items=[parsed[index]["contact_data"] for index in captured], actor=actor
    )
    for position, index in enumerate(captured):
        if position in contact_errors:
            errors[index] = {f"contact_data.{k}": v for k, v in contact_errors[position].items()}
        else:
            contacts[index] = upserted[position][0]
    if errors and not partial:
        return {}
    order = sorted(contacts)
    entries = [(contacts[i], _lead_fields(parsed[i]), parsed[i].get("contact") is not None) for i in order]
    written = services.leads_bulk_capture(entries=entries, actor=actor)
    return {
        index: {"index": index, "id": lead.pk, "created": created}
        for index, (lead, created) in zip(order, written, strict=True)
    }

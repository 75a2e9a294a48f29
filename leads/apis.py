"""REST API of the funnel's records (/api/v1/...): thin views that parse with an input serializer, call a
service or selector, and render with an output serializer.

Conventions: PATCH edits (no PUT); POST on a collection answers 201 when it created the record and 200
when it reused one (a known email, a repeated external_id, a campaign's existing day of spend); bulk
endpoints answer 201 when every item was written, 207 in partial mode when some were refused, and 400
(nothing written) in the default all-or-nothing mode when any item is invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadhub.api.base import TenantGenericViewSet
from leadhub.api.errors import django_validation_fields
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import Membership, Organization, Role
from leadhub.tenancy.services import Actor
from leads import selectors, services
from leads.filters import (
    LEAD_ORDERING_FIELDS,
    CampaignFilter,
    CampaignSpendFilter,
    CompanyFilter,
    ContactFilter,
    LeadFilter,
    TouchpointFilter,
)
from leads.models import (
    Campaign,
    CampaignSpend,
    Company,
    Contact,
    CustomField,
    CustomFieldEntity,
    Lead,
    Touchpoint,
)
from leads.serializers import (
    BulkRequestSerializer,
    BulkResponseSerializer,
    CampaignInputSerializer,
    CampaignOutputSerializer,
    CampaignSpendInputSerializer,
    CampaignSpendOutputSerializer,
    CampaignSpendUpdateSerializer,
    CompanyInputSerializer,
    CompanyOutputSerializer,
    ContactInputSerializer,
    ContactOutputSerializer,
    CustomFieldCreateSerializer,
    CustomFieldOutputSerializer,
    CustomFieldUpdateSerializer,
    LeadBulkItemSerializer,
    LeadBulkSerializer,
    LeadCreateSerializer,
    LeadOutputSerializer,
    LeadStageChangeSerializer,
    LeadUpdateSerializer,
    StageChangeOutputSerializer,
    TouchpointBulkSerializer,
    TouchpointCreateSerializer,
    TouchpointOutputSerializer,
    TouchpointUpdateSerializer,
)

MARKETING_ROLES = frozenset({Role.ADMIN, Role.MARKETER})
CUSTOM_FIELD_PARAMETER = OpenApiParameter(
    name="cf.<key>",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.QUERY,
    required=False,
    description=(
        "Custom field filters: replace `<key>` with a custom field's key, e.g. `cf.plan=pro`. Number and "
        "date fields also take `cf.<key>__gte=` and `cf.<key>__lte=`. Text compares case-insensitively. An "
        "unknown key is a 400 naming the parameter."
    ),
)


def _errors_of(exc: DjangoValidationError | serializers.ValidationError) -> dict[str, list[str]]:
    if isinstance(exc, DjangoValidationError):
        return django_validation_fields(exc)
    detail = exc.detail
    if isinstance(detail, Mapping):
        return {
            key: [str(m) for m in (value if isinstance(value, list) else [value])]
            for key, value in detail.items()
        }
    return {"non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


def _flat_errors(errors: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors as {"a.b": [messages]} (the shape of the API's error `fields`)."""
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flat_errors(value, path))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value):
                flat.update(_flat_errors(item, f"{path}.{index}"))
        else:
            flat[path] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return flat


def _validate_each(
    serializer: serializers.Serializer, items: list[Any], errors: dict[int, dict[str, list[str]]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Validate items one by one with a single serializer instance (DRF builds its fields once, which
    is most of the cost of a serializer), yielding (index, data) and recording errors by index."""
    for index, raw in enumerate(items):
        try:
            data = serializer.run_validation(raw)
        except serializers.ValidationError as exc:
            detail = exc.detail
            errors[index] = _flat_errors(detail) if isinstance(detail, Mapping) else _errors_of(exc)
            continue
        yield index, dict(data)


# --- base -----------------------------------------------------------------------------------


class ApiViewSet(TenantGenericViewSet):
    """PATCH rather than PUT; reads for every role, writes for `write_roles` (None: every role)."""

    schema = LeadHubAutoSchema()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    write_roles: ClassVar[frozenset[str] | None] = None
    output_serializer: ClassVar[type[serializers.Serializer]]

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        if self.request.method in SAFE_METHODS:
            return None
        return self.write_roles

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request._request)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return self.output_serializer

    def parse(
        self, serializer_class: type[serializers.Serializer], *, partial: bool = False, **context: Any
    ) -> dict[str, Any]:
        serializer = serializer_class(
            data=self.request.data, partial=partial, context={**self.get_serializer_context(), **context}
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def render(self, instance: Any, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(
            self.output_serializer(instance, context=self.get_serializer_context()).data, status=status_code
        )

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        data = self.output_serializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self.render(self.get_object())


# --- companies ------------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(parameters=[CUSTOM_FIELD_PARAMETER]))
class CompanyViewSet(ApiViewSet):
    """Companies (accounts) contacts work for; `custom_fields` holds the company's custom field values."""

    model = Company
    output_serializer = CompanyOutputSerializer
    filterset_class = CompanyFilter
    ordering_fields = ["id", "name", "created_at"]
    ordering = "-id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Company]:
        return selectors.company_list(organization=organization)

    @extend_schema(request=CompanyInputSerializer, responses={201: CompanyOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(CompanyInputSerializer)
        return self.render(services.company_create(data=data, actor=self.actor), status.HTTP_201_CREATED)

    @extend_schema(request=CompanyInputSerializer, responses=CompanyOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        company = self.get_object()
        data = self.parse(CompanyInputSerializer, partial=True)
        return self.render(services.company_update(company=company, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.company_delete(company=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- contacts -------------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(parameters=[CUSTOM_FIELD_PARAMETER]))
class ContactViewSet(ApiViewSet):
    """People. Unique per organization by normalised email: POST upserts (200 when the email was known,
    and known values are never overwritten with blanks); PATCH edits (blanks clear)."""

    model = Contact
    output_serializer = ContactOutputSerializer
    filterset_class = ContactFilter
    ordering_fields = ["id", "created_at", "updated_at"]
    ordering = "-id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Contact]:
        return selectors.contact_list(organization=organization)

    @extend_schema(
        request=ContactInputSerializer,
        responses={201: ContactOutputSerializer, 200: ContactOutputSerializer},
    )
    def create(self, request: Request) -> Response:
        data = self.parse(ContactInputSerializer)
        contact, created = services.contact_upsert(data=data, actor=self.actor)
        return self.render(contact, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=ContactInputSerializer, responses=ContactOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        data = self.parse(ContactInputSerializer, partial=True)
        return self.render(services.contact_update(contact=contact, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.contact_delete(contact=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- leads ----------------------------------------------------------------------------------


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


def _contact_custom_clean(
    contact_data: Mapping[str, Any], prefix: str, definitions: Mapping[str, dict[str, CustomField]]
) -> None:
    """Check a captured contact's (and its company's) custom values with paths that name them."""
    services.custom_values_clean(
        entity=CustomFieldEntity.CONTACT,
        values=contact_data.get("custom_fields"),
        field_prefix=f"{prefix}.custom_fields",
        definitions=dict(definitions[CustomFieldEntity.CONTACT]),
    )
    company = contact_data.get("company") or {}
    services.custom_values_clean(
        entity=CustomFieldEntity.COMPANY,
        values=company.get("custom_fields"),
        field_prefix=f"{prefix}.company.custom_fields",
        definitions=dict(definitions[CustomFieldEntity.COMPANY]),
    )


def _custom_definitions() -> dict[str, dict[str, CustomField]]:
    by_entity: dict[str, dict[str, CustomField]] = {
        CustomFieldEntity.CONTACT: {},
        CustomFieldEntity.COMPANY: {},
    }
    for field in CustomField.objects.all():
        by_entity.setdefault(field.entity, {})[field.key] = field
    return by_entity


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
            _contact_custom_clean(data["contact_data"], "contact_data", _custom_definitions())
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
        return _bulk_answer(
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
    definitions = _custom_definitions()
    for index, data in _validate_each(LeadBulkItemSerializer(context=context), items, errors):
        if data.get("contact_data") is not None:
            try:
                _contact_custom_clean(data["contact_data"], "contact_data", definitions)
            except DjangoValidationError as exc:
                errors[index] = _errors_of(exc)
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


BulkRun = Callable[
    [list[dict[str, Any]], bool], tuple[dict[int, dict[str, Any]], dict[int, dict[str, list[str]]]]
]


def _bulk_answer(envelope: dict[str, Any], run: BulkRun) -> Response:
    items, partial = envelope["items"], envelope["partial"]
    results, errors = run(items, partial)
    if errors and not partial:
        # The exception handler answers 400 and rolls the whole request back: nothing is written.
        raise serializers.ValidationError(
            {"items": {str(index): item_errors for index, item_errors in sorted(errors.items())}}
        )
    rows = [results.get(i) or {"index": i, "errors": errors[i]} for i in range(len(items))]
    body = {"results": rows, "succeeded": len(results), "failed": len(errors)}
    return Response(body, status=status.HTTP_207_MULTI_STATUS if errors else status.HTTP_201_CREATED)


# --- touchpoints ----------------------------------------------------------------------------


def _touchpoints_build(
    items: list[dict[str, Any]], *, context: dict[str, Any]
) -> tuple[dict[int, Touchpoint], dict[int, dict[str, list[str]]]]:
    """Validate touchpoint items and resolve their references with one query per kind of id."""
    parsed: dict[int, dict[str, Any]] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, data in _validate_each(TouchpointCreateSerializer(context=context), items, errors):
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

        return _bulk_answer(envelope, run)


# --- campaigns and spend --------------------------------------------------------------------


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


# --- custom fields --------------------------------------------------------------------------


class CustomFieldViewSet(ApiViewSet):
    """Definitions of the organization's custom fields on contacts and companies. A field's type cannot
    change while records hold values for it; deleting a field removes its values."""

    model = CustomField
    output_serializer = CustomFieldOutputSerializer
    ordering_fields = ["id", "position"]
    ordering = "id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[CustomField]:
        return selectors.custom_field_list(organization=organization)

    @extend_schema(request=CustomFieldCreateSerializer, responses={201: CustomFieldOutputSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(CustomFieldCreateSerializer)
        field = services.custom_field_create(
            entity=data["entity"],
            key=data["key"],
            label=data.get("label", ""),
            field_type=data["field_type"],
            choices=data.get("choices"),
            help_text=data.get("help_text", ""),
            position=data.get("position", 0),
        )
        return self.render(field, status.HTTP_201_CREATED)

    @extend_schema(request=CustomFieldUpdateSerializer, responses=CustomFieldOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        field = self.get_object()
        data = self.parse(CustomFieldUpdateSerializer, partial=True, custom_field=field)
        return self.render(services.custom_field_update(field=field, data=data, actor=self.actor))

    def destroy(self, request: Request, pk: str) -> Response:
        services.custom_field_delete(field=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

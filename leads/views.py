"""Dashboard pages of the funnel: home, the lead list with its filters and bulk stage change, a lead's
page, and the custom field settings. Views parse and render; leads.services writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.selectors import organization_members
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import (
    KeysetOrder,
    htmx_partial,
    keyset_page,
    member_required,
    render_page,
    safe_next,
)
from leads.filters import LeadFilter
from leads.forms import BULK_MAX_LEADS, BulkStageForm, CustomFieldForm, StageChangeForm
from leads.models import (
    FUNNEL_STAGES,
    STAGE_TRANSITIONS,
    Campaign,
    Channel,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
)
from leads.models_forms import ConsentRecord
from leads.rows import LEAD_ROW_FIELDS, lead_rows_html
from leads.services import (
    custom_field_create,
    custom_field_delete,
    lead_change_stage,
    leads_bulk_change_stage,
)
from leads.webforms.consent import consents_for
from leads.webforms.forms import ContactConsentForm

CUSTOM_FIELD_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
LEAD_PAGE_SIZE = 50
TOUCHPOINT_PAGE_SIZE = 20
CONSENT_HISTORY_SIZE = 10
# Past this many matches the list says "1,000+": counting every match of a million-lead tenant on each
# page view would cost more than the page itself.
COUNT_CAP = 1000
STAGE_COUNTS_TTL = 60
STAGE_ORDER = [
    Stage.COLD,
    Stage.MQL,
    Stage.PQL,
    Stage.SQL,
    Stage.OPPORTUNITY,
    Stage.CUSTOMER,
    Stage.RECYCLED,
    Stage.DISQUALIFIED,
]

# ?ordering= value -> (label, keyset order). The values are LeadFilter's LEAD_ORDERING_FIELDS, as in the API.
LEAD_SORTS: dict[str, tuple[str, KeysetOrder]] = {
    "-created_at": ("Newest first", KeysetOrder("created_at")),
    "created_at": ("Oldest first", KeysetOrder("created_at", descending=False)),
    "-score": ("Highest score", KeysetOrder("score")),
    "score": ("Lowest score", KeysetOrder("score", descending=False)),
    "-last_touch_at": ("Latest touch", KeysetOrder("last_touch_at", nullable=True)),
    "last_touch_at": ("Longest untouched", KeysetOrder("last_touch_at", descending=False, nullable=True)),
}
DEFAULT_SORT = "-created_at"


# --- reads for these pages -------------------------------------------------------------------------


def _stage_counts_key(organization_id: int) -> str:
    return f"leads:stage-counts:{organization_id}"


def stage_counts(organization_id: int) -> dict[str, int]:
    """Leads per stage in one grouped query; the result also refreshes the sidebar's cached copy."""
    counts = {stage: 0 for stage in Stage.values}
    for row in Lead.objects.order_by().values("stage").annotate(n=Count("id")):
        counts[row["stage"]] = row["n"]
    cache.set(_stage_counts_key(organization_id), counts, STAGE_COUNTS_TTL)
    return counts


def stage_counts_cached(organization_id: int) -> dict[str, int]:
    cached = cache.get(_stage_counts_key(organization_id))
    return cached if cached is not None else stage_counts(organization_id)


def stage_counts_forget(organization_id: int) -> None:
    cache.delete(_stage_counts_key(organization_id))


def lead_list_queryset() -> QuerySet[Lead]:
    """Leads with what a row of the list shows (leads.rows) and nothing more: every column not read
    is one less value to send, parse and instantiate fifty times per page."""
    return Lead.objects.select_related("contact", "contact__company", "owner", "campaign").only(
        *LEAD_ROW_FIELDS
    )


def count_capped(queryset: QuerySet[Lead]) -> tuple[int, bool]:
    """(count, capped): an exact count up to COUNT_CAP, and True when there are more."""
    count = queryset.order_by().values("pk")[: COUNT_CAP + 1].count()
    return min(count, COUNT_CAP), count > COUNT_CAP


@dataclass(frozen=True)
class CustomValue:
    label: str
    value: Any
    field_type: str


def custom_values(values: dict[str, Any], definitions: list[CustomField]) -> list[CustomValue]:
    """The record's custom values with their labels, in the organization's field order."""
    shown: list[CustomValue] = []
    for definition in definitions:
        if definition.key in values and values[definition.key] not in (None, ""):
            shown.append(CustomValue(definition.label, values[definition.key], definition.field_type))
    return shown


# --- home and navigation ----------------------------------------------------------------------------


@member_required()
def home(request: HttpRequest) -> HttpResponse:
    counts = stage_counts(request.organization.pk)  # type: ignore[attr-defined]
    widest = max([counts[s] for s in FUNNEL_STAGES] + [1])
    funnel = [
        {
            "stage": stage,
            "label": Stage(stage).label,
            "count": counts[stage],
            "width": round(100 * counts[stage] / widest, 1),
        }
        for stage in FUNNEL_STAGES
    ]
    side = [
        {"stage": s, "label": Stage(s).label, "count": counts[s]}
        for s in (Stage.PQL, Stage.RECYCLED, Stage.DISQUALIFIED)
    ]
    recent_leads = lead_list_queryset().order_by("-created_at", "-id")[:8]
    # Served by the (organization, changed_at) index however long the history is.
    recent_changes = StageChange.objects.select_related(
        "lead__contact", "changed_by_user", "changed_by_api_key"
    ).order_by("-changed_at", "-id")[:10]
    context = {
        "funnel": funnel,
        "side_stages": side,
        "total": sum(counts.values()),
        "open_count": sum(
            counts[s] for s in (Stage.COLD, Stage.MQL, Stage.PQL, Stage.SQL, Stage.OPPORTUNITY)
        ),
        "customers": counts[Stage.CUSTOMER],
        "recent_leads": recent_leads,
        "recent_changes": recent_changes,
    }
    return render(request, "leads/home.html", context)


@member_required()
def funnel_nav(request: HttpRequest) -> HttpResponse:
    """The sidebar's stage entries with counts, loaded after the page so counting never delays it."""
    counts = stage_counts_cached(request.organization.pk)  # type: ignore[attr-defined]
    htmx = request.htmx  # type: ignore[attr-defined]
    current = (htmx.current_url_abs_path or "") if htmx else ""
    list_path = reverse("lead-list")
    entries = [
        {
            "stage": stage,
            "label": Stage(stage).label,
            "count": counts[stage],
            "url": f"{list_path}?stage={stage}",
            "active": current == f"{list_path}?stage={stage}",
        }
        for stage in FUNNEL_STAGES
    ]
    response = render(request, "leads/_funnel_nav.html", {"entries": entries})
    response["Cache-Control"] = "private, max-age=30"
    return response


# --- the lead list -----------------------------------------------------------------------------------


@member_required()
def lead_list(request: HttpRequest) -> HttpResponse:
    organization = request.organization  # type: ignore[attr-defined]
    filterset = LeadFilter(request.GET or None, queryset=lead_list_queryset(), request=request)
    ordering = request.GET.get("ordering", DEFAULT_SORT)
    if ordering not in LEAD_SORTS:
        ordering = DEFAULT_SORT
    filtered = filterset.qs
    page = keyset_page(
        filtered, order=LEAD_SORTS[ordering][1], cursor=request.GET.get("cursor"), size=LEAD_PAGE_SIZE
    )
    count, capped = count_capped(filtered)
    values = {
        "q": request.GET.get("q", ""),
        "stage": request.GET.get("stage", ""),
        "owner": request.GET.get("owner", ""),
        "source_channel": request.GET.get("source_channel", ""),
        "campaign": request.GET.get("campaign", ""),
        "score_min": request.GET.get("score_min", ""),
        "score_max": request.GET.get("score_max", ""),
        "created_after": request.GET.get("created_after", ""),
        "created_before": request.GET.get("created_before", ""),
    }
    context = {
        "page": page,
        "rows_html": lead_rows_html(page.rows),
        "count": count,
        "capped": capped,
        "filter_errors": filterset.errors if filterset.is_bound else {},
        "values": values,
        "active_filters": sum(1 for v in values.values() if v),
        "ordering": ordering,
        "sorts": [(key, label) for key, (label, _) in LEAD_SORTS.items()],
        "stages": [(s, Stage(s).label) for s in STAGE_ORDER],
        "channels": Channel.choices,
        "campaigns": Campaign.objects.only("id", "name").order_by("name"),
        "owners": organization_members(organization=organization),
        "bulk_form": BulkStageForm(),
        "list_url": request.get_full_path(),
    }
    if htmx_partial(request, "lead-results"):
        return render_page(request, "leads/_lead_results.html", context)
    return render_page(request, "leads/lead_list.html", context)


@member_required()
@require_POST
def lead_bulk_stage(request: HttpRequest) -> HttpResponse:
    """Step one shows what will move and asks to confirm; step two moves and reports each lead."""
    form = BulkStageForm(request.POST)
    back = safe_next(request, reverse("lead-list"))
    valid = form.is_valid()
    ids: list[int] = (form.cleaned_data.get("lead") or []) if valid else _posted_ids(request)
    leads = list(
        Lead.objects.select_related("contact", "contact__company").filter(pk__in=ids).order_by("-id")
    )
    context: dict[str, Any] = {
        "form": form,
        "leads": leads,
        "back": back,
        "stages": [(s, Stage(s).label) for s in STAGE_ORDER],
    }
    if not valid:
        return render(request, "leads/bulk_confirm.html", context, status=400)
    to_stage = form.cleaned_data["to_stage"]
    context["to_stage_label"] = Stage(to_stage).label
    if not form.cleaned_data["confirm"]:
        return render(request, "leads/bulk_confirm.html", context)
    results = leads_bulk_change_stage(
        lead_ids=ids, to_stage=to_stage, actor=Actor.from_request(request), reason=form.cleaned_data["reason"]
    )
    stage_counts_forget(request.organization.pk)  # type: ignore[attr-defined]
    by_id = {lead.pk: lead for lead in leads}
    rows = [{"id": lead_id, "lead": by_id.get(lead_id), "refused": why} for lead_id, why in results.items()]
    context.update(
        rows=rows,
        moved=sum(1 for r in rows if r["refused"] is None),
        refused=sum(1 for r in rows if r["refused"] is not None),
    )
    return render(request, "leads/bulk_result.html", context)


def _posted_ids(request: HttpRequest) -> list[int]:
    """The well-formed ids of an invalid submission, to show the selection again beside the errors."""
    return [int(v) for v in request.POST.getlist("lead") if v.strip().isdigit()][:BULK_MAX_LEADS]


# --- a lead's page ------------------------------------------------------------------------------------


def _lead_get(pk: int) -> Lead:
    return get_object_or_404(
        Lead.objects.select_related(
            "contact", "contact__company", "owner", "campaign", "first_touch_campaign"
        ),
        pk=pk,
    )


def _lead_detail_context(request: HttpRequest, lead: Lead, stage_form: StageChangeForm) -> dict[str, Any]:
    definitions = list(CustomField.objects.all())
    contact_fields = [d for d in definitions if d.entity == CustomFieldEntity.CONTACT]
    company_fields = [d for d in definitions if d.entity == CustomFieldEntity.COMPANY]
    company = lead.contact.company
    touches = keyset_page(
        Touchpoint.objects.filter(lead=lead).select_related("campaign"),
        order=KeysetOrder("occurred_at"),
        cursor=request.GET.get("touches"),
        size=TOUCHPOINT_PAGE_SIZE,
    )
    allowed = [s for s in STAGE_ORDER if s in STAGE_TRANSITIONS[lead.stage]]
    return {
        "lead": lead,
        "contact": lead.contact,
        "company": company,
        "contact_custom": custom_values(lead.contact.custom or {}, contact_fields),
        "company_custom": custom_values(company.custom or {}, company_fields) if company else [],
        "history": lead.stage_changes.select_related("changed_by_user", "changed_by_api_key").order_by(
            "-changed_at", "-id"
        ),
        "touches": touches,
        "stage_form": stage_form,
        "allowed_stages": [(s, Stage(s).label) for s in allowed],
        "funnel_path": [(s, Stage(s).label) for s in FUNNEL_STAGES],
        "funnel_reached": FUNNEL_STAGES.index(lead.stage) if lead.stage in FUNNEL_STAGES else -1,
        "boolean_type": CustomFieldType.BOOLEAN,
        "consents": list(consents_for(lead.contact).values()),
        "consent_history": ConsentRecord.objects.filter(contact=lead.contact)
        .select_related("form")
        .order_by("-recorded_at", "-id")[:CONSENT_HISTORY_SIZE],
        "consent_form": ContactConsentForm(),
    }


@for_model(Lead)
@member_required()
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead_get(pk)
    context = _lead_detail_context(request, lead, StageChangeForm())
    if htmx_partial(request, "timeline-more"):
        return render_page(request, "leads/_touchpoints.html", context)
    return render_page(request, "leads/lead_detail.html", context)


@for_model(Lead)
@member_required()
@require_POST
def lead_stage(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead_get(pk)
    form = StageChangeForm(request.POST)
    if form.is_valid():
        to_stage = form.cleaned_data["to_stage"]
        try:
            lead_change_stage(
                lead=lead,
                to_stage=to_stage,
                actor=Actor.from_request(request),
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            stage_counts_forget(request.organization.pk)  # type: ignore[attr-defined]
            messages.success(request, f"{lead.contact} moved to {Stage(to_stage).label}.")
            return redirect("lead-detail", pk=lead.pk)
    return render(request, "leads/lead_detail.html", _lead_detail_context(request, lead, form), status=400)


# --- settings: custom fields ----------------------------------------------------------------------------


@member_required(*CUSTOM_FIELD_ROLES)
@require_http_methods(["GET", "POST"])
def custom_fields(request: HttpRequest) -> HttpResponse:
    form = CustomFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            field = custom_field_create(
                entity=data["entity"],
                key=data["key"],
                label=data["label"],
                field_type=data["field_type"],
                choices=data["choice_list"] if data["field_type"] == CustomFieldType.CHOICE else None,
                help_text=data["help_text"],
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(
                request, f"Custom field “{field.label}” added to {field.get_entity_display().lower()}s."
            )
            return redirect("settings-custom-fields")
    definitions = list(CustomField.objects.all())
    context = {
        "form": form,
        "groups": [
            (label, [d for d in definitions if d.entity == entity])
            for entity, label in CustomFieldEntity.choices
        ],
    }
    return render(request, "leads/custom_fields.html", context, status=400 if form.errors else 200)


@for_model(CustomField)
@member_required(*CUSTOM_FIELD_ROLES)
@require_http_methods(["GET", "POST"])
def custom_field_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(CustomField, pk=pk)
    if request.method == "POST":
        custom_field_delete(field=field, actor=Actor.from_request(request))
        messages.success(request, f"Custom field “{field.label}” and its stored values are deleted.")
        return redirect("settings-custom-fields")
    return render(request, "leads/custom_field_delete.html", {"field": field})

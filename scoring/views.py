"""Dashboard pages of qualification: the scoring models with the thresholds and recompute progress, a
version's editor with its backtest beside the live model's, and a lead's score breakdown and ledger.
Views parse and render; scoring.services writes."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import KeysetOrder, htmx_partial, keyset_page, member_required, render_page
from leads.models import Lead
from scoring import selectors, services
from scoring.forms import (
    AdjustmentForm,
    BacktestForm,
    BantForm,
    GradeThresholdsForm,
    ModelCreateForm,
    RuleForm,
    ThresholdsForm,
)
from scoring.models import (
    GRADES,
    BacktestRun,
    Dimension,
    ModelVersion,
    RecomputeJob,
    Rule,
    ScoringModel,
)
from scoring.predictive.selectors import lead_prediction
from scoring.starter import STARTER_RULES

EDIT_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
LEDGER_PAGE_SIZE = 25


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


# --- models, thresholds, recomputes ---------------------------------------------------------------


@member_required(*EDIT_ROLES)
@require_http_methods(["GET", "POST"])
def scoring_home(request: HttpRequest) -> HttpResponse:
    create_form = ModelCreateForm(request.POST if request.POST.get("form") == "create" else None)
    policy = services.lifecycle_policy_get()
    thresholds_form = ThresholdsForm(
        request.POST if request.POST.get("form") == "thresholds" else None,
        initial={
            "mql_score": policy.mql_score,
            "mql_min_grade": policy.mql_min_grade,
            "pql_points": policy.pql_points,
            "recycle_floor": policy.recycle_floor,
        },
    )
    if request.method == "POST" and request.POST.get("form") == "create" and create_form.is_valid():
        try:
            model = services.scoring_model_create(
                name=create_form.cleaned_data["name"],
                actor=_actor(request),
                rules=STARTER_RULES if create_form.cleaned_data["starter"] else None,
            )
        except ValidationError as exc:
            service_errors_to_form(create_form, exc)
        else:
            messages.success(request, f"Model “{model.name}” created with a first draft.")
            return redirect("scoring-version", pk=model.versions.get().pk)
    if request.method == "POST" and request.POST.get("form") == "thresholds" and thresholds_form.is_valid():
        try:
            services.lifecycle_policy_update(data=thresholds_form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(thresholds_form, exc)
        else:
            messages.success(request, "Lifecycle thresholds saved; they apply from the next rescoring.")
            return redirect("scoring-home")
    models = list(ScoringModel.objects.order_by("name").prefetch_related("versions"))
    context = {
        "models": models,
        "live": selectors.live_version_with_rules(),
        "jobs": selectors.recompute_jobs(limit=8),
        "create_form": create_form,
        "thresholds_form": thresholds_form,
    }
    status = 400 if request.method == "POST" else 200
    return render_page(request, "scoring/home.html", context, status=status)


@for_model(RecomputeJob)
@member_required(*EDIT_ROLES)
def recompute_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A job's progress bar (htmx polls it while the job runs)."""
    job = get_object_or_404(RecomputeJob.objects.select_related("version__scoring_model"), pk=pk)
    return render_page(request, "scoring/_job.html", {"job": job})


# --- a version --------------------------------------------------------------------------------------


def _version(pk: int) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("scoring_model"), pk=pk)


def _version_context(request: HttpRequest, version: ModelVersion, **forms: Any) -> dict[str, Any]:
    rules = list(version.rules.order_by("dimension", "position", "id"))
    by_dimension = [(label, [r for r in rules if r.dimension == value]) for value, label in Dimension.choices]
    backtest = BacktestRun.objects.filter(version=version).order_by("-id").first()
    thresholds = {**version.grade_thresholds}
    return {
        "version": version,
        "versions": list(version.scoring_model.versions.order_by("-number")),
        "by_dimension": by_dimension,
        "rule_count": len(rules),
        "live": services.live_version(),
        "backtest": backtest,
        "rule_form": forms.get("rule_form") or RuleForm(),
        "grades_form": forms.get("grades_form")
        or GradeThresholdsForm(initial={**{g: thresholds.get(g) for g in GRADES[:-1]}, "note": version.note}),
        "backtest_form": forms.get("backtest_form") or BacktestForm(),
        "editable": version.is_draft and request.membership.role in EDIT_ROLES,  # type: ignore[attr-defined]
        "policy": services.lifecycle_policy_get(),
    }


@for_model(ModelVersion)
@member_required(*EDIT_ROLES)
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version(pk)
    context = _version_context(request, version)
    if htmx_partial(request, "backtest"):
        return render_page(request, "scoring/_backtest.html", context)
    return render_page(request, "scoring/version.html", context)


@for_model(ModelVersion)
@member_required(*EDIT_ROLES)
@require_POST
def version_rule_add(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version(pk)
    form = RuleForm(request.POST)
    if form.is_valid():
        try:
            rule = services.rule_create(version=version, data=form.rule_data(), actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Rule “{rule.name}” added.")
            return redirect("scoring-version", pk=version.pk)
    return render_page(
        request, "scoring/version.html", _version_context(request, version, rule_form=form), 400
    )


@for_model(Rule)
@member_required(*EDIT_ROLES)
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule.objects.select_related("version__scoring_model"), pk=pk)
    if request.method == "POST":
        try:
            services.rule_delete(rule=rule, actor=_actor(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Rule “{rule.name}” deleted.")
        return redirect("scoring-version", pk=rule.version_id)
    return render_page(request, "scoring/rule_delete.html", {"rule": rule})


@for_model(ModelVersion)
@member_required(*EDIT_ROLES)
@require_POST
def version_grades(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version(pk)
    form = GradeThresholdsForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        note = data.pop("note")
        try:
            services.version_update(
                version=version, data={"grade_thresholds": data, "note": note}, actor=_actor(request)
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Grade thresholds saved.")
            return redirect("scoring-version", pk=version.pk)
    return render_page(
        request, "scoring/version.html", _version_context(request, version, grades_form=form), 400
    )


@for_model(ModelVersion)
@member_required(*EDIT_ROLES)
@require_POST
def version_draft(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version(pk)
    draft = services.version_create(
        scoring_model=version.scoring_model, based_on=version, actor=_actor(request)
    )
    messages.success(request, f"Draft v{draft.number} created from v{version.number}.")
    return redirect("scoring-version", pk=draft.pk)


@for_model(ModelVersion)
@member_required(*EDIT_ROLES)
@require_http_methods(["GET", "POST"])
def version_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (publishing rescores every lead); POST publishes."""
    version = _version(pk)
    if request.method == "POST":
        try:
            job = services.version_publish(version=version, actor=_actor(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("scoring-version", pk=version.pk)
        messages.success(request, f"v{version.number} is live; every lead is being rescored (job {job.pk}).")
        return redirect("scoring-home")
    return render_page(
        request, "scoring/publish_confirm.html", {"version": version, "live": services.live_version()}
    )


@for_model(ModelVersion)
@member_required(*EDIT_ROLES)
@require_POST
def version_backtest(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version(pk)
    form = BacktestForm(request.POST)
    if form.is_valid():
        try:
            services.backtest_start(
                version=version, target_mql=form.cleaned_data.get("target_mql"), actor=_actor(request)
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            return redirect("scoring-version", pk=version.pk)
    return render_page(
        request, "scoring/version.html", _version_context(request, version, backtest_form=form), 400
    )


# --- a lead -----------------------------------------------------------------------------------------


def _lead(pk: int) -> Lead:
    return get_object_or_404(Lead.objects.select_related("contact__company"), pk=pk)


def _lead_context(request: HttpRequest, lead: Lead, **forms: Any) -> dict[str, Any]:
    page = keyset_page(
        selectors.lead_ledger(lead),
        order=KeysetOrder("id"),
        cursor=request.GET.get("ledger"),
        size=LEDGER_PAGE_SIZE,
    )
    described = selectors.ledger_row_rules(list(page.rows))
    return {
        "lead": lead,
        "contact": lead.contact,
        "explanation": selectors.lead_explanation(lead),
        "ledger": page,
        "ledger_rows": [(row, described.get(row.pk, [])) for row in page.rows],
        "bant": list(selectors.bant_history(lead)[:20]),
        "adjust_form": forms.get("adjust_form") or AdjustmentForm(),
        "bant_form": forms.get("bant_form") or BantForm(),
        "can_adjust": request.membership.role in EDIT_ROLES,  # type: ignore[attr-defined]
        "prediction": lead_prediction(lead),
    }


@for_model(Lead)
@member_required()
def lead_score(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(pk)
    context = _lead_context(request, lead)
    if htmx_partial(request, "ledger-more"):
        return render_page(request, "scoring/_ledger.html", context)
    return render_page(request, "scoring/lead_score.html", context)


@for_model(Lead)
@member_required(*EDIT_ROLES)
@require_POST
def lead_adjust(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(pk)
    form = AdjustmentForm(request.POST)
    if form.is_valid():
        try:
            services.score_adjust(
                lead=lead,
                points=form.cleaned_data["points"],
                note=form.cleaned_data["note"],
                actor=_actor(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Score adjusted by {form.cleaned_data['points']:+d}.")
            return redirect("scoring-lead", pk=lead.pk)
    return render_page(
        request, "scoring/lead_score.html", _lead_context(request, lead, adjust_form=form), 400
    )


@for_model(Lead)
@member_required()
@require_POST
def lead_bant(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(pk)
    form = BantForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                services.bant_answer_record(
                    lead=lead,
                    field=form.cleaned_data["field"],
                    value=form.cleaned_data["value"],
                    actor=_actor(request),
                )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Answer saved; the score follows in a moment.")
            return redirect("scoring-lead", pk=lead.pk)
    return render_page(request, "scoring/lead_score.html", _lead_context(request, lead, bant_form=form), 400)

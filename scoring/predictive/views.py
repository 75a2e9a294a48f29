"""The predictive model page: how good the current model is (metrics, calibration, lift), what drives it,
what it leaves out and why, the fields users exclude, train now with progress, and the version history."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import htmx_partial, member_required, render_page
from scoring.models_predictive import MIN_LABELLED, MIN_PER_CLASS, PredictiveModelVersion
from scoring.predictive import selectors
from scoring.predictive.charts import calibration_chart, lift_chart
from scoring.predictive.services import TrainingAlreadyRunning, predictive_config_update, training_run_request

VIEW_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER, Role.SALES_MANAGER)
EDIT_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
VERSIONS_SHOWN = 20


def _split(request: HttpRequest) -> str:
    return "time" if request.GET.get("split") == "time" else "random"


def _version_context(version: PredictiveModelVersion | None, split: str) -> dict[str, Any]:
    if version is None:
        return {"version": None}
    evaluation = version.evaluation(split)
    factors = version.global_factors if isinstance(version.global_factors, dict) else {}
    fields = [f for f in factors.get("fields") or [] if isinstance(f, dict)]
    top = max((float(f.get("points") or 0) for f in fields), default=0.0) or 1.0
    return {
        "version": version,
        "split": split,
        "evaluation": evaluation,
        "other_evaluation": version.evaluation("time" if split == "random" else "random"),
        "calibration": calibration_chart(evaluation),
        "lift": lift_chart(evaluation),
        "factors_positive": [f for f in factors.get("positive") or [] if isinstance(f, dict)],
        "factors_negative": [f for f in factors.get("negative") or [] if isinstance(f, dict)],
        "field_influence": [
            {**f, "width": round(100 * float(f.get("points") or 0) / top, 1)} for f in fields[:12]
        ],
        "excluded": [e for e in version.excluded if isinstance(e, dict)]
        if isinstance(version.excluded, list)
        else [],
    }


def _can_edit(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role in EDIT_ROLES


def _page_context(request: HttpRequest, split: str) -> dict[str, Any]:
    config = selectors.predictive_config()
    return {
        **_version_context(selectors.current_version(), split),
        "run": selectors.latest_run(),
        "versions": list(selectors.version_list()[:VERSIONS_SHOWN]),
        "config": config,
        "choices": selectors.excluded_field_choices(config),
        "top_leads": selectors.top_open_leads(),
        "can_edit": _can_edit(request),
        "min_labelled": MIN_LABELLED,
        "min_per_class": MIN_PER_CLASS,
    }


@member_required(*VIEW_ROLES)
@require_GET
def predictive_model(request: HttpRequest) -> HttpResponse:
    return render_page(request, "scoring/predictive.html", _page_context(request, _split(request)))


@for_model(PredictiveModelVersion)
@member_required(*VIEW_ROLES)
@require_GET
def predictive_version(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(selectors.version_list(), pk=pk)
    context = {**_version_context(version, _split(request)), "can_edit": _can_edit(request)}
    return render_page(request, "scoring/predictive_version.html", context)


@member_required(*EDIT_ROLES)
@require_POST
def predictive_train(request: HttpRequest) -> HttpResponse:
    try:
        run = training_run_request(actor=Actor.from_request(request))
    except TrainingAlreadyRunning as exc:
        run = exc.run
        messages.info(request, "A training run is already under way; its progress is below.")
    if htmx_partial(request, "predictive-progress"):
        return render(request, "scoring/predictive_progress.html", {"run": run, "can_edit": True})
    return redirect("predictive-model")


@member_required(*VIEW_ROLES)
@require_GET
def predictive_progress(request: HttpRequest) -> HttpResponse:
    run = selectors.latest_run()
    response = render(
        request, "scoring/predictive_progress.html", {"run": run, "can_edit": _can_edit(request)}
    )
    if run is not None and run.is_finished and request.GET.get("watching") == "1":
        # The run the page was watching ended: the metrics, charts and history change, reload once.
        response["HX-Refresh"] = "true"
    return response


@member_required(*EDIT_ROLES)
@require_POST
def predictive_settings(request: HttpRequest) -> HttpResponse:
    chosen = request.POST.getlist("exclude")
    excluded = [{"field": key, "reason": request.POST.get(f"reason-{key}", "")} for key in chosen]
    values: dict[str, Any] = {"excluded_fields": excluded}
    errors: dict[str, list[str]] = {}
    for name in ("inactive_days", "retrain_every_days"):
        raw = request.POST.get(name, "").strip()
        if raw == "":
            continue
        if not raw.isdigit():
            errors[name] = ["Enter a whole number of days."]
            continue
        values[name] = int(raw)
    if not errors:
        try:
            predictive_config_update(actor=Actor.from_request(request), **values)
        except ValidationError as exc:
            errors = exc.message_dict
    if errors:
        context = {
            **_page_context(request, "random"),
            "settings_errors": [m for msgs in errors.values() for m in msgs],
        }
        return render_page(request, "scoring/predictive.html", context, status=400)
    messages.success(request, "Settings saved. They apply from the next training run.")
    return redirect("predictive-model")

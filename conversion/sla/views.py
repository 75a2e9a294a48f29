"""Dashboard pages of the SLA, for admins and sales managers: compliance with the live clocks at risk,
policies, business hours and holidays. Views parse and render; conversion.sla.services writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from conversion.models import BusinessHours, Holiday, SalesTeam, SlaPolicy
from conversion.models.sla import default_week
from conversion.sla import selectors, services
from conversion.sla.forms import BusinessHoursForm, ComplianceFilterForm, HolidayForm, PolicyForm, day_text
from conversion.sla.hours import WEEKDAYS
from conversion.sla.policies import default_policy
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import member_required, render_page

SLA_ROLES: tuple[str, ...] = (Role.ADMIN, Role.SALES_MANAGER)
AT_RISK_PAGE_SIZE = 25
HOLIDAY_PAGE_SIZE = 50


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


@member_required(*SLA_ROLES)
def sla_home(request: HttpRequest) -> HttpResponse:
    form = ComplianceFilterForm(request.GET or None)
    data: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else {}
    start, end = selectors.period_bounds(start=data.get("start"), end=data.get("end"))
    team = data.get("team")
    report = selectors.compliance(start=start, end=end, team=team)
    now = timezone.now()
    at_risk = Paginator(selectors.clocks_at_risk(team=team, now=now), AT_RISK_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "form": form,
        "report": report,
        "period_last_day": (end - dt.timedelta(days=1)).date(),
        "at_risk": at_risk,
        "risk_rows": selectors.risk_rows(at_risk.object_list, now),
        "now": now,
        "default": default_policy(),
    }
    return render_page(request, "conversion/sla/home.html", context)


# --- policies -------------------------------------------------------------------------------------


def _policy_initial(policy: SlaPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in services.POLICY_FIELDS}


@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = list(selectors.policies())
    initial = {**_policy_initial(default_policy()), "name": "", "position": len(policies) + 1}
    form = PolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            policy = services.sla_policy_create(data=form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Policy “{policy.name}” created; it applies to handoffs from now on.")
            return redirect("sla-policies")
    context = {"policies": policies, "form": form, "default": default_policy()}
    return render_page(request, "conversion/sla/policies.html", context, status=400 if request.POST else 200)


@for_model(SlaPolicy)
@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(SlaPolicy, pk=pk)
    form = PolicyForm(request.POST or None, initial=_policy_initial(policy))
    if request.method == "POST" and form.is_valid():
        try:
            services.sla_policy_update(policy=policy, data=form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Policy “{policy.name}” saved; running clocks keep their deadlines.")
            return redirect("sla-policies")
    context = {"policy": policy, "form": form}
    return render_page(
        request, "conversion/sla/policy_edit.html", context, status=400 if request.POST else 200
    )


@for_model(SlaPolicy)
@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(SlaPolicy, pk=pk)
    if request.method == "POST":
        services.sla_policy_delete(policy=policy, actor=_actor(request))
        messages.success(request, f"Policy “{policy.name}” deleted.")
        return redirect("sla-policies")
    return render_page(request, "conversion/sla/policy_delete.html", {"policy": policy})


# --- business hours -------------------------------------------------------------------------------


@member_required(*SLA_ROLES)
def hours_list(request: HttpRequest) -> HttpResponse:
    rows = {row.team_id: row for row in selectors.business_hours_rows()}
    default = rows.get(None)
    default_week_rows = default.week if default else default_week()
    calendars: list[dict[str, Any]] = [
        {
            "label": "Organization default",
            "team": None,
            "timezone": default.timezone if default else "UTC",
            "days": list(zip(WEEKDAYS, [day_text(d) for d in default_week_rows], strict=True)),
            "own": default is not None,
        }
    ]
    for team in selectors.teams():
        row = rows.get(team.pk)
        week = row.week if row else default_week_rows
        calendars.append(
            {
                "label": team.name,
                "team": team,
                "timezone": team.timezone,
                "days": list(zip(WEEKDAYS, [day_text(d) for d in week], strict=True)),
                "own": row is not None,
            }
        )
    return render_page(request, "conversion/sla/hours.html", {"calendars": calendars})


def _hours_form(request: HttpRequest, team: SalesTeam | None) -> HttpResponse:
    row = (
        BusinessHours.objects.filter(team=team).first()
        if team
        else (BusinessHours.objects.filter(team__isnull=True).first())
    )
    fallback = BusinessHours.objects.filter(team__isnull=True).first()
    week = row.week if row else (fallback.week if fallback else default_week())
    initial = BusinessHoursForm.initial_for(week, timezone=row.timezone if row else "UTC")
    form = BusinessHoursForm(request.POST or None, initial=initial, with_timezone=team is None)
    if request.method == "POST" and form.is_valid():
        try:
            services.business_hours_save(
                team=team,
                week=form.cleaned_data["week"],
                timezone_name=form.cleaned_data.get("timezone"),
                actor=_actor(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Business hours saved; they apply to clocks started from now on.")
            return redirect("sla-hours")
    context = {"form": form, "team": team, "row": row}
    return render_page(
        request, "conversion/sla/hours_edit.html", context, status=400 if request.POST else 200
    )


@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def hours_default_edit(request: HttpRequest) -> HttpResponse:
    return _hours_form(request, None)


@for_model(SalesTeam)
@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def hours_team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _hours_form(request, get_object_or_404(SalesTeam, pk=pk))


@for_model(SalesTeam)
@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def hours_team_delete(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(SalesTeam, pk=pk)
    row = get_object_or_404(BusinessHours, team=team)
    if request.method == "POST":
        services.business_hours_delete(hours=row, actor=_actor(request))
        messages.success(request, f"{team.name} now follows the organization's default hours.")
        return redirect("sla-hours")
    return render_page(request, "conversion/sla/hours_delete.html", {"team": team})


# --- holidays -------------------------------------------------------------------------------------


@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def holiday_list(request: HttpRequest) -> HttpResponse:
    form = HolidayForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            holiday = services.holiday_create(actor=_actor(request), **form.cleaned_data)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"{holiday.name} ({holiday.date:%b %-d, %Y}) added.")
            return redirect("sla-holidays")
    page = Paginator(selectors.holidays(), HOLIDAY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page}
    return render_page(request, "conversion/sla/holidays.html", context, status=400 if request.POST else 200)


@for_model(Holiday)
@member_required(*SLA_ROLES)
@require_http_methods(["GET", "POST"])
def holiday_delete(request: HttpRequest, pk: int) -> HttpResponse:
    holiday = get_object_or_404(Holiday.objects.select_related("team"), pk=pk)
    if request.method == "POST":
        services.holiday_delete(holiday=holiday, actor=_actor(request))
        messages.success(request, f"{holiday.name} removed.")
        return redirect("sla-holidays")
    return render_page(request, "conversion/sla/holiday_delete.html", {"holiday": holiday})

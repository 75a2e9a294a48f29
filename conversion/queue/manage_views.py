"""Sales managers' pages: team queues, the fallback queue, reassignment, SLA breaches, the teams and
their members, the assignment rules; and the rejection report for marketing. Views parse and render;
conversion.queue.services writes."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from conversion.models import AssignmentRule, Handoff, HandoffStatus, SalesTeam, TeamMember
from conversion.queue import selectors, services
from conversion.queue.assignment import conditions_describe
from conversion.queue.forms import (
    MemberAddForm,
    MemberUpdateForm,
    PeriodForm,
    ReassignForm,
    RuleForm,
    TeamForm,
)
from conversion.queue.views import PAGE_SIZE, decorate
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import member_required, render_page, safe_next

MANAGERS = (Role.ADMIN, Role.SALES_MANAGER)
REPORT_ROLES = (Role.ADMIN, Role.SALES_MANAGER, Role.MARKETER)


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


# --- queues -----------------------------------------------------------------------------------------


@member_required(*MANAGERS)
def team_queues(request: HttpRequest) -> HttpResponse:
    context = {
        "teams": selectors.team_queues(),
        "fallback": selectors.queue_summary(user_id=None),
        "breach_count": selectors.breaches().count(),
    }
    return render_page(request, "conversion/queue/team_queues.html", context)


@member_required(*MANAGERS)
def fallback_queue(request: HttpRequest) -> HttpResponse:
    page = selectors.queue_page(
        selectors.queue_rows(user_id=None), cursor=request.GET.get("cursor"), size=PAGE_SIZE
    )
    decorate(page.rows)
    return render_page(
        request, "conversion/queue/fallback.html", {"page": page, "assign_form": ReassignForm()}
    )


@member_required(*MANAGERS)
def breaches(request: HttpRequest) -> HttpResponse:
    rows = list(selectors.breaches()[:200])
    return render_page(request, "conversion/queue/breaches.html", {"rows": decorate(rows)})


@for_model(Handoff)
@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def handoff_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for the rep and the reason (the confirmation); POST hands the lead over."""
    handoff = get_object_or_404(
        Handoff.objects.select_related("lead__contact__company", "assigned_to", "team"), pk=pk
    )
    back = safe_next(request, reverse("queue-team-queues"))
    form = ReassignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            target = form.cleaned_data["assigned_to"]
            to_user = None if target == "fallback" else services.sales_user_get(target)
            replacement = services.handoff_reassign(
                handoff=handoff, to_user=to_user, reason=form.cleaned_data["reason"], actor=_actor(request)
            )
        except PermissionError as exc:
            raise PermissionDenied(str(exc)) from None
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            who = (
                replacement.assigned_to.get_full_name() or replacement.assigned_to.email
                if replacement.assigned_to
                else "the fallback queue"
            )
            messages.success(request, f"{handoff.lead.contact} handed to {who}.")
            return redirect(back)
    decorate([handoff])
    status = 400 if request.method == "POST" else 200
    return render_page(
        request, "conversion/queue/reassign.html", {"h": handoff, "form": form, "back": back}, status=status
    )


# --- teams and members ------------------------------------------------------------------------------


@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def teams(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(data=form.data_for_service(), actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Team “{team.name}” created; add its members.")
            return redirect("queue-team", pk=team.pk)
    all_teams = list(SalesTeam.objects.select_related("manager").order_by("name"))
    members = TeamMember.objects.select_related("user").order_by("user__first_name", "user__email")
    by_team: dict[int, list[TeamMember]] = {}
    for member in members:
        by_team.setdefault(member.team_id, []).append(member)
    context = {"rows": [(t, by_team.get(t.pk, [])) for t in all_teams], "form": form}
    return render_page(request, "conversion/queue/teams.html", context, status=400 if form.errors else 200)


def _team_context(team: SalesTeam, **forms: object) -> dict[str, object]:
    members = list(team.members.select_related("user").order_by("user__first_name", "user__email"))
    return {
        "team": team,
        "members": [
            (
                m,
                MemberUpdateForm(
                    initial={"max_open_leads": m.max_open_leads, "is_active": m.is_active}, prefix=f"m{m.pk}"
                ),
            )
            for m in members
        ],
        "team_form": forms.get("team_form")
        or TeamForm(
            initial={"name": team.name, "timezone": team.timezone, "manager": str(team.manager_id or "")}
        ),
        "member_form": forms.get("member_form") or MemberAddForm(team=team),
    }


@for_model(SalesTeam)
@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(SalesTeam, pk=pk)
    if request.method == "POST" and request.POST.get("form") == "member":
        member_form = MemberAddForm(request.POST, team=team)
        if member_form.is_valid():
            try:
                member = services.member_add(
                    team=team,
                    user_id=member_form.cleaned_data["user"],
                    max_open_leads=member_form.cleaned_data["max_open_leads"],
                    actor=_actor(request),
                )
            except ValidationError as exc:
                service_errors_to_form(member_form, exc)
            else:
                messages.success(
                    request, f"{member.user.get_full_name() or member.user.email} joined {team.name}."
                )
                return redirect("queue-team", pk=team.pk)
        return render_page(
            request, "conversion/queue/team.html", _team_context(team, member_form=member_form), 400
        )
    if request.method == "POST":
        team_form = TeamForm(request.POST)
        if team_form.is_valid():
            try:
                services.team_update(team=team, data=team_form.data_for_service(), actor=_actor(request))
            except ValidationError as exc:
                service_errors_to_form(team_form, exc)
            else:
                messages.success(request, "Team saved.")
                return redirect("queue-team", pk=team.pk)
        return render_page(
            request, "conversion/queue/team.html", _team_context(team, team_form=team_form), 400
        )
    return render_page(request, "conversion/queue/team.html", _team_context(team))


@for_model(SalesTeam)
@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def team_delete(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(SalesTeam, pk=pk)
    if request.method == "POST":
        services.team_delete(team=team, actor=_actor(request))
        messages.success(request, f"Team “{team.name}” deleted.")
        return redirect("queue-teams")
    context = {
        "team": team,
        "member_count": team.members.count(),
        "rule_count": AssignmentRule.objects.filter(team=team).count(),
    }
    return render_page(request, "conversion/queue/team_delete.html", context)


@for_model(TeamMember)
@member_required(*MANAGERS)
@require_POST
def member_update(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(TeamMember.objects.select_related("team", "user"), pk=pk)
    form = MemberUpdateForm(request.POST, prefix=f"m{member.pk}")
    if form.is_valid():
        try:
            services.member_update(member=member, data=form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{member.user.get_full_name() or member.user.email} saved.")
    else:
        messages.error(request, "Capacity is a whole number of at least 1, or empty for no limit.")
    return redirect("queue-team", pk=member.team_id)


@for_model(TeamMember)
@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(TeamMember.objects.select_related("team", "user"), pk=pk)
    if request.method == "POST":
        services.member_remove(member=member, actor=_actor(request))
        messages.success(
            request, f"{member.user.get_full_name() or member.user.email} left {member.team.name}."
        )
        return redirect("queue-team", pk=member.team_id)
    waiting = Handoff.objects.filter(assigned_to_id=member.user_id, status=HandoffStatus.PENDING).count()
    return render_page(request, "conversion/queue/member_remove.html", {"member": member, "waiting": waiting})


# --- assignment rules -------------------------------------------------------------------------------


@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def rules(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.rule_create(data=form.data_for_service(), actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Rule “{rule.name}” added at the end of the order.")
            return redirect("queue-rules")
    rows = [(rule, conditions_describe(rule.conditions)) for rule in selectors.rules_in_order()]
    context = {"rows": rows, "form": form, "has_teams": SalesTeam.objects.exists()}
    return render_page(request, "conversion/queue/rules.html", context, status=400 if form.errors else 200)


@for_model(AssignmentRule)
@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AssignmentRule, pk=pk)
    form = RuleForm(request.POST or None, initial=RuleForm.initial_for(rule))
    if request.method == "POST" and form.is_valid():
        try:
            services.rule_update(rule=rule, data=form.data_for_service(), actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Rule “{rule.name}” saved.")
            return redirect("queue-rules")
    return render_page(
        request,
        "conversion/queue/rule_edit.html",
        {"rule": rule, "form": form},
        status=400 if form.errors else 200,
    )


@for_model(AssignmentRule)
@member_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AssignmentRule.objects.select_related("team", "user"), pk=pk)
    if request.method == "POST":
        services.rule_delete(rule=rule, actor=_actor(request))
        messages.success(request, f"Rule “{rule.name}” deleted.")
        return redirect("queue-rules")
    return render_page(
        request,
        "conversion/queue/rule_delete.html",
        {"rule": rule, "described": conditions_describe(rule.conditions)},
    )


@for_model(AssignmentRule)
@member_required(*MANAGERS)
@require_POST
def rule_move(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AssignmentRule, pk=pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    services.rule_move(rule=rule, offset=offset, actor=_actor(request))
    return redirect("queue-rules")


# --- rejection report -------------------------------------------------------------------------------


@member_required(*REPORT_ROLES)
def rejections(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    form = PeriodForm(request.GET or None)
    start, end = today - dt.timedelta(days=29), today
    if form.is_bound and form.is_valid():
        start = form.cleaned_data.get("start") or start
        end = form.cleaned_data.get("end") or end
    if start > end:
        start = end
    report = selectors.rejection_report(start=start, end=end)
    top = max((row["count"] for row in report.by_reason), default=0)
    context = {"form": form, "report": report, "top": top}
    return render_page(
        request, "conversion/queue/rejections.html", context, status=400 if form.errors else 200
    )

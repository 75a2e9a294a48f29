"""Dashboard pages of the workspace: a lead as a sales rep works it (everything on one page, updated by
htmx), and the notifications inbox with the top bar's bell. Views parse and render; services write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from conversion.models import ActivityKind, Notification, RejectionReason, Task
from conversion.notifications import notifications_mark_read
from conversion.services.core import activity_log, lead_open_handoff
from conversion.workspace import selectors, services
from conversion.workspace.forms import ActivityForm, BantForm, NoteForm, TaskForm
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
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
from leads.models import Lead, Stage
from scoring.selectors import lead_explanation

NOTIFICATION_PAGE_SIZE = 30
BELL_PREVIEW = 6


def url_or_none(name: str, *args: Any) -> str | None:
    """The URL of `name`, or None while the part that serves it is not installed (the queue's accept and
    reject): the page offers only what exists."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _role(request: HttpRequest) -> str:
    return request.membership.role  # type: ignore[attr-defined]


def _lead(request: HttpRequest, pk: int) -> Lead:
    return selectors.lead_for_member(pk=pk, user=request.user, role=_role(request))


def _members(request: HttpRequest) -> list[tuple[int, str]]:
    return [
        (m.user_id, m.user.get_full_name() or m.user.email)
        for m in organization_members(organization=request.organization)  # type: ignore[attr-defined]
    ]


def _talking_points(explanation: Any) -> list[Any]:
    """The rules that earned the lead the most interest points: what the rep can bring up."""
    interest = [c for c in explanation.contributions if c.dimension != "fit" and c.points > 0]
    return interest[:3]


def _workspace_context(request: HttpRequest, lead: Lead, **forms: Any) -> dict[str, Any]:
    handoff = lead_open_handoff(lead)
    explanation = lead_explanation(lead)
    activity_form = forms.get("activity_form") or ActivityForm()
    kind = activity_form["kind"].value() or ActivityKind.CALL
    return {
        "lead": lead,
        "contact": lead.contact,
        "company": lead.contact.company,
        "explanation": explanation,
        "talking_points": _talking_points(explanation),
        "fit_points": [c for c in explanation.contributions if c.dimension == "fit"][:4],
        "touches": selectors.lead_recent_touchpoints(lead),
        "timeline": selectors.lead_timeline(lead, cursor=request.GET.get("timeline")),
        "open_tasks": selectors.lead_open_tasks(lead),
        "done_tasks": selectors.lead_done_tasks(lead),
        "handoff": handoff,
        "accept_url": url_or_none("queue-handoff-accept", handoff.pk) if handoff else None,
        "reject_url": url_or_none("queue-handoff-reject", handoff.pk) if handoff else None,
        "rejection_reasons": RejectionReason.choices,
        # The lead's deals, newest first; an SQL lead can open one from here.
        "deals": lead.opportunities.select_related("stage").order_by("-created_at", "-id")[:5],
        "deal_new_url": (
            f"{reverse('conversion-opportunity-new')}?lead={lead.pk}" if lead.stage == Stage.SQL else None
        ),
        "note_form": forms.get("note_form") or NoteForm(),
        "activity_form": activity_form,
        "outcomes": services.OUTCOME_SUGGESTIONS.get(str(kind), ()),
        "task_form": forms.get("task_form") or TaskForm(members=_members(request)),
        "bant_form": forms.get("bant_form")
        or BantForm(initial={f: getattr(lead, f) for f in ("budget", "authority", "need", "timing")}),
        "bant_editing": bool(forms.get("bant_form")) or request.GET.get("bant") == "edit",
        "flash": forms.get("flash", ""),
        "here": reverse("workspace-lead", args=[lead.pk]),
    }


def _workspace(request: HttpRequest, lead: Lead, status: int = 200, **forms: Any) -> HttpResponse:
    # htmx swaps only the 2xx answers: a form with errors comes back as 200 to htmx (the errors show in
    # place), 400 to a plain form post.
    if request.htmx and status == 400:  # type: ignore[attr-defined]
        status = 200
    return render_page(
        request, "conversion/workspace/lead.html", _workspace_context(request, lead, **forms), status
    )


def _done(request: HttpRequest, lead: Lead, flash: str) -> HttpResponse:
    """After a write: htmx gets the refreshed workspace, a plain post a redirect (no resubmission)."""
    if request.htmx:  # type: ignore[attr-defined]
        return _workspace(request, lead, flash=flash)
    messages.success(request, flash)
    return redirect("workspace-lead", pk=lead.pk)


@for_model(Lead)
@member_required()
@require_GET
def workspace_lead(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    if htmx_partial(request, "timeline-more"):
        return render_page(
            request,
            "conversion/workspace/_timeline.html",
            {"timeline": selectors.lead_timeline(lead, cursor=request.GET.get("timeline")), "lead": lead},
        )
    return _workspace(request, lead)


@for_model(Lead)
@member_required()
@require_POST
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            note = services.note_create(
                lead=lead, body=form.cleaned_data["body"], actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            told = [m.user.get_full_name() or m.user.email for m in note.mentions.select_related("user")]
            return _done(request, lead, "Note added" + (f"; {', '.join(told)} notified." if told else "."))
    return _workspace(request, lead, 400, note_form=form)


@for_model(Lead)
@member_required()
@require_POST
def activity_add(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    form = ActivityForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            activity = activity_log(
                lead=lead,
                kind=data["kind"],
                actor=Actor.from_request(request),
                outcome=data["outcome"],
                subject=data["subject"],
                notes=data["notes"],
                occurred_at=data["occurred_at"],
                duration_minutes=data["duration_minutes"],
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            return _done(request, lead, f"{activity.get_kind_display()} logged.")
    return _workspace(request, lead, 400, activity_form=form)


@member_required()
@require_GET
def outcome_suggestions(request: HttpRequest) -> HttpResponse:
    """The outcome suggestions of one kind of activity (the form's datalist follows the chosen type)."""
    kind = request.GET.get("kind", "")
    return render_page(
        request,
        "conversion/workspace/_outcomes.html",
        {"outcomes": services.OUTCOME_SUGGESTIONS.get(kind, ())},
    )


@for_model(Lead)
@member_required()
@require_POST
def task_add(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    members = _members(request)
    form = TaskForm(request.POST, members=members)
    if form.is_valid():
        data = form.cleaned_data
        assignee = None
        if data["assignee"] is not None:
            assignee = next(
                (
                    m.user
                    for m in organization_members(organization=request.organization)  # type: ignore[attr-defined]
                    if m.user_id == data["assignee"]
                ),
                None,
            )
        try:
            task = services.task_create(
                lead=lead,
                title=data["title"],
                due_at=data["due_at"],
                assignee=assignee,
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            return _done(request, lead, f"Task “{task.title}” added.")
    return _workspace(request, lead, 400, task_form=form)


def _task_state_view(change: Any, done_words: str) -> Any:
    """A view that completes or reopens a task (`change` is the service) on a lead the member may work."""

    @for_model(Task)
    @member_required()
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        task = get_object_or_404(Task, pk=pk)
        lead = _lead(request, task.lead_id)
        change(task=task, actor=Actor.from_request(request))
        return _done(request, lead, f"Task “{task.title}” {done_words}.")

    return view


task_complete = _task_state_view(services.task_complete, "done")
task_reopen = _task_state_view(services.task_reopen, "reopened")


@for_model(Lead)
@member_required()
@require_POST
def bant_save(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    form = BantForm(request.POST)
    if form.is_valid():
        try:
            services.lead_bant_update(lead=lead, data=form.cleaned_data, actor=Actor.from_request(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            return _done(request, lead, "BANT saved; the score follows in a moment.")
    return _workspace(request, lead, 400, bant_form=form)


# --- notifications --------------------------------------------------------------------------------


@member_required()
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    return _notifications(request)


def _notifications(request: HttpRequest) -> HttpResponse:
    rows = selectors.notifications_for(request.user)
    unread_only = request.GET.get("unread") == "1"
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    page = keyset_page(
        rows, order=KeysetOrder("created_at"), cursor=request.GET.get("cursor"), size=NOTIFICATION_PAGE_SIZE
    )
    context = {"page": page, "unread_only": unread_only, "unread": selectors.unread_count(request.user)}
    if htmx_partial(request, "notification-list"):
        return render_page(request, "conversion/workspace/_notification_list.html", context)
    return render_page(request, "conversion/workspace/notifications.html", context)


@member_required()
@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    """The top bar's bell: the unread count, refreshed by htmx every minute and after a mark-read."""
    count = selectors.unread_count(request.user)
    response = render_page(
        request,
        "conversion/workspace/_bell.html",
        {"unread": count, "capped": count > selectors.UNREAD_CAP, "cap": selectors.UNREAD_CAP},
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _after_read(request: HttpRequest) -> HttpResponse:
    target = safe_next(request, reverse("notifications"))
    if request.htmx and not request.POST.get("next"):  # type: ignore[attr-defined]
        response = _notifications(request)
        response["HX-Trigger"] = "notifications-changed"
        return response
    return redirect(target)


@for_model(Notification)
@member_required()
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one of the user's notifications read; with `next` (its link), go there."""
    note = get_object_or_404(Notification, pk=pk, user_id=request.user.pk)
    notifications_mark_read(user=request.user, ids=[note.pk])
    return _after_read(request)


@member_required()
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications_mark_read(user=request.user)
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return _after_read(request)

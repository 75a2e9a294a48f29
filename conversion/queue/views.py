"""The rep's pages: "My queue" (the handoffs waiting for them and their open SQLs, in priority and SLA
order) and the one-click decisions on a handoff. Views parse and render; conversion.queue.services writes.

Every decision answers htmx with the row it changed (so the focused row keeps its place) and a plain
browser with a redirect back to the queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from conversion.models import Handoff, RejectionReason, SlaState
from conversion.queue import selectors, services
from conversion.queue.forms import RejectForm
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import htmx_partial, member_required, render_page, safe_next
from leads.models import Channel

PAGE_SIZE = 25
SLA_BADGES: dict[str, str] = {
    SlaState.ON_TRACK: "badge-green",
    SlaState.WARNING: "badge-amber",
    SlaState.BREACHED: "badge-red",
    SlaState.MET: "badge-neutral",
}


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def _role(request: HttpRequest) -> str:
    return request.membership.role  # type: ignore[attr-defined]


def is_manager(request: HttpRequest) -> bool:
    return _role(request) in services.MANAGER_ROLES


def _duration(delta: dt.timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 60 * 24)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def decorate(handoffs: list[Handoff], now: dt.datetime | None = None) -> list[Handoff]:
    """Attach what a row shows: the SLA time left (or overdue), the badge class and the lead's link."""
    now = now or timezone.now()
    lead_path = services.workspace_path_maker()
    paths = {
        name: services.path_maker(f"queue-handoff-{name}") for name in ("accept", "reject", "row", "reassign")
    }
    for handoff in handoffs:
        due = handoff.sla_due_at
        if due is None:
            handoff.sla_text, handoff.sla_class = "No SLA", "faint"  # type: ignore[attr-defined]
        elif due >= now:
            handoff.sla_text, handoff.sla_class = f"{_duration(due - now)} left", ""  # type: ignore[attr-defined]
        else:
            handoff.sla_text, handoff.sla_class = f"overdue {_duration(now - due)}", "sla-overdue"  # type: ignore[attr-defined]
        handoff.sla_badge = SLA_BADGES.get(handoff.sla_state, "")  # type: ignore[attr-defined]
        handoff.lead_url = lead_path(handoff.lead_id)  # type: ignore[attr-defined]
        handoff.paths = {name: make(handoff.pk) for name, make in paths.items()}  # type: ignore[attr-defined]
    return handoffs


def handoff_visible(request: HttpRequest, pk: int) -> Handoff:
    """A handoff the member may see: sales reps see their own, everyone else sees the organization's."""
    handoff = get_object_or_404(
        Handoff.objects.select_related("lead__contact__company", "lead__campaign", "assigned_to", "team"),
        pk=pk,
    )
    if _role(request) == Role.SALES_REP and handoff.assigned_to_id != request.user.pk:
        raise Http404("No such handoff in your queue.")
    return handoff


def _row(request: HttpRequest, handoff: Handoff, *, error: str = "", status: int = 200) -> HttpResponse:
    decorate([handoff])
    context = {"h": handoff, "row_error": error, "can_decide": services.can_decide(handoff, _actor(request))}
    return render_page(request, "conversion/queue/_row.html", context, status=status)


def _back(request: HttpRequest) -> HttpResponse:
    return redirect(safe_next(request, reverse("queue-mine")))


def _viewed_rep(request: HttpRequest) -> Any:
    """Whose queue the page shows: the member's own, or (managers) the rep named by ?rep=."""
    rep = request.GET.get("rep")
    if not rep or not is_manager(request):
        return request.user
    try:
        return services.sales_user_get(rep)
    except ValidationError:
        raise Http404("No such rep.") from None


@member_required()
def queue_mine(request: HttpRequest) -> HttpResponse:
    filters = selectors.QueueFilters.parse(request.GET)
    rep = _viewed_rep(request)
    rows = selectors.queue_rows(user_id=rep.pk, filters=filters)
    page = selectors.queue_page(rows, cursor=request.GET.get("cursor"), size=PAGE_SIZE)
    decorate(page.rows)
    context = {
        "page": page,
        "filters": filters,
        "rep": rep,
        "own": rep.pk == request.user.pk,
        "summary": selectors.queue_summary(user_id=rep.pk),
        "channels": Channel.choices,
        "reasons": RejectionReason.choices,
        "is_manager": is_manager(request),
        "can_decide_all": rep.pk == request.user.pk or is_manager(request),
    }
    if htmx_partial(request, "queue-results"):
        return render_page(request, "conversion/queue/_results.html", context)
    return render_page(request, "conversion/queue/queue.html", context)


@for_model(Handoff)
@member_required()
def handoff_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One row of the queue (htmx puts it back when a reject form is cancelled)."""
    return _row(request, handoff_visible(request, pk))


@for_model(Handoff)
@member_required(*services.SALES_ROLES)
@require_POST
def handoff_accept(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = handoff_visible(request, pk)
    try:
        handoff = services.handoff_accept(handoff=handoff, actor=_actor(request))
    except PermissionError as exc:
        raise PermissionDenied(str(exc)) from None
    except ValidationError as exc:
        message = " ".join(exc.messages)
        if request.htmx:  # type: ignore[attr-defined]
            handoff.refresh_from_db()
            # 200 so that htmx shows the message in the row (it does not swap error answers).
            return _row(request, handoff, error=message)
        messages.error(request, message)
        return _back(request)
    if request.htmx:  # type: ignore[attr-defined]
        return _row(request, handoff_visible(request, handoff.pk))
    messages.success(request, f"Accepted: {handoff.lead.contact} is now an SQL.")
    return _back(request)


@for_model(Handoff)
@member_required(*services.SALES_ROLES)
@require_http_methods(["GET", "POST"])
def handoff_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the reason form (a row for htmx, a page otherwise); POST: reject with reason, note, outcome."""
    handoff = handoff_visible(request, pk)
    form = RejectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            handoff = services.handoff_reject(
                handoff=handoff,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
                outcome=form.cleaned_data["outcome"],
                actor=_actor(request),
            )
        except PermissionError as exc:
            raise PermissionDenied(str(exc)) from None
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            if request.htmx:  # type: ignore[attr-defined]
                return _row(request, handoff_visible(request, handoff.pk))
            messages.success(
                request, f"Rejected: {handoff.lead.contact} ({handoff.get_rejection_reason_display()})."
            )
            return _back(request)
    decorate([handoff])
    context = {"h": handoff, "form": form, "outcomes": services.REJECTION_OUTCOMES}
    status = 400 if request.method == "POST" and not request.htmx else 200  # type: ignore[attr-defined]
    if request.htmx:  # type: ignore[attr-defined]
        return render_page(request, "conversion/queue/_reject_row.html", context)
    return render_page(request, "conversion/queue/reject.html", context, status=status)

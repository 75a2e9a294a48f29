"""The life of SLA clocks: started when a handoff opens, stopped by a decision or a first contact, and
the handoff's `sla_due_at` / `sla_state` kept in step. Called by the receivers (inside the handoff's
transaction), so a handoff and its clocks commit or roll back together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Case, Exists, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from conversion.models import (
    ClockKind,
    ClockOutcome,
    Handoff,
    HandoffStatus,
    SlaClock,
    SlaEvent,
    SlaEventKind,
    SlaState,
)
from conversion.sla.hours import Calendar, add_business_minutes, business_minutes_between
from conversion.sla.policies import calendar_for, policy_for


def clocks_start(*, handoff: Handoff, calendar: Calendar | None = None) -> list[SlaClock]:
    """Both clocks of a newly opened handoff, due after its policy's business minutes from `handed_at`
    (a handoff outside the hours starts counting at the next opening)."""
    if SlaClock.objects.filter(handoff=handoff).exists():
        return list(SlaClock.objects.filter(handoff=handoff))
    lead = handoff.lead
    policy = policy_for(grade=lead.grade, score=lead.score, priority=handoff.priority)
    calendar = calendar or calendar_for(handoff.team)
    start = handoff.handed_at
    clocks = []
    for kind in (ClockKind.ACCEPT, ClockKind.FIRST_CONTACT):
        budget = policy.minutes_for(kind)
        clocks.append(
            SlaClock(
                handoff=handoff,
                kind=kind,
                policy=policy if policy.pk else None,
                policy_name=policy.name,
                team_id=handoff.team_id,
                assigned_to_id=handoff.assigned_to_id,
                escalation=policy.escalation,
                budget_minutes=budget,
                started_at=start,
                due_at=add_business_minutes(calendar, start, budget),
                warn_at=add_business_minutes(calendar, start, policy.warn_after(budget)),
            )
        )
    SlaClock.objects.bulk_create(clocks)
    handoff_sla_sync(handoff)
    return clocks


def clocks_stop(
    *, handoff: Handoff, kinds: Iterable[str], at: dt.datetime, counts: bool = True
) -> list[SlaClock]:
    """Stop the handoff's running clocks of `kinds` at `at`. Counted: met when stopped by the deadline,
    breached after it. Not counted (a withdrawn handoff, first contact after a rejection): cancelled,
    unless the clock had already breached."""
    running = list(
        SlaClock.objects.select_for_update().filter(
            handoff=handoff, kind__in=list(kinds), stopped_at__isnull=True
        )
    )
    if not running:
        return []
    calendar = calendar_for(handoff.team) if counts else None
    events = []
    for clock in running:
        clock.stopped_at = max(at, clock.started_at)
        if counts and calendar is not None:
            met = clock.stopped_at <= clock.due_at
            clock.outcome = ClockOutcome.MET if met else ClockOutcome.BREACHED
            clock.elapsed_minutes = round(
                business_minutes_between(calendar, clock.started_at, clock.stopped_at), 2
            )
            if met:
                events.append(
                    SlaEvent(clock=clock, handoff=handoff, kind=SlaEventKind.MET, at=clock.stopped_at)
                )
        else:
            clock.outcome = ClockOutcome.BREACHED if clock.breached_at else ClockOutcome.CANCELLED
    SlaClock.objects.bulk_update(running, ["stopped_at", "outcome", "elapsed_minutes"])
    SlaEvent.objects.bulk_create(events, ignore_conflicts=True)
    handoff_sla_sync(handoff)
    return running


def on_handoff_closed(handoff: Handoff) -> None:
    """Accepting or rejecting is the decision the accept clock waits for; a rejected lead gets no first
    contact, and a withdrawn handoff (reassigned, or the lead moved on) stops everything uncounted."""
    at = handoff.decided_at or timezone.now()
    if handoff.status in (HandoffStatus.ACCEPTED, HandoffStatus.REJECTED):
        clocks_stop(handoff=handoff, kinds=[ClockKind.ACCEPT], at=at)
    if handoff.status in (HandoffStatus.REJECTED, HandoffStatus.WITHDRAWN):
        clocks_stop(handoff=handoff, kinds=[ClockKind.ACCEPT, ClockKind.FIRST_CONTACT], at=at, counts=False)


def on_first_contact(handoff: Handoff, at: dt.datetime) -> None:
    clocks_stop(handoff=handoff, kinds=[ClockKind.FIRST_CONTACT], at=at)


def _state_expression(now: dt.datetime) -> Case:
    clocks = SlaClock.objects.filter(handoff=OuterRef("pk"))
    running = clocks.filter(stopped_at__isnull=True)
    return Case(
        When(
            Exists(running.filter(Q(breached_at__isnull=False) | Q(due_at__lte=now))),
            then=Value(SlaState.BREACHED),
        ),
        When(
            Exists(running.filter(Q(warned_at__isnull=False) | Q(warn_at__lte=now))),
            then=Value(SlaState.WARNING),
        ),
        When(Exists(running), then=Value(SlaState.ON_TRACK)),
        When(Exists(clocks.filter(outcome=ClockOutcome.BREACHED)), then=Value(SlaState.BREACHED)),
        When(Exists(clocks.filter(outcome=ClockOutcome.MET)), then=Value(SlaState.MET)),
        default=Value(""),
    )


def handoffs_sla_refresh(handoff_ids: Iterable[int], *, now: dt.datetime | None = None) -> int:
    """Set-based: each handoff's next running deadline and state from its clocks, in one UPDATE."""
    ids = list(handoff_ids)
    if not ids:
        return 0
    now = now or timezone.now()
    next_due = SlaClock.objects.filter(handoff=OuterRef("pk"), stopped_at__isnull=True).order_by("due_at")
    return Handoff.objects.filter(pk__in=ids).update(
        sla_due_at=Subquery(next_due.values("due_at")[:1]), sla_state=_state_expression(now)
    )


def handoff_sla_sync(handoff: Handoff) -> None:
    """Refresh one handoff and the caller's instance of it (the queue part may render it next)."""
    handoffs_sla_refresh([handoff.pk])
    stored = Handoff.objects.filter(pk=handoff.pk).values("sla_due_at", "sla_state").first()
    if stored:
        handoff.sla_due_at, handoff.sla_state = stored["sla_due_at"], stored["sla_state"]

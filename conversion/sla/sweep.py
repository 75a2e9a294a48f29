"""The SLA sweep: running clocks past their warning point are warned, clocks past their deadline are
breached and escalated. Set-based and safe to run twice or side by side:

- each step claims a chunk with one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) AND
  <not yet stamped> RETURNING`: the stamp (warned_at, breached_at) is the guard, so a second sweep finds
  nothing to do, and a concurrent one skips the rows this one holds;
- the chunk's events, notifications, escalations and the handoffs' state commit in the same transaction
  as the stamps: a sweep that dies mid-chunk leaves the chunk unclaimed for the next one;
- events have a unique key per clock and kind, so nothing is recorded twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone

from conversion.models import (
    ClockKind,
    Escalation,
    HandoffStatus,
    NotificationKind,
    SlaClock,
    SlaEvent,
    SlaEventKind,
)
from conversion.notifications import notify
from conversion.sla.clocks import handoffs_sla_refresh
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Membership, Organization, Role
from leadhub.tenancy.services import Actor
from leads.models import Contact, Lead

logger = logging.getLogger(__name__)

CHUNK = 500
SWEEP_ACTOR = "SLA escalation"


@dataclass
class SweepResult:
    warned: int = 0
    breached: int = 0
    reassigned: int = 0
    notified: int = 0
    complete: bool = True
    next_at: dt.datetime | None = None

    def add(self, other: SweepResult) -> None:
        self.warned += other.warned
        self.breached += other.breached
        self.reassigned += other.reassigned
        self.notified += other.notified
        self.complete = self.complete and other.complete
        if other.next_at and (self.next_at is None or other.next_at < self.next_at):
            self.next_at = other.next_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "warned": self.warned,
            "breached": self.breached,
            "reassigned": self.reassigned,
            "notified": self.notified,
            "complete": self.complete,
        }


@dataclass
class _Managers:
    """Who hears of a breach when the clock's team has no manager: the organization's sales managers,
    else its admins (read once per sweep of an organization)."""

    users: list[Any] | None = None
    by_team: dict[int, Any] = field(default_factory=dict)

    def fallback(self, organization_id: int) -> list[Any]:
        if self.users is None:
            memberships = Membership.objects.filter(organization_id=organization_id).select_related("user")
            managers = [m.user for m in memberships if m.role == Role.SALES_MANAGER and m.user.is_active]
            admins = [m.user for m in memberships if m.role == Role.ADMIN and m.user.is_active]
            self.users = managers or admins
        return self.users


def _claim(*, organization_id: int, stamp: str, now: dt.datetime, chunk: int) -> list[int]:
    """Stamp up to `chunk` due clocks and return their ids. `stamp` is warned_at or breached_at."""
    if stamp == "warned_at":
        due = "warned_at IS NULL AND breached_at IS NULL AND warn_at <= %s AND due_at > %s"
        order = "warn_at"
        params: list[Any] = [now, now]
    else:
        due = "breached_at IS NULL AND due_at <= %s"
        order = "due_at"
        params = [now]
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    table = SlaClock._meta.db_table
    # The chunk is chosen once, in a materialized CTE: as `WHERE id IN (SELECT ... LIMIT n)` the planner
    # may run the locking subquery more than once and stamp more than a chunk.
    sql = (
        f"WITH due AS MATERIALIZED ("
        f'SELECT id FROM "{table}" WHERE organization_id = %s AND stopped_at IS NULL AND {due} '
        f"ORDER BY {order}, id LIMIT %s{lock}) "
        f'UPDATE "{table}" SET "{stamp}" = %s FROM due WHERE "{table}".id = due.id '
        f'AND "{table}"."{stamp}" IS NULL AND "{table}".stopped_at IS NULL RETURNING "{table}".id'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, *params, chunk, now])
        return [row[0] for row in cursor.fetchall()]


def _lead_url(lead_id: int) -> str:
    # The sales workspace: where the rep accepts, calls and logs the contact that stops the clock.
    return reverse("workspace-lead", args=[lead_id])


def _lead_label(clock: SlaClock) -> str:
    lead = clock.handoff.lead
    contact = lead.contact
    return str(contact) if contact is not None else f"Lead #{lead.pk}"


def _clocks(ids: list[int]) -> list[SlaClock]:
    # Leads and contacts by id in their own queries: a six-table join planned on a tenant's fresh,
    # unanalysed rows can pick a merge join that compares every pair (seconds per chunk).
    return list(
        SlaClock.objects.filter(pk__in=ids)
        .select_related("handoff", "assigned_to", "team__manager")
        .prefetch_related(
            Prefetch("handoff__lead", queryset=Lead.objects.only("id", "contact_id")),
            Prefetch(
                "handoff__lead__contact",
                queryset=Contact.objects.only("id", "first_name", "last_name", "email"),
            ),
        )
        .order_by("due_at", "id")
    )


def _when(clock: SlaClock) -> str:
    """The deadline in the team's time zone, as the rep reads a clock."""
    try:
        zone = ZoneInfo(clock.team.timezone) if clock.team is not None else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return clock.due_at.astimezone(zone).strftime("%b %-d, %H:%M %Z")


@dataclass
class _Message:
    """One line of news for one person about one clock (a lead)."""

    title: str
    line: str
    body: str
    clock: SlaClock


class _Outbox:
    """The chunk's notifications, gathered per recipient and kind: one message stays as it is (with its
    lead's link); several become one digest, so a rep with twenty leads due in the same sweep gets one
    notification and one email, not twenty."""

    DIGEST_LINES = 20

    def __init__(self) -> None:
        self.pending: dict[tuple[int, str], tuple[Any, list[_Message]]] = {}

    def add(self, user: Any, kind: str, message: _Message) -> None:
        if user is None or not user.is_active:
            return
        self.pending.setdefault((user.pk, kind), (user, []))[1].append(message)

    def send(self, *, manager_ids: set[int]) -> int:
        sent = 0
        for (user_id, kind), (user, messages) in self.pending.items():
            if len(messages) == 1:
                (message,) = messages
                lead = message.clock.handoff.lead
                notify(
                    user=user,
                    kind=kind,
                    title=message.title,
                    body=message.body,
                    url=_lead_url(lead.pk),
                    lead=lead,
                )
            else:
                shown = [f"- {m.line}" for m in messages[: self.DIGEST_LINES]]
                if len(messages) > self.DIGEST_LINES:
                    shown.append(f"... and {len(messages) - self.DIGEST_LINES} more.")
                news = (
                    "are close to their SLA deadline"
                    if kind == NotificationKind.SLA_WARNING
                    else "breached the SLA"
                )
                # Managers go to the clocks at risk; reps to their queue, where the most urgent come first.
                url = reverse("sla-home") + "#at-risk" if user_id in manager_ids else reverse("queue-mine")
                notify(
                    user=user,
                    kind=kind,
                    title=f"{len(messages)} leads {news}",
                    body="\n".join(shown),
                    url=url,
                )
            sent += 1
        return sent


def _warn(organization_id: int, ids: list[int], now: dt.datetime) -> int:
    outbox = _Outbox()
    events = []
    for clock in _clocks(ids):
        events.append(SlaEvent(clock=clock, handoff_id=clock.handoff_id, kind=SlaEventKind.WARNING, at=now))
        what = "Accept or reject" if clock.kind == ClockKind.ACCEPT else "Make first contact with"
        label, when = _lead_label(clock), _when(clock)
        message = _Message(
            title=f"{what} {label} by {when}",
            line=f"{label}: {what.lower()} by {when}",
            body=f"The SLA ({clock.policy_name}) gives {clock.budget_minutes} business minutes; "
            "the deadline is close.",
            clock=clock,
        )
        outbox.add(clock.assigned_to, NotificationKind.SLA_WARNING, message)
    SlaEvent.objects.bulk_create(events, ignore_conflicts=True)
    return outbox.send(manager_ids=set())


def _breach(organization_id: int, ids: list[int], now: dt.datetime, managers: _Managers) -> tuple[int, int]:
    from conversion.services.core import handoff_reassign

    reassigned = 0
    outbox = _Outbox()
    manager_ids: set[int] = set()
    events = []
    for clock in _clocks(ids):
        handoff = clock.handoff
        label, when = _lead_label(clock), _when(clock)
        what = "accept" if clock.kind == ClockKind.ACCEPT else "first contact"
        events.append(SlaEvent(clock=clock, handoff=handoff, kind=SlaEventKind.BREACH, at=now))
        rep = clock.assigned_to
        outbox.add(
            rep,
            NotificationKind.SLA_BREACH,
            _Message(
                title=f"SLA breached: {what} for {label}",
                line=f"{label}: {what} was due {when}",
                body=f"The deadline was {when} ({clock.policy_name}). Your manager has been told.",
                clock=clock,
            ),
        )
        team_manager = clock.team.manager if clock.team is not None else None
        told = [team_manager] if team_manager is not None else managers.fallback(organization_id)
        rep_name = str(rep.get_full_name() or rep.email) if rep is not None else "the fallback queue"
        for manager in told:
            if rep is not None and manager.pk == rep.pk:
                continue
            manager_ids.add(manager.pk)
            outbox.add(
                manager,
                NotificationKind.SLA_BREACH,
                _Message(
                    title=f"SLA breached: {what} for {label} ({rep_name})",
                    line=f"{label} ({rep_name}): {what} was due {when}",
                    body=f"The deadline was {when} ({clock.policy_name}).",
                    clock=clock,
                ),
            )
        events.append(
            SlaEvent(
                clock=clock,
                handoff=handoff,
                kind=SlaEventKind.ESCALATION,
                at=now,
                detail={"notified": [u.email for u in told]},
            )
        )
        moved = _escalate(clock, team_manager, now, handoff_reassign)
        if moved is not None:
            reassigned += 1
            events.append(
                SlaEvent(clock=clock, handoff=handoff, kind=SlaEventKind.REASSIGNMENT, at=now, detail=moved)
            )
    SlaEvent.objects.bulk_create(events, ignore_conflicts=True)
    return outbox.send(manager_ids=manager_ids), reassigned


def _escalate(clock: SlaClock, team_manager: Any, now: dt.datetime, reassign: Any) -> dict[str, Any] | None:
    """Reassign a still-pending handoff per the clock's policy; None when nothing moved. A handoff that
    already sits where the escalation would send it stays (no reassignment loop)."""
    handoff = clock.handoff
    if clock.escalation == Escalation.NOTIFY or handoff.status != HandoffStatus.PENDING:
        return None
    target = team_manager if clock.escalation == Escalation.TEAM_MANAGER else None
    if handoff.assigned_to_id == (target.pk if target is not None else None):
        return None
    where = target.email if target is not None else "fallback queue"
    try:
        with transaction.atomic():
            replacement = reassign(
                handoff=handoff,
                to_user=target,
                actor=Actor.system(SWEEP_ACTOR),
                reason=f"{clock.get_kind_display()} SLA breached",
            )
    except ValidationError as exc:
        logger.info("SLA escalation of handoff %s skipped: %s", handoff.pk, exc)
        return None
    return {"to": where, "handoff": replacement.pk}


def sla_sweep_organization(
    *,
    organization_id: int,
    now: dt.datetime | None = None,
    chunk: int = CHUNK,
    deadline: float | None = None,
    look_ahead: bool = False,
) -> SweepResult:
    """Warn and breach one organization's due clocks, a chunk per transaction, until none is left or
    `deadline` (time.monotonic) passes; the rest waits for the next sweep. With `look_ahead`, also find
    the next warning or deadline still to come (for a precise follow-up)."""
    result = SweepResult()
    managers = _Managers()
    for stamp in ("warned_at", "breached_at"):
        while True:
            if deadline is not None and time.monotonic() > deadline:
                result.complete = False
                return result
            moment = now or timezone.now()
            with tenant_context(organization_id):
                ids = _claim(organization_id=organization_id, stamp=stamp, now=moment, chunk=chunk)
                if not ids:
                    break
                if stamp == "warned_at":
                    result.warned += len(ids)
                    result.notified += _warn(organization_id, ids, moment)
                else:
                    result.breached += len(ids)
                    notified, reassigned = _breach(organization_id, ids, moment, managers)
                    result.notified += notified
                    result.reassigned += reassigned
                handoff_ids = SlaClock.objects.filter(pk__in=ids).values_list("handoff_id", flat=True)
                handoffs_sla_refresh(set(handoff_ids), now=moment)
            if len(ids) < chunk:
                break
    if look_ahead:
        with tenant_context(organization_id):
            result.next_at = _next_deadline(now or timezone.now())
    return result


def _next_deadline(now: dt.datetime) -> dt.datetime | None:
    """The soonest warning or deadline still ahead (for a precise follow-up task)."""
    running = SlaClock.objects.filter(stopped_at__isnull=True, breached_at__isnull=True)
    warn = (
        running.filter(warned_at__isnull=True, warn_at__gt=now)
        .order_by("warn_at")
        .values_list("warn_at", flat=True)
    )
    due = running.filter(due_at__gt=now).order_by("due_at").values_list("due_at", flat=True)
    found = [moment for moment in (warn.first(), due.first()) if moment is not None]
    return min(found) if found else None


def sla_sweep(
    *,
    now: dt.datetime | None = None,
    chunk: int = CHUNK,
    budget_seconds: float = 45.0,
    look_ahead: bool = False,
) -> dict[str, Any]:
    """Every organization's due clocks (row-level security shows one tenant at a time, so the sweep
    walks them); returns the totals and, per organization, its next deadline."""
    deadline = time.monotonic() + budget_seconds
    total = SweepResult()
    upcoming: dict[int, dt.datetime] = {}
    for organization_id in Organization.objects.order_by("pk").values_list("pk", flat=True):
        result = sla_sweep_organization(
            organization_id=organization_id, now=now, chunk=chunk, deadline=deadline, look_ahead=look_ahead
        )
        total.add(result)
        if result.next_at is not None:
            upcoming[organization_id] = result.next_at
        if not result.complete:
            break
    return {**total.as_dict(), "upcoming": upcoming}

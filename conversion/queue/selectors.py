"""Reads of the handoff queue: a rep's queue in priority and SLA order (keyset pages), the team queues,
the fallback queue, SLA breaches, and the rejection report for marketing."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from conversion.models import (
    AssignmentRule,
    Handoff,
    HandoffStatus,
    RejectionReason,
    SalesTeam,
    SlaState,
    TeamMember,
)
from leadhub.tenancy.views import KeysetPage
from leads.models import Channel, Stage

QUEUE_STATUSES = (HandoffStatus.PENDING, HandoffStatus.ACCEPTED)
# The queue's order: highest priority first, then the nearest SLA deadline (none last), then oldest id.
# The partial index handoff_org_queue holds exactly this order per rep.
QUEUE_ORDER = (F("priority").desc(), F("sla_due_at").asc(nulls_last=True), F("id").asc())


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""  # pending | accepted
    stage: str = ""  # mql | pql | sql
    grade: str = ""
    source: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> QueueFilters:
        """Filters from a query string; a bad value is dropped and reported, never a 500."""
        errors: dict[str, str] = {}
        values: dict[str, str] = {}
        allowed: dict[str, set[str]] = {
            "status": set(QUEUE_STATUSES),
            "stage": {Stage.MQL, Stage.PQL, Stage.SQL},
            "grade": set("ABCDEF"),
            "source": set(Channel.values),
        }
        for key, options in allowed.items():
            value = str(params.get(key) or "").strip()
            if key == "grade":
                value = value.upper()
            if not value:
                continue
            if value not in options:
                errors[key] = f"'{value[:40]}' is not one of: {', '.join(sorted(options))}."
                continue
            values[key] = value
        return cls(**values, errors=errors)

    @property
    def active(self) -> bool:
        return bool(self.status or self.stage or self.grade or self.source)


def queue_rows(*, user_id: int | None, filters: QueueFilters | None = None) -> QuerySet[Handoff]:
    """A rep's queue (user_id None: the fallback queue): handoffs waiting for their decision and the ones
    they accepted whose lead is still an SQL, in queue order."""
    filters = filters or QueueFilters()
    rows = Handoff.objects.filter(assigned_to_id=user_id, status__in=QUEUE_STATUSES).filter(
        Q(status=HandoffStatus.PENDING) | Q(lead__stage=Stage.SQL)
    )
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.stage == Stage.SQL:
        rows = rows.filter(status=HandoffStatus.ACCEPTED)
    elif filters.stage:
        rows = rows.filter(status=HandoffStatus.PENDING, from_stage=filters.stage)
    if filters.grade:
        rows = rows.filter(lead__grade=filters.grade)
    if filters.source:
        rows = rows.filter(lead__source_channel=filters.source)
    return rows.select_related("lead__contact__company", "lead__campaign").order_by(*QUEUE_ORDER)


def _cursor_encode(direction: str, row: Handoff) -> str:
    due = row.sla_due_at.isoformat() if row.sla_due_at else None
    raw = json.dumps([direction, row.priority, due, row.pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[str, int, dt.datetime | None, int] | None:
    """The position in a cursor, or None (first page) for anything malformed: cursors are user input."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, priority, due, pk = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None
    if direction not in {"next", "prev"} or not isinstance(priority, int) or not isinstance(pk, int):
        return None
    if isinstance(priority, bool) or isinstance(pk, bool):
        return None
    when = None
    if due is not None:
        when = parse_datetime(due) if isinstance(due, str) else None
        if when is None:
            return None
    return direction, priority, when, pk


def _after(priority: int, due: dt.datetime | None, pk: int) -> Q:
    # Rows after the position in queue order; the redundant bound on priority lets the index seek to it.
    if due is None:
        later = Q(priority__lt=priority) | Q(priority=priority, sla_due_at__isnull=True, id__gt=pk)
    else:
        later = (
            Q(priority__lt=priority)
            | Q(priority=priority, sla_due_at__gt=due)
            | Q(priority=priority, sla_due_at=due, id__gt=pk)
            | Q(priority=priority, sla_due_at__isnull=True)
        )
    return Q(priority__lte=priority) & later


def _before(priority: int, due: dt.datetime | None, pk: int) -> Q:
    if due is None:
        earlier = (
            Q(priority__gt=priority)
            | Q(priority=priority, sla_due_at__isnull=False)
            | Q(priority=priority, sla_due_at__isnull=True, id__lt=pk)
        )
    else:
        earlier = (
            Q(priority__gt=priority)
            | Q(priority=priority, sla_due_at__lt=due)
            | Q(priority=priority, sla_due_at=due, id__lt=pk)
        )
    return Q(priority__gte=priority) & earlier


def queue_page(rows: QuerySet[Handoff], *, cursor: str | None, size: int) -> KeysetPage[Handoff]:
    """One page of a queue, by position rather than offset: the same cost on page 1 and page 400."""
    position = _cursor_decode(cursor) if cursor else None
    if position is None:
        found = list(rows[: size + 1])
        more, forward = len(found) > size, True
        found = found[:size]
    else:
        direction, priority, due, pk = position
        forward = direction == "next"
        if forward:
            found = list(rows.filter(_after(priority, due, pk))[: size + 1])
        else:
            reverse = (F("priority").asc(), F("sla_due_at").desc(nulls_first=True), F("id").desc())
            found = list(rows.filter(_before(priority, due, pk)).order_by(*reverse)[: size + 1])
        more = len(found) > size
        found = found[:size]
        if not forward:
            found.reverse()
    has_next = more if forward else True
    has_previous = position is not None if forward else more
    return KeysetPage(
        rows=found,
        next_cursor=_cursor_encode("next", found[-1]) if found and has_next else None,
        previous_cursor=_cursor_encode("prev", found[0]) if found and has_previous else None,
    )


@dataclass(frozen=True)
class QueueSummary:
    waiting: int
    overdue: int
    breached: int


def queue_summary(*, user_id: int | None) -> QueueSummary:
    """Counts over the rep's waiting handoffs, from the handoff table alone (one indexed aggregate)."""
    now = timezone.now()
    counts = Handoff.objects.filter(assigned_to_id=user_id, status=HandoffStatus.PENDING).aggregate(
        waiting=Count("id"),
        overdue=Count("id", filter=Q(sla_due_at__lt=now)),
        breached=Count("id", filter=Q(sla_state=SlaState.BREACHED)),
    )
    return QueueSummary(**counts)


# --- managers ---------------------------------------------------------------------------------------


@dataclass
class RepLoad:
    member: TeamMember
    waiting: int = 0
    open_sql: int = 0
    breached: int = 0

    @property
    def at_capacity(self) -> bool:
        limit = self.member.max_open_leads
        return limit is not None and self.waiting + self.open_sql >= limit


@dataclass
class TeamQueue:
    team: SalesTeam
    reps: list[RepLoad]

    @property
    def waiting(self) -> int:
        return sum(r.waiting for r in self.reps)

    @property
    def breached(self) -> int:
        return sum(r.breached for r in self.reps)


def team_queues() -> list[TeamQueue]:
    """Every team with each member's load: two queries whatever the number of teams and reps."""
    members = list(TeamMember.objects.select_related("team", "user").order_by("team__name", "user__email"))
    loads = (
        Handoff.objects.filter(assigned_to_id__in={m.user_id for m in members}, status__in=QUEUE_STATUSES)
        .values("assigned_to_id")
        .annotate(
            waiting=Count("id", filter=Q(status=HandoffStatus.PENDING)),
            open_sql=Count("id", filter=Q(status=HandoffStatus.ACCEPTED, lead__stage=Stage.SQL)),
            breached=Count("id", filter=Q(sla_state=SlaState.BREACHED)),
        )
    )
    by_user = {row["assigned_to_id"]: row for row in loads}
    teams: dict[int, TeamQueue] = {
        t.pk: TeamQueue(team=t, reps=[]) for t in SalesTeam.objects.order_by("name")
    }
    for member in members:
        row = by_user.get(member.user_id, {})
        teams[member.team_id].reps.append(
            RepLoad(
                member=member,
                waiting=row.get("waiting", 0),
                open_sql=row.get("open_sql", 0),
                breached=row.get("breached", 0),
            )
        )
    return list(teams.values())


def breaches() -> QuerySet[Handoff]:
    """Open handoffs whose SLA is breached, the longest overdue first."""
    return (
        Handoff.objects.filter(status__in=QUEUE_STATUSES, sla_state=SlaState.BREACHED)
        .select_related("lead__contact__company", "assigned_to", "team")
        .order_by(F("sla_due_at").asc(nulls_last=True), "id")
    )


def rules_in_order() -> QuerySet[AssignmentRule]:
    return AssignmentRule.objects.select_related("team", "user").order_by("position", "id")


# --- the rejection report ---------------------------------------------------------------------------


@dataclass
class RejectionReport:
    start: dt.date
    end: dt.date
    total: int
    decided: int
    by_reason: list[dict[str, Any]]
    by_channel: list[dict[str, Any]]
    by_campaign: list[dict[str, Any]]


def rejection_report(*, start: dt.date, end: dt.date) -> RejectionReport:
    """Rejections decided between `start` and `end` (inclusive, UTC days): by reason, and by the lead's
    source channel and campaign with the share of decisions that were rejections."""
    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    decided = Handoff.objects.filter(
        status__in=(HandoffStatus.ACCEPTED, HandoffStatus.REJECTED),
        decided_at__gte=since,
        decided_at__lt=until,
    )
    rejected_q = Q(status=HandoffStatus.REJECTED)
    labels = dict(RejectionReason.choices)
    by_reason = [
        {
            "reason": row["rejection_reason"],
            "label": labels.get(row["rejection_reason"], row["rejection_reason"]),
            "count": row["n"],
        }
        for row in decided.filter(rejected_q)
        .values("rejection_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "rejection_reason")
    ]
    channel_labels = dict(Channel.choices)

    def grouped(key: str, name: str | None = None) -> list[dict[str, Any]]:
        keys = [key, name] if name else [key]
        rows = (
            decided.values(*keys)
            .annotate(rejected=Count("id", filter=rejected_q), decided=Count("id"))
            .filter(rejected__gt=0)
            .order_by("-rejected", key)
        )
        reason_rows = decided.filter(rejected_q).values(key, "rejection_reason").annotate(n=Count("id"))
        reasons: dict[Any, dict[str, int]] = {}
        for row in reason_rows:
            reasons.setdefault(row[key], {})[row["rejection_reason"]] = row["n"]
        return [
            {
                "key": row[key],
                "label": (row[name] if name else channel_labels.get(row[key], row[key])) or "No campaign",
                "rejected": row["rejected"],
                "decided": row["decided"],
                "rate": round(100 * row["rejected"] / row["decided"]) if row["decided"] else 0,
                "reasons": reasons.get(row[key], {}),
                "top_reasons": sorted(
                    ((labels.get(code, code), n) for code, n in reasons.get(row[key], {}).items()),
                    key=lambda pair: -pair[1],
                )[:3],
            }
            for row in rows
        ]

    total = sum(row["count"] for row in by_reason)
    return RejectionReport(
        start=start,
        end=end,
        total=total,
        decided=decided.count(),
        by_reason=by_reason,
        by_channel=grouped("lead__source_channel"),
        by_campaign=grouped("lead__campaign_id", "lead__campaign__name"),
    )

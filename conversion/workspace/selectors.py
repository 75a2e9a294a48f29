"""Reads of the workspace: which leads a member may work on, the lead's merged timeline (activities,
notes, stage changes and touchpoints, newest first, by keyset), its tasks, and a user's notifications."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from conversion.models import (
    Activity,
    Handoff,
    HandoffStatus,
    Note,
    NoteMention,
    Notification,
    Task,
    TeamMember,
)
from leadhub.tenancy.models import Role
from leads.models import Lead, StageChange, Touchpoint

TIMELINE_PAGE_SIZE = 20
UNREAD_CAP = 99
OPEN_HANDOFF = (HandoffStatus.PENDING, HandoffStatus.ACCEPTED)


# --- who sees which lead --------------------------------------------------------------------------


def sees_every_lead(role: str | None) -> bool:
    """Managers, admins and marketing see every lead of the organization; a sales rep sees their own
    and their team's. An API key (no role) acts for the whole organization."""
    return role != Role.SALES_REP


def leads_visible_to(user: Any, role: str | None) -> QuerySet[Lead]:
    """The leads `user` may open: for a sales rep, the ones they own, the ones handed to them, their
    teams' (by handoff or by a teammate's ownership), and the ones a colleague brought them into (a task
    given to them, a mention in a note); every lead for the other roles."""
    leads = Lead.objects.all()
    if sees_every_lead(role):
        return leads
    teams = TeamMember.objects.filter(user_id=user.pk).values("team_id")
    teammates = TeamMember.objects.filter(team_id__in=teams).values("user_id")
    handed = Handoff.objects.filter(lead_id=OuterRef("pk"), status__in=OPEN_HANDOFF).filter(
        Q(assigned_to_id=user.pk) | Q(team_id__in=teams)
    )
    tasked = Task.objects.filter(lead_id=OuterRef("pk"), assignee_id=user.pk)
    mentioned = NoteMention.objects.filter(note__lead_id=OuterRef("pk"), user_id=user.pk)
    return leads.filter(
        Q(owner_id=user.pk) | Q(owner_id__in=teammates) | Exists(handed) | Exists(tasked) | Exists(mentioned)
    )


def lead_for_member(*, pk: int, user: Any, role: str | None) -> Lead:
    """The lead of this organization with `pk` (404 when there is none, as for another organization's),
    refused (403) to a sales rep whose work it is not."""
    lead = Lead.objects.select_related("contact__company", "owner", "campaign").filter(pk=pk).first()
    if lead is None:
        raise Http404("No such lead.")
    if not sees_every_lead(role) and not leads_visible_to(user, role).filter(pk=pk).exists():
        raise PermissionDenied("This lead is not yours or your team's.")
    return lead


# --- the merged timeline --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # activity, note, stage, touchpoint
    at: dt.datetime
    pk: int
    item: Any


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class _Source:
    kind: str
    rank: int  # ties at the same instant: higher ranks first
    time_field: str
    rows: Callable[[Lead], QuerySet[Any]]


_SOURCES = (
    _Source(
        "activity",
        4,
        "occurred_at",
        lambda lead: Activity.objects.filter(lead_id=lead.pk).select_related("user"),
    ),
    _Source(
        "note",
        3,
        "created_at",
        lambda lead: (
            Note.objects.filter(lead_id=lead.pk).select_related("author").prefetch_related("mentions__user")
        ),
    ),
    _Source(
        "stage",
        2,
        "changed_at",
        lambda lead: StageChange.objects.filter(lead_id=lead.pk).select_related(
            "changed_by_user", "changed_by_api_key"
        ),
    ),
    _Source(
        "touchpoint",
        1,
        "occurred_at",
        lambda lead: Touchpoint.objects.filter(lead_id=lead.pk).select_related("campaign"),
    ),
)


def _cursor_encode(entry: TimelineEntry, rank: int) -> str:
    raw = json.dumps([entry.at.isoformat(), rank, entry.pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str | None) -> tuple[dt.datetime, int, int] | None:
    """The position in a cursor, or None (the first page) for anything malformed: cursors are input."""
    if not cursor:
        return None
    try:
        at, rank, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        when = dt.datetime.fromisoformat(at)
        if not isinstance(rank, int) or not isinstance(pk, int) or when.tzinfo is None:
            return None
        return when, rank, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def lead_timeline(lead: Lead, *, cursor: str | None = None, size: int = TIMELINE_PAGE_SIZE) -> TimelinePage:
    """One page of everything that happened to the lead, newest first. Each source is read by its
    (lead, time) index from the cursor on, at most a page each, and the pages are merged: the cost of a
    page does not grow with the lead's history."""
    position = _cursor_decode(cursor)
    ranks = {s.kind: s.rank for s in _SOURCES}
    entries: list[TimelineEntry] = []
    for source in _SOURCES:
        rows = source.rows(lead)
        field = source.time_field
        if position is not None:
            at, rank, pk = position
            if source.rank < rank:
                rows = rows.filter(**{f"{field}__lte": at})
            elif source.rank > rank:
                rows = rows.filter(**{f"{field}__lt": at})
            else:
                rows = rows.filter(Q(**{f"{field}__lt": at}) | Q(**{field: at, "pk__lt": pk}))
        for row in rows.order_by(f"-{field}", "-pk")[: size + 1]:
            entries.append(TimelineEntry(source.kind, getattr(row, field), row.pk, row))
    entries.sort(key=lambda e: (e.at, ranks[e.kind], e.pk), reverse=True)
    more = len(entries) > size
    entries = entries[:size]
    next_cursor = _cursor_encode(entries[-1], ranks[entries[-1].kind]) if more and entries else None
    return TimelinePage(entries=entries, next_cursor=next_cursor)


# --- tasks and notes ------------------------------------------------------------------------------


def lead_tasks(lead: Lead) -> QuerySet[Task]:
    """Open tasks first by due date (undated last), then the done ones, newest done first."""
    return Task.objects.filter(lead_id=lead.pk).select_related("assignee", "done_by")


def lead_open_tasks(lead: Lead) -> list[Task]:
    rows = list(lead_tasks(lead).filter(done_at__isnull=True))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(rows, key=lambda t: (t.due_at or far, t.pk))


def lead_done_tasks(lead: Lead, limit: int = 5) -> list[Task]:
    return list(lead_tasks(lead).filter(done_at__isnull=False).order_by("-done_at", "-id")[:limit])


def lead_notes(lead: Lead) -> QuerySet[Note]:
    return (
        Note.objects.filter(lead_id=lead.pk)
        .select_related("author")
        .prefetch_related("mentions__user")
        .order_by("-created_at", "-id")
    )


def lead_activities(lead: Lead) -> QuerySet[Activity]:
    return Activity.objects.filter(lead_id=lead.pk).select_related("user").order_by("-occurred_at", "-id")


def lead_recent_touchpoints(lead: Lead, limit: int = 5) -> list[Touchpoint]:
    return list(Touchpoint.objects.filter(lead_id=lead.pk).order_by("-occurred_at", "-id")[:limit])


# --- notifications --------------------------------------------------------------------------------


def notifications_for(user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=user.pk).select_related("lead__contact")


def unread_count(user: Any) -> int:
    """Unread notifications, counted up to UNREAD_CAP + 1 (the bell shows "99+"): at most that many rows
    read, whatever the inbox's size. Unordered: the count of a sorted slice would sort every unread row."""
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True).order_by()
    return unread.values("pk")[: UNREAD_CAP + 1].count()

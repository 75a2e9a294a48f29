"""The handoff's life cycle and activity logging. Every write runs in one transaction, writes its audit
row and announces itself through conversion.signals so that SLA clocks and notifications follow."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversion import signals
from conversion.models import Activity, ActivityKind, Handoff, HandoffStatus, SalesTeam
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Lead

OPEN_STATUSES = (HandoffStatus.PENDING, HandoffStatus.ACCEPTED)


def handoff_open(
    *,
    lead: Lead,
    assigned_to: Any | None,
    team: SalesTeam | None,
    rule: str,
    priority: int,
    actor: Actor,
    previous: Handoff | None = None,
    at: dt.datetime | None = None,
) -> Handoff:
    """Hand `lead` to `assigned_to` (None: the fallback queue). A lead already waiting in a pending
    handoff keeps it: the pending one is returned unchanged (so a replayed event hands off once)."""
    with transaction.atomic():
        Lead.objects.select_for_update().filter(pk=lead.pk).first()
        pending = Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).first()
        if pending is not None:
            return pending
        handoff = Handoff.objects.create(
            lead=lead,
            from_stage=lead.stage,
            team=team,
            assigned_to=assigned_to,
            assigned_by_rule=rule[:200],
            priority=priority,
            handed_at=at or timezone.now(),
            previous=previous,
        )
        audit_record(
            actor=actor,
            action="handoff.open",
            target=lead,
            changes={"assigned_to": getattr(assigned_to, "email", None), "rule": rule},
        )
        signals.handoff_opened.send(sender=Handoff, handoff=handoff)
    return handoff


def handoff_close(
    *,
    handoff: Handoff,
    status: str,
    actor: Actor,
    reason: str = "",
    note: str = "",
    at: dt.datetime | None = None,
) -> Handoff:
    """Close a pending handoff as accepted, rejected or withdrawn. Moving the lead's stage is the caller's
    part (accepting makes it SQL, rejecting recycles or disqualifies it)."""
    if status not in (HandoffStatus.ACCEPTED, HandoffStatus.REJECTED, HandoffStatus.WITHDRAWN):
        raise ValidationError({"status": [f"'{status}' does not close a handoff."]})
    with transaction.atomic():
        locked = Handoff.objects.select_for_update().get(pk=handoff.pk)
        if locked.status != HandoffStatus.PENDING:
            raise ValidationError(
                {"status": [f"This handoff is already {locked.get_status_display().lower()}."]}
            )
        locked.status = status
        locked.decided_at = at or timezone.now()
        locked.decided_by = actor.user
        locked.rejection_reason = reason if status == HandoffStatus.REJECTED else ""
        locked.rejection_note = note.strip()
        locked.save(
            update_fields=["status", "decided_at", "decided_by", "rejection_reason", "rejection_note"]
        )
        audit_record(
            actor=actor,
            action=f"handoff.{status}",
            target=locked.lead,
            changes={"handoff": locked.pk, "reason": reason, "note": note.strip()},
        )
        signals.handoff_closed.send(sender=Handoff, handoff=locked)
    return locked


def handoff_reassign(
    *, handoff: Handoff, to_user: Any | None, actor: Actor, reason: str, team: SalesTeam | None = None
) -> Handoff:
    """Withdraw a pending handoff and hand the lead to `to_user` (None: the fallback queue), keeping the
    original priority and pointing back at the one it replaced."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the lead is reassigned."]})
    with transaction.atomic():
        previous = handoff_close(
            handoff=handoff, status=HandoffStatus.WITHDRAWN, actor=actor, note=f"Reassigned: {reason}"
        )
        replacement = handoff_open(
            lead=previous.lead,
            assigned_to=to_user,
            team=team or previous.team,
            rule=f"reassigned by {actor.label}: {reason.strip()}",
            priority=previous.priority,
            actor=actor,
            previous=previous,
        )
        signals.handoff_reassigned.send(sender=Handoff, handoff=replacement, previous=previous)
    return replacement


def lead_open_handoff(lead: Lead) -> Handoff | None:
    """The lead's newest handoff that is waiting or accepted (the one sales is working on)."""
    return Handoff.objects.filter(lead=lead, status__in=OPEN_STATUSES).order_by("-handed_at", "-id").first()


def activity_log(
    *,
    lead: Lead,
    kind: str,
    actor: Actor,
    outcome: str = "",
    subject: str = "",
    notes: str = "",
    occurred_at: dt.datetime | None = None,
    duration_minutes: int | None = None,
) -> Activity:
    """Log a call, email, meeting or demo. The first one after a handoff is its first contact."""
    errors: dict[str, list[str]] = {}
    if kind not in ActivityKind.values:
        errors["kind"] = [f"'{kind}' is not one of: {', '.join(ActivityKind.values)}."]
    when = occurred_at or timezone.now()
    if when > timezone.now() + dt.timedelta(minutes=5):
        errors["occurred_at"] = ["An activity cannot be logged in the future."]
    if duration_minutes is not None and not 0 <= duration_minutes <= 24 * 60:
        errors["duration_minutes"] = ["Give a duration between 0 and 1440 minutes."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        activity = Activity.objects.create(
            lead=lead,
            user=actor.user,
            kind=kind,
            outcome=outcome.strip()[:60],
            subject=subject.strip()[:200],
            notes=notes.strip(),
            occurred_at=when,
            duration_minutes=duration_minutes,
        )
        handoff = (
            Handoff.objects.select_for_update()
            .filter(lead=lead, status__in=OPEN_STATUSES, first_contact_at__isnull=True, handed_at__lte=when)
            .order_by("-handed_at", "-id")
            .first()
        )
        if handoff is not None:
            handoff.first_contact_at = when
            handoff.save(update_fields=["first_contact_at"])
        audit_record(
            actor=actor, action="activity.log", target=lead, changes={"kind": kind, "outcome": outcome}
        )
        signals.activity_logged.send(sender=Activity, activity=activity, handoff=handoff)
    return activity

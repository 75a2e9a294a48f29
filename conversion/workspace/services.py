"""Writes of the workspace: notes with @mentions, tasks and their reminders, BANT edits. Each runs in one
transaction and writes its audit row; mentions and reminders notify through conversion.notifications."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from conversion.models import Note, NoteMention, NotificationKind, Task
from conversion.notifications import notify
from leadhub.tenancy.models import Membership
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Lead
from scoring.models import BantField
from scoring.services import bant_answer_record

NOTE_MAX_CHARS = 10_000
TASK_TITLE_MAX = 200
REMINDER_BATCH = 500
# The lengths of the lead's BANT columns.
BANT_MAX_CHARS = {"budget": 200, "authority": 200, "need": 500, "timing": 200}
# "@ada@acme.example" (an email) or "@ada", "@ada.reyes", "@ada_reyes", "@AdaReyes" (a name). The
# look-behind keeps the middle of an email address ("ada@acme") from reading as a mention.
MENTION = re.compile(
    r"(?<![\w@.+-])@([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}|[^\W\d_][\w.-]*)"
)

OUTCOME_SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "call": (
        "Connected",
        "Left voicemail",
        "No answer",
        "Meeting booked",
        "Call back later",
        "Not interested",
        "Wrong number",
    ),
    "email": ("Sent", "Replied", "Meeting booked", "Bounced", "No reply"),
    "meeting": ("Held", "Next steps agreed", "Proposal requested", "Rescheduled", "No-show"),
    "demo": ("Completed", "Trial started", "Proposal requested", "Follow-up demo", "No-show"),
}


def workspace_url(lead_id: int, anchor: str = "") -> str:
    return reverse("workspace-lead", args=[lead_id]) + (f"#{anchor}" if anchor else "")


def _actor_label(actor: Actor) -> str:
    if actor.user is not None:
        return actor.user.get_full_name() or actor.user.email
    return actor.label


def _mention_keys(user: Any) -> set[str]:
    """The words that name `user` after an @: the email, the first name, and first and last name joined
    by a dot, an underscore, a hyphen or nothing."""
    first, last = (user.first_name or "").strip().lower(), (user.last_name or "").strip().lower()
    keys = {user.email.lower()}
    if first:
        keys.add(first.replace(" ", ""))
    if first and last:
        for joint in (".", "_", "-", ""):
            keys.add(f"{first}{joint}{last}".replace(" ", ""))
    return keys


def mentions_resolve(*, body: str, organization_id: int) -> list[Any]:
    """The members of the organization that `body` mentions. A mention that names nobody in the
    organization (a stranger's email, a typo) or more than one member (two Adas) names no one."""
    tokens = {m.group(1).rstrip(".-").lower() for m in MENTION.finditer(body)}
    if not tokens:
        return []
    members = [
        m.user for m in Membership.objects.filter(organization_id=organization_id).select_related("user")
    ]
    found: dict[int, Any] = {}
    for token in tokens:
        matches = [user for user in members if token in _mention_keys(user)]
        if len(matches) == 1:
            found[matches[0].pk] = matches[0]
    return sorted(found.values(), key=lambda u: u.pk)


def _note_body_clean(body: Any) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ValidationError({"body": ["Write something: a note cannot be empty."]})
    if len(body) > NOTE_MAX_CHARS:
        raise ValidationError({"body": [f"A note holds at most {NOTE_MAX_CHARS:,} characters."]})
    return body.strip()


def _mentions_notify(*, note: Note, users: Iterable[Any], actor: Actor) -> None:
    lead = note.lead
    excerpt = note.body if len(note.body) <= 280 else note.body[:279] + "…"
    for user in users:
        if actor.user is not None and user.pk == actor.user.pk:
            continue
        notify(
            user=user,
            kind=NotificationKind.MENTION,
            title=f"{_actor_label(actor)} mentioned you on {lead.contact}",
            body=excerpt,
            url=workspace_url(lead.pk, f"note-{note.pk}"),
            lead=lead,
        )


def note_create(*, lead: Lead, body: str, actor: Actor) -> Note:
    """Write a note on a lead; every member it @mentions is recorded and notified (once)."""
    text = _note_body_clean(body)
    with transaction.atomic():
        now = timezone.now()
        note = Note.objects.create(lead=lead, author=actor.user, body=text, created_at=now, updated_at=now)
        mentioned = mentions_resolve(body=text, organization_id=lead.organization_id)
        NoteMention.objects.bulk_create(
            [NoteMention(organization_id=lead.organization_id, note=note, user=u) for u in mentioned]
        )
        audit_record(
            actor=actor,
            action="note.create",
            target=lead,
            changes={"note": note.pk, "mentions": [u.email for u in mentioned]},
        )
        _mentions_notify(note=note, users=mentioned, actor=actor)
    return note


def note_update(*, note: Note, body: str, actor: Actor) -> Note:
    """Edit a note (its author only). Members mentioned for the first time are notified; the ones already
    mentioned are not told twice, and mentions removed from the text are dropped."""
    if note.author_id is None or actor.user is None or note.author_id != actor.user.pk:
        raise PermissionDenied("Only the author can edit a note.")
    text = _note_body_clean(body)
    with transaction.atomic():
        locked = Note.objects.select_for_update().select_related("lead__contact").get(pk=note.pk)
        locked.body, locked.updated_at = text, timezone.now()
        locked.save(update_fields=["body", "updated_at"])
        mentioned = {u.pk: u for u in mentions_resolve(body=text, organization_id=locked.organization_id)}
        before = set(NoteMention.objects.filter(note=locked).values_list("user_id", flat=True))
        NoteMention.objects.filter(note=locked).exclude(user_id__in=list(mentioned)).delete()
        new = [u for pk, u in mentioned.items() if pk not in before]
        NoteMention.objects.bulk_create(
            [NoteMention(organization_id=locked.organization_id, note=locked, user=u) for u in new]
        )
        audit_record(
            actor=actor,
            action="note.update",
            target=locked.lead,
            changes={"note": locked.pk, "new_mentions": [u.email for u in new]},
        )
        _mentions_notify(note=locked, users=new, actor=actor)
    return locked


# --- tasks ----------------------------------------------------------------------------------------


def _is_member(user: Any, organization_id: int) -> bool:
    return Membership.objects.filter(organization_id=organization_id, user_id=user.pk).exists()


def _task_fields_clean(data: Mapping[str, Any], organization_id: int, *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "title" in data or not partial:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            errors["title"] = ["Say what is to be done."]
        elif len(title.strip()) > TASK_TITLE_MAX:
            errors["title"] = [f"At most {TASK_TITLE_MAX} characters."]
        else:
            clean["title"] = title.strip()
    if "due_at" in data:
        due = data["due_at"]
        if due is not None and not isinstance(due, dt.datetime):
            errors["due_at"] = ["Give a date and time."]
        else:
            clean["due_at"] = due
    if "assignee" in data:
        assignee = data["assignee"]
        if assignee is not None and not _is_member(assignee, organization_id):
            errors["assignee"] = ["Assign the task to a member of this organization."]
        else:
            clean["assignee"] = assignee
    if errors:
        raise ValidationError(errors)
    return clean


def _task_assigned_notify(task: Task, actor: Actor) -> None:
    if task.assignee is None or (actor.user is not None and task.assignee.pk == actor.user.pk):
        return
    due = f" (due {timezone.localtime(task.due_at):%b %-d, %H:%M})" if task.due_at else ""
    notify(
        user=task.assignee,
        kind=NotificationKind.TASK,
        title=f"{_actor_label(actor)} gave you a task on {task.lead.contact}",
        body=f"{task.title}{due}",
        url=workspace_url(task.lead_id, f"task-{task.pk}"),
        lead=task.lead,
    )


def task_create(
    *,
    lead: Lead,
    title: str,
    actor: Actor,
    due_at: dt.datetime | None = None,
    assignee: Any | None = None,
) -> Task:
    """Add a task to a lead. An assignee other than the author is told at once; a task created already
    overdue gets no separate due reminder."""
    data = _task_fields_clean(
        {"title": title, "due_at": due_at, "assignee": assignee}, lead.organization_id, partial=False
    )
    with transaction.atomic():
        now = timezone.now()
        task = Task.objects.create(
            lead=lead,
            created_by=actor.user,
            reminded_at=now if data["due_at"] is not None and data["due_at"] <= now else None,
            **data,
        )
        audit_record(
            actor=actor,
            action="task.create",
            target=lead,
            changes={
                "task": task.pk,
                "title": task.title,
                "due_at": task.due_at.isoformat() if task.due_at else None,
                "assignee": getattr(task.assignee, "email", None),
            },
        )
        _task_assigned_notify(task, actor)
    return task


def task_update(*, task: Task, data: Mapping[str, Any], actor: Actor) -> Task:
    """Change a task's title, due date or assignee. A new due date in the future will be reminded again."""
    clean = _task_fields_clean(data, task.organization_id, partial=True)
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        previous_assignee = locked.assignee_id
        changes: dict[str, Any] = {}
        for field, value in clean.items():
            if getattr(locked, field) != value:
                setattr(locked, field, value)
                changes[field] = getattr(
                    value, "email", value.isoformat() if hasattr(value, "isoformat") else value
                )
        if "due_at" in changes:
            now = timezone.now()
            locked.reminded_at = now if locked.due_at is not None and locked.due_at <= now else None
        if changes:
            locked.save()
            audit_record(
                actor=actor, action="task.update", target=locked.lead, changes={"task": locked.pk, **changes}
            )
            if locked.assignee_id != previous_assignee:
                _task_assigned_notify(locked, actor)
    return locked


def task_complete(*, task: Task, actor: Actor) -> Task:
    """Mark a task done; completing a done task changes nothing."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        if locked.done_at is None:
            locked.done_at, locked.done_by = timezone.now(), actor.user
            locked.save(update_fields=["done_at", "done_by"])
            audit_record(actor=actor, action="task.complete", target=locked.lead, changes={"task": locked.pk})
    return locked


def task_reopen(*, task: Task, actor: Actor) -> Task:
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        if locked.done_at is not None:
            locked.done_at, locked.done_by = None, None
            locked.save(update_fields=["done_at", "done_by"])
            audit_record(actor=actor, action="task.reopen", target=locked.lead, changes={"task": locked.pk})
    return locked


def tasks_remind_due(*, now: dt.datetime | None = None, limit: int = REMINDER_BATCH) -> int:
    """Tell each assignee of an open task that fell due, once (in the current organization).

    The due tasks are claimed with one UPDATE in the transaction that notifies, and locked rows are
    skipped, so two sweeps running at once or one run twice remind nobody twice."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Task.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(done_at__isnull=True, reminded_at__isnull=True, due_at__lte=now, assignee__isnull=False)
            .select_related("assignee", "lead__contact")
            .order_by("due_at", "id")[:limit]
        )
        if not due:
            return 0
        Task.objects.filter(pk__in=[t.pk for t in due], reminded_at__isnull=True).update(reminded_at=now)
        for task in due:
            notify(
                user=task.assignee,
                kind=NotificationKind.TASK,
                title=f"Task due: {task.title}"[:200],
                body=f"On {task.lead.contact}, due {timezone.localtime(task.due_at):%b %-d, %H:%M}.",
                url=workspace_url(task.lead_id, f"task-{task.pk}"),
                lead=task.lead,
            )
    return len(due)


# --- BANT -----------------------------------------------------------------------------------------


def lead_bant_update(*, lead: Lead, data: Mapping[str, str], actor: Actor) -> Lead:
    """Save the BANT answers that changed. Each goes through scoring's answer record, which keeps who
    answered and when and sets the lead's field with `lead_update` (LeadUpdated rescores the lead)."""
    errors: dict[str, list[str]] = {}
    changed: dict[str, str] = {}
    for field, value in data.items():
        if field not in BantField.values:
            errors[field] = [f"Not a BANT question; choose one of: {', '.join(BantField.values)}."]
            continue
        if not isinstance(value, str):
            errors[field] = ["Give the answer as text."]
            continue
        limit = BANT_MAX_CHARS.get(field, 200)
        if len(value.strip()) > limit:
            errors[field] = [f"At most {limit} characters."]
        elif value.strip() != getattr(lead, field):
            changed[field] = value.strip()
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for field, value in changed.items():
            bant_answer_record(lead=lead, field=field, value=value, actor=actor)
        if changed:
            audit_record(actor=actor, action="lead.bant", target=lead, changes=changed)
    lead.refresh_from_db()
    return lead

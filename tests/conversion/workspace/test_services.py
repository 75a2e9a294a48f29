"""The workspace's writes: notes and mentions, tasks and reminders, activities and BANT."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from conversion.models import Handoff, Note, NoteMention, Notification, NotificationKind, Task
from conversion.services.core import activity_log
from conversion.workspace import services
from conversion.workspace.services import mentions_resolve
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from tests.conversion.workspace.conftest import hand, member


def test_a_note_mentioning_members_notifies_each_once(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, manager: Any, in_org: Any
) -> None:
    with in_org():
        note = services.note_create(
            lead=lead,
            body="Budget confirmed. @Ada and @manager@acme.example, please join; @ada again.",
            actor=Actor(user=sales_rep),
        )
        assert {m.user_id for m in NoteMention.objects.filter(note=note)} == {colleague.pk, manager.pk}
        told = Notification.objects.filter(kind=NotificationKind.MENTION).order_by("user_id")
        assert [n.user_id for n in told] == sorted([colleague.pk, manager.pk])
        assert all(
            n.url == f"/conversion/leads/{lead.pk}/#note-{note.pk}" and n.lead_id == lead.pk for n in told
        )
        assert "Grace Hopper" in told[0].title
        assert AuditLog.objects.filter(action="note.create").count() == 1


def test_a_mention_of_a_non_member_is_ignored(
    org: Any, lead: Any, sales_rep: Any, outsider: Any, in_org: Any
) -> None:
    with in_org():
        note = services.note_create(
            lead=lead, body="Ask @eve@globex.example and @Eve and @nobody", actor=Actor(user=sales_rep)
        )
        assert not NoteMention.objects.filter(note=note).exists()
        assert not Notification.objects.exists()
    assert Notification.unscoped.filter(user=outsider).count() == 0


def test_mention_syntax(org: Any, sales_rep: Any, colleague: Any, in_org: Any) -> None:
    with in_org():
        for body in ("@ada.reyes", "@Ada_Reyes,", "(@AdaReyes)", "hi @ada@acme.example."):
            assert mentions_resolve(body=body, organization_id=org.pk) == [colleague], body
        # The middle of an email address is no mention, and two Adas make "@ada" ambiguous.
        assert mentions_resolve(body="write to bob@ada.example", organization_id=org.pk) == []
    member(org, "sales_rep", "ada.lovelace@acme.example", "Ada", "Lovelace")
    with in_org():
        assert mentions_resolve(body="@ada", organization_id=org.pk) == []
        assert mentions_resolve(body="@ada.reyes", organization_id=org.pk) == [colleague]


def test_mentioning_oneself_records_but_does_not_notify(
    org: Any, lead: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        services.note_create(lead=lead, body="Reminder for @rep@acme.example", actor=Actor(user=sales_rep))
        assert NoteMention.objects.count() == 1
        assert not Notification.objects.exists()


def test_note_validation_and_editing(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, manager: Any, in_org: Any
) -> None:
    with in_org():
        with pytest.raises(ValidationError) as err:
            services.note_create(lead=lead, body="   ", actor=Actor(user=sales_rep))
        assert "body" in err.value.message_dict
        note = services.note_create(lead=lead, body="Call @ada", actor=Actor(user=sales_rep))
        with pytest.raises(PermissionDenied):
            services.note_update(note=note, body="mine now", actor=Actor(user=colleague))
        services.note_update(note=note, body="Call @ada and @mona", actor=Actor(user=sales_rep))
        # Ada was told already; only Mona hears of the edit.
        assert sorted(Notification.objects.values_list("user_id", flat=True)) == sorted(
            [colleague.pk, manager.pk]
        )
        services.note_update(note=note, body="Call @mona", actor=Actor(user=sales_rep))
        assert list(NoteMention.objects.values_list("user_id", flat=True)) == [manager.pk]
        assert Note.objects.get().body == "Call @mona"


def test_tasks_create_complete_reopen(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, outsider: Any, in_org: Any
) -> None:
    actor = Actor(user=sales_rep)
    due = timezone.now() + dt.timedelta(days=1)
    with in_org():
        with pytest.raises(ValidationError) as err:
            services.task_create(lead=lead, title="x", assignee=outsider, actor=actor)
        assert "assignee" in err.value.message_dict
        with pytest.raises(ValidationError) as err:
            services.task_create(lead=lead, title=" ", actor=actor)
        assert "title" in err.value.message_dict
        task = services.task_create(
            lead=lead, title="Send proposal", due_at=due, assignee=colleague, actor=actor
        )
        assert task.created_by == sales_rep and task.reminded_at is None and not task.is_overdue
        # The assignee hears of the task at once.
        assert Notification.objects.get(user=colleague).kind == NotificationKind.TASK
        done = services.task_complete(task=task, actor=actor)
        assert done.done_at is not None and done.done_by == sales_rep
        again = services.task_complete(task=task, actor=actor)
        assert again.done_at == done.done_at
        reopened = services.task_reopen(task=task, actor=actor)
        assert reopened.done_at is None and reopened.done_by is None
        actions = list(AuditLog.objects.filter(action__startswith="task.").values_list("action", flat=True))
        assert sorted(actions) == ["task.complete", "task.create", "task.reopen"]


def test_a_task_is_reminded_once_when_due_and_again_after_a_new_due_date(
    org: Any, lead: Any, sales_rep: Any, in_org: Any
) -> None:
    actor = Actor(user=sales_rep)
    now = timezone.now()
    with in_org():
        task = services.task_create(
            lead=lead,
            title="Follow up",
            due_at=now + dt.timedelta(minutes=30),
            assignee=sales_rep,
            actor=actor,
        )
        undated = services.task_create(lead=lead, title="Someday", assignee=sales_rep, actor=actor)
        assert services.tasks_remind_due(now=now) == 0
        later = now + dt.timedelta(hours=1)
        assert services.tasks_remind_due(now=later) == 1
        assert services.tasks_remind_due(now=later) == 0
        reminders = Notification.objects.filter(kind=NotificationKind.TASK)
        assert reminders.count() == 1 and reminders.get().url.endswith(f"#task-{task.pk}")
        services.task_update(task=task, data={"due_at": later + dt.timedelta(days=1)}, actor=actor)
        assert services.tasks_remind_due(now=later + dt.timedelta(days=2)) == 1
        assert Notification.objects.filter(kind=NotificationKind.TASK).count() == 2
        # Done tasks and tasks without a due date are never reminded.
        services.task_complete(task=task, actor=actor)
        services.task_update(task=task, data={"due_at": later + dt.timedelta(days=3)}, actor=actor)
        assert services.tasks_remind_due(now=later + dt.timedelta(days=9)) == 0
        assert Task.objects.get(pk=undated.pk).reminded_at is None


def test_logging_an_activity_sets_the_handoffs_first_contact(
    org: Any, lead: Any, sales_rep: Any, in_org: Any
) -> None:
    actor = Actor(user=sales_rep)
    with in_org():
        handoff = hand(lead, sales_rep, at=timezone.now() - dt.timedelta(hours=1))
        activity = activity_log(lead=lead, kind="call", outcome="Connected", actor=actor, duration_minutes=12)
        assert Handoff.objects.get(pk=handoff.pk).first_contact_at == activity.occurred_at
        later = activity_log(lead=lead, kind="email", actor=actor)
        assert (
            Handoff.objects.get(pk=handoff.pk).first_contact_at == activity.occurred_at != later.occurred_at
        )


def test_bant_edit_goes_through_lead_update_audited_and_recorded(
    org: Any, lead: Any, sales_rep: Any, in_org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadhub import events
    from scoring.models import BantAnswer

    published: list[Any] = []
    monkeypatch.setattr(events, "publish", lambda event: published.append(event))
    monkeypatch.setattr("leads.services.leads.publish", lambda event: published.append(event))
    with in_org():
        services.lead_bant_update(
            lead=lead,
            data={"budget": "50k EUR", "authority": "", "need": "", "timing": "Q3"},
            actor=Actor(user=sales_rep),
        )
        lead.refresh_from_db()
        assert (lead.budget, lead.timing) == ("50k EUR", "Q3")
        assert sorted(BantAnswer.objects.values_list("field", flat=True)) == ["budget", "timing"]
        assert AuditLog.objects.get(action="lead.bant").changes == {"budget": "50k EUR", "timing": "Q3"}
        with pytest.raises(ValidationError) as err:
            services.lead_bant_update(lead=lead, data={"budget": "x" * 201}, actor=Actor(user=sales_rep))
        assert "budget" in err.value.message_dict
    assert [type(e).__name__ for e in published] == ["LeadUpdated", "LeadUpdated"]

"""The beat task that reminds assignees of tasks that fell due: every organization, once per task."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from conversion.models import Notification, NotificationKind, Task
from conversion.workspace.tasks import workspace_task_reminders
from leadhub.tenancy.context import tenant_context
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_due_tasks_of_every_organization_are_reminded_once(
    org: Any, other_org: Any, sales_rep: Any, other_admin: Any
) -> None:
    past = timezone.now() - dt.timedelta(minutes=5)
    with tenant_context(org):
        lead = LeadFactory()
        # Created with a future due date that has since passed (as the clock moves on).
        due = Task.objects.create(lead=lead, title="Call back", due_at=past, assignee=sales_rep)
        Task.objects.create(
            lead=lead, title="Later", due_at=timezone.now() + dt.timedelta(days=1), assignee=sales_rep
        )
        Task.objects.create(lead=lead, title="Done", due_at=past, assignee=sales_rep, done_at=past)
    with tenant_context(other_org):
        Task.objects.create(lead=LeadFactory(), title="Theirs", due_at=past, assignee=other_admin)

    assert workspace_task_reminders.apply().get() == 2
    assert workspace_task_reminders.apply().get() == 0

    with tenant_context(org):
        reminder = Notification.objects.get(kind=NotificationKind.TASK)
        assert reminder.user == sales_rep and reminder.title == "Task due: Call back"
        assert reminder.url == f"/conversion/leads/{lead.pk}/#task-{due.pk}"
        assert Task.objects.get(pk=due.pk).reminded_at is not None
    with tenant_context(other_org):
        assert Notification.objects.get().user == other_admin
    # Each reminder is also emailed, once.
    assert sorted(m.to[0] for m in mail.outbox) == sorted([sales_rep.email, other_admin.email])


def test_the_reminder_sweep_is_on_the_beat_schedule() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["workspace-task-reminders"]
    assert entry["task"] == "conversion.workspace.tasks.workspace_task_reminders"
    assert entry["schedule"] <= dt.timedelta(minutes=5)

"""Periodic work of the workspace: reminding assignees of tasks that fell due."""

from __future__ import annotations

from celery import shared_task

from conversion.workspace import services
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
def workspace_task_reminders() -> int:
    """Remind the assignees of every task that fell due since the last run, once per task. A second
    run, or two at once, finds the tasks already claimed and reminds nobody twice."""
    reminded = 0
    # Row-level security shows one tenant at a time, so the sweep walks the organizations.
    for organization_id in Organization.objects.values_list("pk", flat=True):
        with tenant_context(organization_id):
            reminded += services.tasks_remind_due()
    return reminded

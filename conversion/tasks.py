"""Thin Celery wrappers around conversion's services: ids in, the tenant set, one service called."""

from __future__ import annotations

from celery import shared_task

from conversion import notifications
from leadhub.tenancy.tasks import in_tenant


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=60, soft_time_limit=50)
@in_tenant
def notification_email_send(organization_id: int, notification_id: int) -> bool:
    return notifications.notification_email_send(notification_id=notification_id)

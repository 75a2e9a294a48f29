"""Platform-wide periodic work: re-dispatching the outbox and purging expired idempotency records."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from leadhub.events import EVENT_TYPES, dispatch, event_from_row
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import IdempotencyRecord, Organization, OutboxEvent

OUTBOX_GRACE = timedelta(seconds=30)
OUTBOX_BATCH = 500


@shared_task(time_limit=120, soft_time_limit=100)
def events_outbox_sweep() -> int:
    """Dispatch events whose after-commit dispatch failed or never ran (broker down, process killed)."""
    dispatched = 0
    cutoff = timezone.now() - OUTBOX_GRACE
    # Row-level security shows one tenant at a time, so the sweep walks the organizations.
    for organization_id in Organization.objects.values_list("pk", flat=True):
        with tenant_context(organization_id):
            rows = list(
                OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff).order_by(
                    "created_at"
                )[:OUTBOX_BATCH]
            )
        for row in rows:
            if row.name in EVENT_TYPES and dispatch(row.pk, event_from_row(row)):
                dispatched += 1
    return dispatched


@shared_task(time_limit=300, soft_time_limit=280)
def idempotency_records_purge() -> int:
    cutoff = timezone.now() - settings.LEADHUB_IDEMPOTENCY_TTL
    deleted = 0
    for organization_id in Organization.objects.values_list("pk", flat=True):
        with tenant_context(organization_id):
            deleted += IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]
    return deleted

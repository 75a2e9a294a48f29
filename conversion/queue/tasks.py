"""Thin Celery wrappers: ids in, the tenant set, one service called. Both may run twice (the event may be
delivered twice): the services look at the lead as it is and do nothing the second time."""

from __future__ import annotations

from celery import shared_task

from conversion.queue import services
from leadhub.tenancy.tasks import in_tenant


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=60, soft_time_limit=50)
@in_tenant
def queue_handoff_assign(organization_id: int, lead_id: int) -> int | None:
    handoff = services.handoff_assign(lead_id=lead_id)
    return handoff.pk if handoff is not None else None


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=60, soft_time_limit=50)
@in_tenant
def queue_handoff_withdraw(organization_id: int, lead_id: int) -> int | None:
    handoff = services.handoff_withdraw_stale(lead_id=lead_id)
    return handoff.pk if handoff is not None else None

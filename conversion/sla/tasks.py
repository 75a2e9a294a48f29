"""The SLA timers in Celery: a beat entry runs `sla_sweep` every 30 seconds (settings.CELERY_BEAT_SCHEDULE;
without REDIS_URL the in-process scheduler runs it), and a deadline due before the next beat gets a
one-off sweep of its organization at that very moment. Every run is idempotent (conversion.sla.sweep)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from conversion.sla import sweep

# A precise follow-up only for deadlines before the next beat; never further than this ahead (far below
# the broker's visibility timeout, past which Redis would hand an eta task to a second worker).
PRECISE_HORIZON = dt.timedelta(seconds=60)


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=90, soft_time_limit=75)
def sla_sweep() -> dict[str, Any]:
    result = sweep.sla_sweep(budget_seconds=50, look_ahead=_broker_in_use())
    upcoming = result.pop("upcoming")
    _schedule_precise(upcoming)
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=90, soft_time_limit=75)
def sla_sweep_organization(organization_id: int) -> dict[str, Any]:
    return sweep.sla_sweep_organization(organization_id=int(organization_id), deadline=None).as_dict()


def _broker_in_use() -> bool:
    return bool(settings.REDIS_URL) and not sla_sweep_organization.app.conf.task_always_eager


def _schedule_precise(upcoming: dict[int, dt.datetime]) -> int:
    """One eta sweep per organization whose next warning or deadline falls before the next beat. In
    eager mode (no broker) an eta would run at once, too early: the in-process beat's 30 s is enough."""
    if not _broker_in_use():
        return 0
    now = timezone.now()
    sent = 0
    for organization_id, moment in upcoming.items():
        if not now < moment <= now + PRECISE_HORIZON:
            continue
        # Several sweeps see the same deadline: one follow-up per organization and second.
        key = f"sla:precise:{organization_id}:{int(moment.timestamp())}"
        if not cache.add(key, 1, timeout=int(PRECISE_HORIZON.total_seconds()) * 2):
            continue
        sla_sweep_organization.apply_async(
            args=[organization_id], eta=moment + dt.timedelta(milliseconds=200)
        )
        sent += 1
    return sent

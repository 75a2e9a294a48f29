"""The in-process beat of the quick start (`manage.py serve` without REDIS_URL): due tasks run, the rest
wait."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from leadhub import scheduler
from leadhub.events import LeadStageChanged, publish
from leadhub.scheduler import InProcessBeat
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization, OutboxEvent

# The scheduler closes stale connections after each task, as a long-running thread must; that needs real
# transactions rather than the test-wide one that `db` wraps around a test.
pytestmark = pytest.mark.django_db(transaction=True)

SWEEP = {"task": "leadhub.tasks.events_outbox_sweep", "schedule": timedelta(minutes=1)}


def _pending_event(organization: Organization) -> OutboxEvent:
    """An event whose dispatch failed five minutes ago: the outbox sweep's work."""
    with tenant_context(organization):
        row = publish(
            LeadStageChanged(organization_id=organization.pk, lead_id=1, from_stage="mql", to_stage="sql")
        )
    with tenant_context(organization):
        OutboxEvent.objects.filter(pk=row.pk).update(
            created_at=timezone.now() - timedelta(minutes=5), dispatched_at=None, attempts=1
        )
    return row


def _dispatched(organization: Organization, row: OutboxEvent) -> bool:
    with tenant_context(organization):
        return OutboxEvent.objects.get(pk=row.pk).dispatched_at is not None


@override_settings(CELERY_BEAT_SCHEDULE={"events-outbox-sweep": SWEEP})
def test_a_due_task_runs_and_does_its_work(org: Organization) -> None:
    row = _pending_event(org)
    beat = InProcessBeat()
    beat.last_run["events-outbox-sweep"] = timezone.now() - timedelta(minutes=2)

    assert beat.tick() == ["events-outbox-sweep"]
    assert _dispatched(org, row)
    assert beat.tick() == []  # just ran: due again in a minute


@override_settings(CELERY_BEAT_SCHEDULE={"events-outbox-sweep": SWEEP})
def test_nothing_runs_before_its_interval_has_passed(org: Organization) -> None:
    row = _pending_event(org)
    beat = InProcessBeat()

    assert beat.tick() == []  # the first tick starts the clocks
    beat.last_run["events-outbox-sweep"] = timezone.now() - timedelta(seconds=30)
    assert beat.tick() == []
    assert not _dispatched(org, row)


@override_settings(
    CELERY_BEAT_SCHEDULE={
        "broken": {"task": "leadhub.tasks.no_such_task", "schedule": timedelta(minutes=1)},
        "events-outbox-sweep": SWEEP,
    }
)
def test_a_failing_task_does_not_stop_the_others(org: Organization, monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[str] = []
    monkeypatch.setattr(scheduler.logger, "exception", lambda message, *args: logged.append(message % args))
    row = _pending_event(org)
    beat = InProcessBeat()
    long_ago = timezone.now() - timedelta(hours=1)
    beat.last_run.update({"broken": long_ago, "events-outbox-sweep": long_ago})

    assert beat.tick() == ["events-outbox-sweep"]
    assert _dispatched(org, row)
    assert logged == ["Scheduled task broken failed"]


def test_the_thread_ticks_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    beat = InProcessBeat(tick_seconds=0.01)
    ticks: list[int] = []

    def tick() -> list[str]:
        ticks.append(1)
        return []

    monkeypatch.setattr(beat, "tick", tick)
    beat.start()
    try:
        for _ in range(200):
            if len(ticks) >= 3:
                break
            beat.stopped.wait(0.01)
    finally:
        beat.stop()
        beat.join(timeout=5)
    assert len(ticks) >= 3
    assert not beat.is_alive()


def test_every_entry_of_the_projects_schedule_runs_when_due(db: None) -> None:
    # Intervals and crontabs alike: the quick start's scheduler must understand every kind of entry that
    # CELERY_BEAT_SCHEDULE uses.
    beat = InProcessBeat()
    assert beat.tick() == []
    two_hours_ago = timezone.now() - timedelta(hours=2)
    beat.last_run = dict.fromkeys(settings.CELERY_BEAT_SCHEDULE, two_hours_ago)
    assert beat.tick() == list(settings.CELERY_BEAT_SCHEDULE)

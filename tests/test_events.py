"""Domain events and their outbox: stored with the write, dispatched after commit, and re-dispatched by the
sweep when dispatch failed, so that committed work never loses its follow-up."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from leadhub import events
from leadhub.events import ContactUpdated, DomainEvent, LeadStageChanged, event_from_row, publish
from leadhub.tasks import OUTBOX_GRACE, events_outbox_sweep
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization, OutboxEvent


class Subscriber:
    """Records the events it receives; fails while `broken` (a broker that is down)."""

    def __init__(self) -> None:
        self.received: list[DomainEvent] = []
        self.broken = False

    def __call__(self, event: DomainEvent) -> None:
        if self.broken:
            raise ConnectionError("broker unreachable")
        self.received.append(event)


@pytest.fixture
def subscriber(monkeypatch: pytest.MonkeyPatch) -> Iterator[Subscriber]:
    # The product's own handlers are set aside: these tests are about delivery, not about reactions.
    monkeypatch.setattr(events, "_subscribers", defaultdict(list))
    handler = Subscriber()
    events.subscribe(LeadStageChanged)(handler)
    events.subscribe(ContactUpdated)(handler)
    yield handler


def _stage_changed(organization: Organization, lead_id: int = 7) -> LeadStageChanged:
    return LeadStageChanged(
        organization_id=organization.pk,
        lead_id=lead_id,
        from_stage="mql",
        to_stage="sql",
        reason="Demo booked",
    )


def _rows(organization: Organization) -> list[OutboxEvent]:
    with tenant_context(organization):
        return list(OutboxEvent.objects.order_by("id"))


def _age(organization: Organization, by: timedelta) -> None:
    with tenant_context(organization):
        OutboxEvent.objects.update(created_at=timezone.now() - by)


def test_the_event_is_stored_with_the_write_and_dispatched_after_commit(
    org: Organization, subscriber: Subscriber, django_capture_on_commit_callbacks: Any
) -> None:
    event = _stage_changed(org)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, tenant_context(org):
        row = publish(event)
        assert OutboxEvent.objects.filter(pk=row.pk, dispatched_at__isnull=True).exists()
    assert subscriber.received == []  # not before commit

    for callback in callbacks:
        callback()
    assert subscriber.received == [event]
    (stored,) = _rows(org)
    assert stored.dispatched_at is not None and stored.last_error == ""
    assert stored.payload == {"lead_id": 7, "from_stage": "mql", "to_stage": "sql", "reason": "Demo booked"}
    assert event_from_row(stored) == event


def test_an_event_of_a_rolled_back_write_is_neither_stored_nor_dispatched(
    org: Organization, subscriber: Subscriber, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), tenant_context(org), transaction.atomic():
        publish(_stage_changed(org))
        transaction.set_rollback(True)
    assert subscriber.received == []
    assert _rows(org) == []


def test_a_failing_subscriber_leaves_the_event_pending_and_the_sweep_delivers_it(
    org: Organization, subscriber: Subscriber, django_capture_on_commit_callbacks: Any
) -> None:
    event = _stage_changed(org)
    subscriber.broken = True
    with django_capture_on_commit_callbacks(execute=True), tenant_context(org):
        publish(event)
    (pending,) = _rows(org)
    assert pending.dispatched_at is None and pending.attempts == 1
    assert "broker unreachable" in pending.last_error

    # The sweep leaves recent rows alone: their after-commit dispatch may still be under way.
    subscriber.broken = False
    assert events_outbox_sweep() == 0
    assert subscriber.received == []

    _age(org, OUTBOX_GRACE + timedelta(seconds=5))
    assert events_outbox_sweep() == 1
    assert subscriber.received == [event]
    (delivered,) = _rows(org)
    assert delivered.dispatched_at is not None and delivered.last_error == ""

    assert events_outbox_sweep() == 0  # delivered once, not again
    assert subscriber.received == [event]


def test_the_sweep_keeps_retrying_while_the_subscriber_fails(
    org: Organization, subscriber: Subscriber
) -> None:
    subscriber.broken = True
    with tenant_context(org):
        publish(_stage_changed(org))  # inside the test's transaction: never committed, never dispatched
    _age(org, OUTBOX_GRACE * 2)

    assert events_outbox_sweep() == 0
    assert events_outbox_sweep() == 0
    (pending,) = _rows(org)
    assert pending.dispatched_at is None and pending.attempts == 2


def test_the_sweep_delivers_every_organizations_events_as_that_organization(
    org: Organization, other_org: Organization, subscriber: Subscriber
) -> None:
    ours, theirs = _stage_changed(org, lead_id=1), _stage_changed(other_org, lead_id=2)
    with tenant_context(org):
        publish(ours)
    with tenant_context(other_org):
        publish(theirs)
    _age(org, OUTBOX_GRACE * 2)
    _age(other_org, OUTBOX_GRACE * 2)

    assert events_outbox_sweep() == 2
    assert sorted(subscriber.received, key=lambda e: e.organization_id) == sorted(
        [ours, theirs], key=lambda e: e.organization_id
    )
    assert all(row.dispatched_at for row in _rows(org) + _rows(other_org))

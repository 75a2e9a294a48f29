"""The domain events of the whole product, in one place.

A lower layer publishes an event inside the transaction of the write that caused it; the event is
stored as an outbox row in that same transaction and dispatched to subscribers after commit. A
subscriber (a higher layer's `handlers.py`) only enqueues a task. If dispatch fails (the broker is
down), the row stays pending and `events_outbox_sweep` dispatches it again, so committed work never
loses its follow-up. Subscribers must therefore tolerate an event delivered twice.

The flow of the product, read top to bottom:
- LeadCaptured        leads  -> scoring (score the new lead), nurturing (enrol), analytics
- TouchpointsRecorded leads  -> leads (first/last touch rollup), scoring (incremental rescoring)
- ContactUpdated      leads  -> scoring (fit rules), nurturing (segment membership)
- LeadUpdated         leads  -> scoring (BANT and other lead fields feed fit rules; the qualification chat
                                fills answers through lead_update and relies on this to rescore)
- LeadStageChanged    leads  -> conversion (MQL/PQL handed to sales), analytics (funnel, velocity)
- FormSubmitted       leads  -> leads (capture the lead from the stored submission, in a task)
- ContactsImported    leads  -> scoring, nurturing (one event per CSV import, not one per row)
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, TypeVar

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import OutboxEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    name: ClassVar[str] = ""
    organization_id: int


@dataclass(frozen=True)
class LeadCaptured(DomainEvent):
    name: ClassVar[str] = "lead.captured"
    lead_id: int
    contact_id: int
    created: bool


@dataclass(frozen=True)
class TouchpointsRecorded(DomainEvent):
    name: ClassVar[str] = "touchpoints.recorded"
    lead_ids: list[int] = field(default_factory=list)
    touchpoint_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ContactUpdated(DomainEvent):
    name: ClassVar[str] = "contact.updated"
    contact_id: int
    fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LeadUpdated(DomainEvent):
    """Fields of a lead changed (BANT answers, owner, source...): `fields` names them."""

    name: ClassVar[str] = "lead.updated"
    lead_id: int
    fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LeadStageChanged(DomainEvent):
    name: ClassVar[str] = "lead.stage_changed"
    lead_id: int
    from_stage: str
    to_stage: str
    reason: str = ""


@dataclass(frozen=True)
class FormSubmitted(DomainEvent):
    name: ClassVar[str] = "form.submitted"
    submission_id: int
    form_id: int


@dataclass(frozen=True)
class ContactsImported(DomainEvent):
    """A CSV import finished: its contacts were created or updated in bulk, without per-row events."""

    name: ClassVar[str] = "contacts.imported"
    import_id: int
    created: int = 0
    updated: int = 0


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.name: cls
    for cls in (
        LeadCaptured,
        TouchpointsRecorded,
        ContactUpdated,
        LeadUpdated,
        LeadStageChanged,
        FormSubmitted,
        ContactsImported,
    )
}

Handler = Callable[[Any], None]
E = TypeVar("E", bound=DomainEvent)
_subscribers: dict[type[DomainEvent], list[Handler]] = defaultdict(list)


def subscribe(event_type: type[E]) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    def register(handler: Callable[[E], None]) -> Callable[[E], None]:
        if handler not in _subscribers[event_type]:
            _subscribers[event_type].append(handler)
        return handler

    return register


def subscribers(event_type: type[DomainEvent]) -> list[Handler]:
    return list(_subscribers[event_type])


def publish(event: DomainEvent) -> OutboxEvent:
    """Store `event` with the current transaction and dispatch it once that transaction commits."""
    payload = asdict(event)
    payload.pop("organization_id")
    row = OutboxEvent.objects.create(organization_id=event.organization_id, name=event.name, payload=payload)
    transaction.on_commit(lambda: dispatch(row.pk, event))
    return row


def publish_many(events: Sequence[DomainEvent]) -> list[OutboxEvent]:
    """`publish` for a batch: one INSERT for all the outbox rows (bulk writes publish one event per row)."""
    rows = [OutboxEvent(organization_id=e.organization_id, name=e.name, payload=_payload(e)) for e in events]
    rows = OutboxEvent.objects.bulk_create(rows)
    for row, event in zip(rows, events, strict=True):
        transaction.on_commit(functools.partial(dispatch, row.pk, event))
    return rows


def _payload(event: DomainEvent) -> dict[str, Any]:
    payload = asdict(event)
    payload.pop("organization_id")
    return payload


def dispatch(outbox_id: int, event: DomainEvent) -> bool:
    """Hand the event to every subscriber; mark the outbox row done only if all of them succeeded."""
    error = ""
    for handler in subscribers(type(event)):
        try:
            handler(event)
        except Exception as exc:  # broker down or a handler bug: keep the row pending for the sweep
            logger.exception("Dispatch of %s to %s failed", event.name, getattr(handler, "__name__", handler))
            error = f"{getattr(handler, '__name__', handler)}: {exc}"[:2000]
    with tenant_context(event.organization_id):
        _commit_without_waiting()
        if error:
            OutboxEvent.objects.filter(pk=outbox_id).update(last_error=error, attempts=F("attempts") + 1)
        else:
            OutboxEvent.objects.filter(pk=outbox_id).update(dispatched_at=timezone.now(), last_error="")
    return not error


def _commit_without_waiting() -> None:
    """The dispatched mark is advisory: lost in a crash, the sweep dispatches the event again, which
    subscribers tolerate. So its commit need not wait for the disk (PostgreSQL: synchronous_commit off
    for this transaction only), and the request that published it is answered that much sooner."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def event_from_row(row: OutboxEvent) -> DomainEvent:
    event_type = EVENT_TYPES[row.name]
    return event_type(organization_id=row.organization_id, **row.payload)

"""Reactions to web form events: a stored submission gets its capture task."""

from __future__ import annotations

import time

from kombu.exceptions import OperationalError

from leadhub.events import FormSubmitted, subscribe
from leads.webforms import tasks

# After the broker refused a task, do not try again for this long: every try costs the visitor's
# request the broker's connect timeout, and the outbox sweep re-sends what was skipped.
BROKER_BACKOFF_SECONDS = 10.0
_broker_down_until = 0.0


class BrokerUnavailable(RuntimeError):
    """The broker failed recently; the outbox keeps the event for the sweep."""


@subscribe(FormSubmitted)
def on_form_submitted(event: FormSubmitted) -> None:
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        raise BrokerUnavailable("The task broker was unreachable moments ago; the outbox sweep will retry.")
    try:
        tasks.form_submission_process.delay(event.organization_id, event.submission_id)
    except (OperationalError, ConnectionError, OSError):
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        raise
    _broker_down_until = 0.0

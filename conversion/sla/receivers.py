"""conversion.signals → SLA clocks. Connected in ConversionConfig.ready; they run inside the handoff's
transaction, so the handoff and its clocks are written together."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from conversion import signals
from conversion.models import Activity, Handoff
from conversion.sla import clocks


@receiver(signals.handoff_opened, dispatch_uid="sla.handoff_opened")
def _handoff_opened(sender: Any, handoff: Handoff, **kwargs: Any) -> None:
    clocks.clocks_start(handoff=handoff)


@receiver(signals.handoff_closed, dispatch_uid="sla.handoff_closed")
def _handoff_closed(sender: Any, handoff: Handoff, **kwargs: Any) -> None:
    clocks.on_handoff_closed(handoff)


@receiver(signals.activity_logged, dispatch_uid="sla.activity_logged")
def _activity_logged(sender: Any, activity: Activity, handoff: Handoff | None, **kwargs: Any) -> None:
    if handoff is not None:
        clocks.on_first_contact(handoff, handoff.first_contact_at or activity.occurred_at)

"""Reactions of the capture layer to its own events: denormalised first/last touch on leads."""

from __future__ import annotations

from leadhub.events import TouchpointsRecorded, subscribe
from leads import tasks
from leads.webforms import handlers as webforms_handlers  # noqa: F401  (subscribes too)


@subscribe(TouchpointsRecorded)
def on_touchpoints_recorded(event: TouchpointsRecorded) -> None:
    if event.lead_ids:
        tasks.leads_touch_rollup.delay(event.organization_id, event.lead_ids)

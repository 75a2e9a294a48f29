"""Landing page experiments react to recorded touchpoints: a form submission from a page variant is a
conversion of that variant."""

from __future__ import annotations

from leadhub.events import TouchpointsRecorded, subscribe
from leads.landing import tasks


@subscribe(TouchpointsRecorded)
def on_touchpoints_recorded_count_conversions(event: TouchpointsRecorded) -> None:
    if event.touchpoint_ids:
        tasks.experiment_conversions_count.delay(event.organization_id, event.touchpoint_ids)

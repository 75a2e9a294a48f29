"""Reactions of conversion to the domain events: a lead that became MQL or PQL is handed to sales, and
a lead that left MQL/PQL another way loses its pending handoff. Handlers only enqueue; tasks do the work."""

from __future__ import annotations

from leadhub.events import LeadStageChanged, subscribe
from leads.models import Stage

HANDOFF_STAGES = frozenset({Stage.MQL, Stage.PQL})


@subscribe(LeadStageChanged)
def on_lead_stage_changed(event: LeadStageChanged) -> None:
    from conversion.queue import tasks

    if event.to_stage in HANDOFF_STAGES:
        tasks.queue_handoff_assign.delay(event.organization_id, event.lead_id)
    elif event.from_stage in HANDOFF_STAGES:
        tasks.queue_handoff_withdraw.delay(event.organization_id, event.lead_id)

"""Reactions of conversion to the domain events of the layers below. Handlers only enqueue; tasks work.

- LeadStageChanged -> queue: a lead that became MQL or PQL is handed to sales; a lead that left MQL/PQL
  another way loses its pending handoff.
- LeadCaptured -> referral programme: a lead captured with a referrer's code is credited to the
  referrer (capture records the code in the same transaction as the lead, so it is there by now).
"""

from __future__ import annotations

from leadhub.events import LeadCaptured, LeadStageChanged, subscribe
from leads.models import Stage

HANDOFF_STAGES = frozenset({Stage.MQL, Stage.PQL})


@subscribe(LeadStageChanged)
def on_lead_stage_changed(event: LeadStageChanged) -> None:
    from conversion.queue import tasks

    if event.to_stage in HANDOFF_STAGES:
        tasks.queue_handoff_assign.delay(event.organization_id, event.lead_id)
    elif event.from_stage in HANDOFF_STAGES:
        tasks.queue_handoff_withdraw.delay(event.organization_id, event.lead_id)


@subscribe(LeadCaptured)
def on_lead_captured_attribute_referral(event: LeadCaptured) -> None:
    from conversion.referrals import tasks

    tasks.referral_attribute_leads.delay(event.organization_id, [event.lead_id])

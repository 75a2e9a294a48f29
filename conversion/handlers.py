"""Reactions of conversion to the capture layer's domain events. Handlers only enqueue; tasks work.

- LeadCaptured -> referral programme: a lead captured with a referrer's code is credited to the
  referrer (capture records the code in the same transaction as the lead, so it is there by now).
"""

from __future__ import annotations

from leadhub.events import LeadCaptured, subscribe


@subscribe(LeadCaptured)
def on_lead_captured_attribute_referral(event: LeadCaptured) -> None:
    from conversion.referrals import tasks

    tasks.referral_attribute_leads.delay(event.organization_id, [event.lead_id])

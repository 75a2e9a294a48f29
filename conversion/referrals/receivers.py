"""The referral programme's reactions to deals (connected in ConversionConfig.ready): a won deal of a
referred lead earns its referrer a reward, and the new customer's contacts get their referral codes."""

from __future__ import annotations

import functools
from typing import Any

from django.db import transaction

from conversion.deals import signals
from conversion.models import Account, Opportunity
from conversion.referrals import services, tasks
from leadhub.tenancy.services import Actor
from leads.models import Contact


def on_opportunity_won(
    sender: Any, opportunity: Opportunity, account: Account | None, actor: Actor, **kwargs: Any
) -> None:
    services.referral_reward_for_won(opportunity=opportunity, actor=actor)
    contact_ids = [opportunity.lead.contact_id]
    if account is not None:
        contact_ids += list(
            Contact.objects.filter(company_id=account.company_id).values_list("pk", flat=True)
        )
    transaction.on_commit(
        functools.partial(
            tasks.referral_codes_issue.delay, opportunity.organization_id, sorted(set(contact_ids))
        )
    )


def connect() -> None:
    signals.opportunity_won.connect(on_opportunity_won, dispatch_uid="referrals.on_opportunity_won")

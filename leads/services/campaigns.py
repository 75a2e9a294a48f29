"""Campaigns and their daily spend."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from leadhub.tenancy.services import Actor
from leads.models import Campaign, CampaignSpend


def campaign_spend_set(
    *, campaign: Campaign, date: dt.date, amount: Decimal, currency: str = "", note: str = ""
) -> CampaignSpend:
    """Record the spend of one campaign on one day (a second call for the same day replaces it)."""
    if amount < 0:
        raise ValidationError({"amount": ["Spend cannot be negative."]})
    spend, _ = CampaignSpend.objects.update_or_create(
        campaign=campaign,
        date=date,
        defaults={"amount": amount, "currency": currency or campaign.currency, "note": note},
    )
    return spend


CAMPAIGN_FIELDS = (
    "name",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "start_date",
    "end_date",
    "budget",
    "currency",
)


def _campaign_apply(campaign: Campaign, data: Mapping[str, Any]) -> None:
    for field in CAMPAIGN_FIELDS:
        if field in data:
            value = data[field]
            if value is None and field not in {"start_date", "end_date", "budget"}:
                value = ""
            setattr(campaign, field, value)
    errors: dict[str, list[str]] = {}
    if not campaign.name.strip():
        errors["name"] = ["A campaign needs a name."]
    elif Campaign.objects.filter(name=campaign.name).exclude(pk=campaign.pk).exists():
        errors["name"] = [f"A campaign named '{campaign.name}' already exists."]
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors["end_date"] = ["The end date is before the start date."]
    if errors:
        raise ValidationError(errors)
    campaign.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)


def campaign_create(*, data: Mapping[str, Any], actor: Actor) -> Campaign:
    campaign = Campaign()
    _campaign_apply(campaign, data)
    campaign.save()
    return campaign


def campaign_update(*, campaign: Campaign, data: Mapping[str, Any], actor: Actor) -> Campaign:
    _campaign_apply(campaign, data)
    campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign, actor: Actor) -> None:
    """Leads and touchpoints keep existing without the campaign; its spend goes with it."""
    campaign.delete()


def campaign_spend_delete(*, spend: CampaignSpend, actor: Actor) -> None:
    spend.delete()

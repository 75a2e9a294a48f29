"""Reads of the referral programme: its results against the other channels, and per referrer.

A lead counts as referred when the programme credited it to a referrer (ReferralAttribution); every other
lead counts under its source channel. A lead converts when one of its deals is won. Deal values are summed
per currency, never converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from conversion.deals.selectors import Money
from conversion.models import (
    Opportunity,
    OpportunityStatus,
    ReferralAttribution,
    ReferralReward,
    RewardStatus,
)
from leads.models import Channel, Contact, Lead, ReferralCode

REFERRED = "referral_programme"


@dataclass
class ChannelResult:
    key: str
    label: str
    leads: int = 0
    converted: int = 0
    value: Money = field(default_factory=Money)

    @property
    def rate(self) -> float:
        return round(100 * self.converted / self.leads, 1) if self.leads else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "leads": self.leads,
            "converted": self.converted,
            "conversion_rate": self.rate,
            "won_value": [{"currency": c, "amount": str(a)} for c, a in self.value.items],
        }


def programme_results() -> list[ChannelResult]:
    """Referred leads first, then every source channel with leads, by number of leads: leads, leads with a
    won deal, the rate, and the won deals' value. Three grouped queries, whatever the number of leads."""
    referred = ReferralAttribution.objects.filter(lead_id=OuterRef("pk"))
    won = Opportunity.objects.filter(lead_id=OuterRef("pk"), status=OpportunityStatus.WON)
    leads = Lead.objects.annotate(referred=Exists(referred), won=Exists(won))
    rows = (
        leads.order_by()
        .values("referred", "source_channel")
        .annotate(n=Count("id"), converted=Count("id", filter=Q(won=True)))
    )
    labels = dict(Channel.choices)
    results: dict[str, ChannelResult] = {REFERRED: ChannelResult(REFERRED, "Referral programme")}
    for row in rows:
        key = REFERRED if row["referred"] else row["source_channel"]
        result = results.setdefault(key, ChannelResult(key, str(labels.get(key, key))))
        result.leads += row["n"]
        result.converted += row["converted"]
    values = (
        Opportunity.objects.filter(status=OpportunityStatus.WON)
        .annotate(referred=Exists(ReferralAttribution.objects.filter(lead_id=OuterRef("lead_id"))))
        .order_by()
        .values("referred", "lead__source_channel", "currency")
        .annotate(total=Sum("amount"))
    )
    for row in values:
        key = REFERRED if row["referred"] else row["lead__source_channel"]
        result = results.setdefault(key, ChannelResult(key, str(labels.get(key, key))))
        result.value.add(row["currency"], row["total"])
    programme = results.pop(REFERRED)
    others = sorted(results.values(), key=lambda r: (-r.leads, r.label))
    return [programme, *others]


@dataclass
class ReferrerRow:
    contact: Contact
    code: ReferralCode | None
    referred: int
    converted: int
    value: Money
    rewards: dict[str, Money]


def referrer_table(*, limit: int = 100) -> list[ReferrerRow]:
    """Referrers with at least one credited lead, most referrals first: leads, conversions, won value
    and rewards by status."""
    counts = list(
        ReferralAttribution.objects.order_by()
        .values("referrer_id")
        .annotate(
            n=Count("id"),
            converted=Count(
                "id",
                filter=Q(
                    Exists(
                        Opportunity.objects.filter(lead_id=OuterRef("lead_id"), status=OpportunityStatus.WON)
                    )
                ),
            ),
        )
        .order_by("-n", "referrer_id")[:limit]
    )
    ids = [row["referrer_id"] for row in counts]
    contacts = {c.pk: c for c in Contact.objects.filter(pk__in=ids).select_related("company")}
    codes: dict[int, ReferralCode] = {}
    for code in ReferralCode.objects.filter(referrer_id__in=ids).order_by("-id"):
        codes[code.referrer_id] = code  # type: ignore[index]
    values: dict[int, Money] = {i: Money() for i in ids}
    won = (
        ReferralAttribution.objects.filter(referrer_id__in=ids)
        .filter(Exists(Opportunity.objects.filter(lead_id=OuterRef("lead_id"), status=OpportunityStatus.WON)))
        .values_list("referrer_id", "lead_id")
    )
    lead_referrer = dict((lead_id, referrer_id) for referrer_id, lead_id in won)
    for row in (
        Opportunity.objects.filter(status=OpportunityStatus.WON, lead_id__in=list(lead_referrer))
        .order_by()
        .values("lead_id", "currency")
        .annotate(total=Sum("amount"))
    ):
        values[lead_referrer[row["lead_id"]]].add(row["currency"], row["total"])
    rewards: dict[int, dict[str, Money]] = {i: {s: Money() for s in RewardStatus.values} for i in ids}
    for row in (
        ReferralReward.objects.filter(referrer_id__in=ids)
        .order_by()
        .values("referrer_id", "status", "currency")
        .annotate(total=Sum("amount"))
    ):
        rewards[row["referrer_id"]][row["status"]].add(row["currency"], row["total"])
    return [
        ReferrerRow(
            contact=contacts[row["referrer_id"]],
            code=codes.get(row["referrer_id"]),
            referred=row["n"],
            converted=row["converted"],
            value=values[row["referrer_id"]],
            rewards=rewards[row["referrer_id"]],
        )
        for row in counts
        if row["referrer_id"] in contacts
    ]


def referral_codes_of_customers() -> QuerySet[ReferralCode]:
    return (
        ReferralCode.objects.filter(referrer__isnull=False)
        .select_related("referrer__company")
        .order_by("-id")
    )


def reward_list() -> QuerySet[ReferralReward]:
    return ReferralReward.objects.select_related("referrer", "opportunity")


def reward_totals() -> dict[str, list[tuple[str, Decimal]]]:
    totals: dict[str, Money] = {s: Money() for s in RewardStatus.values}
    for row in ReferralReward.objects.order_by().values("status", "currency").annotate(total=Sum("amount")):
        totals[row["status"]].add(row["currency"], row["total"])
    return {status: money.items for status, money in totals.items()}

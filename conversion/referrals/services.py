"""Writes of the referral programme: its reward rule, codes for customer contacts, attribution of referred
leads, and rewards for their won deals.

Capture owns the codes and the first-hand record: `leads.ReferralCode` (what `?ref=` and `/r/<key>`
resolve) and `leads.LeadReferral` (a lead captured with a code, and the code's referrer). The programme
reads those after the fact: a referral touchpoint announces the lead (TouchpointsRecorded), the handler's
task attributes it here, and a won deal of an attributed lead earns its referrer a reward.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from conversion.deals.currencies import currency_clean
from conversion.models import (
    Account,
    Opportunity,
    ReferralAttribution,
    ReferralProgramme,
    ReferralReward,
    RewardKind,
    RewardStatus,
)
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Contact, Lead, LeadReferral, ReferralCode, Stage
from leads.tracking.services import referral_code_create

# Lower-case letters and digits without the look-alikes (0/o, 1/l/i): codes are read aloud and typed.
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 10  # 31^10 ≈ 8e14 codes: not worth guessing, short enough to type


def referral_programme_get() -> ReferralProgramme:
    """The organization's programme, made with the default rule on first use."""
    programme = ReferralProgramme.objects.first()
    if programme is not None:
        return programme
    try:
        with transaction.atomic():
            return ReferralProgramme.objects.create()
    except IntegrityError:  # made concurrently
        return ReferralProgramme.objects.get()


def referral_programme_update(*, data: Mapping[str, Any], actor: Actor) -> ReferralProgramme:
    programme = referral_programme_get()
    before = {
        "name": programme.name,
        "is_active": programme.is_active,
        "reward_kind": programme.reward_kind,
        "reward_value": str(programme.reward_value),
        "reward_currency": programme.reward_currency,
    }
    errors: dict[str, list[str]] = {}
    if "name" in data:
        programme.name = str(data["name"] or "").strip()[:100]
        if not programme.name:
            errors["name"] = ["Give the programme a name."]
    if "is_active" in data:
        programme.is_active = bool(data["is_active"])
    if "reward_kind" in data:
        if data["reward_kind"] not in RewardKind.values:
            errors["reward_kind"] = [f"Choose one of: {', '.join(RewardKind.values)}."]
        else:
            programme.reward_kind = data["reward_kind"]
    if "reward_value" in data:
        try:
            value = Decimal(str(data["reward_value"]).strip())
            if not value.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["reward_value"] = ["Give a number such as 100 or 7.5."]
        else:
            programme.reward_value = value.quantize(Decimal("0.01"))
    if "reward_currency" in data:
        try:
            programme.reward_currency = currency_clean(str(data["reward_currency"] or ""))
        except ValueError as exc:
            errors["reward_currency"] = [str(exc)]
    if "reward_value" not in errors:
        if programme.reward_value < 0:
            errors["reward_value"] = ["A reward cannot be negative."]
        elif programme.reward_kind == RewardKind.PERCENT and programme.reward_value > 100:
            errors["reward_value"] = ["A share of the deal is at most 100 %."]
        elif programme.reward_value > Decimal("9999999999"):
            errors["reward_value"] = ["The reward is too large."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        programme.save()
        after = {
            k: str(getattr(programme, k)) if k == "reward_value" else getattr(programme, k) for k in before
        }
        changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        audit_record(actor=actor, action="referral_programme.update", target=programme, changes=changes)
    return programme


# --- codes for customer contacts --------------------------------------------------------------------


def customer_contacts() -> QuerySet[Contact]:
    """Contacts who may refer: those of customer leads, and every contact of an account's company."""
    return Contact.objects.filter(
        Q(pk__in=Lead.objects.filter(stage=Stage.CUSTOMER).values("contact_id"))
        | Q(company_id__in=Account.objects.values("company_id"))
    )


def referral_code_for_contact(*, contact: Contact, actor: Actor) -> ReferralCode:
    """The contact's referral code, made once: the same code and link ever after (stable), random enough
    that another customer's cannot be guessed."""
    existing = ReferralCode.objects.filter(referrer=contact).order_by("id").first()
    if existing is not None:
        return existing
    for _ in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with transaction.atomic():
                return referral_code_create(code=code, referrer=contact, actor=actor)
        except (ValidationError, IntegrityError):  # the code is taken: draw another
            continue
    raise ValidationError({"code": ["No free referral code was found; try again."]})


def referral_codes_issue(*, actor: Actor, contact_ids: Iterable[int] | None = None) -> int:
    """Give every customer contact (or those of `contact_ids` among them) without a code its code.
    Returns how many codes were made; a second run makes none."""
    contacts = customer_contacts().exclude(
        pk__in=ReferralCode.objects.filter(referrer__isnull=False).values("referrer_id")
    )
    if contact_ids is not None:
        contacts = contacts.filter(pk__in=list(contact_ids))
    made = 0
    for contact in contacts.order_by("id"):
        referral_code_for_contact(contact=contact, actor=actor)
        made += 1
    return made


# --- attribution and rewards ------------------------------------------------------------------------


def referral_attribute(*, lead_ids: Iterable[int]) -> int:
    """Credit the leads among `lead_ids` that capture recorded with a referrer's code to that referrer,
    in one insert; leads already credited stay as they are. Returns how many were credited now."""
    ids = list({int(i) for i in lead_ids})
    if not ids:
        return 0
    referrals = LeadReferral.objects.filter(lead_id__in=ids, referrer__isnull=False).exclude(
        lead_id__in=ReferralAttribution.objects.filter(lead_id__in=ids).values("lead_id")
    )
    rows = [
        ReferralAttribution(
            lead_id=r.lead_id,
            lead_referral_id=r.pk,
            referral_code_id=r.referral_code_id,
            referrer_id=r.referrer_id,
            attributed_at=r.created_at,
        )
        for r in referrals.only("pk", "lead_id", "referral_code_id", "referrer_id", "created_at")
    ]
    created = ReferralAttribution.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def _reward_amount(programme: ReferralProgramme, opportunity: Opportunity) -> tuple[Decimal, str, str]:
    if programme.reward_kind == RewardKind.PERCENT:
        amount = (opportunity.amount * programme.reward_value / 100).quantize(Decimal("0.01"))
        rule = f"{programme.reward_value.normalize():f} % of {opportunity.amount} {opportunity.currency}"
        return amount, opportunity.currency, rule
    return programme.reward_value, programme.reward_currency, "fixed reward per won deal"


def referral_reward_for_won(*, opportunity: Opportunity, actor: Actor) -> ReferralReward | None:
    """The reward a won deal of a referred lead earns its referrer, pending approval; one per deal (a
    second call returns it). None when the lead was not referred or the programme is paused."""
    referral_attribute(lead_ids=[opportunity.lead_id])
    attribution = ReferralAttribution.objects.filter(lead_id=opportunity.lead_id).first()
    if attribution is None:
        return None
    existing = ReferralReward.objects.filter(opportunity=opportunity).first()
    if existing is not None:
        return existing
    programme = referral_programme_get()
    if not programme.is_active:
        return None
    amount, currency, rule = _reward_amount(programme, opportunity)
    with transaction.atomic():
        reward = ReferralReward.objects.create(
            attribution=attribution,
            referrer_id=attribution.referrer_id,
            opportunity=opportunity,
            amount=amount,
            currency=currency,
            rule=rule[:200],
        )
        audit_record(
            actor=actor,
            action="referral_reward.create",
            target_type="ReferralReward",
            target_id=str(reward.pk),
            target_label=f"{amount} {currency} for deal {opportunity.pk}",
            changes={"referrer": attribution.referrer_id, "rule": rule},
        )
    return reward


REWARD_ORDER = (RewardStatus.PENDING, RewardStatus.APPROVED, RewardStatus.PAID)


def referral_reward_set_status(*, reward: ReferralReward, status: str, actor: Actor) -> ReferralReward:
    """Approve or pay a reward. It only moves forward (pending → approved → paid; paying approves)."""
    if status not in RewardStatus.values:
        raise ValidationError({"status": [f"Choose one of: {', '.join(RewardStatus.values)}."]})
    with transaction.atomic():
        locked = ReferralReward.objects.select_for_update().get(pk=reward.pk)
        if locked.status == status:
            return locked
        if REWARD_ORDER.index(RewardStatus(status)) < REWARD_ORDER.index(RewardStatus(locked.status)):
            raise ValidationError(
                {
                    "status": [
                        f"This reward is already {locked.get_status_display().lower()}; it cannot go back."
                    ]
                }
            )
        before = locked.status
        now = timezone.now()
        locked.status = status
        locked.approved_at = locked.approved_at or now
        if status == RewardStatus.PAID:
            locked.paid_at = now
        locked.save(update_fields=["status", "approved_at", "paid_at"])
        audit_record(
            actor=actor,
            action=f"referral_reward.{status}",
            target_type="ReferralReward",
            target_id=str(locked.pk),
            target_label=f"{locked.amount} {locked.currency}",
            changes={"status": [before, status]},
        )
    return locked

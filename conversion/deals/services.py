"""Writes of deals and customers: pipeline stages, opportunities through their stages to won or lost,
accounts and onboarding. Each public function is one unit of work in one transaction with its audit row.

The lead follows its deal through `lead_change_stage` (the funnel's one door): a new opportunity moves an
SQL lead to opportunity; won makes it a customer and its company an account; lost sends it back, recycled
(price, timing, a competitor, silence: it may buy later) or disqualified (not a fit), unless another of
its deals is still open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversion.deals import signals
from conversion.deals.currencies import currency_clean
from conversion.models import (
    Account,
    LostReason,
    NotificationKind,
    OnboardingEnrollment,
    OnboardingOwnerRole,
    OnboardingPlan,
    OnboardingStep,
    OnboardingStepTemplate,
    Opportunity,
    OpportunityHistory,
    OpportunityStatus,
    PipelineStage,
    SalesTeam,
    TeamMember,
)
from conversion.models.deals import DISQUALIFYING_LOST_REASONS
from conversion.notifications import notify
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import Membership, Role
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Company, Lead, Stage
from leads.services import lead_change_stage

DEFAULT_STAGES: tuple[tuple[str, int], ...] = (
    ("Qualification", 10),
    ("Discovery", 25),
    ("Proposal", 50),
    ("Negotiation", 75),
)
DEFAULT_CURRENCY = "EUR"
MAX_AMOUNT = Decimal("999999999999.99")
# Leads a deal may be opened for: SQL (it becomes an opportunity), one already in opportunity (a second
# deal), and a customer (an expansion deal; its stage stays).
DEAL_LEAD_STAGES = frozenset({Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER})

DEFAULT_PLAN_NAME = "First 90 days"
DEFAULT_PLAN_STEPS: tuple[tuple[int, str, str], ...] = (
    (0, "Kick-off call: goals, contacts and success criteria", OnboardingOwnerRole.ACCOUNT_OWNER),
    (2, "Send the welcome pack and access details", OnboardingOwnerRole.ACCOUNT_OWNER),
    (7, "Technical set-up and first data import", OnboardingOwnerRole.ACCOUNT_OWNER),
    (14, "Training session for the customer's team", OnboardingOwnerRole.ACCOUNT_OWNER),
    (30, "30-day check-in: adoption and open questions", OnboardingOwnerRole.ACCOUNT_OWNER),
    (60, "Usage review with the customer's champion", OnboardingOwnerRole.SALES_MANAGER),
    (90, "90-day business review and expansion plan", OnboardingOwnerRole.SALES_MANAGER),
)


# --- pipeline stages --------------------------------------------------------------------------------


def pipeline_stages_ensure() -> list[PipelineStage]:
    """The organization's stages in order; the default set is created on first use (race-safe: a
    concurrent first use inserts nothing twice)."""
    stages = list(PipelineStage.objects.order_by("position", "id"))
    if stages:
        return stages
    PipelineStage.objects.bulk_create(
        [
            PipelineStage(name=name, probability=probability, position=index)
            for index, (name, probability) in enumerate(DEFAULT_STAGES)
        ],
        ignore_conflicts=True,
    )
    return list(PipelineStage.objects.order_by("position", "id"))


def _probability_clean(value: Any, field: str = "probability") -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: ["Give a whole number from 0 to 100."]}) from None
    if not 0 <= number <= 100 or str(value).strip() not in (str(number), f"{number}.0"):
        raise ValidationError({field: ["Give a whole number from 0 to 100."]})
    return number


def _stage_clean(stage: PipelineStage) -> None:
    stage.name = (stage.name or "").strip()
    if not stage.name:
        raise ValidationError({"name": ["Give the stage a name."]})
    if len(stage.name) > 60:
        raise ValidationError({"name": ["At most 60 characters."]})
    if PipelineStage.objects.filter(name__iexact=stage.name).exclude(pk=stage.pk).exists():
        raise ValidationError({"name": ["Another stage has this name."]})


def pipeline_stage_create(
    *, name: str, probability: Any, position: int | None = None, actor: Actor
) -> PipelineStage:
    pipeline_stages_ensure()
    if position is None:
        last = PipelineStage.objects.order_by("-position").values_list("position", flat=True).first()
        position = (last or 0) + 1
    stage = PipelineStage(name=name, probability=_probability_clean(probability), position=position)
    _stage_clean(stage)
    with transaction.atomic():
        stage.save()
        audit_record(
            actor=actor,
            action="pipeline_stage.create",
            target=stage,
            changes={"probability": stage.probability},
        )
    return stage


def pipeline_stage_update(*, stage: PipelineStage, data: Mapping[str, Any], actor: Actor) -> PipelineStage:
    before = {"name": stage.name, "probability": stage.probability, "position": stage.position}
    before["is_active"] = stage.is_active
    if "name" in data:
        stage.name = str(data["name"] or "")
    if "probability" in data:
        stage.probability = _probability_clean(data["probability"])
    if "position" in data:
        stage.position = max(0, int(data["position"]))
    if "is_active" in data:
        stage.is_active = bool(data["is_active"])
    _stage_clean(stage)
    if not stage.is_active and not PipelineStage.objects.filter(is_active=True).exclude(pk=stage.pk).exists():
        raise ValidationError({"is_active": ["Keep at least one stage active."]})
    with transaction.atomic():
        stage.save()
        after = {k: getattr(stage, k) for k in before}
        changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        audit_record(actor=actor, action="pipeline_stage.update", target=stage, changes=changes)
    return stage


# --- opportunities ----------------------------------------------------------------------------------


def _amount_clean(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", "")) if value not in (None, "") else Decimal(0)
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": ["Give an amount such as 12000 or 12000.50."]}) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError({"amount": ["The amount cannot be negative."]})
    if amount > MAX_AMOUNT:
        raise ValidationError({"amount": ["The amount is too large."]})
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({"amount": ["At most two decimal places."]})
    return amount.quantize(Decimal("0.01"))


def _currency(value: Any) -> str:
    try:
        return currency_clean(str(value or ""))
    except ValueError as exc:
        raise ValidationError({"currency": [str(exc)]}) from None


def _close_date_clean(value: Any, *, creating: bool) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValidationError({"expected_close_date": ["Give a date as YYYY-MM-DD."]}) from None
    if not isinstance(value, dt.date):
        raise ValidationError({"expected_close_date": ["Give a date as YYYY-MM-DD."]})
    today = timezone.localdate()
    if creating and value < today:
        raise ValidationError(
            {"expected_close_date": ["A new deal cannot be expected to close in the past."]}
        )
    if value > today + dt.timedelta(days=365 * 5):
        raise ValidationError({"expected_close_date": ["Expected within the next five years."]})
    return value


def _member_check(user: Any, field: str) -> None:
    if (
        user is not None
        and not Membership.objects.filter(organization_id=current_organization_id(), user=user).exists()
    ):
        raise ValidationError({field: ["This user is not a member of the organization."]})


def _history(
    *,
    opportunity: Opportunity,
    actor: Actor,
    from_stage: PipelineStage | None,
    from_status: str,
    note: str = "",
) -> OpportunityHistory:
    return OpportunityHistory.objects.create(
        opportunity=opportunity,
        from_stage=from_stage,
        to_stage=opportunity.stage,
        from_status=from_status,
        to_status=opportunity.status,
        changed_by=actor.user,
        changed_by_label=actor.label[:200],
        note=note,
    )


def opportunity_create(
    *,
    lead: Lead,
    name: str,
    actor: Actor,
    stage: PipelineStage | None = None,
    amount: Any = 0,
    currency: str = DEFAULT_CURRENCY,
    expected_close_date: Any = None,
    probability: Any = None,
    owner: Any = None,
    company: Company | None = None,
) -> Opportunity:
    """Open a deal for `lead`. An SQL lead moves to opportunity in the same transaction."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the deal a name."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    if lead.stage not in DEAL_LEAD_STAGES:
        errors["lead"] = [
            f"This lead is {lead.get_stage_display()}: a deal is opened for an SQL lead (accepted by sales)."
        ]
    values: dict[str, Any] = {}
    for field, clean in (
        ("amount", lambda: _amount_clean(amount)),
        ("currency", lambda: _currency(currency)),
        ("expected_close_date", lambda: _close_date_clean(expected_close_date, creating=True)),
        ("probability", lambda: None if probability in (None, "") else _probability_clean(probability)),
        ("owner", lambda: _member_check(owner, "owner")),
    ):
        try:
            values[field] = clean()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    stages = pipeline_stages_ensure()
    if stage is None:
        stage = next((s for s in stages if s.is_active), None)
    if stage is None or not stage.is_active:
        errors["stage"] = ["Choose an active pipeline stage."]
    if errors:
        raise ValidationError(errors)
    assert stage is not None
    with transaction.atomic():
        locked = Lead.objects.select_for_update().select_related("contact").get(pk=lead.pk)
        opportunity = Opportunity.objects.create(
            lead=locked,
            company=company or locked.contact.company,
            name=name,
            owner=owner if owner is not None else (locked.owner or actor.user),
            stage=stage,
            amount=values["amount"],
            currency=values["currency"],
            expected_close_date=values["expected_close_date"],
            probability=stage.probability if values["probability"] is None else values["probability"],
            created_by=actor.user,
        )
        _history(opportunity=opportunity, actor=actor, from_stage=None, from_status="", note="Created")
        if locked.stage == Stage.SQL:
            lead_change_stage(
                lead=locked, to_stage=Stage.OPPORTUNITY, actor=actor, reason=f"Deal opened: {name}"
            )
        audit_record(
            actor=actor,
            action="opportunity.create",
            target=opportunity,
            changes={"lead": lead.pk, "amount": str(opportunity.amount), "currency": opportunity.currency},
        )
    lead.stage = locked.stage
    return opportunity


def _refuse_closed(opportunity: Opportunity) -> None:
    if opportunity.status != OpportunityStatus.OPEN:
        raise ValidationError(
            {
                "status": [
                    f"This deal is {opportunity.get_status_display().lower()}: a closed deal does not change."
                ]
            }
        )


def opportunity_update(*, opportunity: Opportunity, data: Mapping[str, Any], actor: Actor) -> Opportunity:
    """Change an open deal's fields; a new `stage` is recorded in its history and brings that stage's
    probability unless `probability` is given too."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name:
            errors["name"] = ["Give the deal a name."]
        elif len(name) > 200:
            errors["name"] = ["At most 200 characters."]
        values["name"] = name
    cleaners: dict[str, Any] = {
        "amount": _amount_clean,
        "currency": _currency,
        "expected_close_date": lambda v: _close_date_clean(v, creating=False),
        "probability": _probability_clean,
    }
    for field, clean in cleaners.items():
        if field in data:
            try:
                values[field] = clean(data[field])
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if "owner" in data:
        try:
            _member_check(data["owner"], "owner")
            values["owner"] = data["owner"]
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "company" in data:
        values["company"] = data["company"]
    stage = data.get("stage")
    if stage is not None and stage.pk != opportunity.stage_id and not stage.is_active:
        errors["stage"] = ["This stage is inactive; choose an active one."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Opportunity.objects.select_for_update().select_related("stage").get(pk=opportunity.pk)
        _refuse_closed(locked)
        before = {
            f: getattr(locked, f)
            for f in ("name", "amount", "currency", "expected_close_date", "probability")
        }
        for field, value in values.items():
            setattr(locked, field, value)
        from_stage = locked.stage
        moved = stage is not None and stage.pk != locked.stage_id
        if stage is not None and moved:
            locked.stage = stage
            if "probability" not in values:
                locked.probability = stage.probability
        locked.save()
        if moved:
            _history(opportunity=locked, actor=actor, from_stage=from_stage, from_status=locked.status)
        changes: dict[str, Any] = {
            f: [str(before[f]), str(getattr(locked, f))] for f in before if before[f] != getattr(locked, f)
        }
        if moved:
            changes["stage"] = [from_stage.name, locked.stage.name]
        audit_record(actor=actor, action="opportunity.update", target=locked, changes=changes)
    return locked


def opportunity_move(*, opportunity: Opportunity, stage: PipelineStage, actor: Actor) -> Opportunity:
    return opportunity_update(opportunity=opportunity, data={"stage": stage}, actor=actor)


def _notify_deal(*, opportunity: Opportunity, actor: Actor, title: str, body: str) -> None:
    """The deal's owner and their teams' managers hear of it, except whoever closed it."""
    recipients: dict[int, Any] = {}
    if opportunity.owner is not None:
        recipients[opportunity.owner.pk] = opportunity.owner
        teams = TeamMember.objects.filter(user=opportunity.owner).values("team_id")
        managers = get_user_model()._default_manager.filter(
            pk__in=SalesTeam.objects.filter(pk__in=teams, manager__isnull=False).values("manager_id")
        )
        for manager in managers:
            recipients[manager.pk] = manager
    if actor.user is not None:
        recipients.pop(actor.user.pk, None)
    url = f"/conversion/opportunities/{opportunity.pk}/"
    for user in recipients.values():
        notify(user=user, kind=NotificationKind.DEAL, title=title, body=body, url=url, lead=opportunity.lead)


def opportunity_win(*, opportunity: Opportunity, actor: Actor, at: dt.datetime | None = None) -> Opportunity:
    """Close the deal as won: its lead becomes a customer, its company an account enrolled in onboarding.
    Winning a won deal again changes nothing; a lost deal cannot be won."""
    with transaction.atomic():
        locked = (
            Opportunity.objects.select_for_update(of=("self",))
            .select_related("stage", "owner", "lead", "company")
            .get(pk=opportunity.pk)
        )
        if locked.status == OpportunityStatus.WON:
            return locked
        if locked.status == OpportunityStatus.LOST:
            raise ValidationError({"status": ["This deal was lost; open a new deal instead."]})
        when = at or timezone.now()
        locked.status = OpportunityStatus.WON
        locked.won_at = locked.closed_at = when
        locked.probability = 100
        locked.save(update_fields=["status", "won_at", "closed_at", "probability", "updated_at"])
        _history(opportunity=locked, actor=actor, from_stage=locked.stage, from_status=OpportunityStatus.OPEN)
        lead = locked.lead
        reason = f"Deal won: {locked.name}"
        if lead.stage == Stage.SQL:
            lead_change_stage(lead=lead, to_stage=Stage.OPPORTUNITY, actor=actor, reason=reason, at=when)
        if lead.stage == Stage.OPPORTUNITY:
            lead_change_stage(lead=lead, to_stage=Stage.CUSTOMER, actor=actor, reason=reason, at=when)
        account = account_for_won(opportunity=locked, at=when)
        enrollment = onboarding_enroll(opportunity=locked, account=account, actor=actor)
        audit_record(
            actor=actor,
            action="opportunity.won",
            target=locked,
            changes={
                "amount": str(locked.amount),
                "currency": locked.currency,
                "account": account.pk if account else None,
                "enrollment": enrollment.pk,
            },
        )
        _notify_deal(
            opportunity=locked,
            actor=actor,
            title=f"Deal won: {locked.name}",
            body=f"{locked.amount} {locked.currency} closed by {actor.label}.",
        )
        signals.opportunity_won.send(sender=Opportunity, opportunity=locked, account=account, actor=actor)
    return locked


def opportunity_lose(
    *, opportunity: Opportunity, reason: str, actor: Actor, note: str = "", at: dt.datetime | None = None
) -> Opportunity:
    """Close the deal as lost with a reason. Unless another deal of the lead is still open, the lead goes
    back: disqualified for "not a fit", recycled to nurturing for every other reason (see the module)."""
    errors: dict[str, list[str]] = {}
    if reason not in LostReason.values:
        errors["lost_reason"] = [f"Choose one of: {', '.join(LostReason.values)}."]
    note = (note or "").strip()
    if reason == LostReason.OTHER and not note:
        errors["lost_note"] = ["Say why the deal was lost."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = (
            Opportunity.objects.select_for_update(of=("self",))
            .select_related("stage", "owner", "lead")
            .get(pk=opportunity.pk)
        )
        if locked.status == OpportunityStatus.LOST:
            return locked
        if locked.status == OpportunityStatus.WON:
            raise ValidationError({"status": ["This deal was won; a won deal is not lost afterwards."]})
        when = at or timezone.now()
        locked.status = OpportunityStatus.LOST
        locked.closed_at = when
        locked.lost_reason, locked.lost_note = reason, note
        locked.probability = 0
        locked.save(
            update_fields=["status", "closed_at", "lost_reason", "lost_note", "probability", "updated_at"]
        )
        label = LostReason(reason).label
        _history(
            opportunity=locked,
            actor=actor,
            from_stage=locked.stage,
            from_status=OpportunityStatus.OPEN,
            note=f"{label}{': ' + note if note else ''}",
        )
        lead = locked.lead
        others_open = (
            Opportunity.objects.filter(lead=lead, status=OpportunityStatus.OPEN)
            .exclude(pk=locked.pk)
            .exists()
        )
        lead_to = ""
        if lead.stage == Stage.OPPORTUNITY and not others_open:
            lead_to = Stage.DISQUALIFIED if reason in DISQUALIFYING_LOST_REASONS else Stage.RECYCLED
            lead_change_stage(
                lead=lead,
                to_stage=lead_to,
                actor=actor,
                reason=f"Deal lost ({label}){': ' + note if note else ''}",
                at=when,
            )
        audit_record(
            actor=actor,
            action="opportunity.lost",
            target=locked,
            changes={"reason": reason, "note": note, "lead_stage": lead_to},
        )
        _notify_deal(
            opportunity=locked,
            actor=actor,
            title=f"Deal lost: {locked.name}",
            body=f"{label}{': ' + note if note else ''}",
        )
        signals.opportunity_lost.send(sender=Opportunity, opportunity=locked, actor=actor)
    return locked


# --- accounts ---------------------------------------------------------------------------------------


def account_for_won(*, opportunity: Opportunity, at: dt.datetime) -> Account | None:
    """The won deal's company as an account: created by its first won deal, kept as it is after that.
    A deal without a company (a lead with none) makes no account."""
    company_id = opportunity.company_id or opportunity.lead.contact.company_id
    if company_id is None:
        return None
    existing = Account.objects.filter(company_id=company_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Account.objects.create(
                company_id=company_id,
                owner=opportunity.owner,
                became_customer_at=at,
                first_opportunity=opportunity,
            )
    except IntegrityError:  # a concurrent won deal of the same company made it
        return Account.objects.get(company_id=company_id)


# --- onboarding -------------------------------------------------------------------------------------


def onboarding_plan_default() -> OnboardingPlan:
    """The plan new customers are enrolled in; the standard 90-day plan is made on first use."""
    plan = OnboardingPlan.objects.filter(is_default=True).first()
    if plan is not None:
        return plan
    with transaction.atomic():
        try:
            with transaction.atomic():
                plan = OnboardingPlan.objects.create(name=DEFAULT_PLAN_NAME, is_default=True)
        except IntegrityError:  # made concurrently
            return OnboardingPlan.objects.get(is_default=True)
        OnboardingStepTemplate.objects.bulk_create(
            [
                OnboardingStepTemplate(
                    plan=plan, title=title, position=index, day_offset=offset, owner_role=role
                )
                for index, (offset, title, role) in enumerate(DEFAULT_PLAN_STEPS)
            ]
        )
    return plan


def _first_member(role: str) -> Any:
    membership = (
        Membership.objects.filter(organization_id=current_organization_id(), role=role)
        .select_related("user")
        .order_by("id")
        .first()
    )
    return membership.user if membership else None


def _step_owner(template: OnboardingStepTemplate, default_owner: Any) -> Any:
    if template.owner_user_id:
        return template.owner_user
    if template.owner_role == OnboardingOwnerRole.SALES_MANAGER:
        return _first_member(Role.SALES_MANAGER) or default_owner
    if template.owner_role == OnboardingOwnerRole.ADMIN:
        return _first_member(Role.ADMIN) or default_owner
    return default_owner


def onboarding_enroll(
    *, opportunity: Opportunity, account: Account | None, actor: Actor, plan: OnboardingPlan | None = None
) -> OnboardingEnrollment:
    """Enrol the won deal's account in onboarding: steps with owners and due dates (won date + offset).
    Once per account and per deal: a second call, or an expansion deal of an onboarded account, returns
    the enrolment that exists.

    Nurturing's email sequences will plug in here: a step's `sequence_key` names the sequence, and
    `conversion.deals.signals.account_enrolled` announces the enrolment for it to start."""
    existing = OnboardingEnrollment.objects.filter(opportunity=opportunity).first()
    if existing is None and account is not None:
        existing = OnboardingEnrollment.objects.filter(account=account).first()
    if existing is not None:
        return existing
    plan = plan or onboarding_plan_default()
    won_on = timezone.localdate(opportunity.won_at or timezone.now())
    default_owner = (account.owner if account and account.owner_id else None) or opportunity.owner
    with transaction.atomic():
        enrollment = OnboardingEnrollment.objects.create(
            account=account,
            opportunity=opportunity,
            plan=plan,
            plan_name=plan.name,
            started_at=opportunity.won_at or timezone.now(),
        )
        templates = list(plan.steps.select_related("owner_user").order_by("position", "day_offset", "id"))
        OnboardingStep.objects.bulk_create(
            [
                OnboardingStep(
                    enrollment=enrollment,
                    title=t.title,
                    position=t.position,
                    owner=_step_owner(t, default_owner),
                    due_date=won_on + dt.timedelta(days=t.day_offset),
                    sequence_key=t.sequence_key,
                )
                for t in templates
            ]
        )
        audit_record(
            actor=actor,
            action="onboarding.enroll",
            target=enrollment.account or opportunity,
            changes={"plan": plan.name, "steps": len(templates)},
        )
        signals.account_enrolled.send(sender=OnboardingEnrollment, enrollment=enrollment)
    return enrollment


def onboarding_step_set_done(*, step: OnboardingStep, done: bool, actor: Actor) -> OnboardingStep:
    """Complete a step, or reopen a completed one; doing what is already done changes nothing."""
    with transaction.atomic():
        locked = OnboardingStep.objects.select_for_update().get(pk=step.pk)
        if (locked.completed_at is not None) == done:
            return locked
        locked.completed_at = timezone.now() if done else None
        locked.completed_by = actor.user if done else None
        locked.save(update_fields=["completed_at", "completed_by"])
        audit_record(
            actor=actor,
            action="onboarding.step_complete" if done else "onboarding.step_reopen",
            target_type="OnboardingStep",
            target_id=str(locked.pk),
            target_label=locked.title,
        )
    return locked


def onboarding_plan_step_add(
    *,
    title: str,
    day_offset: Any,
    actor: Actor,
    owner_role: str = OnboardingOwnerRole.ACCOUNT_OWNER,
    owner_user: Any = None,
    plan: OnboardingPlan | None = None,
) -> OnboardingStepTemplate:
    """Add a step to the plan (the default one unless named); accounts enrolled later get it."""
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = ["Say what is to be done."]
    elif len(title) > 200:
        errors["title"] = ["At most 200 characters."]
    try:
        offset = int(day_offset)
        if not 0 <= offset <= 365:
            raise ValueError
    except (TypeError, ValueError):
        errors["day_offset"] = ["Give a number of days from 0 to 365 after the deal is won."]
        offset = 0
    if owner_role not in OnboardingOwnerRole.values:
        errors["owner_role"] = [f"Choose one of: {', '.join(OnboardingOwnerRole.values)}."]
    try:
        _member_check(owner_user, "owner_user")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    plan = plan or onboarding_plan_default()
    with transaction.atomic():
        last = plan.steps.order_by("-position").values_list("position", flat=True).first()
        step = OnboardingStepTemplate.objects.create(
            plan=plan,
            title=title,
            day_offset=offset,
            owner_role=owner_role,
            owner_user=owner_user,
            position=(last or 0) + 1,
        )
        audit_record(
            actor=actor,
            action="onboarding_plan.step_add",
            target=plan,
            changes={"title": title, "day_offset": offset},
        )
    return step


def onboarding_plan_step_delete(*, step: OnboardingStepTemplate, actor: Actor) -> None:
    """Remove a step from the plan; accounts already enrolled keep theirs."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="onboarding_plan.step_delete",
            target=step.plan,
            changes={"title": step.title, "day_offset": step.day_offset},
        )
        step.delete()

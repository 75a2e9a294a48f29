"""Deals and customers: pipeline stages, opportunities with their history, accounts, onboarding plans and
their enrolments, and the referral programme (attributions and rewards).

Nothing here is deleted when a deal closes: a won opportunity keeps its stage history, the account keeps
the opportunity that made it a customer, and a lost one keeps its reason. Referral codes themselves are
capture's (`leads.ReferralCode`, resolved from `?ref=` and `/r/<key>`); the programme adds who earned what.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone as tz

from conversion.models.core import _org_id_unique
from leadhub.tenancy.models import TenantModel
from leads.models import Company, Contact, Lead, LeadReferral, ReferralCode

# --- pipeline ---------------------------------------------------------------------------------------


class PipelineStage(TenantModel):
    """One step of an organization's sales pipeline, in order, with the probability a deal in it
    usually closes (a new opportunity takes it unless the rep overrides it)."""

    name = models.CharField(max_length=60)
    position = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(default=10)
    is_active = models.BooleanField(default=True, help_text="Inactive stages take no new deals.")
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            _org_id_unique("conversion_pipelinestage"),
            models.UniqueConstraint(fields=["organization", "name"], name="pipelinestage_unique_name"),
            models.CheckConstraint(
                condition=models.Q(probability__lte=100), name="pipelinestage_probability_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OpportunityStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class LostReason(models.TextChoices):
    PRICE = "price", "Price"
    COMPETITOR = "competitor", "Went with a competitor"
    NO_BUDGET = "no_budget", "No budget"
    NO_DECISION = "no_decision", "No decision"
    TIMING = "timing", "Bad timing"
    WENT_SILENT = "went_silent", "Went silent"
    NOT_A_FIT = "not_a_fit", "Not a fit"
    OTHER = "other", "Other"


# A deal lost for these reasons will never buy: the lead is disqualified. Every other reason (price,
# timing, a competitor, silence) may change, so the lead goes back to nurturing as recycled.
DISQUALIFYING_LOST_REASONS = frozenset({LostReason.NOT_A_FIT})


class Opportunity(TenantModel):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="opportunities", db_index=False)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.ForeignKey(
        PipelineStage, on_delete=models.PROTECT, related_name="opportunities", db_index=False
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    expected_close_date = models.DateField(null=True, blank=True)
    probability = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=4, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN)
    lost_reason = models.CharField(max_length=20, choices=LostReason.choices, blank=True)
    lost_note = models.TextField(blank=True)
    won_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=tz.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "opportunities"
        constraints = [
            _org_id_unique("conversion_opportunity"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="opportunity_amount_not_negative"),
            models.CheckConstraint(
                condition=models.Q(probability__lte=100), name="opportunity_probability_range"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "stage", "id"], name="opportunity_org_status"),
            models.Index(fields=["organization", "owner", "status", "id"], name="opportunity_org_owner"),
            models.Index(fields=["organization", "lead", "id"], name="opportunity_org_lead"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def weighted_amount(self) -> object:
        return self.amount * self.probability / 100


class OpportunityHistory(TenantModel):
    """One change of an opportunity's stage or status: who, when, from where to where."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="history", db_index=False
    )
    from_stage = models.ForeignKey(
        PipelineStage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    to_stage = models.ForeignKey(
        PipelineStage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    from_status = models.CharField(max_length=4, choices=OpportunityStatus.choices, blank=True)
    to_status = models.CharField(max_length=4, choices=OpportunityStatus.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by_label = models.CharField(max_length=200, blank=True)
    changed_at = models.DateTimeField(default=tz.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["changed_at", "id"]
        constraints = [_org_id_unique("conversion_opportunityhistory")]
        indexes = [
            models.Index(fields=["organization", "opportunity", "changed_at"], name="opphistory_org_opp"),
        ]


class Account(TenantModel):
    """A company that became a customer: created by its first won opportunity, never deleted by a later
    lost one."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    became_customer_at = models.DateTimeField(default=tz.now)
    first_opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["-became_customer_at", "-id"]
        constraints = [
            _org_id_unique("conversion_account"),
            models.UniqueConstraint(fields=["organization", "company"], name="account_unique_company"),
        ]
        indexes = [models.Index(fields=["organization", "became_customer_at"], name="account_org_since")]

    def __str__(self) -> str:
        return str(self.company)


# --- onboarding -------------------------------------------------------------------------------------


class OnboardingOwnerRole(models.TextChoices):
    ACCOUNT_OWNER = "account_owner", "The account's owner"
    SALES_MANAGER = "sales_manager", "A sales manager"
    ADMIN = "admin", "An admin"


class OnboardingPlan(TenantModel):
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False, help_text="New customers are enrolled in it.")
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            _org_id_unique("conversion_onboardingplan"),
            models.UniqueConstraint(fields=["organization", "name"], name="onboardingplan_unique_name"),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="onboardingplan_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OnboardingStepTemplate(TenantModel):
    """One step of a plan: done `day_offset` days after the deal was won, by a named user or by whoever
    holds `owner_role` for the account."""

    plan = models.ForeignKey(OnboardingPlan, on_delete=models.CASCADE, related_name="steps", db_index=False)
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    day_offset = models.PositiveSmallIntegerField(default=0)
    owner_role = models.CharField(
        max_length=20, choices=OnboardingOwnerRole.choices, default=OnboardingOwnerRole.ACCOUNT_OWNER
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where nurturing's email sequences will plug in: a step may name the sequence that sends its emails.
    sequence_key = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["position", "day_offset", "id"]
        constraints = [
            _org_id_unique("conversion_onboardingsteptemplate"),
            models.CheckConstraint(
                condition=models.Q(day_offset__lte=365), name="onboardingstep_offset_range"
            ),
        ]
        indexes = [models.Index(fields=["organization", "plan", "position"], name="onboardingstep_org_plan")]


class OnboardingEnrollment(TenantModel):
    """An account's onboarding, started by its first won opportunity: one per account and per deal."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    plan = models.ForeignKey(
        OnboardingPlan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    plan_name = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=tz.now)
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            _org_id_unique("conversion_onboardingenrollment"),
            models.UniqueConstraint(
                fields=["organization", "opportunity"], name="enrollment_unique_opportunity"
            ),
            models.UniqueConstraint(
                fields=["organization", "account"],
                condition=models.Q(account__isnull=False),
                name="enrollment_unique_account",
            ),
        ]


class OnboardingStep(TenantModel):
    enrollment = models.ForeignKey(
        OnboardingEnrollment, on_delete=models.CASCADE, related_name="steps", db_index=False
    )
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField()
    sequence_key = models.CharField(max_length=60, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["due_date", "position", "id"]
        constraints = [_org_id_unique("conversion_onboardingstep")]
        indexes = [
            models.Index(fields=["organization", "enrollment", "due_date"], name="onboardingstep_org_enrol"),
            models.Index(
                fields=["organization", "owner", "completed_at", "due_date"], name="onboarding_org_owner"
            ),
        ]

    @property
    def is_overdue(self) -> bool:
        return self.completed_at is None and self.due_date < tz.localdate()


# --- referral programme -----------------------------------------------------------------------------


class RewardKind(models.TextChoices):
    FIXED = "fixed", "A fixed amount per won deal"
    PERCENT = "percent", "A share of the won deal's value"


class ReferralProgramme(TenantModel):
    """The organization's referral programme: its reward rule. One per organization, made on first use."""

    name = models.CharField(max_length=100, default="Customer referrals")
    is_active = models.BooleanField(default=True, help_text="An inactive programme earns no new rewards.")
    reward_kind = models.CharField(max_length=10, choices=RewardKind.choices, default=RewardKind.FIXED)
    # An amount in `reward_currency` (fixed) or a percentage 0-100 of the deal's amount (percent).
    reward_value = models.DecimalField(max_digits=12, decimal_places=2, default=100)
    reward_currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField(default=tz.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _org_id_unique("conversion_referralprogramme"),
            models.UniqueConstraint(fields=["organization"], name="referralprogramme_one_per_org"),
            models.CheckConstraint(
                condition=models.Q(reward_value__gte=0), name="referralprogramme_value_min"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReferralAttribution(TenantModel):
    """A lead the programme credits to a referrer: made from capture's LeadReferral when its code has a
    referrer, once per lead."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+", db_index=False)
    lead_referral = models.ForeignKey(
        LeadReferral, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    referral_code = models.ForeignKey(
        ReferralCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    referrer = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    attributed_at = models.DateTimeField(default=tz.now)

    class Meta:
        ordering = ["-attributed_at", "-id"]
        constraints = [
            _org_id_unique("conversion_referralattribution"),
            models.UniqueConstraint(fields=["organization", "lead"], name="referralattribution_unique_lead"),
        ]
        indexes = [models.Index(fields=["organization", "referrer", "id"], name="referralattr_org_referrer")]


class RewardStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    PAID = "paid", "Paid"


class ReferralReward(TenantModel):
    """What a referrer earned for one won deal of a lead they referred (one reward per deal)."""

    attribution = models.ForeignKey(
        ReferralAttribution, on_delete=models.CASCADE, related_name="rewards", db_index=False
    )
    referrer = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="+", db_index=False)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    # The rule it was computed with, in words ("10% of 12,000.00 EUR"), for when the rule changes later.
    rule = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=RewardStatus.choices, default=RewardStatus.PENDING)
    created_at = models.DateTimeField(default=tz.now, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            _org_id_unique("conversion_referralreward"),
            models.UniqueConstraint(
                fields=["organization", "opportunity"], name="referralreward_unique_deal"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "referrer", "status"], name="referralreward_org_referrer"),
        ]

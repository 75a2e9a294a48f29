"""Qualification: scoring models and their versions, rules in four dimensions, the score ledger, each
lead's current scores, BANT answers, lifecycle thresholds, recompute jobs and backtests.

How a score is built (see scoring/engine/ for the evaluation itself):
- A version's rules each contribute points to one dimension: fit, behaviour, engagement or maturity.
  Manual adjustments form a fifth, rule-less dimension.
- The **grade** (A to F) comes from the fit sub-score through the version's grade thresholds.
- The **score** (interest) is behaviour + engagement + maturity + manual; it is `Lead.score`.
- The **priority** the sales queue sorts by is `round(score x GRADE_WEIGHT[grade])`: interest counts,
  but a poor fit (grade E, F) pushes a lead down the queue however busy it is.
- **Product** points are the part of behaviour earned by rules marked as product usage; they make a PQL.

Every change of any of these numbers is one `ScoreChange` row of the ledger: per lead and per event (a
touchpoint, a field change, decay, a recompute, a manual adjustment), the delta of each dimension and
of each rule. `LeadScore` holds the running totals, and always equals the sum of the lead's ledger.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.models import TenantModel
from leads.models import Lead
from scoring.fields import IntegerListField


class Dimension(models.TextChoices):
    FIT = "fit", "Fit"
    BEHAVIOUR = "behaviour", "Behaviour"
    ENGAGEMENT = "engagement", "Engagement"
    MATURITY = "maturity", "Maturity"


# The dimensions that make the score (interest); fit makes the grade.
INTEREST_DIMENSIONS: tuple[str, ...] = (Dimension.BEHAVIOUR, Dimension.ENGAGEMENT, Dimension.MATURITY)
GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")
GRADE_CHOICES: list[tuple[str, str]] = [(g, g) for g in GRADES]
# Fit sub-score needed for each grade; below E's threshold a lead is F.
DEFAULT_GRADE_THRESHOLDS: dict[str, int] = {"A": 60, "B": 40, "C": 25, "D": 10, "E": 0}
# priority = round(score x weight of the grade): see the module docstring.
GRADE_WEIGHT: dict[str, float] = {"A": 1.0, "B": 0.85, "C": 0.7, "D": 0.5, "E": 0.3, "F": 0.1, "": 0.0}


def default_grade_thresholds() -> dict[str, int]:
    return dict(DEFAULT_GRADE_THRESHOLDS)


def _org_id_unique(table_label: str) -> models.UniqueConstraint:
    # Target of the tenant-consistent composite foreign keys (leadhub/tenancy/rls.py).
    return models.UniqueConstraint(fields=["organization", "id"], name=f"{table_label}_org_id_uniq")


class ScoringModel(TenantModel):
    """A named scoring model of an organization; what it scores with is in its versions."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            _org_id_unique("scoring_scoringmodel"),
            models.UniqueConstraint(fields=["organization", "name"], name="scoringmodel_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"


class ModelVersion(TenantModel):
    """One version of a scoring model. A draft is edited freely; publishing makes it the organization's
    one live version (the previous live one is retired) and freezes its rules."""

    scoring_model = models.ForeignKey(
        ScoringModel, on_delete=models.CASCADE, related_name="versions", db_index=False
    )
    number = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    grade_thresholds = models.JSONField(default=default_grade_thresholds, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="What changed in this version.")
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["scoring_model", "-number"]
        constraints = [
            _org_id_unique("scoring_modelversion"),
            models.UniqueConstraint(
                fields=["organization", "scoring_model", "number"], name="modelversion_unique_number"
            ),
            # Exactly one live version per organization: every lead is scored by the same rules.
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status="live"),
                name="modelversion_one_live_per_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scoring_model_id and self.scoring_model.name} v{self.number} ({self.status})"

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT


class FitOperator(models.TextChoices):
    EQUALS = "equals", "equals"
    IN_LIST = "in", "is one of"
    CONTAINS = "contains", "contains"
    CONTAINS_WORD = "contains_word", "contains the word"
    BETWEEN = "between", "is between"
    IS_BLANK = "is_blank", "is blank"
    FREE_MAIL = "free_mail", "is a free-mail address"
    COMPETITOR = "competitor", "is a competitor's domain"


class EngagementKind(models.TextChoices):
    ACTIVITY = "activity", "Points per activity, fading with a half-life"
    RECENCY = "recency", "Active within the last days"
    FREQUENCY = "frequency", "At least N activities within the last days"


class BuyingStage(models.TextChoices):
    INFORMATION = "information", "Information search"
    EVALUATION = "evaluation", "Evaluation"
    PURCHASE = "purchase", "Purchase intent"


BUYING_STAGE_RANK: dict[str, int] = {
    BuyingStage.INFORMATION: 1,
    BuyingStage.EVALUATION: 2,
    BuyingStage.PURCHASE: 3,
}


class Rule(TenantModel):
    """One rule of a version. Which fields matter depends on the dimension:

    - fit: `field` (e.g. `contact.job_title`, `company.employee_count`, `contact.custom.plan`,
      `lead.budget`), `operator` and `value`; `negate` turns the condition around.
    - behaviour: the touchpoint match (`touchpoint_types`, `url_contains`, `property_key`/`property_value`),
      `points` per occurrence, an optional `cap` on the total, an optional `repeat_limit` of occurrences
      counted per `repeat_window_days`, an optional `window_days` look-back; `product_usage` counts the
      points toward PQL.
    - engagement: `engagement_kind` over the matching touchpoints (all of them when no match is set):
      activity (points x sum of 0.5^(age / `half_life_days`), capped), recency (points if one within
      `window_days`), frequency (points if at least `min_count` within `window_days`).
    - maturity: the touchpoint match shows `buying_stage` within `window_days`; a lead's maturity is its
      most advanced stage shown, and only that rule's points count.
    """

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="rules", db_index=False)
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=0)
    points = models.IntegerField(default=0)
    # fit
    field = models.CharField(max_length=100, blank=True)
    operator = models.CharField(max_length=16, choices=FitOperator.choices, blank=True)
    value = models.JSONField(null=True, blank=True, default=None)
    negate = models.BooleanField(default=False)
    # touchpoint match (behaviour, engagement, maturity)
    touchpoint_types = models.JSONField(default=list, blank=True)
    url_contains = models.CharField(max_length=200, blank=True)
    property_key = models.CharField(max_length=100, blank=True)
    property_value = models.CharField(max_length=200, blank=True)
    # behaviour
    cap = models.PositiveIntegerField(null=True, blank=True)
    repeat_limit = models.PositiveSmallIntegerField(null=True, blank=True)
    repeat_window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    product_usage = models.BooleanField(default=False)
    # behaviour look-back, engagement and maturity windows
    window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # engagement
    engagement_kind = models.CharField(max_length=10, choices=EngagementKind.choices, blank=True)
    half_life_days = models.PositiveSmallIntegerField(null=True, blank=True)
    min_count = models.PositiveSmallIntegerField(null=True, blank=True)
    # maturity
    buying_stage = models.CharField(max_length=12, choices=BuyingStage.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["version", "dimension", "position", "id"]
        constraints = [_org_id_unique("scoring_rule")]
        indexes = [models.Index(fields=["organization", "version", "position"], name="rule_org_version")]

    def __str__(self) -> str:
        return f"{self.get_dimension_display()}: {self.name}"


class LifecyclePolicy(TenantModel):
    """The organization's lifecycle thresholds: when a lead becomes MQL or PQL, and when it is recycled."""

    mql_score = models.IntegerField(default=50, help_text="Score at which a lead becomes MQL.")
    mql_min_grade = models.CharField(
        max_length=1,
        default="C",
        choices=GRADE_CHOICES,
        help_text="Worst grade that may still become MQL.",
    )
    pql_points = models.IntegerField(
        null=True, blank=True, default=25, help_text="Product-usage points that make a PQL; empty: no PQL."
    )
    recycle_floor = models.IntegerField(
        null=True,
        blank=True,
        default=15,
        help_text="An MQL or PQL whose score decays below this is recycled; empty: never.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "lifecycle policies"
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="lifecyclepolicy_one_per_org"),
        ]

    def __str__(self) -> str:
        return f"MQL at {self.mql_score} (grade {self.mql_min_grade} or better)"


class LeadScore(TenantModel):
    """A lead's current scores: the running totals of its ledger.

    `rule_points` holds each rule's current points for the version in `version_id`, as a list aligned
    with that version's rules ordered by id; the next rescoring writes only the difference. Version ids
    are plain integers here and in the ledger, not foreign keys: a recompute writes a million of these
    rows, and a foreign-key check per row would double its cost, while the ids only ever come from this
    organization's versions (set by the engine, never by a request).
    """

    # The single-column constraint is left out: the tenant-consistent composite key that
    # leadhub/tenancy/rls.py adds on (organization_id, lead_id) already guarantees the lead exists.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    version_id = models.BigIntegerField(null=True, blank=True)
    fit = models.IntegerField(default=0)
    behaviour = models.IntegerField(default=0)
    engagement = models.IntegerField(default=0)
    maturity = models.IntegerField(default=0)
    manual = models.IntegerField(default=0)
    product = models.IntegerField(default=0)
    score = models.IntegerField(default=0)
    grade = models.CharField(max_length=1, blank=True)
    priority = models.IntegerField(default=0)
    maturity_stage = models.CharField(max_length=12, choices=BuyingStage.choices, blank=True)
    rule_points = IntegerListField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    # No index holds a column that a rescoring changes, and the table leaves half of each page free
    # (fillfactor 50, migration 0004): a rescoring then rewrites a row in place on its page (a HOT
    # update) instead of adding an entry to every index. The sales queue orders handoffs by the priority
    # they carry, not this table.

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "lead"], name="leadscore_unique_lead")]

    def __str__(self) -> str:
        return f"Lead #{self.lead_id}: {self.score} ({self.grade or '-'})"


class Cause(models.TextChoices):
    TOUCHPOINT = "touchpoint", "Touchpoint"
    FIELD_CHANGE = "field_change", "Field change"
    CAPTURE = "capture", "Lead captured"
    DECAY = "decay", "Decay"
    RECOMPUTE = "recompute", "Recompute"
    MANUAL = "manual", "Manual adjustment"


class ScoreChange(TenantModel):
    """The score ledger: one row per lead per event that changed any of its scores.

    The columns fit..manual and product are the deltas of each dimension; `rule_deltas` is the delta of
    each rule of version `version_id` (a list aligned with its rules ordered by id), so that "which rule
    gave what, when, because of what" is answered row by row. When a lead moves to another version, the
    same row withdraws every point the previous one gave: `withdrawn_points`, aligned with the rules of
    `withdrawn_version_id`. Summing a lead's rows gives its `LeadScore` exactly
    (tests/scoring/test_ledger.py).
    One row per event rather than per rule keeps a full recompute of a million leads at a million rows.
    """

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    version_id = models.BigIntegerField(null=True, blank=True)
    cause = models.CharField(max_length=12, choices=Cause.choices)
    touchpoint_id = models.BigIntegerField(null=True, blank=True, help_text="The touchpoint that caused it.")
    changed_fields = models.CharField(max_length=300, blank=True, help_text="Which fields changed.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=200, blank=True, help_text="Who adjusted it, in words.")
    note = models.CharField(max_length=300, blank=True)
    fit = models.IntegerField(default=0)
    behaviour = models.IntegerField(default=0)
    engagement = models.IntegerField(default=0)
    maturity = models.IntegerField(default=0)
    manual = models.IntegerField(default=0)
    product = models.IntegerField(default=0)
    rule_deltas = IntegerListField(default=list, blank=True)
    withdrawn_version_id = models.BigIntegerField(null=True, blank=True)
    withdrawn_points = IntegerListField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "lead", "id"], name="scorechange_org_lead"),
            models.Index(
                fields=["organization", "author"],
                condition=models.Q(author__isnull=False),
                name="scorechange_org_author",
            ),
        ]

    def __str__(self) -> str:
        return f"Lead #{self.lead_id} {self.cause} score {self.score_delta:+d}"

    @property
    def score_delta(self) -> int:
        return self.behaviour + self.engagement + self.maturity + self.manual


class BantField(models.TextChoices):
    BUDGET = "budget", "Budget"
    AUTHORITY = "authority", "Authority"
    NEED = "need", "Need"
    TIMING = "timing", "Timing"


class BantSource(models.TextChoices):
    SALES = "sales", "Sales conversation"
    CHAT = "chat", "Qualification chat"
    FORM = "form", "Form"
    API = "api", "API"
    IMPORT = "import", "Import"


class BantAnswer(TenantModel):
    """Who answered a lead's budget, authority, need or timing, when, and what; the lead holds the
    current value, these rows its history."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+", db_index=False)
    field = models.CharField(max_length=10, choices=BantField.choices)
    value = models.CharField(max_length=500, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, choices=BantSource.choices, default=BantSource.SALES)
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-answered_at", "-id"]
        indexes = [models.Index(fields=["organization", "lead", "answered_at"], name="bant_org_lead")]

    def __str__(self) -> str:
        return f"{self.field}: {self.value}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RecomputeKind(models.TextChoices):
    PUBLISH = "publish", "Model published"
    DECAY = "decay", "Scheduled decay"
    FULL = "full", "Full recompute"


class RecomputeJob(TenantModel):
    """A recompute of many leads in chunks of lead ids (`chunks`: [[lo, hi], ...], planned once), which
    workers score in parallel, each chunk in its own transaction; `done_chunks` holds the `lo` of each
    one scored, so a rerun or a redelivered task does only what is left. `evaluated_at` is the one moment
    all chunks are scored at, however long the job takes. Once every chunk is scored (`scored_at`), the
    lifecycle moves follow, resumable by `lifecycle_cursor`."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=RecomputeKind.choices, default=RecomputeKind.FULL)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Ledger rows written.")
    transitions = models.PositiveIntegerField(default=0, help_text="Lifecycle stage changes made.")
    chunks = models.JSONField(default=list, blank=True)
    done_chunks = models.JSONField(default=list, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True, help_text="When every chunk was scored.")
    lifecycle_cursor = models.BigIntegerField(default=0)
    evaluated_at = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="recompute_org_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.processed}/{self.total} ({self.status})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.processed / self.total))


class BacktestRun(TenantModel):
    """A version's backtest against the organization's history; `results` as the backtest service
    returns them."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    target_mql = models.PositiveIntegerField(null=True, blank=True)
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "version", "created_at"], name="backtest_org_version"),
        ]

    def __str__(self) -> str:
        return f"Backtest of version {self.version_id} ({self.status})"


def rule_summary(rule: Rule) -> dict[str, Any]:
    """The rule's settings as stored, without bookkeeping columns (for copies and comparisons)."""
    skip = {"id", "organization", "version", "created_at"}
    return {f.name: getattr(rule, f.attname) for f in Rule._meta.concrete_fields if f.name not in skip}


# The chat and predictive scoring keep their models in modules of their own; Django finds them here.
from scoring.models_chat import *  # noqa: E402,F403
from scoring.models_predictive import *  # noqa: E402,F403

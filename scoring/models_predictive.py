"""Predictive scoring: per-organization settings, trained model versions, training runs and each lead's
probability with its factors.

The estimator of a version is stored in the database (joblib bytes in a BinaryField), not under MEDIA:
it then lives and dies with its version row in the same transaction, row-level security keeps it inside
its tenant like every other row, backups and restores carry it, and every web process and worker reads it
without a shared file system. A fitted model here is a sparse logistic regression of some hundred
coefficients plus its encoding tables: kilobytes, not megabytes. Lists defer the column.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.models import TenantModel
from leads.models import Lead

DEFAULT_INACTIVE_DAYS = 90
DEFAULT_RETRAIN_EVERY_DAYS = 7
MIN_LABELLED = 200
MIN_PER_CLASS = 30


class PredictiveConfig(TenantModel):
    """What the organization decided about its model: fields kept out (with why), when a quiet lead counts
    as lost, how often the model is retrained. One row per organization, created on first change."""

    # [{"field": "cf.duration", "reason": "...", "by": "email", "at": "iso time"}]
    excluded_fields = models.JSONField(default=list, blank=True)
    inactive_days = models.PositiveIntegerField(
        default=DEFAULT_INACTIVE_DAYS,
        help_text="An open lead with no touchpoint and no stage change for this many days counts as lost.",
    )
    retrain_every_days = models.PositiveIntegerField(
        default=DEFAULT_RETRAIN_EVERY_DAYS, help_text="0 turns the scheduled retraining off."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="predictiveconfig_one_per_org")]

    def __str__(self) -> str:
        return f"Predictive settings of organization {self.organization_id}"

    @property
    def excluded_keys(self) -> list[str]:
        return [str(item.get("field", "")) for item in self.excluded_fields if isinstance(item, dict)]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Training"
    DONE = "done", "Done"
    INSUFFICIENT = "insufficient", "Not enough data"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Train now"
    SCHEDULE = "schedule", "Schedule"
    COMMAND = "command", "Command line"
    API = "api", "API"


class PredictiveModelVersion(TenantModel):
    """One trained model: how it was built, how well it did on held-out leads, and the estimator."""

    number = models.PositiveIntegerField(help_text="1, 2, 3… within the organization.")
    is_current = models.BooleanField(default=False)
    algorithm = models.CharField(max_length=100, blank=True)
    # Held-out evaluations: {"random": {...}, "time": {...}} with roc_auc, log_loss, brier, calibration,
    # lift, n_train, n_test, positive_rate.
    metrics = models.JSONField(default=dict, blank=True)
    # [{"key", "label", "kind", "columns"}] of the fields the model uses.
    features = models.JSONField(default=list, blank=True)
    # [{"field", "label", "reason", "source": "user"|"leakage"|"data", "auc"}]
    excluded = models.JSONField(default=list, blank=True)
    # Strongest effects across all leads: [{"text", "points", "field"}].
    global_factors = models.JSONField(default=dict, blank=True)
    settings_used = models.JSONField(default=dict, blank=True)
    n_labelled = models.PositiveIntegerField(default=0)
    n_positive = models.PositiveIntegerField(default=0)
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    positive_rate = models.FloatField(null=True, blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    leads_scored = models.PositiveIntegerField(default=0)
    estimator = models.BinaryField(editable=False)
    library_version = models.CharField(max_length=40, blank=True)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="predictiveversion_unique_number"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_current=True),
                name="predictiveversion_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"Predictive model v{self.number}"

    def evaluation(self, split: str = "random") -> dict:
        value = self.metrics.get(split) if isinstance(self.metrics, dict) else None
        return value if isinstance(value, dict) else {}


class PredictiveTrainingRun(TenantModel):
    """A training asked for (button, schedule, API, command) and how far it got: the page polls it."""

    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    step = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True, help_text="Why it stopped, when it did not produce a model.")
    version = models.ForeignKey(
        PredictiveModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="predictiverun_org_created")]

    def __str__(self) -> str:
        return f"Training run #{self.pk} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in {RunStatus.DONE, RunStatus.INSUFFICIENT, RunStatus.FAILED}


class LeadPrediction(TenantModel):
    """A lead's probability of becoming a customer under one model version, and why, in words."""

    # Indexed by leadprediction_unique_lead below.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+", db_index=False)
    version = models.ForeignKey(PredictiveModelVersion, on_delete=models.CASCADE, related_name="+")
    probability = models.FloatField()
    # {"positive": [{"text", "points", "field"}], "negative": [...]}, points in percentage points.
    factors = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "lead"], name="leadprediction_unique_lead"),
        ]
        indexes = [
            models.Index(fields=["organization", "probability", "id"], name="leadprediction_org_prob"),
        ]

    def __str__(self) -> str:
        return f"Lead {self.lead_id}: {self.probability:.0%}"

    @property
    def percent(self) -> int:
        return round(100 * self.probability)


__all__ = [
    "DEFAULT_INACTIVE_DAYS",
    "DEFAULT_RETRAIN_EVERY_DAYS",
    "MIN_LABELLED",
    "MIN_PER_CLASS",
    "LeadPrediction",
    "PredictiveConfig",
    "PredictiveModelVersion",
    "PredictiveTrainingRun",
    "RunStatus",
    "RunTrigger",
]

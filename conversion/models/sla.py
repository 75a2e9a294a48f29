"""The SLA of the handoff: business hours (per sales team, or the organization's default) and holidays,
SLA policies by priority tier, the clocks that run on each handoff and the events they record.

A handoff gets two clocks when it opens: time to accept and time to first contact, each due after the
policy's business minutes in the business hours of the handoff's team. The sweep (conversion.sla.tasks)
warns and breaches them; accepting, rejecting, withdrawing and logging an activity stop them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone as tz

from conversion.models.core import Handoff, SalesTeam
from leadhub.tenancy.models import TenantModel


def _org_id_unique(table: str) -> models.UniqueConstraint:
    # Target of the composite (organization_id, x_id) keys that keep relations inside a tenant.
    return models.UniqueConstraint(fields=["organization", "id"], name=f"{table}_org_id_uniq")


def default_week() -> list[list[list[str]]]:
    """Monday to Friday 09:00-17:00, closed at weekends."""
    return [[["09:00", "17:00"]] for _ in range(5)] + [[], []]


class BusinessHours(TenantModel):
    """The opening hours of one sales team (in the team's time zone), or with no team the organization's
    default (in `timezone`), used by handoffs without a team and teams without hours of their own."""

    team = models.ForeignKey(
        SalesTeam, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Monday first: seven lists of [start, end] local times, e.g. [["09:00", "12:30"], ["13:30", "18:00"]].
    week = models.JSONField(default=default_week)
    # The organization default's zone; a team's hours run in SalesTeam.timezone.
    timezone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(default=tz.now)

    class Meta:
        ordering = ["team__name", "id"]
        constraints = [
            _org_id_unique("conversion_businesshours"),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(team__isnull=True),
                name="businesshours_one_default",
            ),
            models.UniqueConstraint(
                fields=["organization", "team"],
                condition=models.Q(team__isnull=False),
                name="businesshours_one_per_team",
            ),
        ]
        indexes = [models.Index(fields=["organization", "team"], name="businesshours_org_team")]

    def __str__(self) -> str:
        return f"Business hours of {self.team}" if self.team_id else "Default business hours"


class Holiday(TenantModel):
    """A closed date, for the whole organization (no team) or one team; `yearly` repeats it every year
    on the same month and day (New Year's Day)."""

    team = models.ForeignKey(
        SalesTeam, null=True, blank=True, on_delete=models.CASCADE, related_name="holidays", db_index=False
    )
    date = models.DateField()
    name = models.CharField(max_length=100)
    yearly = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["date", "id"]
        constraints = [
            _org_id_unique("conversion_holiday"),
            models.UniqueConstraint(fields=["organization", "team", "date"], name="holiday_unique_date"),
        ]
        indexes = [models.Index(fields=["organization", "date"], name="holiday_org_date")]

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%Y-%m-%d})"


class Escalation(models.TextChoices):
    NOTIFY = "notify", "Notify the manager only"
    FALLBACK_QUEUE = "fallback_queue", "Notify the manager and move the lead to the fallback queue"
    TEAM_MANAGER = "team_manager", "Notify the manager and reassign the lead to the team manager"


class SlaPolicy(TenantModel):
    """Deadlines for one priority tier. Policies are tried in `position` order; the first whose every
    condition holds (grade among `grades`, score and handoff priority in their ranges; an empty condition
    holds always) applies. No match, or no policy at all: DEFAULT_POLICY (conversion.sla.policies)."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    # Grade letters, e.g. "AB"; empty: any grade.
    grades = models.CharField(max_length=6, blank=True)
    min_score = models.IntegerField(null=True, blank=True)
    max_score = models.IntegerField(null=True, blank=True)
    min_priority = models.IntegerField(null=True, blank=True)
    max_priority = models.IntegerField(null=True, blank=True)
    accept_minutes = models.PositiveIntegerField(
        default=240, help_text="Business minutes to accept or reject."
    )
    contact_minutes = models.PositiveIntegerField(default=480, help_text="Business minutes to first contact.")
    # The warning: at this share of the time, or this many business minutes before the deadline.
    warn_percent = models.PositiveSmallIntegerField(null=True, blank=True, default=75)
    warn_minutes_before = models.PositiveIntegerField(null=True, blank=True)
    escalation = models.CharField(max_length=20, choices=Escalation.choices, default=Escalation.NOTIFY)
    created_at = models.DateTimeField(default=tz.now, editable=False)
    updated_at = models.DateTimeField(default=tz.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            _org_id_unique("conversion_slapolicy"),
            models.UniqueConstraint(fields=["organization", "name"], name="slapolicy_unique_name"),
        ]
        indexes = [models.Index(fields=["organization", "position", "id"], name="slapolicy_org_position")]

    def __str__(self) -> str:
        return self.name

    def matches(self, *, grade: str, score: int, priority: int) -> bool:
        if self.grades and grade not in self.grades:
            return False
        if self.min_score is not None and score < self.min_score:
            return False
        if self.max_score is not None and score > self.max_score:
            return False
        if self.min_priority is not None and priority < self.min_priority:
            return False
        return self.max_priority is None or priority <= self.max_priority

    def minutes_for(self, kind: str) -> int:
        return self.accept_minutes if kind == ClockKind.ACCEPT else self.contact_minutes

    def warn_after(self, total: int) -> int:
        """Business minutes from the start to the warning."""
        if self.warn_minutes_before is not None:
            return max(total - self.warn_minutes_before, 0)
        return total * (self.warn_percent or 75) // 100

    @property
    def tier(self) -> str:
        parts: list[str] = []
        if self.grades:
            parts.append(f"grade {', '.join(self.grades)}")
        for label, low, high in (
            ("score", self.min_score, self.max_score),
            ("priority", self.min_priority, self.max_priority),
        ):
            if low is not None and high is not None:
                parts.append(f"{label} {low}-{high}")
            elif low is not None:
                parts.append(f"{label} >= {low}")
            elif high is not None:
                parts.append(f"{label} <= {high}")
        return "; ".join(parts) or "every handoff"


class ClockKind(models.TextChoices):
    ACCEPT = "accept", "Time to accept"
    FIRST_CONTACT = "first_contact", "Time to first contact"


class ClockOutcome(models.TextChoices):
    MET = "met", "Met"
    BREACHED = "breached", "Breached"
    # Stopped without counting: the handoff was withdrawn (reassigned) or rejected before first contact.
    CANCELLED = "cancelled", "Stopped"


class SlaClock(TenantModel):
    """One deadline of one handoff. Running while `stopped_at` is empty; the sweep stamps `warned_at`
    and `breached_at` once each (the stamps are its idempotency guards)."""

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="sla_clocks", db_index=False)
    kind = models.CharField(max_length=15, choices=ClockKind.choices)
    # Empty: the default policy applied.
    policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    policy_name = models.CharField(max_length=100, blank=True)
    # Copied from the handoff so compliance groups without a join, and kept when a rep leaves.
    team = models.ForeignKey(
        SalesTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    escalation = models.CharField(max_length=20, choices=Escalation.choices, default=Escalation.NOTIFY)
    budget_minutes = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=ClockOutcome.choices, blank=True)
    # Business minutes from start to stop, for the medians of the compliance report.
    elapsed_minutes = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            _org_id_unique("conversion_slaclock"),
            models.UniqueConstraint(fields=["organization", "handoff", "kind"], name="slaclock_one_per_kind"),
        ]
        indexes = [
            # The sweep's two scans: running clocks by deadline.
            models.Index(
                fields=["organization", "warn_at"],
                condition=models.Q(stopped_at__isnull=True, warned_at__isnull=True, breached_at__isnull=True),
                name="slaclock_org_warn_due",
            ),
            models.Index(
                fields=["organization", "due_at"],
                condition=models.Q(stopped_at__isnull=True, breached_at__isnull=True),
                name="slaclock_org_breach_due",
            ),
            # Compliance over a period.
            models.Index(fields=["organization", "started_at"], name="slaclock_org_started"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of handoff {self.handoff_id}"

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None


class SlaEventKind(models.TextChoices):
    WARNING = "warning", "Warning"
    BREACH = "breach", "Breach"
    ESCALATION = "escalation", "Escalated to the manager"
    REASSIGNMENT = "reassignment", "Reassigned"
    MET = "met", "Met"


class SlaEvent(TenantModel):
    """What happened to a clock, once per kind (the unique key makes a repeated sweep harmless)."""

    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="events", db_index=False)
    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=15, choices=SlaEventKind.choices)
    at = models.DateTimeField(default=tz.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            _org_id_unique("conversion_slaevent"),
            models.UniqueConstraint(fields=["organization", "clock", "kind"], name="slaevent_once_per_kind"),
        ]
        indexes = [models.Index(fields=["organization", "handoff", "at"], name="slaevent_org_handoff")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on handoff {self.handoff_id}"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, **self.detail}

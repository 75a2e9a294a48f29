"""What every part of conversion shares: sales teams and their members, the handoff of a lead to a rep
(the contract between marketing and sales), the activities reps log, and in-app notifications."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone as tz

from leadhub.tenancy.models import TenantModel
from leads.models import Lead


def _org_id_unique(table: str) -> models.UniqueConstraint:
    # Target of the composite (organization_id, x_id) keys that keep relations inside a tenant.
    return models.UniqueConstraint(fields=["organization", "id"], name=f"{table}_org_id_uniq")


class SalesTeam(TenantModel):
    name = models.CharField(max_length=100)
    # IANA name (Europe/Berlin): the team's business hours and SLA clocks run in it.
    timezone = models.CharField(max_length=64, default="UTC")
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            _org_id_unique("conversion_salesteam"),
            models.UniqueConstraint(fields=["organization", "name"], name="salesteam_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class TeamMember(TenantModel):
    team = models.ForeignKey(SalesTeam, on_delete=models.CASCADE, related_name="members", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True, help_text="Inactive members (holidays) get no new leads.")
    # Capacity: at most this many open handoffs at once; empty means no limit.
    max_open_leads = models.PositiveIntegerField(null=True, blank=True)
    # Round robin hands the next lead to the active member who was served longest ago.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["team_id", "id"]
        constraints = [
            _org_id_unique("conversion_teammember"),
            models.UniqueConstraint(fields=["organization", "team", "user"], name="teammember_unique_user"),
        ]


class HandoffStatus(models.TextChoices):
    PENDING = "pending", "Waiting for acceptance"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    # Closed without a decision: the lead left MQL/PQL another way, or was handed to someone else.
    WITHDRAWN = "withdrawn", "Withdrawn"


class SlaState(models.TextChoices):
    ON_TRACK = "on_track", "On track"
    WARNING = "warning", "Due soon"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"


class RejectionReason(models.TextChoices):
    NOT_A_FIT = "not_a_fit", "Not a fit"
    NO_BUDGET = "no_budget", "No budget"
    BAD_DATA = "bad_data", "Bad data"
    ALREADY_CUSTOMER = "already_customer", "Already a customer"
    TOO_EARLY = "too_early", "Too early"
    DUPLICATE = "duplicate", "Duplicate"
    COMPETITOR = "competitor", "Competitor"
    OTHER = "other", "Other"


class Handoff(TenantModel):
    """One lead handed to sales: who got it, by which rule, how fast they acted and what they decided.
    A lead has at most one pending handoff; a reassignment withdraws it and opens the next."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="handoffs", db_index=False)
    # The stage that triggered the handoff (mql or pql).
    from_stage = models.CharField(max_length=20)
    team = models.ForeignKey(
        SalesTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs", db_index=False
    )
    # Empty: the lead waits in the fallback queue for a manager to assign it.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    # Which rule chose the rep, in words ("territory: DACH", "round robin: EMEA", "fallback queue").
    assigned_by_rule = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=HandoffStatus.choices, default=HandoffStatus.PENDING)
    # Sales priority at handoff (from grade and score); the queue sorts by it and SLA policies pick by it.
    priority = models.IntegerField(default=0)
    handed_at = models.DateTimeField(default=tz.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejection_reason = models.CharField(max_length=20, choices=RejectionReason.choices, blank=True)
    rejection_note = models.TextField(blank=True)
    # The first logged activity after the handoff (call, email, meeting, demo) stops the contact clock.
    first_contact_at = models.DateTimeField(null=True, blank=True)
    # The next SLA deadline of this handoff and how it stands, kept by the SLA part (conversion.sla) so
    # that the queue sorts and shows urgency without joining the clocks.
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_state = models.CharField(max_length=10, choices=SlaState.choices, blank=True)
    # The handoff this one replaced (a reassignment).
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["-handed_at", "-id"]
        constraints = [
            _org_id_unique("conversion_handoff"),
            models.UniqueConstraint(
                fields=["organization", "lead"],
                condition=models.Q(status="pending"),
                name="handoff_one_pending_per_lead",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "assigned_to", "status", "id"], name="handoff_org_rep"),
            models.Index(fields=["organization", "lead", "id"], name="handoff_org_lead"),
            models.Index(fields=["organization", "status", "handed_at"], name="handoff_org_status"),
            # A rep's queue (and the fallback queue, assigned_to empty) in its display order.
            models.Index(
                fields=["organization", "assigned_to", "-priority", "sla_due_at", "id"],
                condition=models.Q(status__in=["pending", "accepted"]),
                name="handoff_org_queue",
            ),
        ]


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    DEMO = "demo", "Demo"


class Activity(TenantModel):
    """A rep's logged interaction with a lead, with its outcome."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=ActivityKind.choices)
    # Free text with suggestions per kind (connected, voicemail, no answer, meeting booked...).
    outcome = models.CharField(max_length=60, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=tz.now)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=tz.now, editable=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [_org_id_unique("conversion_activity")]
        indexes = [models.Index(fields=["organization", "lead", "occurred_at"], name="activity_org_lead")]


class NotificationKind(models.TextChoices):
    ASSIGNMENT = "assignment", "New lead assigned"
    SLA_WARNING = "sla_warning", "SLA warning"
    SLA_BREACH = "sla_breach", "SLA breached"
    MENTION = "mention", "Mentioned in a note"
    REJECTION = "rejection", "Lead rejected by sales"
    DEAL = "deal", "Deal update"
    TASK = "task", "Task due"


class Notification(TenantModel):
    """An in-app notification for one user; `conversion.notifications.notify` also emails it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # A path inside the dashboard (/conversion/leads/12/), never an outside address.
    url = models.CharField(max_length=500, blank=True)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=tz.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [_org_id_unique("conversion_notification")]
        indexes = [
            models.Index(
                fields=["organization", "user", "read_at", "created_at"], name="notification_org_user"
            ),
        ]

"""Conversion's records. One module per part of the handoff, so that each is found by name:
`core` holds what every part shares (teams, handoffs, activities, notifications)."""

from conversion.models.core import (
    Activity,
    ActivityKind,
    Handoff,
    HandoffStatus,
    Notification,
    NotificationKind,
    RejectionReason,
    SalesTeam,
    SlaState,
    TeamMember,
)
from conversion.models.queue import (
    REGIONS,
    AssignmentRule,
    RuleKind,
)
from conversion.models.sla import (
    BusinessHours,
    ClockKind,
    ClockOutcome,
    Escalation,
    Holiday,
    SlaClock,
    SlaEvent,
    SlaEventKind,
    SlaPolicy,
)
from conversion.models.workspace import (
    Note,
    NoteMention,
    Task,
)

__all__ = [
    "REGIONS",
    "Activity",
    "ActivityKind",
    "AssignmentRule",
    "BusinessHours",
    "ClockKind",
    "ClockOutcome",
    "Escalation",
    "Handoff",
    "HandoffStatus",
    "Holiday",
    "Note",
    "NoteMention",
    "Notification",
    "NotificationKind",
    "RejectionReason",
    "RuleKind",
    "SalesTeam",
    "SlaClock",
    "SlaEvent",
    "SlaEventKind",
    "SlaPolicy",
    "SlaState",
    "Task",
    "TeamMember",
]

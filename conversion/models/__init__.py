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
from conversion.models.queue import REGIONS, AssignmentRule, RuleKind

__all__ = [
    "REGIONS",
    "Activity",
    "ActivityKind",
    "AssignmentRule",
    "Handoff",
    "HandoffStatus",
    "Notification",
    "NotificationKind",
    "RejectionReason",
    "RuleKind",
    "SalesTeam",
    "SlaState",
    "TeamMember",
]

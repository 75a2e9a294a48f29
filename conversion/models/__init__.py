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
from conversion.models.workspace import Note, NoteMention, Task

__all__ = [
    "Activity",
    "ActivityKind",
    "Handoff",
    "HandoffStatus",
    "Note",
    "NoteMention",
    "Notification",
    "NotificationKind",
    "RejectionReason",
    "SalesTeam",
    "SlaState",
    "Task",
    "TeamMember",
]

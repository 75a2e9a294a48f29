"""Which deadlines apply to a handoff (the policy) and in which hours they run (the calendar).

With no policy configured, or none matching, DEFAULT_POLICY applies: accept within 4 business hours,
first contact within 8 (one working day), a warning at 75% of the time, the manager notified at breach
and no reassignment. With no business hours configured: Monday to Friday 09:00-17:00 in the team's time
zone (UTC for handoffs without a team), no holidays."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from conversion.models import BusinessHours, Escalation, Holiday, SalesTeam, SlaPolicy
from conversion.models.sla import default_week
from conversion.sla.hours import Calendar, CalendarError
from scoring.models import GRADES

logger = logging.getLogger(__name__)

DEFAULT_POLICY_NAME = "Default policy"
# Up to two weeks of 24-hour days: a longer promise is no SLA.
MAX_MINUTES = 14 * 24 * 60


def default_policy() -> SlaPolicy:
    """The policy of handoffs that match none (never saved)."""
    return SlaPolicy(
        name=DEFAULT_POLICY_NAME,
        accept_minutes=240,
        contact_minutes=480,
        warn_percent=75,
        warn_minutes_before=None,
        escalation=Escalation.NOTIFY,
    )


def policy_for(*, grade: str, score: int, priority: int) -> SlaPolicy:
    """The first active policy, in order, whose conditions all hold; else the default policy."""
    for policy in SlaPolicy.objects.filter(is_active=True).order_by("position", "id"):
        if policy.matches(grade=grade, score=score, priority=priority):
            return policy
    return default_policy()


def policy_clean(data: dict[str, Any]) -> dict[str, Any]:
    """Check a policy's settings (a whole set, after merging a partial change); errors name the field."""
    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = ["Give the policy a name."]
    elif len(name) > 100:
        errors["name"] = ["Keep the name under 100 characters."]
    grades = "".join(str(data.get("grades") or "").upper().replace(",", "").split())
    unknown = sorted({g for g in grades if g not in GRADES})
    if unknown:
        errors["grades"] = [f"Grades are letters among {', '.join(GRADES)}; not: {', '.join(unknown)}."]
    grades = "".join(g for g in GRADES if g in grades)
    for low, high, label in (
        ("min_score", "max_score", "score"),
        ("min_priority", "max_priority", "priority"),
    ):
        if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
            errors[high] = [f"The highest {label} must not be below the lowest ({data[low]})."]
    for key, label in (("accept_minutes", "Time to accept"), ("contact_minutes", "Time to first contact")):
        value = data.get(key)
        if value is None or not 1 <= int(value) <= MAX_MINUTES:
            errors[key] = [f"{label} is between 1 and {MAX_MINUTES} business minutes."]
    percent, before = data.get("warn_percent"), data.get("warn_minutes_before")
    if percent is not None and before is not None:
        errors["warn_minutes_before"] = [
            "Warn at a share of the time or minutes before the deadline, not both."
        ]
    elif percent is None and before is None:
        errors["warn_percent"] = [
            "Say when to warn: a share of the time (75%) or minutes before the deadline."
        ]
    elif percent is not None and not 1 <= int(percent) <= 99:
        errors["warn_percent"] = ["The warning comes at 1% to 99% of the time."]
    elif before is not None:
        shortest = min(int(data.get("accept_minutes") or 0), int(data.get("contact_minutes") or 0))
        if not 1 <= int(before) < max(shortest, 1):
            errors["warn_minutes_before"] = [
                f"Warn between 1 minute and the shortest deadline ({shortest} minutes) before it."
            ]
    if data.get("escalation", Escalation.NOTIFY) not in Escalation.values:
        errors["escalation"] = [f"Escalation is one of: {', '.join(Escalation.values)}."]
    if errors:
        raise ValidationError(errors)
    return {**data, "name": name, "grades": grades}


# --- business hours --------------------------------------------------------------------------------


def week_clean(week: Any) -> list[list[list[str]]]:
    """A stored week, checked (seven days, intervals that parse, start before end, no overlap)."""
    from conversion.sla.hours import parse_week, week_as_text

    if not isinstance(week, list) or not all(isinstance(day, list) for day in week):
        raise ValidationError({"week": ["Give seven lists of [start, end] times, Monday first."]})
    try:
        return week_as_text(parse_week(week))
    except (CalendarError, TypeError) as exc:
        raise ValidationError({"week": [str(exc)]}) from exc


def timezone_clean(name: str) -> str:
    from conversion.sla.hours import zone

    try:
        zone(name)
    except CalendarError as exc:
        raise ValidationError({"timezone": [str(exc)]}) from exc
    return name


def calendar_for(team: SalesTeam | None) -> Calendar:
    """The calendar a team's clocks run in: the team's hours (else the organization default, else
    Monday-Friday 09:00-17:00) in the team's zone, with the organization's and the team's holidays."""
    hours = {row.team_id: row for row in BusinessHours.objects.filter(Q(team__isnull=True) | Q(team=team))}
    default = hours.get(None)
    row = hours.get(team.pk) if team is not None else None
    chosen = row or default
    week = chosen.week if chosen is not None else default_week()
    zone_name = team.timezone if team is not None else (default.timezone if default else "UTC")
    holidays = list(Holiday.objects.filter(Q(team__isnull=True) | Q(team=team)).values_list("date", "yearly"))
    one_off = [day for day, yearly in holidays if not yearly]
    yearly = [day for day, is_yearly in holidays if is_yearly]
    try:
        return Calendar.build(timezone=zone_name, week=week, holidays=one_off, yearly=yearly)
    except CalendarError:
        # Stored hours are checked on the way in; a zone removed from the system's database must not
        # stop handoffs, so the clock falls back to the default week in UTC and says so.
        logger.warning("Unusable business hours for team %s; using the default week in UTC", team)
        return Calendar.build(timezone="UTC", week=default_week(), holidays=one_off, yearly=yearly)

"""Writes of the SLA settings: policies, business hours and holidays. Each runs in one transaction and
writes its audit row; a bad value is a ValidationError naming the field. Changes apply to clocks started
afterwards: a running clock keeps the deadline it was promised."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversion.models import BusinessHours, Holiday, SalesTeam, SlaPolicy
from conversion.sla.policies import policy_clean, timezone_clean, week_clean
from leadhub.tenancy.services import Actor, audit_record

POLICY_FIELDS = (
    "name",
    "position",
    "is_active",
    "grades",
    "min_score",
    "max_score",
    "min_priority",
    "max_priority",
    "accept_minutes",
    "contact_minutes",
    "warn_percent",
    "warn_minutes_before",
    "escalation",
)


def _policy_values(policy: SlaPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in POLICY_FIELDS}


def _name_taken(name: str, exclude: int | None = None) -> bool:
    return SlaPolicy.objects.filter(name__iexact=name).exclude(pk=exclude).exists()


def sla_policy_create(*, data: dict[str, Any], actor: Actor) -> SlaPolicy:
    defaults = _policy_values(SlaPolicy(name=""))
    if "position" not in data:
        last = SlaPolicy.objects.order_by("-position").values_list("position", flat=True).first()
        defaults["position"] = (last or 0) + 1
    values = policy_clean({**defaults, **{k: v for k, v in data.items() if k in POLICY_FIELDS}})
    if _name_taken(values["name"]):
        raise ValidationError({"name": [f"A policy named “{values['name']}” exists already."]})
    with transaction.atomic():
        policy = SlaPolicy.objects.create(**values)
        audit_record(actor=actor, action="sla_policy.create", target=policy, changes=_policy_values(policy))
    return policy


def sla_policy_update(*, policy: SlaPolicy, data: dict[str, Any], actor: Actor) -> SlaPolicy:
    values = policy_clean({**_policy_values(policy), **{k: v for k, v in data.items() if k in POLICY_FIELDS}})
    if _name_taken(values["name"], exclude=policy.pk):
        raise ValidationError({"name": [f"A policy named “{values['name']}” exists already."]})
    with transaction.atomic():
        before = _policy_values(policy)
        for name, value in values.items():
            setattr(policy, name, value)
        policy.updated_at = timezone.now()
        policy.save()
        changes = {k: v for k, v in values.items() if before.get(k) != v}
        audit_record(actor=actor, action="sla_policy.update", target=policy, changes=changes)
    return policy


def sla_policy_delete(*, policy: SlaPolicy, actor: Actor) -> None:
    """Running clocks keep their deadlines and the policy's name; they lose only the link."""
    with transaction.atomic():
        audit_record(actor=actor, action="sla_policy.delete", target=policy, changes={"name": policy.name})
        policy.delete()


def business_hours_save(
    *, team: SalesTeam | None, week: Any, timezone_name: str | None = None, actor: Actor
) -> BusinessHours:
    """Set a team's hours (its zone is the team's) or, with no team, the organization default's hours and
    zone. One row per team and one default: saving again replaces the week."""
    week = week_clean(week)
    if team is None:
        timezone_name = timezone_clean(timezone_name or "UTC")
    with transaction.atomic():
        rows = BusinessHours.objects.select_for_update().order_by("id")
        hours = (rows.filter(team=team) if team is not None else rows.filter(team__isnull=True)).first()
        if hours is None:
            hours = BusinessHours(team=team)
        hours.week = week
        if team is None and timezone_name:
            hours.timezone = timezone_name
        hours.updated_at = timezone.now()
        hours.save()
        audit_record(
            actor=actor,
            action="sla_hours.save",
            target=hours,
            changes={"team": team.name if team else None, "week": week, "timezone": hours.timezone},
        )
    return hours


def business_hours_delete(*, hours: BusinessHours, actor: Actor) -> None:
    """A team without hours of its own falls back to the organization default."""
    with transaction.atomic():
        audit_record(actor=actor, action="sla_hours.delete", target=hours, changes={"team": hours.team_id})
        hours.delete()


def _holiday_check(*, date: dt.date, name: str, team: SalesTeam | None, exclude: int | None = None) -> str:
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Name the holiday."]
    elif len(name) > 100:
        errors["name"] = ["Keep the name under 100 characters."]
    same_day = Holiday.objects.filter(date=date).exclude(pk=exclude)
    same_day = same_day.filter(team=team) if team is not None else same_day.filter(team__isnull=True)
    if same_day.exists():
        errors["date"] = [f"{date:%Y-%m-%d} is already a holiday{' of this team' if team else ''}."]
    if errors:
        raise ValidationError(errors)
    return name


def holiday_create(
    *, date: dt.date, name: str, team: SalesTeam | None = None, yearly: bool = False, actor: Actor
) -> Holiday:
    name = _holiday_check(date=date, name=name, team=team)
    try:
        with transaction.atomic():
            holiday = Holiday.objects.create(date=date, name=name, team=team, yearly=yearly)
            audit_record(
                actor=actor,
                action="sla_holiday.create",
                target=holiday,
                changes={"date": date.isoformat(), "team": team.name if team else None, "yearly": yearly},
            )
    except IntegrityError as exc:  # a concurrent twin
        raise ValidationError({"date": [f"{date:%Y-%m-%d} is already a holiday."]}) from exc
    return holiday


def holiday_update(*, holiday: Holiday, data: dict[str, Any], actor: Actor) -> Holiday:
    date = data.get("date", holiday.date)
    team = data.get("team", holiday.team)
    name = _holiday_check(date=date, name=data.get("name", holiday.name), team=team, exclude=holiday.pk)
    with transaction.atomic():
        holiday.date, holiday.name, holiday.team = date, name, team
        holiday.yearly = bool(data.get("yearly", holiday.yearly))
        holiday.save()
        audit_record(
            actor=actor,
            action="sla_holiday.update",
            target=holiday,
            changes={"date": date.isoformat(), "name": name, "yearly": holiday.yearly},
        )
    return holiday


def holiday_delete(*, holiday: Holiday, actor: Actor) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="sla_holiday.delete",
            target=holiday,
            changes={"date": holiday.date.isoformat()},
        )
        holiday.delete()

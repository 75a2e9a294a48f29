"""Choosing the rep for a lead handed to sales: rule conditions, their validation, and the pick itself.

`rep_choose` walks the organization's active rules in order and returns the first rule's pick that names
an available rep. A rep is available when they are still a member of the organization, not marked
inactive in the team that would hand them the lead (holidays), and, for team picks, below their capacity.
Team picks lock the team's member rows (SELECT ... FOR UPDATE) and read the last assignment times and open
counts after the lock, so two handoffs racing for the same team are served one after the other and do not
both land on the rep whose turn it was.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils import timezone

from conversion.models import REGIONS, AssignmentRule, Handoff, HandoffStatus, RuleKind, SalesTeam, TeamMember
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import Membership
from leads.models import Lead, Stage

GRADE_LETTERS = ("A", "B", "C", "D", "E", "F")
HANDOFF_STAGES = (Stage.MQL, Stage.PQL)
CONDITION_KEYS = ("countries", "regions", "industries", "size_min", "size_max", "grades", "stages")
FALLBACK_RULE = "fallback queue: no rule matched"


# --- conditions -------------------------------------------------------------------------------------


def _text_list(value: Any, key: str, errors: dict[str, list[str]], *, limit: int = 100) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[f"conditions.{key}"] = ["Give a list of names (or one comma-separated text)."]
        return []
    cleaned = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(cleaned) > limit:
        errors[f"conditions.{key}"] = [f"At most {limit} values."]
    if any(len(v) > 100 for v in cleaned):
        errors[f"conditions.{key}"] = ["Each value has at most 100 characters."]
    return cleaned


def _size(value: Any, key: str, errors: dict[str, list[str]]) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors[f"conditions.{key}"] = ["Give a whole number of employees."]
        return None
    try:
        number = int(value)
    except ValueError:
        errors[f"conditions.{key}"] = [f"'{value}' is not a whole number of employees."]
        return None
    if number < 0:
        errors[f"conditions.{key}"] = ["A company size cannot be negative."]
        return None
    return number


def conditions_clean(raw: Any) -> dict[str, Any]:
    """The conditions in their stored shape, or a ValidationError naming each bad key `conditions.<key>`.

    countries, industries: names, matched ignoring case; regions: keys of REGIONS; size_min, size_max: the
    company's employee count, both inclusive; grades: letters A-F; stages: mql and/or pql.
    """
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationError({"conditions": ["Conditions are an object of country, region, industry…"]})
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(raw) - set(CONDITION_KEYS))
    if unknown:
        errors["conditions"] = [f"Unknown condition {', '.join(unknown)}; use: {', '.join(CONDITION_KEYS)}."]
    cleaned: dict[str, Any] = {}
    for key in ("countries", "industries"):
        if raw.get(key):
            cleaned[key] = _text_list(raw[key], key, errors)
    # Each coded list: its allowed values, how they are written, and the message for the others.
    coded: tuple[tuple[str, Collection[str], bool, str], ...] = (
        ("regions", tuple(REGIONS), False, f"Unknown region {{bad}}; use: {', '.join(REGIONS)}."),
        ("grades", GRADE_LETTERS, True, "Grades are letters A to F, not {bad}."),
        ("stages", HANDOFF_STAGES, False, "Leads are handed off as mql or pql, not {bad}."),
    )
    for key, allowed, upper, message in coded:
        if not raw.get(key):
            continue
        values = [v.upper() if upper else v.lower() for v in _text_list(raw[key], key, errors)]
        bad = [v for v in values if v not in allowed]
        if bad:
            errors[f"conditions.{key}"] = [message.format(bad=", ".join(bad))]
        cleaned[key] = values
    size_min = _size(raw.get("size_min"), "size_min", errors)
    size_max = _size(raw.get("size_max"), "size_max", errors)
    if size_min is not None and size_max is not None and size_min > size_max:
        errors["conditions.size_max"] = ["The largest company size must not be below the smallest."]
    if size_min is not None:
        cleaned["size_min"] = size_min
    if size_max is not None:
        cleaned["size_max"] = size_max
    if errors:
        raise ValidationError(errors)
    return {key: value for key, value in cleaned.items() if value not in ([], None)}


def conditions_describe(conditions: Mapping[str, Any]) -> str:
    """The conditions in words, for the rules editor."""
    parts: list[str] = []
    if conditions.get("countries"):
        parts.append("country " + " or ".join(conditions["countries"]))
    if conditions.get("regions"):
        parts.append("region " + " or ".join(REGIONS[r][0] for r in conditions["regions"] if r in REGIONS))
    if conditions.get("industries"):
        parts.append("industry " + " or ".join(conditions["industries"]))
    low, high = conditions.get("size_min"), conditions.get("size_max")
    if low is not None and high is not None:
        parts.append(f"{low} to {high} employees")
    elif low is not None:
        parts.append(f"{low}+ employees")
    elif high is not None:
        parts.append(f"up to {high} employees")
    if conditions.get("grades"):
        parts.append("grade " + "/".join(conditions["grades"]))
    if conditions.get("stages"):
        parts.append(" or ".join(s.upper() for s in conditions["stages"]))
    return "; ".join(parts) or "every lead"


@dataclass(frozen=True)
class LeadFacts:
    """What the conditions look at, read once per lead."""

    country: str
    industry: str
    employees: int | None
    grade: str
    stage: str
    company_id: int | None

    @classmethod
    def of(cls, lead: Lead) -> LeadFacts:
        contact = lead.contact
        company = contact.company
        country = (contact.country or (company.country if company else "") or "").strip().lower()
        return cls(
            country=country,
            industry=((company.industry if company else "") or "").strip().lower(),
            employees=company.employee_count if company else None,
            grade=(lead.grade or "").upper(),
            stage=lead.stage,
            company_id=company.pk if company else None,
        )


def conditions_match(conditions: Mapping[str, Any], facts: LeadFacts) -> bool:
    countries = {c.lower() for c in conditions.get("countries", [])}
    regions = conditions.get("regions", [])
    if countries or regions:
        in_region = any(facts.country in REGIONS[r][1] for r in regions if r in REGIONS)
        if not (facts.country in countries or in_region):
            return False
    industries = {i.lower() for i in conditions.get("industries", [])}
    if industries and facts.industry not in industries:
        return False
    low, high = conditions.get("size_min"), conditions.get("size_max")
    if low is not None or high is not None:
        if facts.employees is None:
            return False
        if (low is not None and facts.employees < low) or (high is not None and facts.employees > high):
            return False
    if conditions.get("grades") and facts.grade not in conditions["grades"]:
        return False
    return not (conditions.get("stages") and facts.stage not in conditions["stages"])


# --- availability -----------------------------------------------------------------------------------


def open_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """Open handoffs per rep: waiting for a decision, or accepted with the lead still at SQL."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = (
        Handoff.objects.filter(
            assigned_to_id__in=ids, status__in=(HandoffStatus.PENDING, HandoffStatus.ACCEPTED)
        )
        .filter(Q(status=HandoffStatus.PENDING) | Q(lead__stage=Stage.SQL))
        .values("assigned_to_id")
        .annotate(n=Count("id"))
    )
    counts = {user_id: 0 for user_id in ids}
    counts.update({row["assigned_to_id"]: row["n"] for row in rows})
    return counts


def _members_of_organization(user_ids: Iterable[int]) -> set[int]:
    return set(
        Membership.objects.filter(
            organization_id=current_organization_id(), user_id__in=list(user_ids), user__is_active=True
        ).values_list("user_id", flat=True)
    )


@dataclass(frozen=True)
class Pick:
    user: Any | None
    team: SalesTeam | None
    rule: str


def _team_pick(team: SalesTeam, *, by_capacity: bool) -> Any | None:
    """The team's next rep, with the team's member rows locked until the transaction ends."""
    members = list(TeamMember.objects.select_for_update().filter(team=team, is_active=True))
    if not members:
        return None
    # Sorted here, after the lock: rows a concurrent handoff just updated come back with their new values.
    counts = open_counts(m.user_id for m in members)
    allowed = _members_of_organization(m.user_id for m in members)
    candidates = [
        m
        for m in members
        if m.user_id in allowed and (m.max_open_leads is None or counts[m.user_id] < m.max_open_leads)
    ]
    if not candidates:
        return None

    def turn(member: TeamMember) -> tuple[Any, ...]:
        served = member.last_assigned_at.timestamp() if member.last_assigned_at else float("-inf")
        return (counts[member.user_id], served, member.pk) if by_capacity else (served, member.pk)

    chosen = min(candidates, key=turn)
    chosen.last_assigned_at = timezone.now()
    chosen.save(update_fields=["last_assigned_at"])
    return get_user_model().objects.get(pk=chosen.user_id)


def _user_available(user_id: int, team: SalesTeam | None, *, respect_capacity: bool) -> bool:
    if user_id not in _members_of_organization([user_id]):
        return False
    rows = TeamMember.objects.filter(user_id=user_id)
    if team is not None:
        rows = rows.filter(team=team)
    memberships = list(rows)
    if team is not None and not memberships:
        return False
    if memberships and not any(m.is_active for m in memberships):
        return False  # on holiday in every team they belong to
    if respect_capacity:
        limits = [m.max_open_leads for m in memberships if m.is_active and m.max_open_leads is not None]
        if limits and open_counts([user_id])[user_id] >= min(limits):
            return False
    return True


def account_owner(lead: Lead, company_id: int | None) -> int | None:
    """The rep who owns the lead's company: the owner of another current lead of the company, else
    the rep who accepted a handoff of the company most recently."""
    if company_id is None:
        return None
    owner_id = (
        Lead.objects.filter(contact__company_id=company_id, is_current=True, owner__isnull=False)
        .exclude(pk=lead.pk)
        .order_by("-stage_changed_at", "-id")
        .values_list("owner_id", flat=True)
        .first()
    )
    if owner_id is not None:
        return owner_id
    return (
        Handoff.objects.filter(
            lead__contact__company_id=company_id, status=HandoffStatus.ACCEPTED, assigned_to__isnull=False
        )
        .order_by("-decided_at", "-id")
        .values_list("assigned_to_id", flat=True)
        .first()
    )


def _rule_pick(rule: AssignmentRule, lead: Lead, facts: LeadFacts) -> Pick | None:
    label = str(rule)
    if rule.kind == RuleKind.ACCOUNT_OWNER:
        owner_id = account_owner(lead, facts.company_id)
        # Account continuity wins over capacity: the owner gets their account's contacts even when busy.
        if owner_id is None or not _user_available(owner_id, rule.team, respect_capacity=False):
            return None
        return Pick(get_user_model().objects.get(pk=owner_id), rule.team, label)
    if rule.user_id is not None:
        if not _user_available(rule.user_id, rule.team, respect_capacity=True):
            return None
        return Pick(rule.user, rule.team, label)
    if rule.team is None:
        return None
    user = _team_pick(rule.team, by_capacity=rule.kind == RuleKind.CAPACITY)
    return Pick(user, rule.team, label) if user is not None else None


def rep_choose(lead: Lead) -> Pick:
    """The first active rule (in order) that matches `lead` and yields an available rep; or the fallback
    queue (no user, no team)."""
    facts = LeadFacts.of(lead)
    rules = (
        AssignmentRule.objects.filter(is_active=True)
        .select_related("team", "user")
        .order_by("position", "id")
    )
    for rule in rules:
        if not conditions_match(rule.conditions, facts):
            continue
        pick = _rule_pick(rule, lead, facts)
        if pick is not None:
            return pick
    return Pick(None, None, FALLBACK_RULE)

"""The portable evaluator: one lead at a time, in Python, on any database.

It is the definition the PostgreSQL path (`scoring/engine/pg.py`) must match; see `scoring/engine/spec.py`
for the rules' meaning. Used for every rescoring on SQLite and for explaining a single lead anywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from leads.models import Company, Contact, Lead
from leads.services import FREE_MAIL_DOMAINS
from scoring.engine.spec import (
    NUMBER_PATTERN,
    RuleSpec,
    Targets,
    VersionSpec,
    capped,
    round_half_up,
    words_of,
)
from scoring.models import Dimension, EngagementKind, FitOperator

_NUMBER = re.compile(NUMBER_PATTERN)
DAY = 86400.0


@dataclass(frozen=True)
class Touch:
    """The parts of a touchpoint the rules read."""

    id: int
    type: str
    occurred_at: dt.datetime
    url: str
    properties: dict[str, Any]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def fit_value(lead: Lead, path: str) -> Any:
    """The raw value a fit rule reads; None when there is none (no company, no such custom key)."""
    contact: Contact = lead.contact
    company: Company | None = contact.company
    if path.startswith("contact.custom."):
        return (contact.custom or {}).get(path[len("contact.custom.") :])
    if path.startswith("company.custom."):
        return None if company is None else (company.custom or {}).get(path[len("company.custom.") :])
    entity, name = path.split(".", 1)
    if entity == "lead":
        return getattr(lead, name)
    if entity == "contact":
        if name == "email":
            return contact.email_normalized
        if name == "email_domain":
            return email_domain(contact.email_normalized)
        return getattr(contact, name)
    return None if company is None else getattr(company, name)


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[1].lower() if "@" in (email or "") else ""


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = _text(value)
    return float(text) if _NUMBER.match(text) else None


def _domain_listed(domain: str, listed: Sequence[str]) -> bool:
    return bool(domain) and any(domain == d or domain.endswith("." + d) for d in listed)


def fit_condition(lead: Lead, rule: RuleSpec) -> bool:
    raw = fit_value(lead, rule.field) if rule.field else None
    text = _text(raw).strip().lower()
    operator, value = rule.operator, rule.value
    if operator == FitOperator.EQUALS:
        number, wanted = _number(raw), _number(value)
        hit = (number == wanted) if (number is not None and wanted is not None) else text == value
    elif operator == FitOperator.IN_LIST:
        hit = text in value
    elif operator == FitOperator.CONTAINS:
        hit = bool(value) and value in text
    elif operator == FitOperator.CONTAINS_WORD:
        hit = bool(words_of(text) & set(value))
    elif operator == FitOperator.BETWEEN:
        number = _number(raw)
        low, high = value
        hit = number is not None and (low is None or number >= low) and (high is None or number <= high)
    elif operator == FitOperator.IS_BLANK:
        hit = text == ""
    elif operator == FitOperator.FREE_MAIL:
        hit = email_domain(lead.contact.email_normalized) in FREE_MAIL_DOMAINS
    elif operator == FitOperator.COMPETITOR:
        company = lead.contact.company
        hit = _domain_listed(email_domain(lead.contact.email_normalized), value) or (
            company is not None and _domain_listed((company.domain or "").lower(), value)
        )
    else:
        hit = False
    return hit != rule.negate


def touch_matches(touch: Touch, rule: RuleSpec) -> bool:
    match = rule.match
    if match.types and touch.type not in match.types:
        return False
    if match.url_contains and match.url_contains not in (touch.url or "").lower():
        return False
    if match.property_key:
        properties = touch.properties or {}
        if match.property_key not in properties:
            return False
        if match.property_value and _text(properties[match.property_key]).lower() != match.property_value:
            return False
    return True


def _age_days(touch: Touch, at: dt.datetime) -> float:
    return max(0.0, (at - touch.occurred_at).total_seconds() / DAY)


def _within(touch: Touch, at: dt.datetime, days: int | None) -> bool:
    return days is None or touch.occurred_at > at - dt.timedelta(days=days)


def behaviour_points(touches: Sequence[Touch], rule: RuleSpec, at: dt.datetime) -> int:
    hits = [t for t in touches if touch_matches(t, rule) and _within(t, at, rule.window_days)]
    if rule.repeat_limit is not None:
        period = rule.repeat_window_days * DAY
        per_period: dict[int, int] = defaultdict(int)
        for touch in hits:
            per_period[int(touch.occurred_at.timestamp() // period)] += 1
        counted = sum(min(n, rule.repeat_limit) for n in per_period.values())
    else:
        counted = len(hits)
    return capped(rule.points * counted, rule.points, rule.cap)


def engagement_points(touches: Sequence[Touch], rule: RuleSpec, at: dt.datetime) -> int:
    hits = [t for t in touches if touch_matches(t, rule) and _within(t, at, rule.window_days)]
    if rule.engagement_kind == EngagementKind.RECENCY:
        return rule.points if hits else 0
    if rule.engagement_kind == EngagementKind.FREQUENCY:
        return rule.points if len(hits) >= rule.min_count else 0
    weight = sum(0.5 ** (_age_days(t, at) / rule.half_life_days) for t in hits)
    return capped(round_half_up(rule.points * weight), rule.points, rule.cap)


def evaluate(lead: Lead, touches: Iterable[Touch], spec: VersionSpec, at: dt.datetime) -> Targets:
    """Every rule's points for `lead` at the moment `at` (touchpoints after `at` do not count)."""
    seen = [t for t in touches if t.occurred_at <= at]
    points: dict[int, int] = {}
    for rule in spec.rules:
        if rule.dimension == Dimension.FIT:
            points[rule.id] = rule.points if fit_condition(lead, rule) else 0
        elif rule.dimension == Dimension.BEHAVIOUR:
            points[rule.id] = behaviour_points(seen, rule, at)
        elif rule.dimension == Dimension.ENGAGEMENT:
            points[rule.id] = engagement_points(seen, rule, at)
    stage = ""
    for rule in spec.maturity_order:
        shown = not stage and any(touch_matches(t, rule) and _within(t, at, rule.window_days) for t in seen)
        points[rule.id] = rule.points if shown else 0
        if shown:
            stage = rule.buying_stage
    return Targets.from_rules(lead.pk, spec, points, stage)

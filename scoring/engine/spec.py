"""What the rules mean, independent of where they run.

A version's rules are read once into `VersionSpec`, which both evaluators use: `scoring/engine/python.py`
(any database, one lead at a time) and `scoring/engine/pg.py` (PostgreSQL, set-based). Both follow the
definitions here, and tests/scoring/test_engine_sql.py checks they agree rule kind by rule kind.

Definitions shared by both:
- Text comparisons ignore case and surrounding spaces; a missing value (no company, no custom key) is blank.
- `contains_word`: the text split on anything that is not a letter or a digit contains one of the words.
- `between`: the field read as a number lies within min and max (each optional, both inclusive).
- Touchpoints count only up to the evaluation moment `at`; a window of N days keeps those of the last N days.
- Age is (at - occurred_at) in days, never below 0. Fractional points are rounded half up: floor(x + 0.5).
- Repeat limit: at most `repeat_limit` occurrences count per period of `repeat_window_days` days
  (periods are counted from the Unix epoch, so they are the same for every lead).
- A cap bounds the rule's total in the direction of its points (a negative rule never goes below -cap).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scoring.models import (
    BUYING_STAGE_RANK,
    DEFAULT_GRADE_THRESHOLDS,
    GRADE_WEIGHT,
    GRADES,
    Dimension,
    EngagementKind,
    FitOperator,
    ModelVersion,
    Rule,
)

TEXT, NUMBER = "text", "number"

# Fit fields: path -> kind. Custom fields are `contact.custom.<key>` and `company.custom.<key>`.
FIT_FIELDS: dict[str, str] = {
    "contact.email": TEXT,
    "contact.email_domain": TEXT,
    "contact.first_name": TEXT,
    "contact.last_name": TEXT,
    "contact.job_title": TEXT,
    "contact.phone": TEXT,
    "contact.country": TEXT,
    "contact.city": TEXT,
    "company.name": TEXT,
    "company.domain": TEXT,
    "company.industry": TEXT,
    "company.country": TEXT,
    "company.employee_count": NUMBER,
    "company.annual_revenue": NUMBER,
    "lead.source_channel": TEXT,
    "lead.budget": TEXT,
    "lead.authority": TEXT,
    "lead.need": TEXT,
    "lead.timing": TEXT,
}
CUSTOM_PREFIXES = ("contact.custom.", "company.custom.")
CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
# A number as custom fields store it in text: the same pattern in Python and in PostgreSQL.
NUMBER_PATTERN = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
WORD = re.compile(r"^[^\W_]+$")
WORD_SPLIT = re.compile(r"[\W_]+")
DEFAULT_HALF_LIFE_DAYS = 14
DEFAULT_MATURITY_WINDOW_DAYS = 30
DEFAULT_REPEAT_WINDOW_DAYS = 1


def field_kind(path: str) -> str | None:
    """TEXT, NUMBER, "custom" (read as text or as a number by the operator) or None if unknown."""
    if path in FIT_FIELDS:
        return FIT_FIELDS[path]
    for prefix in CUSTOM_PREFIXES:
        if path.startswith(prefix) and CUSTOM_KEY.match(path[len(prefix) :]):
            return "custom"
    return None


def words_of(text: str) -> set[str]:
    return {w for w in WORD_SPLIT.split(text.lower()) if w}


def grade_for(fit: int, thresholds: dict[str, int]) -> str:
    for letter in GRADES[:-1]:
        if fit >= thresholds.get(letter, DEFAULT_GRADE_THRESHOLDS[letter]):
            return letter
    return GRADES[-1]


def priority_for(score: int, grade: str) -> int:
    # Integer arithmetic so that Python and SQL round identically: weights in hundredths.
    weight = round(GRADE_WEIGHT.get(grade, 0.0) * 100)
    return (score * weight + 50) // 100


def round_half_up(value: float) -> int:
    import math

    return math.floor(value + 0.5)


def capped(total: int, points: int, cap: int | None) -> int:
    if cap is None:
        return total
    return min(total, cap) if points >= 0 else max(total, -cap)


@dataclass(frozen=True)
class Match:
    """Which touchpoints a behaviour, engagement or maturity rule looks at."""

    types: tuple[str, ...] = ()
    url_contains: str = ""
    property_key: str = ""
    property_value: str = ""

    @property
    def is_any(self) -> bool:
        return not (self.types or self.url_contains or self.property_key)


@dataclass(frozen=True)
class RuleSpec:
    id: int
    dimension: str
    name: str
    points: int
    position: int = 0
    # fit
    field: str = ""
    operator: str = ""
    value: Any = None
    negate: bool = False
    # touchpoints
    match: Match = dataclasses.field(default_factory=Match)
    cap: int | None = None
    repeat_limit: int | None = None
    repeat_window_days: int = DEFAULT_REPEAT_WINDOW_DAYS
    product_usage: bool = False
    window_days: int | None = None
    engagement_kind: str = ""
    half_life_days: int = DEFAULT_HALF_LIFE_DAYS
    min_count: int = 1
    buying_stage: str = ""

    @property
    def key(self) -> str:
        return str(self.id)

    @property
    def stage_rank(self) -> int:
        return BUYING_STAGE_RANK.get(self.buying_stage, 0)

    @property
    def time_dependent(self) -> bool:
        """Whether the rule's points can change with nothing but time passing."""
        if self.dimension in (Dimension.ENGAGEMENT, Dimension.MATURITY):
            return True
        return self.dimension == Dimension.BEHAVIOUR and self.window_days is not None


def rule_spec(rule: Rule) -> RuleSpec:
    value = rule.value
    if rule.dimension == Dimension.FIT:
        value = normalized_value(rule.operator, value)
    return RuleSpec(
        id=rule.pk,
        dimension=rule.dimension,
        name=rule.name,
        points=rule.points,
        position=rule.position,
        field=rule.field,
        operator=rule.operator,
        value=value,
        negate=rule.negate,
        match=Match(
            types=tuple(rule.touchpoint_types or ()),
            url_contains=rule.url_contains.strip().lower(),
            property_key=rule.property_key.strip(),
            property_value=rule.property_value.strip().lower(),
        ),
        cap=rule.cap,
        repeat_limit=rule.repeat_limit,
        repeat_window_days=rule.repeat_window_days or DEFAULT_REPEAT_WINDOW_DAYS,
        product_usage=rule.product_usage,
        window_days=(
            rule.window_days
            if rule.window_days or rule.dimension != Dimension.MATURITY
            else DEFAULT_MATURITY_WINDOW_DAYS
        ),
        engagement_kind=rule.engagement_kind or EngagementKind.ACTIVITY,
        half_life_days=rule.half_life_days or DEFAULT_HALF_LIFE_DAYS,
        min_count=rule.min_count or 1,
        buying_stage=rule.buying_stage,
    )


def normalized_value(operator: str, value: Any) -> Any:
    """The stored value in the one shape each operator evaluates (lower-cased text, number bounds)."""
    if operator in (FitOperator.EQUALS, FitOperator.CONTAINS):
        return str(value if value is not None else "").strip().lower()
    if operator in (FitOperator.IN_LIST, FitOperator.CONTAINS_WORD, FitOperator.COMPETITOR):
        items = value if isinstance(value, list) else [value]
        return tuple(str(v).strip().lower() for v in items if str(v).strip())
    if operator == FitOperator.BETWEEN:
        bounds = value if isinstance(value, dict) else {}
        low, high = bounds.get("min"), bounds.get("max")
        return (None if low is None else float(low), None if high is None else float(high))
    return None


@dataclass(frozen=True)
class VersionSpec:
    version_id: int
    grade_thresholds: dict[str, int]
    rules: tuple[RuleSpec, ...]

    def of(self, dimension: str) -> list[RuleSpec]:
        return [r for r in self.rules if r.dimension == dimension]

    @property
    def maturity_order(self) -> list[RuleSpec]:
        """Maturity rules in the order they win: most advanced stage, then most points, then position."""
        return sorted(self.of(Dimension.MATURITY), key=lambda r: (-r.stage_rank, -r.points, r.position, r.id))

    @property
    def by_id(self) -> dict[int, RuleSpec]:
        return {r.id: r for r in self.rules}

    @property
    def order(self) -> list[int]:
        """Rule ids in the order of the stored per-rule lists (`rule_points`, `rule_deltas`)."""
        return sorted(r.id for r in self.rules)

    def as_list(self, points: dict[int, int]) -> list[int]:
        return [points.get(rule_id, 0) for rule_id in self.order]

    @property
    def time_dependent(self) -> bool:
        return any(r.time_dependent for r in self.rules)


def version_spec(version: ModelVersion, rules: Iterable[Rule] | None = None) -> VersionSpec:
    if rules is None:
        rules = Rule.objects.filter(version=version).order_by("dimension", "position", "id")
    thresholds = {**DEFAULT_GRADE_THRESHOLDS, **(version.grade_thresholds or {})}
    return VersionSpec(
        version_id=version.pk,
        grade_thresholds={k: int(v) for k, v in thresholds.items()},
        rules=tuple(rule_spec(r) for r in rules),
    )


def rule_orders(version_ids: Iterable[int | None]) -> dict[int, list[int]]:
    """For each version, its rule ids in the order of the stored per-rule lists."""
    orders: dict[int, list[int]] = {v: [] for v in version_ids if v}
    for version_id, rule_id in (
        Rule.objects.filter(version_id__in=list(orders)).order_by("id").values_list("version_id", "id")
    ):
        orders[version_id].append(rule_id)
    return orders


def points_by_rule(order: list[int], points: list[int] | None) -> dict[int, int]:
    """A stored per-rule list as {rule id: points}, leaving out the zeros."""
    return {rule_id: value for rule_id, value in zip(order, points or [], strict=False) if value}


@dataclass
class Targets:
    """What a version gives one lead: each rule's points and the sums they make."""

    lead_id: int
    rules: dict[int, int]
    fit: int = 0
    behaviour: int = 0
    engagement: int = 0
    maturity: int = 0
    product: int = 0
    maturity_stage: str = ""

    @classmethod
    def from_rules(cls, lead_id: int, spec: VersionSpec, points: dict[int, int], stage: str) -> Targets:
        sums = {d: 0 for d in Dimension.values}
        product = 0
        for rule in spec.rules:
            value = points.get(rule.id, 0)
            sums[rule.dimension] += value
            if rule.product_usage and rule.dimension == Dimension.BEHAVIOUR:
                product += value
        return cls(
            lead_id=lead_id,
            rules={k: v for k, v in points.items() if v},
            fit=sums[Dimension.FIT],
            behaviour=sums[Dimension.BEHAVIOUR],
            engagement=sums[Dimension.ENGAGEMENT],
            maturity=sums[Dimension.MATURITY],
            product=product,
            maturity_stage=stage,
        )

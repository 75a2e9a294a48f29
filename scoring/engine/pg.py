"""The PostgreSQL evaluator: every rule of a version for a whole chunk of leads in one statement.

`targets_select()` builds one SELECT returning, per lead of the chunk, each rule's points (column
`r<rule id>`), the dimension sums and the maturity stage. The touchpoints are read once per chunk: one
aggregate with a FILTER per rule (count, decayed weight, presence in a window), plus one small
aggregate per rule with a repeat limit (occurrences per period). The definitions are those of
`scoring/engine/spec.py`, mirrored from `scoring/engine/python.py`.

The chunk's leads are in the temporary table `scoring_chunk(lead_id)`; `lo` and `hi` bound their ids so
that touchpoints are read through the (organization, lead) index rather than the whole table.
Row-level security keeps every table to the tenant of the transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from leads.services import FREE_MAIL_DOMAINS
from scoring.engine.spec import (
    FIT_FIELDS,
    NUMBER,
    NUMBER_PATTERN,
    RuleSpec,
    VersionSpec,
    field_kind,
)
from scoring.models import GRADE_WEIGHT, GRADES, Dimension, EngagementKind, FitOperator

_NUMBER = re.compile(NUMBER_PATTERN)
# jsonb_build_object takes at most 100 arguments: 50 pairs.
JSON_PAIRS = 50


class Params:
    """Named query parameters collected while the SQL text is built."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any, cast: str = "") -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s{'::' + cast if cast else ''}"


_COLUMN = {"contact": "c", "company": "co", "lead": "l"}


def _field_sql(path: str, p: Params) -> tuple[str, str]:
    """(expression as text, never NULL; typed numeric expression or '') for a fit field."""
    if path.startswith("contact.custom."):
        return f"coalesce(c.custom ->> {p(path[len('contact.custom.') :])}, '')", ""
    if path.startswith("company.custom."):
        return f"coalesce(co.custom ->> {p(path[len('company.custom.') :])}, '')", ""
    entity, name = path.split(".", 1)
    if path == "contact.email":
        return "c.email_normalized", ""
    if path == "contact.email_domain":
        return _EMAIL_DOMAIN, ""
    column = f"{_COLUMN[entity]}.{name}"
    if FIT_FIELDS[path] == NUMBER:
        return f"coalesce({column}::text, '')", column
    return f"coalesce({column}, '')", ""


_EMAIL_DOMAIN = (
    "(CASE WHEN strpos(c.email_normalized, '@') > 0 "
    "THEN lower(split_part(c.email_normalized, '@', -1)) ELSE '' END)"
)
_TRIM = "E' \\t\\n\\r'"


def _as_number(text: str) -> str:
    return f"(CASE WHEN {text} ~ '{NUMBER_PATTERN}' THEN btrim({text})::numeric END)"


def _domain_listed(domain: str, listed: str) -> str:
    return (
        f"({domain} <> '' AND EXISTS (SELECT 1 FROM unnest({listed}) AS x(d) "
        f"WHERE {domain} = x.d OR right({domain}, length(x.d) + 1) = '.' || x.d))"
    )


def fit_condition_sql(rule: RuleSpec, p: Params) -> str:
    operator, value = rule.operator, rule.value
    if operator == FitOperator.FREE_MAIL:
        condition = f"{_EMAIL_DOMAIN} = ANY({p(sorted(FREE_MAIL_DOMAINS), 'text[]')})"
    elif operator == FitOperator.COMPETITOR:
        listed = p(list(value), "text[]")
        company_domain = "lower(coalesce(co.domain, ''))"
        condition = f"({_domain_listed(_EMAIL_DOMAIN, listed)} OR {_domain_listed(company_domain, listed)})"
    else:
        assert field_kind(rule.field) is not None, rule.field
        text, typed = _field_sql(rule.field, p)
        normalized = f"lower(btrim({text}, {_TRIM}))"
        number = typed or _as_number(text)
        if operator == FitOperator.EQUALS:
            if _NUMBER.match(value):
                condition = (
                    f"(CASE WHEN {number} IS NOT NULL THEN {number} = {p(value, 'numeric')} "
                    f"ELSE {normalized} = {p(value)} END)"
                )
            else:
                condition = f"{normalized} = {p(value)}"
        elif operator == FitOperator.IN_LIST:
            condition = f"{normalized} = ANY({p(list(value), 'text[]')})"
        elif operator == FitOperator.CONTAINS:
            condition = f"strpos({normalized}, {p(value)}) > 0" if value else "FALSE"
        elif operator == FitOperator.CONTAINS_WORD:
            condition = f"regexp_split_to_array(lower({text}), '[^[:alnum:]]+') && {p(list(value), 'text[]')}"
        elif operator == FitOperator.BETWEEN:
            low, high = value
            parts = [f"{number} IS NOT NULL"]
            if low is not None:
                parts.append(f"{number} >= {p(low, 'numeric')}")
            if high is not None:
                parts.append(f"{number} <= {p(high, 'numeric')}")
            condition = "(" + " AND ".join(parts) + ")"
        elif operator == FitOperator.IS_BLANK:
            condition = f"btrim({text}, {_TRIM}) = ''"
        else:
            condition = "FALSE"
    condition = f"coalesce({condition}, FALSE)"
    return f"NOT {condition}" if rule.negate else condition


def touch_condition_sql(rule: RuleSpec, p: Params, at: dt.datetime) -> str:
    """Whether touchpoint `t` counts for the rule (its match and its window)."""
    match = rule.match
    parts: list[str] = []
    if match.types:
        parts.append(f"t.type = ANY({p(list(match.types), 'text[]')})")
    if match.url_contains:
        parts.append(f"strpos(lower(t.url), {p(match.url_contains)}) > 0")
    if match.property_key:
        key = p(match.property_key)
        if match.property_value:
            parts.append(f"lower(t.properties ->> {key}) = {p(match.property_value)}")
        else:
            parts.append(f"t.properties ? {key}")
    if rule.window_days is not None:
        parts.append(f"t.occurred_at > {p(at - dt.timedelta(days=rule.window_days), 'timestamptz')}")
    return " AND ".join(parts) or "TRUE"


def _capped(total: str, rule: RuleSpec) -> str:
    if rule.cap is None:
        return total
    return f"LEAST({total}, {rule.cap})" if rule.points >= 0 else f"GREATEST({total}, {-rule.cap})"


def _json_object(pairs: list[tuple[str, str]]) -> str:
    """jsonb of (key, int expression) pairs, leaving out the zero or NULL ones."""
    if not pairs:
        return "'{}'::jsonb"
    parts = []
    for start in range(0, len(pairs), JSON_PAIRS):
        chunk = pairs[start : start + JSON_PAIRS]
        arguments = ", ".join(f"'{key}', NULLIF({expression}, 0)" for key, expression in chunk)
        parts.append(f"jsonb_strip_nulls(jsonb_build_object({arguments}))")
    return " || ".join(parts)


def targets_select(spec: VersionSpec, at: dt.datetime, p: Params, lo: int, hi: int) -> str:
    """SELECT lead_id, r<id>..., fit, behaviour, engagement, maturity, product, maturity_stage."""
    at_sql = p(at, "timestamptz")
    aggregates: list[str] = []
    repeat_ctes: list[str] = []
    joins: list[str] = []
    columns: list[str] = []
    chunk_touchpoints = (
        f"t.lead_id >= {lo} AND t.lead_id <= {hi} AND t.occurred_at <= {at_sql} "
        "AND t.lead_id IN (SELECT lead_id FROM scoring_chunk)"
    )
    for rule in spec.rules:
        column = f"r{rule.id}"
        if rule.dimension == Dimension.FIT:
            columns.append(
                f"CASE WHEN {fit_condition_sql(rule, p)} THEN {rule.points} ELSE 0 END AS {column}"
            )
            continue
        condition = touch_condition_sql(rule, p, at)
        if rule.dimension == Dimension.BEHAVIOUR and rule.repeat_limit is not None:
            period = rule.repeat_window_days * 86400
            repeat_ctes.append(
                f"rep{rule.id} AS (SELECT lead_id, sum(LEAST(n, {rule.repeat_limit}))::bigint AS n FROM ("
                f"SELECT t.lead_id, floor(extract(epoch FROM t.occurred_at) / {period}) AS period, "
                f"count(*) AS n FROM leads_touchpoint t WHERE {chunk_touchpoints} AND {condition} "
                f"GROUP BY 1, 2) x GROUP BY lead_id)"
            )
            joins.append(f"LEFT JOIN rep{rule.id} ON rep{rule.id}.lead_id = l.id")
            columns.append(
                f"{_capped(f'{rule.points} * coalesce(rep{rule.id}.n, 0)', rule)}::int AS {column}"
            )
        elif rule.dimension == Dimension.BEHAVIOUR:
            aggregates.append(f"count(*) FILTER (WHERE {condition}) AS n{rule.id}")
            columns.append(f"{_capped(f'{rule.points} * coalesce(ta.n{rule.id}, 0)', rule)}::int AS {column}")
        elif rule.dimension == Dimension.ENGAGEMENT and rule.engagement_kind == EngagementKind.ACTIVITY:
            age = f"GREATEST(0, extract(epoch FROM ({at_sql} - t.occurred_at)) / 86400.0)"
            aggregates.append(
                f"sum(power(0.5, {age}::float8 / {rule.half_life_days})) FILTER (WHERE {condition}) "
                f"AS w{rule.id}"
            )
            weighted = f"floor({rule.points} * coalesce(ta.w{rule.id}, 0) + 0.5)"
            columns.append(f"{_capped(weighted, rule)}::int AS {column}")
        elif rule.dimension == Dimension.ENGAGEMENT and rule.engagement_kind == EngagementKind.FREQUENCY:
            aggregates.append(f"count(*) FILTER (WHERE {condition}) AS n{rule.id}")
            columns.append(
                f"CASE WHEN coalesce(ta.n{rule.id}, 0) >= {rule.min_count} THEN {rule.points} ELSE 0 END "
                f"AS {column}"
            )
        else:  # engagement recency and maturity: is there one such touchpoint?
            aggregates.append(f"coalesce(bool_or({condition}), FALSE) AS x{rule.id}")
    # Maturity: the first rule shown, in winning order, takes its points; the others none.
    shown_before: list[str] = []
    stage_cases: list[str] = []
    for rule in spec.maturity_order:
        shown = f"coalesce(ta.x{rule.id}, FALSE)"
        earlier = " AND ".join(f"NOT {s}" for s in shown_before)
        when = f"{shown} AND {earlier}" if earlier else shown
        columns.append(f"CASE WHEN {when} THEN {rule.points} ELSE 0 END AS r{rule.id}")
        stage_cases.append(f"WHEN {shown} THEN '{rule.buying_stage}'")
        shown_before.append(shown)
    for rule in spec.of(Dimension.ENGAGEMENT):
        if rule.engagement_kind == EngagementKind.RECENCY:
            columns.append(
                f"CASE WHEN coalesce(ta.x{rule.id}, FALSE) THEN {rule.points} ELSE 0 END AS r{rule.id}"
            )
    stage = f"(CASE {' '.join(stage_cases)} ELSE '' END)" if stage_cases else "''"
    columns.append(f"{stage}::varchar(12) AS maturity_stage")
    ctes: list[str] = []
    if aggregates:
        ctes.append(
            f"ta AS (SELECT t.lead_id, {', '.join(aggregates)} FROM leads_touchpoint t "
            f"WHERE {chunk_touchpoints} GROUP BY t.lead_id)"
        )
        joins.insert(0, "LEFT JOIN ta ON ta.lead_id = l.id")
    ctes.extend(repeat_ctes)
    inner = (
        f"{'WITH ' + ', '.join(ctes) if ctes else ''} "
        f"SELECT l.id AS lead_id{', ' if columns else ''}{', '.join(columns)} "
        "FROM scoring_chunk k JOIN leads_lead l ON l.id = k.lead_id "
        "JOIN leads_contact c ON c.id = l.contact_id "
        f"LEFT JOIN leads_company co ON co.id = c.company_id {' '.join(joins)}"
    )

    def total(dimension: str, product: bool = False) -> str:
        rules = [
            r
            for r in spec.of(dimension)
            if not product or (r.product_usage and dimension == Dimension.BEHAVIOUR)
        ]
        return " + ".join(f"s.r{r.id}" for r in rules) or "0"

    sums = ", ".join(
        [
            *(f"({total(d)})::int AS {d}" for d in Dimension.values),
            f"({total(Dimension.BEHAVIOUR, product=True)})::int AS product",
        ]
    )
    return f"SELECT s.*, {sums} FROM ({inner}) s"


def grade_sql(fit: str, spec: VersionSpec) -> str:
    cases = " ".join(
        f"WHEN {fit} >= {int(spec.grade_thresholds[letter])} THEN '{letter}'" for letter in GRADES[:-1]
    )
    return f"(CASE {cases} ELSE '{GRADES[-1]}' END)"


def priority_sql(score: str, grade: str) -> str:
    weights = " ".join(f"WHEN '{g}' THEN {round(w * 100)}" for g, w in GRADE_WEIGHT.items() if g)
    return f"floor(({score} * (CASE {grade} {weights} ELSE 0 END) + 50)::numeric / 100)::int"


def contributions_sql(spec: VersionSpec, alias: str = "g") -> str:
    return _json_object([(r.key, f"{alias}.r{r.id}") for r in spec.rules])


def rule_deltas_sql(spec: VersionSpec, alias: str = "g") -> str:
    """Each rule's change against what the lead's LeadScore (`ls`) holds; a lead scored by another
    version has all of that version's contributions withdrawn."""
    same = f"ls.version_id = {spec.version_id}"

    def held(key: str) -> str:
        return f"CASE WHEN {same} THEN coalesce((ls.contributions ->> '{key}')::int, 0) ELSE 0 END"

    new = _json_object([(r.key, f"{alias}.r{r.id} - {held(r.key)}") for r in spec.rules])
    withdrawn = (
        f"CASE WHEN ls.id IS NOT NULL AND ls.version_id IS DISTINCT FROM {spec.version_id} "
        "AND ls.contributions <> '{}'::jsonb THEN (SELECT jsonb_object_agg(e.key, -(e.value::int)) "
        "FROM jsonb_each_text(ls.contributions) e) ELSE '{}'::jsonb END"
    )
    return f"({new}) || {withdrawn}"

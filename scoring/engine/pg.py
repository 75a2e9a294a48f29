"""The PostgreSQL evaluator: every rule of a version for a whole chunk of leads in one statement.

`targets_select()` builds one SELECT returning, per lead of the chunk, each rule's points (column
`r<rule id>`), the dimension sums and the maturity stage. The touchpoints are read once per chunk: one
aggregate with a FILTER per rule (count, decayed weight, presence in a window), plus one small
aggregate per rule with a repeat limit (occurrences per period). The definitions are those of
`scoring/engine/spec.py`, mirrored from `scoring/engine/python.py`.

A chunk is a range of lead ids (a recompute) or a list of them (an event's leads, a decay run's), given
as plain predicates and array parameters rather than a temporary table, so that PostgreSQL may read the
touchpoints with parallel workers. Row-level security keeps every table to the tenant of the transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
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


def _domain_listed(domain: str, pattern: str) -> str:
    return f"({domain} <> '' AND {domain} ~ {pattern})"


def _domains_pattern(domains: list[str]) -> str:
    """A regular expression matching each domain or any subdomain of it (one compiled regex per rule
    instead of a subquery per lead)."""
    return "(^|\\.)(" + "|".join(re.escape(d) for d in domains) + ")$"


def _words_pattern(words: list[str]) -> str:
    # The words are letters and digits only (checked when the rule is saved): nothing to escape.
    return "(^|[^[:alnum:]])(" + "|".join(words) + ")($|[^[:alnum:]])"


def fit_condition_sql(rule: RuleSpec, p: Params) -> str:
    operator, value = rule.operator, rule.value
    if operator == FitOperator.FREE_MAIL:
        condition = f"{_EMAIL_DOMAIN} = ANY({p(sorted(FREE_MAIL_DOMAINS), 'text[]')})"
    elif operator == FitOperator.COMPETITOR:
        pattern = p(_domains_pattern(list(value)))
        company_domain = "lower(coalesce(co.domain, ''))"
        condition = f"({_domain_listed(_EMAIL_DOMAIN, pattern)} OR {_domain_listed(company_domain, pattern)})"
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


def touch_condition_sql(
    rule: RuleSpec, p: Params, since: Callable[[int], str], *, url: str = "lower(t.url)"
) -> str:
    """Whether touchpoint `t` counts for the rule (its match and its window); `url` is the lower-cased
    URL (a column when the chunk's read lower-cases it once for every rule)."""
    match = rule.match
    parts: list[str] = []
    if match.types:
        parts.append(f"t.type = ANY({p(list(match.types), 'text[]')})")
    if match.url_contains:
        parts.append(f"strpos({url}, {p(match.url_contains)}) > 0")
    if match.property_key:
        key = p(match.property_key)
        if match.property_value:
            parts.append(f"lower(t.properties ->> {key}) = {p(match.property_value)}")
        else:
            parts.append(f"t.properties ? {key}")
    if rule.window_days is not None:
        parts.append(f"t.occurred_at > {since(rule.window_days)}")
    return " AND ".join(parts) or "TRUE"


def _capped(total: str, rule: RuleSpec) -> str:
    if rule.cap is None:
        return total
    return f"LEAST({total}, {rule.cap})" if rule.points >= 0 else f"GREATEST({total}, {-rule.cap})"


@dataclass
class TargetsPlan:
    """How to get each lead's targets: run `statements` (each creates the temporary table of the same
    index in `tables`, which the caller drops at the end of the chunk), then `select` reads the targets
    (the ledger step reads it as a subquery; a backtest stores it)."""

    statements: list[str]
    tables: list[str]
    select: str


def targets_plan(
    spec: VersionSpec,
    p: Params,
    *,
    at: dt.datetime | None = None,
    cutoffs: str = "",
    lo: int | None = None,
    hi: int | None = None,
    ids: list[int] | None = None,
) -> TargetsPlan:
    """Targets (lead_id, r<id>..., fit, behaviour, engagement, maturity, product, maturity_stage) of the
    leads with lo <= id < hi, or those in `ids`, or those of the table `cutoffs(lead_id, at)`, each scored
    at `at` or at its own cutoff moment (a backtest scores each lead as it stood before its outcome).

    Fit, the touchpoint aggregates and each repeat-limited rule are statements of their own, joined last
    by lead id: each is planned on its own (a join of them all was planned to aggregate the touchpoints
    once per parallel worker), and none evaluates a rule's expression twice.
    """
    if cutoffs:
        at_sql = "k.at"
        touch_from = f"leads_touchpoint t JOIN {cutoffs} k ON k.lead_id = t.lead_id"
        chunk_touchpoints = "t.occurred_at <= k.at"
        if lo is not None and hi is not None:
            # The chunk's range, so that its touchpoints are read by index rather than the whole table.
            chunk_touchpoints += f" AND t.lead_id >= {int(lo)} AND t.lead_id < {int(hi)}"
        lead_from = f"{cutoffs} k JOIN leads_lead l ON l.id = k.lead_id"
        chunk_leads = "TRUE"

        def since(days: int) -> str:
            return f"t.at - make_interval(days => {int(days)})"

    else:
        assert at is not None
        at_sql = p(at, "timestamptz")
        touch_from, lead_from = "leads_touchpoint t", "leads_lead l"
        if ids is not None:
            ids_sql = p(ids, "bigint[]")
            chunk_touchpoints, chunk_leads = f"t.lead_id = ANY({ids_sql})", f"l.id = ANY({ids_sql})"
        else:
            low, high = int(lo or 0), int(hi or 0)
            chunk_touchpoints = f"t.lead_id >= {low} AND t.lead_id < {high}"
            chunk_leads = f"l.id >= {low} AND l.id < {high}"
        chunk_touchpoints += f" AND t.occurred_at <= {at_sql}"

        def since(days: int) -> str:
            return p(at - dt.timedelta(days=days), "timestamptz")

    # The chunk's touchpoints, each URL lower-cased once for all the rules (OFFSET 0 keeps PostgreSQL
    # from folding the subquery back into its reader and lower-casing the URL once per rule).
    touches = (
        f"(SELECT t.lead_id, t.type, t.occurred_at, t.properties, lower(t.url) AS url_lower"
        f"{', k.at' if cutoffs else ''} FROM {touch_from} WHERE {chunk_touchpoints} OFFSET 0) t"
    )
    statements: list[str] = []
    tables: list[str] = []
    fit_columns: list[str] = []
    daily: list[tuple[str, str]] = []  # (aggregate over the chunk's touchpoints, alias)
    joins: list[str] = []
    columns: list[str] = []
    for rule in spec.rules:
        column = f"r{rule.id}"
        if rule.dimension == Dimension.FIT:
            fit_columns.append(
                f"CASE WHEN {fit_condition_sql(rule, p)} THEN {rule.points} ELSE 0 END AS {column}"
            )
            columns.append(f"f.{column}")
            continue
        condition = touch_condition_sql(rule, p, since, url="t.url_lower")
        if rule.dimension == Dimension.BEHAVIOUR and rule.repeat_limit == 1:
            # At most once per period: the number of periods with an occurrence, in the same read.
            period = rule.repeat_window_days * 86400
            daily.append(
                (
                    f"count(DISTINCT floor(date_part('epoch', t.occurred_at) / {period})) "
                    f"FILTER (WHERE {condition})",
                    f"n{rule.id}",
                )
            )
            columns.append(f"{_capped(f'{rule.points} * coalesce(ta.n{rule.id}, 0)', rule)}::int AS {column}")
        elif rule.dimension == Dimension.BEHAVIOUR and rule.repeat_limit is not None:
            # Occurrences per period, at most the limit of each: a small read of its own.
            period = rule.repeat_window_days * 86400
            table = f"scoring_rep{rule.id}"
            statements.append(
                f"CREATE TEMP TABLE {table} ON COMMIT DROP AS "
                f"SELECT lead_id, sum(LEAST(n, {rule.repeat_limit}))::bigint AS n FROM ("
                f"SELECT t.lead_id, floor(date_part('epoch', t.occurred_at) / {period}) AS period, "
                f"count(*) AS n FROM {touches} WHERE {condition} GROUP BY 1, 2) x GROUP BY lead_id"
            )
            tables.append(table)
            joins.append(f"LEFT JOIN {table} ON {table}.lead_id = f.lead_id")
            columns.append(f"{_capped(f'{rule.points} * coalesce({table}.n, 0)', rule)}::int AS {column}")
        elif rule.dimension == Dimension.BEHAVIOUR or (
            rule.dimension == Dimension.ENGAGEMENT and rule.engagement_kind == EngagementKind.FREQUENCY
        ):
            daily.append((f"count(*) FILTER (WHERE {condition})", f"n{rule.id}"))
            if rule.dimension == Dimension.BEHAVIOUR:
                counted = _capped(f"{rule.points} * coalesce(ta.n{rule.id}, 0)", rule)
                columns.append(f"{counted}::int AS {column}")
            else:
                columns.append(
                    f"CASE WHEN coalesce(ta.n{rule.id}, 0) >= {rule.min_count} THEN {rule.points} ELSE 0 END "
                    f"AS {column}"
                )
        elif rule.dimension == Dimension.ENGAGEMENT and rule.engagement_kind == EngagementKind.ACTIVITY:
            # date_part, not extract: extract returns numeric, and numeric arithmetic per touchpoint is slow.
            moment = "t.at" if cutoffs else at_sql
            age = f"GREATEST(0, date_part('epoch', {moment} - t.occurred_at) / 86400.0)"
            daily.append(
                (
                    f"sum(power(0.5, {age}::float8 / {rule.half_life_days})) FILTER (WHERE {condition})",
                    f"w{rule.id}",
                )
            )
            weighted = f"floor({rule.points} * coalesce(ta.w{rule.id}, 0) + 0.5)"
            columns.append(f"{_capped(weighted, rule)}::int AS {column}")
        else:  # engagement recency and maturity: is there one such touchpoint?
            daily.append((f"bool_or({condition})", f"x{rule.id}"))
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
    if daily:
        direct = ", ".join(f"{expression} AS {alias}" for expression, alias in daily)
        select = f"SELECT t.lead_id, {direct} FROM {touches} GROUP BY t.lead_id"
        statements.insert(0, f"CREATE TEMP TABLE scoring_ta ON COMMIT DROP AS {select}")
        tables.insert(0, "scoring_ta")
        joins.insert(0, "LEFT JOIN scoring_ta ta ON ta.lead_id = f.lead_id")
    # Fit: the leads with their contact and company, in a statement of its own so that workers share it.
    statements.insert(
        0,
        "CREATE TEMP TABLE scoring_fit ON COMMIT DROP AS "
        f"SELECT l.id AS lead_id{''.join(', ' + c for c in fit_columns)} FROM {lead_from} "
        "JOIN leads_contact c ON c.id = l.contact_id "
        f"LEFT JOIN leads_company co ON co.id = c.company_id WHERE {chunk_leads}",
    )
    tables.insert(0, "scoring_fit")
    inner_select = f"SELECT f.lead_id, {', '.join(columns)} FROM scoring_fit f {' '.join(joins)} OFFSET 0"

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
    return TargetsPlan(
        statements=statements, tables=tables, select=f"SELECT s.*, {sums} FROM ({inner_select}) s"
    )


def grade_sql(fit: str, spec: VersionSpec) -> str:
    cases = " ".join(
        f"WHEN {fit} >= {int(spec.grade_thresholds[letter])} THEN '{letter}'" for letter in GRADES[:-1]
    )
    return f"(CASE {cases} ELSE '{GRADES[-1]}' END)"


def priority_sql(score: str, grade: str) -> str:
    weights = " ".join(f"WHEN '{g}' THEN {round(w * 100)}" for g, w in GRADE_WEIGHT.items() if g)
    return f"floor(({score} * (CASE {grade} {weights} ELSE 0 END) + 50)::numeric / 100)::int"


def points_sql(spec: VersionSpec, alias: str = "g") -> str:
    """The lead's points per rule as an int[] in `spec.order`."""
    return "ARRAY[" + ", ".join(f"{alias}.r{rule_id}" for rule_id in spec.order) + "]::int[]"


def rule_deltas_sql(spec: VersionSpec, alias: str = "g") -> str:
    """Each rule's change against what the lead's LeadScore (`ls`) holds for the same version; a lead
    scored by another version starts from zero (its old points are withdrawn, see `withdrawn_sql`)."""
    same = f"ls.version_id = {spec.version_id}"
    deltas = ", ".join(
        f"{alias}.r{rule_id} - CASE WHEN {same} THEN coalesce(ls.rule_points[{index}], 0) ELSE 0 END"
        for index, rule_id in enumerate(spec.order, start=1)
    )
    return f"ARRAY[{deltas}]::int[]"


def withdrawn_sql(spec: VersionSpec) -> str:
    return (
        f"CASE WHEN ls.id IS NOT NULL AND ls.version_id IS DISTINCT FROM {spec.version_id} "
        "THEN ls.rule_points ELSE '{}'::int[] END"
    )

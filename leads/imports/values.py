"""How an import reads a cell: type inference for new custom fields, and the validation of a row.

Each rule exists twice, side by side: in Python (the SQLite path and the dashboard preview) and as a
PostgreSQL expression (the set-based path). tests/capture/test_imports_values.py runs the same cells
through both and compares.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from leads.imports.spec import (
    COMPANY_TARGETS,
    CONTACT_TARGETS,
    CustomColumn,
    ImportSpec,
    placeholder_email,
)
from leads.models import CustomFieldType, Stage
from leads.services import domain_normalize

# Django's EmailValidator for dot-atom addresses with an ASCII domain (quoted local parts and address
# literals are refused: no marketing list needs them, and both import paths must agree). Label lengths
# (at most 63) are not checked: bounded repeats make PostgreSQL's regex engine slow.
EMAIL_PATTERN = (
    r"^[-!#$%&'*+/=?^_`{}|~0-9a-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9a-z]+)*"
    r"@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]+[a-z0-9]$"
)
EMAIL_RE = re.compile(EMAIL_PATTERN, re.IGNORECASE)

NUMBER_PATTERN = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
NUMBER_RE = re.compile(NUMBER_PATTERN)
DATE_PATTERN = r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$"
DATE_RE = re.compile(DATE_PATTERN)
TRUE_WORDS = ("true", "yes", "1", "y")
FALSE_WORDS = ("false", "no", "0", "n")
TEXT_LIMIT = 2000
# A column becomes a choice field when it has at most this many distinct values, each seen on average
# at least twice (so an id or a name column never does).
CHOICE_MAX = 20
ERROR_EMAIL = "email: Enter a valid email address."


# --- inference ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    header: str
    field_type: str
    blanks: int
    filled: int
    distinct: int
    samples: tuple[str, ...]
    choices: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "field_type": self.field_type,
            "blanks": self.blanks,
            "filled": self.filled,
            "distinct": self.distinct,
            "samples": list(self.samples),
            "choices": list(self.choices),
        }


def infer_type(values: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The narrowest type all non-blank values fit: boolean, number, date, choice, else text.

    Returns (type, choices). Yes/no words make a boolean only with at least one word among them (a
    column of 0 and 1 is a number)."""
    filled = [v.strip() for v in values if v and v.strip()]
    if not filled:
        return CustomFieldType.TEXT, ()
    lowered = {v.lower() for v in filled}
    words = set(TRUE_WORDS) | set(FALSE_WORDS)
    if lowered <= words and lowered - {"0", "1"}:
        return CustomFieldType.BOOLEAN, ()
    if all(NUMBER_RE.match(v) for v in filled):
        return CustomFieldType.NUMBER, ()
    if all(date_parse(v) is not None for v in filled):
        return CustomFieldType.DATE, ()
    distinct = sorted(set(filled))
    # One value seen many times is a choice too: the whole file may hold more (completed at import).
    few = (
        len(distinct) <= CHOICE_MAX
        and len(filled) >= 2 * len(distinct)
        and (len(distinct) > 1 or len(filled) >= 10)
    )
    if few and all(len(v) <= 100 for v in distinct):
        return CustomFieldType.CHOICE, tuple(distinct)
    return CustomFieldType.TEXT, ()


def profile_columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[ColumnProfile]:
    profiles = []
    for index, header in enumerate(headers):
        values = [row[index] if index < len(row) else "" for row in rows]
        filled = [v.strip() for v in values if v and v.strip()]
        field_type, choices = infer_type(filled)
        distinct = list(dict.fromkeys(filled))
        profiles.append(
            ColumnProfile(
                header=header,
                field_type=field_type,
                blanks=len(values) - len(filled),
                filled=len(filled),
                distinct=len(set(filled)),
                samples=tuple(distinct[:5]),
                choices=choices,
            )
        )
    return profiles


# --- Python rules ------------------------------------------------------------------------------


def date_parse(text: str) -> dt.date | None:
    match = DATE_RE.match(text)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def custom_cell(column: CustomColumn, raw: str) -> Any:
    """The typed value of a custom cell (None when blank), or ValueError with the reason."""
    text = (raw or "").strip()
    if not text:
        return None
    kind = column.field_type
    if kind == CustomFieldType.TEXT:
        if len(text) > TEXT_LIMIT:
            raise ValueError("Text is limited to 2,000 characters.")
        return text
    if kind == CustomFieldType.NUMBER:
        if not NUMBER_RE.match(text):
            raise ValueError(f"'{text}' is not a number.")
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() and "." not in text else float(number)
    if kind == CustomFieldType.BOOLEAN:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError(f"'{text}' is not yes or no.")
    if kind == CustomFieldType.DATE:
        parsed = date_parse(text)
        if parsed is None:
            raise ValueError(f"'{text}' is not a date (expected YYYY-MM-DD).")
        return parsed.isoformat()
    if kind == CustomFieldType.CHOICE:
        if column.choices and text not in column.choices:
            raise ValueError(f"'{text}' is not one of: {', '.join(column.choices)}.")
        return text
    raise ValueError(f"Unknown field type {kind}.")


@dataclass
class CleanRow:
    row_number: int
    email: str
    contact: dict[str, str]
    company: dict[str, str]
    custom: dict[str, Any]
    stage: str
    stage_raw: str
    errors: list[str]

    @property
    def company_label(self) -> str:
        return self.company.get("company") or self.company.get("company_domain") or ""

    @property
    def name(self) -> str:
        return f"{self.contact.get('first_name', '')} {self.contact.get('last_name', '')}".strip()


def row_clean(spec: ImportSpec, cells: Sequence[str], *, row_number: int, job_id: int) -> CleanRow:
    """One file row as the import stores it, with every reason to refuse it."""
    errors: list[str] = []

    def cell(index: int | None) -> str:
        if index is None or index >= len(cells):
            return ""
        return (cells[index] or "").strip()

    email = cell(spec.standard.get("email"))
    external = cell(spec.standard.get("external_id"))
    if "email" in spec.standard and email:
        if len(email) > 254 or not EMAIL_RE.match(email):
            errors.append(ERROR_EMAIL)
    elif "email" in spec.standard and not external:
        errors.append("email: The row has no email address.")
    else:
        if "external_id" in spec.standard and not external:
            errors.append("external_id: The row has neither an email address nor an external id.")
        email = placeholder_email(external_id=external, job_id=job_id, row_number=row_number)
    contact: dict[str, str] = {}
    for target, (_, limit) in CONTACT_TARGETS.items():
        if target == "email" or target not in spec.standard:
            continue
        value = cell(spec.standard[target])
        if len(value) > limit:
            errors.append(
                f"{target}: Ensure this value has at most {limit} characters (it has {len(value)})."
            )
        contact[target] = value
    company: dict[str, str] = {}
    for target, (_, limit) in COMPANY_TARGETS.items():
        if target not in spec.standard:
            continue
        value = cell(spec.standard[target])
        if target == "company_domain":
            value = domain_normalize(value)
        if len(value) > limit:
            errors.append(
                f"{target}: Ensure this value has at most {limit} characters (it has {len(value)})."
            )
        company[target] = value
    custom: dict[str, Any] = {}
    for column in spec.custom:
        try:
            value = custom_cell(column, cell(column.index))
        except ValueError as exc:
            errors.append(f"{column.header}: {exc}")
            continue
        if value is not None:
            custom[column.key] = value
    stage_raw = cell(spec.stage_column)
    stage = spec.stage_map.get(stage_raw, Stage.COLD) if spec.stage_column is not None else Stage.COLD
    return CleanRow(row_number, email, contact, company, custom, stage, stage_raw, errors)


# --- PostgreSQL expressions ----------------------------------------------------------------------
# `v` below is always a trimmed cell, '' when blank: see loader_pg.cell().


def sql_literal(text: str) -> str:
    """A string constant for SQL run WITH parameters (psycopg reads % as a placeholder, so it doubles)."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


def sql_email_errors(email: str, external: str | None, has_email: bool, has_external: bool) -> list[str]:
    """CASE expressions that yield an error text or NULL, mirroring row_clean's identity rules."""
    if has_email:
        missing = "NULL" if has_external else sql_literal("email: The row has no email address.")
        return [
            f"CASE WHEN {email} = '' THEN {missing} "
            f"WHEN length({email}) > 254 OR {email} !~* {sql_literal(EMAIL_PATTERN)} "
            f"THEN {sql_literal(ERROR_EMAIL)} END"
        ]
    if has_external:
        assert external is not None
        return [
            f"CASE WHEN {external} = '' THEN "
            f"{sql_literal('external_id: The row has neither an email address nor an external id.')} END"
        ]
    return []


def sql_length_error(target: str, value: str, limit: int) -> str:
    return (
        f"CASE WHEN length({value}) > {limit} THEN {sql_literal(target + ': Ensure this value has at most ')}"
        f" || '{limit} characters (it has ' || length({value}) || ').' END"
    )


def sql_date_parts(v: str) -> tuple[str, str, str]:
    return tuple(f"split_part({v}, '-', {i})::int" for i in (1, 2, 3))  # type: ignore[return-value]


def sql_date_valid(v: str) -> str:
    # CASE, not AND: SQL does not promise to test the pattern before it casts the parts.
    y, m, d = sql_date_parts(v)
    return (
        f"(CASE WHEN {v} ~ {sql_literal(DATE_PATTERN)} THEN {y} >= 1 AND {m} BETWEEN 1 AND 12 AND {d} >= 1 "
        f"AND {d} <= CASE WHEN {m} IN (1, 3, 5, 7, 8, 10, 12) THEN 31 WHEN {m} <> 2 THEN 30 "
        f"WHEN mod({y}, 4) = 0 AND (mod({y}, 100) <> 0 OR mod({y}, 400) = 0) THEN 29 ELSE 28 END "
        "ELSE false END)"
    )


def sql_custom(column: CustomColumn, v: str) -> tuple[str, str]:
    """(jsonb value or NULL, error text or NULL) for a custom cell."""
    header = sql_literal(column.header + ": ")
    kind = column.field_type
    if kind == CustomFieldType.TEXT:
        return (
            f"CASE WHEN {v} <> '' AND length({v}) <= {TEXT_LIMIT} THEN to_jsonb({v}) END",
            f"CASE WHEN length({v}) > {TEXT_LIMIT} "
            f"THEN {header} || 'Text is limited to 2,000 characters.' END",
        )
    if kind == CustomFieldType.NUMBER:
        ok = f"{v} ~ {sql_literal(NUMBER_PATTERN)}"
        return (
            f"CASE WHEN {v} <> '' AND {ok} THEN to_jsonb({v}::numeric) END",
            f"CASE WHEN {v} <> '' AND NOT ({ok}) THEN {header} || '''' || {v} || ''' is not a number.' END",
        )
    if kind == CustomFieldType.BOOLEAN:
        true_words = ", ".join(sql_literal(w) for w in TRUE_WORDS)
        false_words = ", ".join(sql_literal(w) for w in FALSE_WORDS)
        return (
            f"CASE WHEN lower({v}) IN ({true_words}) THEN 'true'::jsonb "
            f"WHEN lower({v}) IN ({false_words}) THEN 'false'::jsonb END",
            f"CASE WHEN {v} <> '' AND lower({v}) NOT IN ({true_words}, {false_words}) "
            f"THEN {header} || '''' || {v} || ''' is not yes or no.' END",
        )
    if kind == CustomFieldType.DATE:
        valid = sql_date_valid(v)
        y, m, d = sql_date_parts(v)
        iso = f"lpad({y}::text, 4, '0') || '-' || lpad({m}::text, 2, '0') || '-' || lpad({d}::text, 2, '0')"
        return (
            f"CASE WHEN {v} <> '' AND {valid} THEN to_jsonb({iso}) END",
            f"CASE WHEN {v} <> '' AND NOT {valid} THEN {header} || '''' || {v} || "
            f"''' is not a date (expected YYYY-MM-DD).' END",
        )
    if kind == CustomFieldType.CHOICE:
        if not column.choices:
            return f"CASE WHEN {v} <> '' THEN to_jsonb({v}) END", "NULL"
        allowed = "ARRAY[" + ", ".join(sql_literal(c) for c in column.choices) + "]::text[]"
        listed = sql_literal(", ".join(column.choices) + ".")
        return (
            f"CASE WHEN {v} <> '' AND {v} = ANY({allowed}) THEN to_jsonb({v}) END",
            f"CASE WHEN {v} <> '' AND NOT ({v} = ANY({allowed})) "
            f"THEN {header} || '''' || {v} || ''' is not one of: ' || {listed} END",
        )
    raise ValueError(f"Unknown field type {kind}.")

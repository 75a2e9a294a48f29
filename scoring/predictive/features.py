"""The raw material of the predictive model: every lead of the organization with its outcome (if known),
the moment that outcome became known, and the value of every candidate field as it stood before it.

Extraction is set-based: one query for the leads with their contact and company, one GROUP BY over the
stage history, one GROUP BY over the touchpoints (joined to each lead's outcome time, so that only what
happened before the outcome counts). Fields are discovered from the organization's own data: the fit
fields every organization has, its custom field definitions (contact and company), the touchpoint types
it records, and the lead's source channel. The stage itself is never a field: it is the label.

Labels: positive when the lead ever reached `customer`; negative when it was disqualified or recycled, or
stayed open with no touchpoint and no stage change for `inactive_days` (then its history up to its last
activity is what counts); otherwise it is unlabelled and only scored.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Max, Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from leadhub.tenancy.context import current_organization_id
from leads.models import (
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
    TouchpointType,
)

POSITIVE_STAGES: frozenset[str] = frozenset({Stage.CUSTOMER})
# A lost deal would count here too once deals exist; today the funnel's side exits are the lost outcomes.
NEGATIVE_STAGES: frozenset[str] = frozenset({Stage.DISQUALIFIED, Stage.RECYCLED})

NUMERIC = "numeric"
CATEGORICAL = "categorical"
TOKENS = "tokens"

UNLABELLED = -1
DAY = 86400.0
# Raw SQL lead filters are chunked: SQLite allows at most 32,766 parameters per statement.
ID_CHUNK = 5000


@dataclass(frozen=True)
class FieldSpec:
    """A candidate field: its key (what users exclude), its label in sentences, and how it is encoded."""

    key: str
    label: str
    kind: str
    group: str


@dataclass
class LeadFrame:
    """Leads in (created_at, id) order with their labels and field values (columns of equal length)."""

    lead_ids: np.ndarray
    created: np.ndarray  # epoch seconds, for the out-of-time order
    labels: np.ndarray  # 1, 0 or UNLABELLED
    cutoffs: np.ndarray  # epoch seconds: the moment the features describe
    fields: list[FieldSpec]
    values: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lead_ids)

    @property
    def labelled(self) -> np.ndarray:
        return np.flatnonzero(self.labels != UNLABELLED)


def _epoch(value: Any) -> float | None:
    """A timestamp from the ORM or a raw cursor (SQLite hands back text) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return None
        value = parsed
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return None


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else math.nan
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _category(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip().casefold()
    return text[:100] or None


def _date_days(value: Any, created: float) -> float:
    """A date custom field as days after the lead's creation (negative: before)."""
    parsed = parse_date(str(value)) if value else None
    if parsed is None:
        return math.nan
    moment = dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.UTC).timestamp()
    return round((moment - created) / DAY)


FIT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("contact.job_title", "job title", TOKENS, "Fit"),
    FieldSpec("contact.country", "country", CATEGORICAL, "Fit"),
    FieldSpec("company.industry", "company industry", CATEGORICAL, "Fit"),
    FieldSpec("company.employee_count", "company size (employees)", NUMERIC, "Fit"),
    FieldSpec("company.annual_revenue", "company revenue", NUMERIC, "Fit"),
    FieldSpec("company.country", "company country", CATEGORICAL, "Fit"),
    FieldSpec("lead.source_channel", "source channel", CATEGORICAL, "Source"),
)
TOUCH_SUMMARY_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("touch.total", "number of touchpoints", NUMERIC, "Touchpoints"),
    FieldSpec("touch.recency_days", "days since the last touchpoint", NUMERIC, "Touchpoints"),
    FieldSpec("touch.tenure_days", "days since the first touchpoint", NUMERIC, "Touchpoints"),
    FieldSpec("touch.per_month", "touchpoints per 30 days", NUMERIC, "Touchpoints"),
)


def _custom_spec(definition: CustomField) -> FieldSpec:
    prefix = "cf" if definition.entity == CustomFieldEntity.CONTACT else "company_cf"
    kind = NUMERIC if definition.field_type in {CustomFieldType.NUMBER, CustomFieldType.DATE} else CATEGORICAL
    label = definition.label or definition.key
    if definition.entity == CustomFieldEntity.COMPANY:
        label = f"company {label}"
    if definition.field_type == CustomFieldType.DATE:
        label = f"{label} (days after the lead arrived)"
    return FieldSpec(f"{prefix}.{definition.key}", label, kind, "Custom field")


def _touch_type_spec(touch_type: str) -> FieldSpec:
    try:
        name = str(TouchpointType(touch_type).label).lower()
    except ValueError:
        name = touch_type.replace("_", " ")
    return FieldSpec(f"touch.count.{touch_type}", f"number of {name} touchpoints", NUMERIC, "Touchpoints")


def field_catalogue() -> list[FieldSpec]:
    """Every field the organization's model could use (the excluded-fields editor lists these)."""
    definitions = list(CustomField.objects.order_by("entity", "position", "key"))
    types = sorted(
        Touchpoint.objects.filter(lead__isnull=False).values_list("type", flat=True).distinct().order_by()
    )
    return [
        *FIT_FIELDS,
        *(_custom_spec(d) for d in definitions),
        *TOUCH_SUMMARY_FIELDS,
        *(_touch_type_spec(t) for t in types),
    ]


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def _stage_outcomes(
    lead_ids: Sequence[int] | None,
) -> dict[int, tuple[float | None, float | None, float | None]]:
    """lead id -> (first time it reached a positive stage, first negative, last stage change)."""
    queryset = StageChange.objects.order_by()
    aggregates = {
        "pos_at": Min("changed_at", filter=Q(to_stage__in=POSITIVE_STAGES)),
        "neg_at": Min("changed_at", filter=Q(to_stage__in=NEGATIVE_STAGES)),
        "last_at": Max("changed_at"),
    }
    out: dict[int, tuple[float | None, float | None, float | None]] = {}
    batches: Iterable[Sequence[int] | None] = [None] if lead_ids is None else _chunks(lead_ids)
    for batch in batches:
        rows = queryset if batch is None else queryset.filter(lead_id__in=batch)
        for row in (
            rows.values("lead_id")
            .annotate(**aggregates)
            .values_list("lead_id", "pos_at", "neg_at", "last_at")
        ):
            out[row[0]] = (_epoch(row[1]), _epoch(row[2]), _epoch(row[3]))
    return out


def _touch_sql(table_touch: str, table_change: str, lead_filter: str) -> str:
    # Each lead's touchpoints up to its outcome (first positive, else first negative stage change):
    # what the lead did after the outcome was known must not teach the model about the outcome.
    positive = ", ".join(f"'{s}'" for s in sorted(POSITIVE_STAGES))
    negative = ", ".join(f"'{s}'" for s in sorted(NEGATIVE_STAGES))
    return f"""
        WITH outcome AS (
            SELECT c.lead_id,
                   COALESCE(MIN(CASE WHEN c.to_stage IN ({positive}) THEN c.changed_at END),
                            MIN(CASE WHEN c.to_stage IN ({negative}) THEN c.changed_at END)) AS cut
            FROM {table_change} c
            WHERE c.organization_id = %s {lead_filter.format(column="c.lead_id")}
            GROUP BY c.lead_id
        )
        SELECT t.lead_id, t.type, COUNT(*), MIN(t.occurred_at), MAX(t.occurred_at)
        FROM {table_touch} t
        LEFT JOIN outcome o ON o.lead_id = t.lead_id
        WHERE t.organization_id = %s AND t.lead_id IS NOT NULL AND t.occurred_at <= %s
          AND (o.cut IS NULL OR t.occurred_at < o.cut) {lead_filter.format(column="t.lead_id")}
        GROUP BY t.lead_id, t.type
    """


def _touch_aggregates(
    lead_ids: Sequence[int] | None, now: dt.datetime
) -> dict[int, dict[str, tuple[int, float, float]]]:
    """lead id -> {touchpoint type: (count, first, last)} before the lead's outcome."""
    organization_id = current_organization_id()
    now_param = connection.ops.adapt_datetimefield_value(now)
    out: dict[int, dict[str, tuple[int, float, float]]] = {}
    batches: Iterable[Sequence[int] | None] = [None] if lead_ids is None else _chunks(lead_ids)
    for batch in batches:
        if batch is None:
            lead_filter, ids = "", []
        else:
            placeholders = ", ".join(["%s"] * len(batch))
            lead_filter, ids = f"AND {{column}} IN ({placeholders})", list(batch)
        sql = _touch_sql(Touchpoint._meta.db_table, StageChange._meta.db_table, lead_filter)
        with connection.cursor() as cursor:
            cursor.execute(sql, [organization_id, *ids, organization_id, now_param, *ids])
            for lead_id, touch_type, count, first, last in cursor.fetchall():
                first_at, last_at = _epoch(first), _epoch(last)
                if first_at is None or last_at is None:
                    continue
                out.setdefault(lead_id, {})[touch_type] = (int(count), first_at, last_at)
    return out


LEAD_COLUMNS = (
    "id",
    "created_at",
    "source_channel",
    "contact__job_title",
    "contact__country",
    "contact__custom",
    "contact__company__industry",
    "contact__company__employee_count",
    "contact__company__annual_revenue",
    "contact__company__country",
    "contact__company__custom",
)


def lead_frame_extract(
    *,
    inactive_days: int,
    lead_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
    required: Iterable[str] = (),
) -> LeadFrame:
    """The organization's leads (or `lead_ids` of them) with labels, cutoffs and candidate field values.

    `required` names field keys the frame must hold even when none of these leads has them (a model scoring a
    few leads needs its count of webinars, zero for a lead that never attended one)."""
    now = now or timezone.now()
    now_ts = now.timestamp()
    definitions = list(CustomField.objects.order_by("entity", "position", "key"))
    contact_defs = [d for d in definitions if d.entity == CustomFieldEntity.CONTACT]
    company_defs = [d for d in definitions if d.entity == CustomFieldEntity.COMPANY]

    queryset = Lead.objects.order_by("created_at", "id")
    rows: list[tuple[Any, ...]] = []
    if lead_ids is None:
        rows = list(queryset.values_list(*LEAD_COLUMNS).iterator(chunk_size=5000))
    else:
        for batch in _chunks(sorted(set(lead_ids))):
            rows += list(queryset.filter(id__in=batch).values_list(*LEAD_COLUMNS))
        rows.sort(key=lambda r: (r[1], r[0]))
    ids = [r[0] for r in rows]
    outcomes = _stage_outcomes(None if lead_ids is None else ids)
    touches = _touch_aggregates(None if lead_ids is None else ids, now)

    n = len(rows)
    labels = np.full(n, UNLABELLED, dtype=np.int8)
    cutoffs = np.full(n, now_ts, dtype=np.float64)
    created = np.empty(n, dtype=np.float64)
    inactive = inactive_days * DAY
    for i, row in enumerate(rows):
        created[i] = row[1].timestamp()
        pos_at, neg_at, last_change = outcomes.get(row[0], (None, None, None))
        if pos_at is not None:
            labels[i], cutoffs[i] = 1, pos_at
        elif neg_at is not None:
            labels[i], cutoffs[i] = 0, neg_at
        else:
            lead_touches = touches.get(row[0], {})
            last_touch = max((t[2] for t in lead_touches.values()), default=None)
            last_activity = max(v for v in (created[i], last_change, last_touch) if v is not None)
            if inactive_days > 0 and now_ts - last_activity > inactive:
                # Gone quiet: lost. Its features are those of its last active moment, not of today,
                # or "days since the last touchpoint" would restate the label.
                labels[i], cutoffs[i] = 0, last_activity

    wanted = {key.removeprefix("touch.count.") for key in required if key.startswith("touch.count.")}
    touch_types = sorted({t for per_lead in touches.values() for t in per_lead} | wanted)
    fields: list[FieldSpec] = [
        *FIT_FIELDS,
        *(_custom_spec(d) for d in definitions),
        *TOUCH_SUMMARY_FIELDS,
        *(_touch_type_spec(t) for t in touch_types),
    ]
    values: dict[str, list[Any]] = {spec.key: [None] * n for spec in fields}
    fit_sources = {
        "contact.job_title": 3,
        "contact.country": 4,
        "company.industry": 6,
        "company.employee_count": 7,
        "company.annual_revenue": 8,
        "company.country": 9,
        "lead.source_channel": 2,
    }
    for spec in FIT_FIELDS:
        column = values[spec.key]
        index = fit_sources[spec.key]
        for i, row in enumerate(rows):
            raw = row[index]
            if spec.kind == NUMERIC:
                column[i] = _number(raw)
            elif spec.kind == TOKENS:
                column[i] = (raw or "").strip()
            else:
                column[i] = _category(raw)
    for defs, index, prefix in ((contact_defs, 5, "cf"), (company_defs, 10, "company_cf")):
        for definition in defs:
            column = values[f"{prefix}.{definition.key}"]
            for i, row in enumerate(rows):
                custom = row[index] if isinstance(row[index], dict) else {}
                raw = custom.get(definition.key)
                if definition.field_type == CustomFieldType.NUMBER:
                    column[i] = _number(raw)
                elif definition.field_type == CustomFieldType.DATE:
                    column[i] = _date_days(raw, created[i])
                else:
                    column[i] = _category(raw)
    for i, lead_id in enumerate(ids):
        lead_touches = touches.get(lead_id, {})
        total = sum(t[0] for t in lead_touches.values())
        values["touch.total"][i] = float(total)
        for touch_type in touch_types:
            values[f"touch.count.{touch_type}"][i] = float(lead_touches.get(touch_type, (0, 0, 0))[0])
        if total:
            first = min(t[1] for t in lead_touches.values())
            last = max(t[2] for t in lead_touches.values())
            tenure = max(0.0, (cutoffs[i] - first) / DAY)
            values["touch.recency_days"][i] = round(max(0.0, (cutoffs[i] - last) / DAY), 1)
            values["touch.tenure_days"][i] = round(tenure, 1)
            values["touch.per_month"][i] = round(30.0 * total / max(tenure, 1.0), 2)
        else:
            values["touch.recency_days"][i] = math.nan
            values["touch.tenure_days"][i] = math.nan
            values["touch.per_month"][i] = 0.0
    return LeadFrame(
        lead_ids=np.asarray(ids, dtype=np.int64),
        created=created,
        labels=labels,
        cutoffs=cutoffs,
        fields=fields,
        values=values,
    )

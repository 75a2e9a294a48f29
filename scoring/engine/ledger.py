"""Writing a rescoring: ledger rows, running totals and the lead's own score, in one transaction.

Both paths do the same thing for each lead: compare the version's targets with the lead's `LeadScore`,
write one `ScoreChange` row holding every difference (nothing when nothing changed), then set the totals.
- `score_chunk_pg()`: PostgreSQL, a chunk of leads in a handful of set-based statements.
- `score_leads_portable()`: any database, lead by lead in Python, written in bulk.

Concurrency: every writer of a lead's scores first takes a transaction-scoped advisory lock on the block
of lead ids the lead belongs to (`LOCK_BLOCK_BITS`), in ascending order, so an incremental rescoring and a
recompute chunk never both compute a delta from the same totals. SQLite serialises writers by itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from leadhub.tenancy.context import current_organization_id
from leads.models import Lead, Touchpoint
from scoring.engine import pg
from scoring.engine.python import Touch, evaluate
from scoring.engine.spec import Targets, VersionSpec, grade_for, priority_for
from scoring.models import Cause, LeadScore, ScoreChange

LOCK_BLOCK_BITS = 14
_LOCK_SPACE = 0x5C0E << 48
PORTABLE_BATCH = 500


@dataclass(frozen=True)
class ScoreEvent:
    """Why a rescoring happens, as the ledger records it."""

    cause: str
    touchpoint_ids: tuple[int, ...] = ()
    fields: tuple[str, ...] = ()
    note: str = ""


@dataclass
class ChunkResult:
    leads: int = 0
    ledger_rows: int = 0
    lead_ids: list[int] = field(default_factory=list)

    def add(self, other: ChunkResult) -> None:
        self.leads += other.leads
        self.ledger_rows += other.ledger_rows
        self.lead_ids.extend(other.lead_ids)


def lock_key(organization_id: int, lead_id: int) -> int:
    return _LOCK_SPACE | ((organization_id & 0xFFFFFF) << 24) | ((lead_id >> LOCK_BLOCK_BITS) & 0xFFFFFF)


def lock_leads(lead_ids: Iterable[int]) -> None:
    """Take the scoring locks of these leads' blocks (PostgreSQL; a no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return
    organization_id = current_organization_id()
    keys = sorted({lock_key(organization_id, i) for i in lead_ids})
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) x",
                [keys],
            )


# --- PostgreSQL ---------------------------------------------------------------------------------


def _chunk_fill(
    cursor: object, *, lead_ids: Sequence[int] | None, lo: int, hi: int, decay_keys: list[str] | None
) -> None:
    execute = cursor.execute  # type: ignore[attr-defined]
    execute("DROP TABLE IF EXISTS scoring_chunk, scoring_targets, scoring_delta")
    execute("CREATE TEMP TABLE scoring_chunk (lead_id bigint PRIMARY KEY) ON COMMIT DROP")
    if lead_ids is not None:
        execute(
            "INSERT INTO scoring_chunk SELECT id FROM leads_lead WHERE id = ANY(%s::bigint[])",
            [list(lead_ids)],
        )
    elif decay_keys is not None:
        execute(
            "INSERT INTO scoring_chunk SELECT ls.lead_id FROM scoring_leadscore ls "
            "WHERE ls.lead_id >= %s AND ls.lead_id < %s AND ls.contributions ?| %s::text[]",
            [lo, hi, decay_keys],
        )
    else:
        execute("INSERT INTO scoring_chunk SELECT id FROM leads_lead WHERE id >= %s AND id < %s", [lo, hi])
    execute("ANALYZE scoring_chunk")


def score_chunk_pg(
    *,
    spec: VersionSpec,
    at: dt.datetime,
    event: ScoreEvent,
    lead_ids: Sequence[int] | None = None,
    lo: int = 0,
    hi: int = 0,
    decay_only: bool = False,
) -> ChunkResult:
    """Rescore the leads `lead_ids`, or those with lo <= id < hi (with `decay_only`, only the ones
    holding points of a time-dependent rule), under `spec` at the moment `at`."""
    organization_id = current_organization_id()
    decay_keys = [r.key for r in spec.rules if r.time_dependent] if decay_only else None
    if decay_only and not decay_keys:
        return ChunkResult()
    now = timezone.now()
    with connection.cursor() as cursor:
        _chunk_fill(cursor, lead_ids=lead_ids, lo=lo, hi=hi, decay_keys=decay_keys)
        cursor.execute("SELECT count(*), min(lead_id), max(lead_id) FROM scoring_chunk")
        count, first, last = cursor.fetchone()
        if not count:
            return ChunkResult()
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT %s::bigint "
            "| ((%s::bigint & 16777215) << 24) | ((lead_id >> %s) & 16777215) AS k "
            "FROM scoring_chunk ORDER BY 1) x",
            [_LOCK_SPACE, organization_id, LOCK_BLOCK_BITS],
        )
        p = pg.Params()
        targets = pg.targets_select(spec, at, p, first, last)
        cursor.execute(f"CREATE TEMP TABLE scoring_targets ON COMMIT DROP AS {targets}", p.values)
        cursor.execute(
            _DELTA_SQL.format(
                contributions=pg.contributions_sql(spec),
                deltas=pg.rule_deltas_sql(spec),
                grade=pg.grade_sql("d.fit", spec),
                priority=pg.priority_sql("d.score", pg.grade_sql("d.fit", spec)),
            )
        )
        touchpoint = (
            "(SELECT max(t.id) FROM leads_touchpoint t "
            "WHERE t.lead_id = d.lead_id AND t.id = ANY(%(tps)s::bigint[]))"
            if event.touchpoint_ids
            else "NULL::bigint"
        )
        params: dict[str, Any] = {
            "org": organization_id,
            "version": spec.version_id,
            "cause": event.cause,
            "fields": ", ".join(event.fields)[:300],
            "note": event.note[:300],
            "now": now,
            "tps": list(event.touchpoint_ids),
        }
        cursor.execute(
            "INSERT INTO scoring_scorechange (organization_id, lead_id, version_id, cause, touchpoint_id, "
            "changed_fields, author_id, author_label, note, fit, behaviour, engagement, maturity, manual, "
            f"product, rules, created_at) SELECT %(org)s, d.lead_id, %(version)s, %(cause)s, {touchpoint}, "
            "%(fields)s, NULL, '', %(note)s, d.d_fit, d.d_behaviour, d.d_engagement, d.d_maturity, 0, "
            "d.d_product, d.d_rules, %(now)s "
            "FROM scoring_delta d WHERE d.changed ORDER BY d.lead_id",
            params,
        )
        ledger_rows = cursor.rowcount
        cursor.execute(
            "INSERT INTO scoring_leadscore (organization_id, lead_id, version_id, fit, behaviour, "
            "engagement, maturity, manual, product, score, grade, priority, maturity_stage, contributions, "
            "updated_at) SELECT %(org)s, d.lead_id, %(version)s, d.fit, d.behaviour, d.engagement, "
            "d.maturity, 0, d.product, "
            "d.score, d.grade, d.priority, d.maturity_stage, d.contributions, %(now)s "
            "FROM scoring_delta d WHERE d.ls_id IS NULL ORDER BY d.lead_id",
            params,
        )
        cursor.execute(
            "UPDATE scoring_leadscore ls SET version_id = %(version)s, fit = d.fit, behaviour = d.behaviour, "
            "engagement = d.engagement, maturity = d.maturity, product = d.product, score = d.score, "
            "grade = d.grade, priority = d.priority, maturity_stage = d.maturity_stage, "
            "contributions = d.contributions, updated_at = %(now)s FROM scoring_delta d "
            "WHERE ls.id = d.ls_id AND (d.changed OR ls.version_id IS DISTINCT FROM %(version)s "
            "OR ls.grade <> d.grade OR ls.priority <> d.priority OR ls.maturity_stage <> d.maturity_stage)",
            params,
        )
        cursor.execute(
            "UPDATE leads_lead l SET score = d.score, grade = d.grade FROM scoring_delta d "
            "WHERE l.id = d.lead_id AND (l.score <> d.score OR l.grade <> d.grade)"
        )
        cursor.execute(
            "SELECT lead_id FROM scoring_chunk ORDER BY lead_id"
            if count <= 10_000
            else "SELECT 1 WHERE FALSE"
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("DROP TABLE scoring_chunk, scoring_targets, scoring_delta")
    return ChunkResult(leads=count, ledger_rows=ledger_rows, lead_ids=ids)


_DELTA_SQL = """
CREATE TEMP TABLE scoring_delta ON COMMIT DROP AS
SELECT d.*, {grade} AS grade, {priority} AS priority FROM (
    SELECT d.*, d.behaviour + d.engagement + d.maturity + d.manual AS score,
           (d.d_rules <> '{{}}'::jsonb OR d.d_fit <> 0 OR d.d_behaviour <> 0 OR d.d_engagement <> 0
            OR d.d_maturity <> 0 OR d.d_product <> 0) AS changed
    FROM (
        SELECT g.lead_id, ls.id AS ls_id, coalesce(ls.manual, 0) AS manual,
               g.fit, g.behaviour, g.engagement, g.maturity, g.product, g.maturity_stage,
               g.fit - coalesce(ls.fit, 0) AS d_fit,
               g.behaviour - coalesce(ls.behaviour, 0) AS d_behaviour,
               g.engagement - coalesce(ls.engagement, 0) AS d_engagement,
               g.maturity - coalesce(ls.maturity, 0) AS d_maturity,
               g.product - coalesce(ls.product, 0) AS d_product,
               {contributions} AS contributions,
               {deltas} AS d_rules
        FROM scoring_targets g LEFT JOIN scoring_leadscore ls ON ls.lead_id = g.lead_id
    ) d
) d
"""


# --- any database -------------------------------------------------------------------------------


@dataclass
class Plan:
    """One lead's rescoring: the ledger row to write (None: no change) and its new totals."""

    change: ScoreChange | None
    score: LeadScore
    is_new: bool


def plan(
    targets: Targets,
    current: LeadScore | None,
    spec: VersionSpec,
    event: ScoreEvent,
    now: dt.datetime,
    touchpoint_id: int | None = None,
) -> Plan:
    is_new = current is None
    score = current or LeadScore(lead_id=targets.lead_id, contributions={})
    same_version = score.version_id == spec.version_id
    held = {int(k): int(v) for k, v in (score.contributions or {}).items()}
    deltas: dict[str, int] = {}
    for rule in spec.rules:
        delta = targets.rules.get(rule.id, 0) - (held.get(rule.id, 0) if same_version else 0)
        if delta:
            deltas[rule.key] = delta
    if not same_version:
        deltas.update({str(k): -v for k, v in held.items() if v})
    dims = {
        "fit": targets.fit - score.fit,
        "behaviour": targets.behaviour - score.behaviour,
        "engagement": targets.engagement - score.engagement,
        "maturity": targets.maturity - score.maturity,
        "product": targets.product - score.product,
    }
    change = None
    if deltas or any(dims.values()):
        change = ScoreChange(
            lead_id=targets.lead_id,
            version_id=spec.version_id,
            cause=event.cause,
            touchpoint_id=touchpoint_id,
            changed_fields=", ".join(event.fields)[:300],
            note=event.note[:300],
            rules=deltas,
            created_at=now,
            **dims,
        )
    score.version_id = spec.version_id
    score.fit, score.behaviour = targets.fit, targets.behaviour
    score.engagement, score.maturity = targets.engagement, targets.maturity
    score.product, score.maturity_stage = targets.product, targets.maturity_stage
    score.contributions = {str(k): v for k, v in targets.rules.items() if v}
    score.score = score.behaviour + score.engagement + score.maturity + score.manual
    score.grade = grade_for(score.fit, spec.grade_thresholds)
    score.priority = priority_for(score.score, score.grade)
    score.updated_at = now
    return Plan(change=change, score=score, is_new=is_new)


def touches_of(lead_ids: Sequence[int], at: dt.datetime) -> dict[int, list[Touch]]:
    touches: dict[int, list[Touch]] = defaultdict(list)
    rows = (
        Touchpoint.objects.filter(lead_id__in=lead_ids, occurred_at__lte=at)
        .order_by()
        .values_list("id", "lead_id", "type", "occurred_at", "url", "properties")
    )
    for pk, lead_id, kind, occurred_at, url, properties in rows:
        touches[lead_id].append(Touch(pk, kind, occurred_at, url or "", properties or {}))
    return touches


def score_leads_portable(
    *, spec: VersionSpec, at: dt.datetime, event: ScoreEvent, lead_ids: Sequence[int]
) -> ChunkResult:
    result = ChunkResult()
    ids = sorted(set(lead_ids))
    for start in range(0, len(ids), PORTABLE_BATCH):
        result.add(_portable_batch(spec, at, event, ids[start : start + PORTABLE_BATCH]))
    return result


def _portable_batch(spec: VersionSpec, at: dt.datetime, event: ScoreEvent, ids: Sequence[int]) -> ChunkResult:
    now = timezone.now()
    leads = list(Lead.objects.filter(pk__in=ids).select_related("contact__company").order_by("pk"))
    touches = touches_of([lead.pk for lead in leads], at)
    current = {s.lead_id: s for s in LeadScore.objects.filter(lead_id__in=[lead.pk for lead in leads])}
    changes: list[ScoreChange] = []
    created: list[LeadScore] = []
    updated: list[LeadScore] = []
    moved: list[Lead] = []
    wanted = set(event.touchpoint_ids)
    for lead in leads:
        lead_touches = touches.get(lead.pk, [])
        touchpoint = max((t.id for t in lead_touches if t.id in wanted), default=None)
        targets = evaluate(lead, lead_touches, spec, at)
        outcome = plan(targets, current.get(lead.pk), spec, event, now, touchpoint)
        if outcome.change is not None:
            changes.append(outcome.change)
        (created if outcome.is_new else updated).append(outcome.score)
        if (lead.score, lead.grade) != (outcome.score.score, outcome.score.grade):
            lead.score, lead.grade = outcome.score.score, outcome.score.grade
            moved.append(lead)
    ScoreChange.objects.bulk_create(changes, batch_size=500)
    LeadScore.objects.bulk_create(created, batch_size=500)
    LeadScore.objects.bulk_update(updated, SCORE_FIELDS, batch_size=500)
    if moved:
        Lead.objects.bulk_update(moved, ["score", "grade"], batch_size=500)
    return ChunkResult(leads=len(leads), ledger_rows=len(changes), lead_ids=[lead.pk for lead in leads])


SCORE_FIELDS = [
    "version_id",
    "fit",
    "behaviour",
    "engagement",
    "maturity",
    "product",
    "score",
    "grade",
    "priority",
    "maturity_stage",
    "contributions",
    "updated_at",
]


def score_leads(
    *, spec: VersionSpec, at: dt.datetime, event: ScoreEvent, lead_ids: Sequence[int]
) -> ChunkResult:
    """Rescore a few leads (an event's) on whichever database this is."""
    if not lead_ids:
        return ChunkResult()
    if connection.vendor == "postgresql":
        return score_chunk_pg(spec=spec, at=at, event=event, lead_ids=lead_ids)
    return score_leads_portable(spec=spec, at=at, event=event, lead_ids=lead_ids)


__all__ = [
    "Cause",
    "ChunkResult",
    "ScoreEvent",
    "lock_leads",
    "score_chunk_pg",
    "score_leads",
    "score_leads_portable",
]

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
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from leadhub.tenancy.context import current_organization_id
from leads.bulk_sql import temp_buffers_raise
from leads.models import Lead, Touchpoint
from scoring.engine import pg
from scoring.engine.python import Touch, evaluate
from scoring.engine.spec import Targets, VersionSpec, grade_for, priority_for
from scoring.models import LeadScore, ModelVersion, ScoreChange, VersionStatus

LOCK_BLOCK_BITS = 14
_LOCK_SPACE = 0x5C0E << 48
PORTABLE_BATCH = 500
SMALL_CHUNK = 1000


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
    # Seconds per step (PostgreSQL), logged by recompute jobs to show where the time goes.
    timings: dict[str, float] = field(default_factory=dict)
    # The version was no longer live when the chunk got its locks: nothing was written.
    stale: bool = False

    def add(self, other: ChunkResult) -> None:
        self.leads += other.leads
        self.ledger_rows += other.ledger_rows
        self.lead_ids.extend(other.lead_ids)
        self.stale = self.stale or other.stale
        for step, seconds in other.timings.items():
            self.timings[step] = self.timings.get(step, 0.0) + seconds


def _lock_keys(organization_id: int, blocks: Iterable[int]) -> list[int]:
    base = _LOCK_SPACE | ((organization_id & 0xFFFFFF) << 24)
    return sorted({base | (block & 0xFFFFFF) for block in blocks})


def _lock(keys: list[int]) -> None:
    if keys and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) x",
                [keys],
            )


def lock_leads(lead_ids: Iterable[int]) -> None:
    """Take the scoring locks of these leads' blocks (PostgreSQL; a no-op elsewhere)."""
    _lock(_lock_keys(current_organization_id(), (i >> LOCK_BLOCK_BITS for i in lead_ids)))


def lock_range(lo: int, hi: int) -> None:
    """The scoring locks of every block that lead ids lo <= id < hi fall in."""
    blocks = range(lo >> LOCK_BLOCK_BITS, ((hi - 1) >> LOCK_BLOCK_BITS) + 1)
    _lock(_lock_keys(current_organization_id(), blocks))


# --- PostgreSQL ---------------------------------------------------------------------------------


def bulk_session(cursor: Any) -> None:
    """Settings of a large chunk's transaction: its hash joins and sorts want more than the default
    memory, and no parallel workers, because recompute jobs already score several chunks at once (one
    per Celery worker process), which keeps every core busy through the writes too. A chunk's temporary
    tables (its fit, touchpoint aggregates and deltas: tens of MB) stay in memory where the session allows
    it, instead of spilling through the default 8 MB of temporary buffers."""
    temp_buffers_raise(cursor, "512MB")
    # 256 MB: a chunk's touchpoints (about a million rows) are sorted by lead in memory, not on disk.
    for setting in ("work_mem = '256MB'", "max_parallel_workers_per_gather = 0"):
        cursor.execute(f"SET LOCAL {setting}")


def decay_candidates(spec: VersionSpec, lo: int, hi: int) -> list[int]:
    """Leads with lo <= id < hi holding points of a time-dependent rule of `spec`: the only ones that
    time alone can change."""
    positions = [i for i, rule_id in enumerate(spec.order, start=1) if spec.by_id[rule_id].time_dependent]
    if not positions:
        return []
    held = " OR ".join(f"ls.rule_points[{i}] <> 0" for i in positions)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ls.lead_id FROM scoring_leadscore ls WHERE ls.lead_id >= %s AND ls.lead_id < %s "
            f"AND ls.version_id = %s AND ({held}) ORDER BY ls.lead_id",
            [lo, hi, spec.version_id],
        )
        return [row[0] for row in cursor.fetchall()]


def _still_live(cursor: Any, spec: VersionSpec) -> bool:
    cursor.execute("SELECT status FROM scoring_modelversion WHERE id = %s", [spec.version_id])
    row = cursor.fetchone()
    return row is not None and row[0] == VersionStatus.LIVE


def score_chunk_pg(
    *,
    spec: VersionSpec,
    at: dt.datetime,
    event: ScoreEvent,
    lead_ids: Sequence[int] | None = None,
    lo: int = 0,
    hi: int = 0,
) -> ChunkResult:
    """Rescore the leads `lead_ids`, or those with lo <= id < hi, under `spec` at the moment `at`."""
    organization_id = current_organization_id()
    now = timezone.now()
    timings: dict[str, float] = {}
    ids = sorted(set(lead_ids)) if lead_ids is not None else None
    if ids is not None and not ids:
        return ChunkResult()
    with connection.cursor() as cursor:

        def run(step: str, sql: str, params: Any = None) -> int:
            started = time.perf_counter()
            cursor.execute(sql, params)
            timings[step] = timings.get(step, 0.0) + time.perf_counter() - started
            return int(cursor.rowcount)

        started = time.perf_counter()
        if ids is not None:
            lock_leads(ids)
        else:
            lock_range(lo, hi)
        timings["lock"] = time.perf_counter() - started
        # Checked under the lock: a version retired meanwhile (a newer one published while this waited)
        # must not overwrite the scores its successor's recompute may already have written.
        if not _still_live(cursor, spec):
            return ChunkResult(stale=True, timings=timings)
        p = pg.Params()
        targets = pg.targets_plan(spec, p, at=at, lo=lo, hi=hi, ids=ids)
        tables = [*targets.tables, "scoring_delta"]
        run("drop", f"DROP TABLE IF EXISTS {', '.join(tables)}")
        if ids is not None and len(ids) < SMALL_CHUNK:
            # A few leads: compiling the expressions would cost more than evaluating them.
            cursor.execute("SET LOCAL jit = off")
        elif ids is None:
            bulk_session(cursor)
        for table, statement in zip(targets.tables, targets.statements, strict=True):
            if table == "scoring_fit" and ids is None:
                # The chunk's leads are a small share of the organization's contacts and companies: read
                # them by key (merge and index joins) rather than hashing both whole tables for each
                # chunk; and the plain expressions gain nothing from compiling them.
                cursor.execute("SET LOCAL enable_hashjoin = off")
                cursor.execute("SET LOCAL jit = off")
                run("fit", statement, p.values)
                cursor.execute("SET LOCAL enable_hashjoin = DEFAULT")
                cursor.execute("SET LOCAL jit = DEFAULT")
                continue
            run(table.removeprefix("scoring_"), statement, p.values)
        # The chunk's own rows of each table, said explicitly: the planner then reads them by index range
        # instead of joining whole tables.
        if ids is not None:
            ids_param = {"ids": ids}
            within = {c: f"{c} = ANY(%(ids)s::bigint[])" for c in ("ls.lead_id", "l.id")}
        else:
            ids_param = {}
            within = {c: f"{c} >= {int(lo)} AND {c} < {int(hi)}" for c in ("ls.lead_id", "l.id")}
        run(
            "deltas",
            _DELTA_SQL.format(
                targets=targets.select,
                within=within["ls.lead_id"],
                points=pg.points_sql(spec),
                deltas=pg.rule_deltas_sql(spec),
                withdrawn=pg.withdrawn_sql(spec),
                grade=pg.grade_sql("d.fit", spec),
                priority=pg.priority_sql("d.score", pg.grade_sql("d.fit", spec)),
            ),
            {**p.values, **ids_param},
        )
        count = int(cursor.rowcount)
        if not count:
            run("drop", f"DROP TABLE IF EXISTS {', '.join(tables)}")
            return ChunkResult(timings=timings)
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
            **ids_param,
        }
        ledger_rows = run(
            "ledger",
            "INSERT INTO scoring_scorechange (organization_id, lead_id, version_id, cause, touchpoint_id, "
            "changed_fields, author_id, author_label, note, fit, behaviour, engagement, maturity, manual, "
            "product, rule_deltas, withdrawn_version_id, withdrawn_points, created_at) "
            f"SELECT %(org)s, d.lead_id, %(version)s, %(cause)s, {touchpoint}, %(fields)s, NULL, '', "
            "%(note)s, d.d_fit, d.d_behaviour, d.d_engagement, d.d_maturity, 0, d.d_product, d.d_rules, "
            "CASE WHEN cardinality(d.withdrawn) > 0 THEN d.old_version END, d.withdrawn, %(now)s "
            "FROM scoring_delta d WHERE d.changed ORDER BY d.lead_id",
            params,
        )
        run(
            "scores_new",
            "INSERT INTO scoring_leadscore (organization_id, lead_id, version_id, fit, behaviour, "
            "engagement, maturity, manual, product, score, grade, priority, maturity_stage, rule_points, "
            "updated_at) SELECT %(org)s, d.lead_id, %(version)s, d.fit, d.behaviour, d.engagement, "
            "d.maturity, 0, d.product, d.score, d.grade, d.priority, d.maturity_stage, d.points, %(now)s "
            "FROM scoring_delta d WHERE d.ls_id IS NULL ORDER BY d.lead_id",
            params,
        )
        run(
            "scores_update",
            "UPDATE scoring_leadscore ls SET version_id = %(version)s, fit = d.fit, behaviour = d.behaviour, "
            "engagement = d.engagement, maturity = d.maturity, product = d.product, score = d.score, "
            "grade = d.grade, priority = d.priority, maturity_stage = d.maturity_stage, "
            "rule_points = d.points, updated_at = %(now)s FROM scoring_delta d "
            f"WHERE ls.lead_id = d.lead_id AND {within['ls.lead_id']} AND d.ls_id IS NOT NULL "
            "AND (d.changed OR ls.version_id IS DISTINCT FROM %(version)s "
            "OR ls.grade <> d.grade OR ls.priority <> d.priority OR ls.maturity_stage <> d.maturity_stage)",
            params,
        )
        run(
            "leads_update",
            "UPDATE leads_lead l SET score = d.score, grade = d.grade FROM scoring_delta d "
            f"WHERE l.id = d.lead_id AND {within['l.id']} AND (l.score <> d.score OR l.grade <> d.grade)",
            ids_param or None,
        )
        found: list[int] = []
        if count <= 10_000:
            cursor.execute("SELECT lead_id FROM scoring_delta ORDER BY lead_id")
            found = [row[0] for row in cursor.fetchall()]
        run("drop", f"DROP TABLE {', '.join(tables)}")
        if ids is not None and len(ids) < SMALL_CHUNK:
            cursor.execute("SET LOCAL jit = DEFAULT")
    return ChunkResult(leads=count, ledger_rows=ledger_rows, lead_ids=found, timings=timings)


_DELTA_SQL = """
CREATE TEMP TABLE scoring_delta ON COMMIT DROP AS
SELECT d.*, {grade} AS grade, {priority} AS priority FROM (
    SELECT d.*, d.behaviour + d.engagement + d.maturity + d.manual AS score,
           (0 <> ANY(d.d_rules) OR 0 <> ANY(d.withdrawn) OR d.d_fit <> 0 OR d.d_behaviour <> 0
            OR d.d_engagement <> 0 OR d.d_maturity <> 0 OR d.d_product <> 0) AS changed
    FROM (
        SELECT g.lead_id, ls.id AS ls_id, ls.version_id AS old_version, coalesce(ls.manual, 0) AS manual,
               g.fit, g.behaviour, g.engagement, g.maturity, g.product, g.maturity_stage,
               g.fit - coalesce(ls.fit, 0) AS d_fit,
               g.behaviour - coalesce(ls.behaviour, 0) AS d_behaviour,
               g.engagement - coalesce(ls.engagement, 0) AS d_engagement,
               g.maturity - coalesce(ls.maturity, 0) AS d_maturity,
               g.product - coalesce(ls.product, 0) AS d_product,
               {points} AS points,
               {deltas} AS d_rules,
               {withdrawn} AS withdrawn
        FROM ({targets} OFFSET 0) g LEFT JOIN scoring_leadscore ls ON ls.lead_id = g.lead_id AND {within}
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
    """The same decision as the PostgreSQL path's, for one lead: differences against its LeadScore."""
    is_new = current is None
    score = current or LeadScore(lead_id=targets.lead_id, rule_points=[])
    same_version = score.version_id == spec.version_id
    points = spec.as_list(targets.rules)
    held = list(score.rule_points or []) if same_version else []
    held += [0] * (len(points) - len(held))
    deltas = [new - old for new, old in zip(points, held, strict=False)]
    withdrawn = list(score.rule_points or []) if not (is_new or same_version) else []
    dims = {
        "fit": targets.fit - score.fit,
        "behaviour": targets.behaviour - score.behaviour,
        "engagement": targets.engagement - score.engagement,
        "maturity": targets.maturity - score.maturity,
        "product": targets.product - score.product,
    }
    change = None
    if any(deltas) or any(withdrawn) or any(dims.values()):
        change = ScoreChange(
            lead_id=targets.lead_id,
            version_id=spec.version_id,
            cause=event.cause,
            touchpoint_id=touchpoint_id,
            changed_fields=", ".join(event.fields)[:300],
            note=event.note[:300],
            rule_deltas=deltas,
            withdrawn_version_id=score.version_id if withdrawn else None,
            withdrawn_points=withdrawn,
            created_at=now,
            **dims,
        )
    score.version_id = spec.version_id
    score.fit, score.behaviour = targets.fit, targets.behaviour
    score.engagement, score.maturity = targets.engagement, targets.maturity
    score.product, score.maturity_stage = targets.product, targets.maturity_stage
    score.rule_points = points
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
    if not ModelVersion.objects.filter(pk=spec.version_id, status=VersionStatus.LIVE).exists():
        return ChunkResult(stale=True)
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


def decay_candidates_portable(spec: VersionSpec, lo: int, hi: int) -> list[int]:
    positions = [i for i, rule_id in enumerate(spec.order) if spec.by_id[rule_id].time_dependent]
    rows = LeadScore.objects.filter(lead_id__gte=lo, lead_id__lt=hi, version_id=spec.version_id).values_list(
        "lead_id", "rule_points"
    )
    return [
        lead_id for lead_id, points in rows if any(i < len(points or []) and points[i] for i in positions)
    ]


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
    "rule_points",
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

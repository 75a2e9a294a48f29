"""Backtesting a version against the organization's history, before it goes live.

Every lead is scored by the version as it stood just before its outcome was decided: its first move to
SQL, opportunity, customer or disqualified (sales' decision), or now for a lead still with marketing. Only
touchpoints up to that moment count, so activity after the hand-off (meetings, product use as a customer)
cannot flatter the model. Fit reads today's field values: history of field values is not kept.

A lead converted if it ever reached customer (won). A lead "would be MQL" if its score reaches the MQL
threshold with a good enough grade, or its product-usage points reach the PQL threshold (the lifecycle
policy's rules). From that: volume, conversion of MQLs against the rest and against all (lift),
precision and recall of the threshold for leads that became customers, and the score threshold that
would have given a target MQL volume.

Scoring is set-based on PostgreSQL (the recompute's statements, in chunks, writing nothing but temporary
tables) and lead by lead elsewhere; both reduce the leads to one histogram of (score, grade good enough,
PQL, converted) -> count, from which every figure is computed the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from leadhub.tenancy.services import Actor
from leads.models import Lead, Stage, StageChange
from scoring.engine import pg
from scoring.engine.ledger import touches_of
from scoring.engine.python import evaluate
from scoring.engine.spec import VersionSpec, grade_for, version_spec
from scoring.models import GRADES, BacktestRun, JobStatus, LifecyclePolicy, ModelVersion
from scoring.services.versions import lifecycle_policy_get, live_version

DECIDED_STAGES = (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.DISQUALIFIED)
CHUNK = 100_000
PORTABLE_BATCH = 500
# (score, grade good enough for MQL, PQL by product usage, converted) -> number of leads
Histogram = Counter[tuple[int, bool, bool, bool]]


def _ok_grades(policy: LifecyclePolicy) -> list[str]:
    return list(GRADES[: GRADES.index(policy.mql_min_grade) + 1])


def _histogram_pg(spec: VersionSpec, policy: LifecyclePolicy, now: dt.datetime) -> Histogram:
    histogram: Histogram = Counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM leads_lead")
        low, high = cursor.fetchone()
        if low is None:
            return histogram
        for lo in range(low, high + 1, CHUNK):
            hi = lo + CHUNK
            tables = ["scoring_cutoff"]
            cursor.execute("DROP TABLE IF EXISTS scoring_cutoff")
            cursor.execute(
                "CREATE TEMP TABLE scoring_cutoff ON COMMIT DROP AS "
                "SELECT l.id AS lead_id, coalesce(d.at, %(now)s) AS at, "
                "coalesce(d.converted, FALSE) AS converted FROM leads_lead l LEFT JOIN ("
                "  SELECT sc.lead_id, min(sc.changed_at) FILTER (WHERE sc.to_stage = ANY(%(decided)s)) AS at,"
                "         bool_or(sc.to_stage = %(customer)s) AS converted FROM leads_stagechange sc"
                "  WHERE sc.lead_id >= %(lo)s AND sc.lead_id < %(hi)s GROUP BY sc.lead_id"
                ") d ON d.lead_id = l.id WHERE l.id >= %(lo)s AND l.id < %(hi)s",
                {"now": now, "decided": list(DECIDED_STAGES), "customer": Stage.CUSTOMER, "lo": lo, "hi": hi},
            )
            cursor.execute("ANALYZE scoring_cutoff")
            p = pg.Params()
            plan = pg.targets_plan(spec, p, cutoffs="scoring_cutoff", lo=lo, hi=hi)
            tables += [*plan.tables, "scoring_targets"]
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(plan.tables)}, scoring_targets")
            for statement in plan.statements:
                cursor.execute(statement, p.values)
            cursor.execute(f"CREATE TEMP TABLE scoring_targets ON COMMIT DROP AS {plan.select}", p.values)
            pql = "FALSE" if policy.pql_points is None else f"g.product >= {int(policy.pql_points)}"
            cursor.execute(
                "SELECT g.behaviour + g.engagement + g.maturity, "
                f"{pg.grade_sql('g.fit', spec)} = ANY(%s), {pql}, k.converted, count(*) "
                "FROM scoring_targets g JOIN scoring_cutoff k ON k.lead_id = g.lead_id GROUP BY 1, 2, 3, 4",
                [_ok_grades(policy)],
            )
            for score, grade_ok, is_pql, converted, count in cursor.fetchall():
                histogram[(int(score), bool(grade_ok), bool(is_pql), bool(converted))] += int(count)
            cursor.execute(f"DROP TABLE {', '.join(tables)}")
    return histogram


def _histogram_portable(spec: VersionSpec, policy: LifecyclePolicy, now: dt.datetime) -> Histogram:
    histogram: Histogram = Counter()
    decided = dict(
        StageChange.objects.filter(to_stage__in=DECIDED_STAGES)
        .values("lead_id")
        .annotate(at=Min("changed_at"))
        .values_list("lead_id", "at")
    )
    converted = set(StageChange.objects.filter(to_stage=Stage.CUSTOMER).values_list("lead_id", flat=True))
    ok = set(_ok_grades(policy))
    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), PORTABLE_BATCH):
        batch = ids[start : start + PORTABLE_BATCH]
        touches = touches_of(batch, now)
        for lead in Lead.objects.filter(pk__in=batch).select_related("contact__company"):
            at = decided.get(lead.pk) or now
            target = evaluate(lead, touches.get(lead.pk, []), spec, at)
            score = target.behaviour + target.engagement + target.maturity
            is_pql = policy.pql_points is not None and target.product >= policy.pql_points
            grade_ok = grade_for(target.fit, spec.grade_thresholds) in ok
            histogram[(score, grade_ok, is_pql, lead.pk in converted)] += 1
    return histogram


@dataclass(frozen=True)
class Cut:
    """The figures of one MQL threshold."""

    threshold: int
    mql: int
    mql_converted: int
    leads: int
    converted: int

    def as_dict(self) -> dict[str, Any]:
        rest, rest_converted = self.leads - self.mql, self.converted - self.mql_converted
        rate_mql = _ratio(self.mql_converted, self.mql)
        rate_rest = _ratio(rest_converted, rest)
        # Lifts from the counts, not from the rounded rates.
        lift = _ratio(self.mql_converted * self.leads, self.mql * self.converted) if self.mql else None
        lift_rest = _ratio(self.mql_converted * rest, self.mql * rest_converted) if self.mql else None
        return {
            "threshold": self.threshold,
            "mql": self.mql,
            "mql_share": _ratio(self.mql, self.leads),
            "mql_converted": self.mql_converted,
            "conversion_mql": rate_mql,
            "conversion_rest": rate_rest,
            "lift": lift,
            "lift_vs_rest": lift_rest,
            "precision": rate_mql,
            "recall": _ratio(self.mql_converted, self.converted),
        }


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, 4)


def _cut(histogram: Histogram, threshold: int) -> Cut:
    leads = converted = mql = mql_converted = 0
    for (score, grade_ok, is_pql, won), count in histogram.items():
        leads += count
        converted += count if won else 0
        if is_pql or (grade_ok and score >= threshold):
            mql += count
            mql_converted += count if won else 0
    return Cut(threshold, mql, mql_converted, leads, converted)


def _threshold_for_volume(histogram: Histogram, target: int) -> int | None:
    """The highest score threshold whose MQL volume (PQLs included) reaches `target`."""
    scores = sorted({score for (score, grade_ok, _, _) in histogram if grade_ok}, reverse=True)
    for score in scores:
        if _cut(histogram, score).mql >= target:
            return score
    return scores[-1] if scores else None


def metrics(histogram: Histogram, policy: LifecyclePolicy, target_mql: int | None) -> dict[str, Any]:
    current = _cut(histogram, policy.mql_score)
    result: dict[str, Any] = {
        "leads": current.leads,
        "converted": current.converted,
        "base_conversion": _ratio(current.converted, current.leads),
        "mql_threshold": policy.mql_score,
        "mql_min_grade": policy.mql_min_grade,
        "pql_points": policy.pql_points,
        "at_threshold": current.as_dict(),
    }
    scores = sorted({score for (score, _, _, _) in histogram})
    candidates = (
        sorted({scores[int(q * (len(scores) - 1))] for q in (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)})
        if scores
        else []
    )
    result["thresholds"] = [_cut(histogram, t).as_dict() for t in candidates]
    if target_mql:
        threshold = _threshold_for_volume(histogram, target_mql)
        result["target_mql"] = target_mql
        result["for_target"] = _cut(histogram, threshold).as_dict() if threshold is not None else None
    distribution: Counter[int] = Counter()
    for (score, _, _, _), count in histogram.items():
        distribution[score // 10 * 10] += count
    result["distribution"] = [{"from": bucket, "leads": n} for bucket, n in sorted(distribution.items())]
    return result


def backtest(
    *, version: ModelVersion, target_mql: int | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The version's figures against history (see the module docstring)."""
    policy = lifecycle_policy_get()
    spec = version_spec(version)
    moment = now or timezone.now()
    if connection.vendor == "postgresql":
        histogram = _histogram_pg(spec, policy, moment)
    else:
        histogram = _histogram_portable(spec, policy, moment)
    return {
        "version": version.pk,
        "number": version.number,
        "status": version.status,
        **metrics(histogram, policy, target_mql),
    }


def backtest_pair(
    *,
    version: ModelVersion,
    live: ModelVersion | None,
    target_mql: int | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A version's backtest beside the live one's (when it is not itself the live one)."""
    moment = now or timezone.now()
    results: dict[str, Any] = {
        "evaluated_at": moment.isoformat(),
        "version": backtest(version=version, target_mql=target_mql, now=moment),
    }
    if live is not None and live.pk != version.pk:
        results["live"] = backtest(version=live, target_mql=target_mql, now=moment)
    return results


def backtest_start(*, version: ModelVersion, target_mql: int | None, actor: Actor) -> BacktestRun:
    """Queue a backtest of `version` (a task runs it: on a large history it takes a while)."""
    from scoring import tasks  # tasks import the services

    if target_mql is not None and (
        isinstance(target_mql, bool) or not isinstance(target_mql, int) or target_mql < 1
    ):
        raise ValidationError(
            {"target_mql": ["Give the MQL volume you want as a whole number of leads (1 or more)."]}
        )
    with transaction.atomic():
        run = BacktestRun.objects.create(version=version, target_mql=target_mql, requested_by=actor.user)
        organization_id = version.organization_id
        transaction.on_commit(lambda: tasks.scoring_backtest_run.delay(organization_id, run.pk))
    return run


def backtest_run_execute(*, run: BacktestRun) -> BacktestRun:
    """Run a queued backtest (its task calls this in the run's tenant); a second delivery does nothing."""
    if run.status != JobStatus.QUEUED:
        return run
    try:
        run.results = backtest_pair(version=run.version, live=live_version(), target_mql=run.target_mql)
        run.status = JobStatus.DONE
    except Exception as exc:
        run.status, run.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        run.finished_at = timezone.now()
        run.save(update_fields=["results", "status", "error", "finished_at"])
    return run

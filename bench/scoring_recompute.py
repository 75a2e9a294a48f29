"""Full recompute of an organization's scores when a model is published, set-based on PostgreSQL.

    python -m bench.scoring_recompute --database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_scoring \\
        [--sizes 100000,1000000] [--touchpoints-per-lead 10] [--portable-sample 5000]

For each size N, the organization `bench<N>-1` is used, generated first with `generate_dataset --leads N
--touchpoints-per-lead 10` if it does not exist. A scoring model with the starter rules (scoring/starter.py:
22 rules in four dimensions) is published twice, as a marketer would: version A, then version B with other
points, so that the second recompute withdraws every rule of A from every lead and adds B's. Each
publication's scoring phase (targets, ledger rows, LeadScore and Lead updates, chunk by chunk) is timed on
its own; the lifecycle moves that follow (one stage change per lead through the stage service) are timed
for the smallest size only (and only up to 100,000 leads) and reported as a rate.

Before each publication the tables it rewrites are vacuumed, as autovacuum would between two publications.
Baselines in the same run: the smallest size, and the portable path (the Python evaluator, as on SQLite) on
`--portable-sample` leads of it, as leads per second.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = "scoring_recompute"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 3), "unit": unit, **extra}),
        flush=True,
    )


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    os.environ.pop("REDIS_URL", None)  # tasks eager: the bench drives the services itself
    import django

    django.setup()


def _ensure_data(database_url: str, size: int, touchpoints: int) -> str:
    from leadhub.tenancy.models import Organization

    prefix = f"bench{size // 1000}k" if size < 1_000_000 else f"bench{size // 1_000_000}m"
    slug = f"{prefix}-1"
    if not Organization.objects.filter(slug=slug).exists():
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "generate_dataset",
                "--leads",
                str(size),
                "--touchpoints-per-lead",
                str(touchpoints),
                "--prefix",
                prefix,
                "--vacuum",
                "-v",
                "0",
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, "DATABASE_URL": database_url},
        )
        emit("generate_dataset", time.monotonic() - started, "s", leads=size)
    return slug


def _vacuum() -> None:
    """The tables a recompute rewrites, vacuumed as autovacuum would between two publications: a server
    with autovacuum off (as on some test machines) otherwise carries every earlier run's dead rows into
    the next, and each run reads and writes more pages than the last."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) leads_lead, scoring_leadscore")


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scoring_leadscore")
        cursor.execute("ANALYZE scoring_scorechange")


def _publish(organization: Any, label: str, factor: int) -> Any:
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.services import Actor
    from scoring import services
    from scoring.models import ScoringModel
    from scoring.starter import STARTER_RULES

    actor = Actor.system("benchmark")
    with tenant_context(organization):
        model = ScoringModel.objects.filter(name="Benchmark").first()
        rules = [
            {**rule, "points": rule["points"] * factor if rule["dimension"] != "fit" else rule["points"]}
            for rule in STARTER_RULES
        ]
        if model is None:
            model = services.scoring_model_create(name="Benchmark", actor=actor, rules=rules)
            draft = model.versions.get()
        else:
            draft = services.version_create(scoring_model=model, actor=actor)
            for rule, data in zip(draft.rules.order_by("position", "id"), rules, strict=True):
                services.rule_update(rule=rule, data={"points": data["points"]}, actor=actor)
        services.version_update(version=draft, data={"note": label}, actor=actor)
        job = services.version_publish(version=draft, actor=actor)
    return job


def _no_background_recompute() -> None:
    """The publication enqueues its recompute after commit; here the bench runs and times it itself."""
    from scoring import tasks

    tasks.scoring_recompute_run.delay = lambda *args, **kwargs: None  # type: ignore[method-assign]


def run_size(
    database_url: str, size: int, touchpoints: int, *, moves: bool, portable_sample: int, workers: int
) -> float:
    from django.db import connection

    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization
    from leads.models import Lead, Touchpoint
    from scoring import services
    from scoring.models import ScoreChange

    slug = _ensure_data(database_url, size, touchpoints)
    organization = Organization.objects.get(slug=slug)
    with tenant_context(organization):
        leads = Lead.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'leads_touchpoint'")
            table_touchpoints = cursor.fetchone()[0]
        organization_touchpoints = Touchpoint.objects.count() if size <= 100_000 else leads * touchpoints
    emit(
        "dataset",
        leads,
        "leads",
        touchpoints=organization_touchpoints,
        touchpoints_in_table=table_touchpoints,
    )
    first_seconds = 0.0
    for label, factor in (("A", 1), ("B", 2)):
        job = _publish(organization, f"benchmark version {label}", factor)
        with tenant_context(organization):
            rows_before = ScoreChange.objects.count()
        _vacuum()
        started = time.monotonic()
        job = services.recompute_job_plan(organization_id=organization.pk, job_id=job.pk)
        pending = [lo for lo, _ in job.chunks]

        def score(lo: int, job_id: int = job.pk) -> None:
            try:
                services.recompute_chunk_run(organization_id=organization.pk, job_id=job_id, lo=lo)
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(score, pending))
        with tenant_context(organization):
            job.refresh_from_db()
        seconds = time.monotonic() - started
        first_seconds = first_seconds or seconds
        with tenant_context(organization):
            rows = ScoreChange.objects.count() - rows_before
        emit(
            "recompute_seconds",
            seconds,
            "s",
            leads=job.processed,
            ledger_rows=rows,
            version=label,
            leads_per_second=round(job.processed / seconds),
            workers=workers,
            under_60s=seconds < 60,
        )
        _analyze()
        if moves:
            started = time.monotonic()
            job = services.recompute_job_moves(organization_id=organization.pk, job_id=job.pk)
            seconds = time.monotonic() - started
            emit(
                "lifecycle_moves",
                job.transitions,
                "moves",
                seconds=round(seconds, 2),
                moves_per_second=round(job.transitions / seconds, 1) if seconds else None,
                version=label,
            )
        else:
            with tenant_context(organization):
                from scoring.models import JobStatus, RecomputeJob

                RecomputeJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    if portable_sample:
        from django.utils import timezone

        from scoring.engine.ledger import ScoreEvent, score_leads_portable
        from scoring.engine.spec import version_spec

        with tenant_context(organization):
            version = services.live_version()
            assert version is not None
            ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[:portable_sample])
            started = time.monotonic()
            score_leads_portable(
                spec=version_spec(version),
                at=timezone.now(),
                event=ScoreEvent(cause="recompute"),
                lead_ids=ids,
            )
            seconds = time.monotonic() - started
            emit(
                "portable_path_leads_per_second",
                len(ids) / seconds,
                "leads/s",
                leads=len(ids),
                baseline=True,
                seconds=round(seconds, 2),
            )
    return first_seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--touchpoints-per-lead", type=int, default=10)
    parser.add_argument("--portable-sample", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="Chunks scored at once (one connection each).")
    args, _ = parser.parse_known_args(argv)
    if not args.database_url.startswith("postgres"):
        print(
            "scoring_recompute measures the PostgreSQL path: give --database-url postgres://...",
            file=sys.stderr,
        )
        return 0
    _django(args.database_url)
    from bench import postgres_settings

    emit("postgres_settings", 0, "", **postgres_settings())
    _no_background_recompute()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    baseline = None
    for index, size in enumerate(sizes):
        seconds = run_size(
            args.database_url,
            size,
            args.touchpoints_per_lead,
            moves=index == 0 and size <= 100_000,
            portable_sample=args.portable_sample if index == 0 else 0,
            workers=args.workers,
        )
        if baseline is None:
            baseline = seconds
        else:
            emit("scaling_vs_smallest", seconds / baseline, "x", size=size, smallest=sizes[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

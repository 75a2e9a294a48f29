"""Predictive training at two sizes: a synthetic organization of N leads with a known logistic ground truth
(scoring.predictive.synthetic), trained end to end as `predictive_train` does it.

    python -m bench.predictive_train [--database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_bench]
        [--sizes 2000,20000] [--seed 7]

For each size a new organization is filled (bulk inserts: leads, contacts, companies, stage history, about
7 touchpoints a lead), then trained: extraction (set-based SQL), the leakage check, the random and
out-of-time evaluations, the final fit and the bulk scoring of every lead. Prints one JSON object per line:
training seconds (the smallest size is the baseline of the same run, larger ones say how many times
longer), its phases, and the held-out ROC AUC of both splits. The organizations stay in the database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

BENCH = "predictive_train"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--seed", type=int, default=7)
    options, _ = parser.parse_known_args(argv)
    if options.database_url:
        os.environ["DATABASE_URL"] = options.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    os.environ.pop("REDIS_URL", None)  # training runs here, in this process

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization
    from leadhub.tenancy.services import Actor
    from scoring.models_predictive import PredictiveModelVersion, RunStatus, RunTrigger
    from scoring.predictive.services import predictive_train_now
    from scoring.predictive.synthetic import synthetic_organization_fill

    call_command("migrate", verbosity=0)
    sizes = sorted(int(s) for s in options.sizes.split(","))
    baseline: float | None = None
    for size in sizes:
        slug = f"predictive-bench-{size}-{uuid.uuid4().hex[:6]}"
        organization = Organization.objects.create(name=slug, slug=slug)
        began = time.perf_counter()
        with tenant_context(organization):
            summary = synthetic_organization_fill(leads=size, seed=options.seed)
        if connection.vendor == "postgresql":
            # Fresh bulk inserts: give the planner the statistics autovacuum would, as an import does.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE leads_lead, leads_contact, leads_stagechange, leads_touchpoint")
        common = {"leads": size, "database": connection.vendor}
        emit(
            "generate_seconds",
            round(time.perf_counter() - began, 2),
            "s",
            labelled=summary.labelled,
            touchpoints=summary.touchpoints,
            **common,
        )
        began = time.perf_counter()
        run = predictive_train_now(
            organization=organization, actor=Actor.system("bench"), trigger=RunTrigger.COMMAND
        )
        wall = time.perf_counter() - began
        if run.status != RunStatus.DONE:
            print(f"[bench] training {size} leads stopped: {run.message}", file=sys.stderr)
            return 1
        with tenant_context(organization):
            version = PredictiveModelVersion.objects.defer("estimator").get(pk=run.version_id)
        phases = {k: round(v, 2) for k, v in version.metrics.get("seconds", {}).items()}
        if baseline is None:
            baseline = wall
            emit("train_seconds", round(wall, 2), "s", baseline=True, phases=phases, **common)
        else:
            emit(
                "train_seconds",
                round(wall, 2),
                "s",
                vs_baseline=round(wall / baseline, 2),
                phases=phases,
                **common,
            )
        for split in ("random", "time"):
            evaluation = version.evaluation(split)
            emit(
                f"roc_auc_{split}",
                evaluation.get("roc_auc"),
                "auc",
                n_train=evaluation.get("n_train"),
                n_test=evaluation.get("n_test"),
                log_loss=evaluation.get("log_loss"),
                **common,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

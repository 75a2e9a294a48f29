"""Tracking throughput: server-side events through POST /api/v1/events/batch/ and page views through the
snippet's POST /t/<key>/collect, against a real server.

    python -m bench.tracking --database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_bench_tracking \\
        [--batches 40] [--concurrency 4] [--collects 2000] [--workers 4]

A fresh organization (`trk-<run>`) with an API key and a tracked site is made in the given (migrated)
database; gunicorn serves the app on 127.0.0.1 (DEBUG off, Redis cache). Measured, each after a warm-up:
- `events.anonymous`: batches of 1,000 product usage events by anonymous id (with external ids);
- `events.identified`: batches of 1,000 events by email over 1,000 known contacts (upsert, leads, stitching);
- baseline of the same run: the same anonymous batches through the generic POST /api/v1/touchpoints/bulk/;
- `collect`: snippet batches of 3 page views from distinct visitors at `--collect-concurrency`;
- baseline of the same run: GET /t.js (the static snippet: the cost of a request with no database work).
Prints one JSON object per line: events/s, requests/s, median and p95 latency.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.lead_list import Server, percentile, request, server_env

ROOT = Path(__file__).resolve().parent.parent
BENCH = "tracking"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


def setup(run: str) -> tuple[str, str]:
    """A new organization with an API key and a tracked site; returns (api key, site key)."""
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization
    from leadhub.tenancy.services import Actor, api_key_create
    from leads.tracking.services import tracking_site_create

    organization = Organization.objects.create(name=f"Tracking bench {run}", slug=f"trk-{run}")
    with tenant_context(organization):
        _, raw = api_key_create(organization=organization, name="bench", actor=Actor.system("bench"))
        site = tracking_site_create(
            name="Bench site", allowed_domains=["bench.example"], actor=Actor.system("bench")
        )
    return raw, site.public_key


def throughput(
    name: str,
    call: Callable[[int], tuple[int, float]],
    *,
    warmup: int,
    count: int,
    concurrency: int,
    per_request: int,
    unit: str,
    extra: dict[str, Any],
) -> None:
    with ThreadPoolExecutor(max_workers=concurrency) as executor:
        list(executor.map(call, range(warmup)))
        started = time.perf_counter()
        results = list(executor.map(call, range(warmup, warmup + count)))
        elapsed = time.perf_counter() - started
    timings = [ms for _, ms in results]
    info = {"requests": count, "concurrency": concurrency, "per_request": per_request, **extra}
    emit(f"{name}.throughput", count * per_request / elapsed, unit, **info)
    emit(f"{name}.requests_per_s", count / elapsed, "requests/s", **info)
    emit(f"{name}.median", statistics.median(timings), "ms", **info)
    emit(f"{name}.p95", percentile(timings, 0.95), "ms", **info)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracking", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"))
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    parser.add_argument(
        "--batches", type=int, default=40, help="Measured batches of 1,000 events per variation."
    )
    parser.add_argument("--concurrency", type=int, default=4, help="Concurrent batch senders.")
    parser.add_argument("--collects", type=int, default=2000, help="Measured snippet requests.")
    parser.add_argument("--collect-concurrency", type=int, default=16)
    # `python -m bench` passes every benchmark the same arguments; ignore the other benchmarks' ones.
    args, _ = parser.parse_known_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")

    env = server_env(args.database_url, args.redis_url)
    env.update(
        {
            "LEADHUB_TRACKING_RATE_PER_IP": "100000000",
            "LEADHUB_TRACKING_RATE_PER_SITE": "100000000",
        }
    )
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    run = uuid.uuid4().hex[:8]
    api_key, site_key = setup(run)
    connection.close()
    context = {"workers": args.workers, "cpus": os.cpu_count(), "database": connection.vendor}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = Server(env, args.workers)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def anonymous_batch(i: int) -> list[dict[str, Any]]:
        return [
            {
                "type": "product_usage",
                "anonymous_id": f"visitor-{run}-{(i * 1000 + j) % 20000:06}",
                "external_id": f"{run}-{i}-{j}",
                "url": "https://app.bench.example/dashboard",
                "properties": {"feature": "export", "n": j},
            }
            for j in range(1000)
        ]

    def identified_batch(i: int) -> list[dict[str, Any]]:
        return [
            {
                "type": "product_usage",
                "email": f"user{(i * 1000 + j) % 1000}@{run}.bench.example",
                "external_id": f"{run}-id-{i}-{j}",
                "properties": {"feature": "report"},
            }
            for j in range(1000)
        ]

    def sender(path: str, batch: Callable[[int], list[dict[str, Any]]], offset: int) -> Callable[[int], Any]:
        def send(i: int) -> tuple[int, float]:
            body = json.dumps({"items": batch(offset + i)}).encode()
            status, payload, elapsed = request("POST", server.port, path, headers, body)
            if status != 201:
                raise RuntimeError(f"POST {path} answered {status}: {payload[:300]!r}")
            return status, elapsed

        return send

    def collect(i: int) -> tuple[int, float]:
        now = int(time.time() * 1000)
        body = json.dumps(
            {
                "vid": f"snippet-{run}-{i:07}",
                "sent": now,
                "events": [
                    {
                        "type": "pv",
                        "id": f"{run}{i:07}{k}",
                        "url": f"https://www.bench.example/page-{k}?utm_source=google&utm_medium=cpc",
                        "title": f"Page {k}",
                        "referrer": "https://www.google.com/",
                        "ts": now - 1000 * (3 - k),
                    }
                    for k in range(3)
                ],
            }
        ).encode()
        status, payload, elapsed = request(
            "POST",
            server.port,
            f"/t/{site_key}/collect",
            {"Content-Type": "text/plain", "Origin": "https://www.bench.example"},
            body,
        )
        if status != 204:
            raise RuntimeError(f"collect answered {status}: {payload[:300]!r}")
        return status, elapsed

    def snippet(i: int) -> tuple[int, float]:
        status, _, elapsed = request("GET", server.port, "/t.js")
        return status, elapsed

    try:
        batches = {"warmup": 4, "count": args.batches, "concurrency": args.concurrency, "per_request": 1000}
        throughput(
            "baseline.touchpoints_bulk",
            sender("/api/v1/touchpoints/bulk/", anonymous_batch, 0),
            unit="events/s",
            extra={**context, "endpoint": "/api/v1/touchpoints/bulk/"},
            **batches,
        )
        throughput(
            "events.anonymous",
            sender("/api/v1/events/batch/", anonymous_batch, 10_000),
            unit="events/s",
            extra={**context, "endpoint": "/api/v1/events/batch/"},
            **batches,
        )
        throughput(
            "events.identified",
            sender("/api/v1/events/batch/", identified_batch, 20_000),
            unit="events/s",
            extra={**context, "endpoint": "/api/v1/events/batch/", "contacts": 1000},
            **batches,
        )
        collects = {"warmup": 50, "count": args.collects, "concurrency": args.collect_concurrency}
        throughput(
            "baseline.snippet_get",
            snippet,
            per_request=1,
            unit="requests/s",
            extra={**context, "endpoint": "/t.js"},
            **collects,
        )
        throughput(
            "collect",
            collect,
            per_request=3,
            unit="events/s",
            extra={**context, "endpoint": "/t/<key>/collect"},
            **collects,
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()

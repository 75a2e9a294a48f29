"""Public landing page rendering under load: renders per second and p95 latency at a given concurrency,
against gunicorn on PostgreSQL, with a static file from the same server as the baseline.

    python -m bench.landing_page --database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_bench_pages \\
        [--requests 3000] [--concurrency 16] [--workers 4]

The database is created if missing and migrated. An organization `lpbench` gets a published page with
two variants (headline, value proposition, three testimonials, call to action). Measured, each with
`--concurrency` client threads after a warm-up:
- `static`: `GET /static/css/landing.css` (WhiteNoise), the floor of this server and client;
- `page_returning`: the page for visitors who already have their `lh_vid` cookie (a pool of 500, already
  counted today: one indexed read, no write);
- `page_new`: the page for first-time visitors (no cookie: assignment, one INSERT, a Set-Cookie).
Prints one JSON object per line. The client runs on the same machine as the server and the database,
so the figures are a lower bound for a dedicated server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.lead_list import Server, percentile, request, server_env

ROOT = Path(__file__).resolve().parent.parent
BENCH = "landing_page"
SLUG = "lpbench"
PAGE_SLUG = "demo-offer"
DEFAULT_DATABASE = "postgres://leadhub_app@127.0.0.1:5432/leadhub_bench_pages"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    import json

    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


def database_ensure(url: str, env: dict[str, str]) -> None:
    """Create the benchmark's own database if needed (never one shared with other work) and migrate it."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def page_ensure() -> None:
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization
    from leadhub.tenancy.services import Actor, organization_create
    from leads.landing import services
    from leads.models_pages import Block, BlockType, LandingPage, PageVisitor, Variant

    organization = Organization.objects.filter(slug=SLUG).first() or organization_create(
        name="Landing bench", slug=SLUG
    )
    actor = Actor.system("bench")
    with tenant_context(organization):
        if LandingPage.objects.filter(slug=PAGE_SLUG).exists():
            PageVisitor.objects.all().delete()  # each run starts from the same state
            return
        page = services.page_create(name="Demo offer", slug=PAGE_SLUG, actor=actor)
        services.page_update(
            page=page, data={"seo_title": "Book a demo", "seo_description": "Bench page"}, actor=actor
        )
        control = Variant.objects.get(page=page)
        testimonials = services.block_add(variant=control, block_type=BlockType.TESTIMONIALS, actor=actor)
        services.block_update(
            block=testimonials,
            content={
                "heading": "What customers say",
                "items": [
                    {
                        "quote": f"Quote number {i} about how good this is.",
                        "author": f"Person {i}",
                        "role": "CMO",
                    }
                    for i in range(3)
                ],
            },
            actor=actor,
        )
        cta = Block.objects.get(variant=control, type=BlockType.CTA)
        services.block_move(block=cta, offset=1, actor=actor)
        services.variant_create(page=page, actor=actor)
        page.refresh_from_db()
        services.page_publish(page=page, actor=actor)


def run(
    port: int, paths_and_headers: list[tuple[str, dict[str, str]]], concurrency: int
) -> tuple[float, list[float]]:
    """(requests per second, latencies in ms) of all the given requests spread over `concurrency` threads."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(item: tuple[str, dict[str, str]]) -> None:
        status, body, elapsed = request("GET", port, item[0], item[1])
        if status != 200:
            raise RuntimeError(f"GET {item[0]} answered {status}: {body[:200]!r}")
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, paths_and_headers))
    return len(paths_and_headers) / (time.perf_counter() - started), latencies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.landing_page", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_PAGES_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"))
    parser.add_argument("--requests", type=int, default=3000, help="Measured requests per scenario.")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    args = parser.parse_args(argv)

    env = server_env(args.database_url, args.redis_url)
    env["CACHE_KEY_PREFIX"] = "leadhub-bench-pages"
    database_ensure(args.database_url, env)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    page_ensure()
    connection.close()
    context = {
        "concurrency": args.concurrency,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "database": "postgresql",
        "requests": args.requests,
    }
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = Server(env, args.workers)
    page_path = f"/p/{SLUG}/{PAGE_SLUG}/"
    try:
        returning = [{"Cookie": f"lh_vid=benchvisitor{i:05d}"} for i in range(500)]
        run(server.port, [(page_path, h) for h in returning], args.concurrency)  # assigned and counted today
        static_path = "/static/css/landing.css"
        scenarios: dict[str, list[tuple[str, dict[str, str]]]] = {
            "static": [(static_path, {})] * args.requests,
            "page_returning": [(page_path, returning[i % len(returning)]) for i in range(args.requests)],
            "page_new": [(page_path, {}) for _ in range(args.requests)],
        }
        results: dict[str, float] = {}
        for name, items in scenarios.items():
            run(server.port, items[: args.warmup], args.concurrency)
            throughput, latencies = run(server.port, items, args.concurrency)
            results[name] = throughput
            emit(f"{name}_per_second", throughput, "req/s", **context)
            emit(f"{name}_p95", percentile(latencies, 0.95), "ms", **context)
            emit(f"{name}_p50", percentile(latencies, 0.5), "ms", **context)
        for name in ("page_returning", "page_new"):
            emit(f"{name}_vs_static", results[name] / results["static"], "ratio", **context)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

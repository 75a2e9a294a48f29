"""Public form submissions per second and their latency, at a given concurrency, against a real server.

    python -m bench.form_submit --database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_forms_bench \\
        [--submissions 3000] [--concurrency 16] [--workers 4]

Sets up (idempotently) an organization `fs-1` with a form of six fields and a consent checkbox, starts its
own `redis-server` on a free port (cache and broker: rate limits are counted and the capture tasks are
queued, but no worker drains them during the run, so only the submit path is measured), and serves the
app with gunicorn on PostgreSQL. Then, with `--concurrency` clients, it sends `--submissions` JSON posts
to `/f/<key>/` as the embed script does (each a new visitor and email), and, as the baseline of the same
run, the same number of authenticated `POST /api/v1/leads/` with `contact_data`. Prints one JSON object
per line: throughput, median and p95 latency, and the machine's load average around each phase.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.lead_list import ROOT, Server, free_port, percentile, request, server_env

BENCH = "form_submit"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


class PrivateRedis:
    """A redis-server of this run only: the measured traffic never touches a shared Redis."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is needed (the benchmark starts its own)")
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="leadhub-bench-redis-")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def setup() -> tuple[str, str, list[int], list[int]]:
    """The bench organization, its form and a full API key: (form key, api key, field ids, consent ids)."""
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization
    from leadhub.tenancy.services import Actor, api_key_create
    from leads.models_forms import Form
    from leads.webforms import services
    from leads.webforms.schema import definition_build

    actor = Actor.system("bench")
    organization, _ = Organization.objects.get_or_create(slug="fs-1", defaults={"name": "Form bench"})
    with tenant_context(organization):
        form = Form.objects.filter(name="Bench form").first()
        if form is None:
            form = services.form_create(
                data={"name": "Bench form", "allowed_domains": ["bench.example"]}, actor=actor
            )
            for target in (
                "contact.first_name",
                "contact.last_name",
                "company.name",
                "contact.job_title",
                "lead.need",
            ):
                services.form_field_add(form=form, data={"target": target}, actor=actor)
            services.form_consent_set(
                form=form,
                purpose="marketing_email",
                text="Email me product news.",
                required=False,
                actor=actor,
            )
            form.refresh_from_db()
        definition = definition_build(form)
        _, raw_key = api_key_create(organization=organization, name="bench", actor=actor)
    return (
        form.public_key,
        raw_key,
        [f.id for f in definition.fields],
        [c.id for c in definition.consents],
    )


def run(port: int, count: int, concurrency: int, make: Any) -> tuple[float, list[float], dict[int, int]]:
    """Send `count` requests built by make(i) -> (method, path, headers, body) with `concurrency` clients."""

    def one(i: int) -> tuple[int, float]:
        method, path, headers, body = make(i)
        status, _, millis = request(method, port, path, headers, body)
        return status, millis

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return elapsed, [millis for _, millis in results], statuses


def report(
    name: str,
    unit: str,
    count: int,
    elapsed: float,
    timings: list[float],
    statuses: dict[int, int],
    load: tuple[float, float],
    context: dict[str, Any],
) -> None:
    extra = {**context, "requests": count, "statuses": {str(k): v for k, v in sorted(statuses.items())}}
    emit(f"{name}.throughput", count / elapsed, unit, **extra)
    emit(f"{name}.median", statistics.median(timings), "ms", **extra)
    emit(f"{name}.p95", percentile(timings, 0.95), "ms", **extra)
    emit(f"{name}.load_average", load[1], "load", before=round(load[0], 2), **context)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.form_submit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--submissions", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    parser.add_argument("--warmup", type=int, default=200)
    args, _ = parser.parse_known_args(argv)  # `python -m bench` passes every benchmark the same arguments
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")

    redis_server = PrivateRedis()
    env = server_env(args.database_url, redis_server.url)
    env.update(
        LEADHUB_FORM_RATE_PER_IP_PER_MINUTE="100000000",  # every client is 127.0.0.1 here
        LEADHUB_FORM_RATE_PER_FORM_PER_MINUTE="100000000",
    )
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)

    from leads.webforms import guard

    form_key, api_key, field_ids, consent_ids = setup()
    connection.close()
    token = guard.token_issue(fields=field_ids, consents=consent_ids, at=time.time() - 60)
    run_id = uuid.uuid4().hex[:8]
    context = {
        "workers": args.workers,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "database": "postgresql",
    }
    form_headers = {"Content-Type": "application/json", "Origin": "https://www.bench.example"}
    api_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}

    def form_post(i: int) -> tuple[str, str, dict[str, str], bytes]:
        body = {
            "contact.email": f"visitor-{run_id}-{i}@bench.example",
            "contact.first_name": "Ada",
            "contact.last_name": f"Visitor {i}",
            "company.name": f"Company {i % 500}",
            "lead.need": "A demo",
            "consent.marketing_email": True,
            "utm_source": "google",
            "utm_medium": "cpc",
            "page_url": "https://www.bench.example/pricing",
            "_lh_t": token,
            "_lh_vid": f"v-{run_id}-{i}",
        }
        return "POST", f"/f/{form_key}/", form_headers, json.dumps(body).encode()

    def api_post(i: int) -> tuple[str, str, dict[str, str], bytes]:
        body = {"contact_data": {"email": f"api-{run_id}-{i}@bench.example", "first_name": "Ada"}}
        return "POST", "/api/v1/leads/", api_headers, json.dumps(body).encode()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = Server(env, args.workers)
    try:
        run(server.port, args.warmup, args.concurrency, lambda i: form_post(10_000_000 + i))
        run(server.port, args.warmup, args.concurrency, lambda i: api_post(10_000_000 + i))
        for name, unit, make in (
            ("public_form.submit", "submissions/s", form_post),
            ("baseline.api_lead_create", "leads/s", api_post),
        ):
            before = os.getloadavg()[0]
            elapsed, timings, statuses = run(server.port, args.submissions, args.concurrency, make)
            report(
                name,
                unit,
                args.submissions,
                elapsed,
                timings,
                statuses,
                (before, os.getloadavg()[0]),
                context,
            )
    finally:
        server.stop()
        redis_server.stop()


if __name__ == "__main__":
    main()

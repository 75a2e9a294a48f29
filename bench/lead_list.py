"""The lead list at scale: the API and the page for one organization holding N leads, against a real server.

    python -m bench.lead_list --database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_bench \\
        --sizes 1000,100000,1000000 [--reuse] [--requests 200] [--workers 4]

For each size, an organization `lb<N>-1` holding N leads (10 touchpoints each) is generated with
`generate_dataset` (or reused with `--reuse`); the smallest size is the baseline of the same run.
gunicorn serves the app on 127.0.0.1 (DEBUG off, Redis cache, the given database). For each size and
variation (first page, a stage filter, a search, ordering by score, a page deep in the cursor chain),
`--requests` sequential requests after a warm-up give the median and p95 latency, for
`GET /api/v1/leads/` (Bearer key) and `GET /leads/` (signed-in session). Then lead creation
(`POST /api/v1/leads/` with `contact_data`) runs with `--concurrency` clients, to show its throughput
does not fall as the organization grows. Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = "lead_list"
NEXT_LINK_RE = re.compile(r'rel="next" href="([^"]+)"')


@dataclass(frozen=True)
class Target:
    """One organization of the run and the credentials to read it."""

    size: int
    slug: str
    api_key: str
    session_cookie: str
    search: str


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


# --- the server ---------------------------------------------------------------------------------------


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": env.get("BENCH_SECRET_KEY", "bench-" + "k" * 50),
            "DEBUG": "0",
            # Plain HTTP on loopback: cookies must not be Secure-only and no HTTPS redirect.
            "LEADHUB_DEMO": "1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Thousands of requests a minute with one key: the per-key limit is not what is measured.
            "LEADHUB_API_RATE_PER_MINUTE": "10000000",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, env: dict[str, str], workers: int) -> None:
        # DEBUG off serves hashed static files from the manifest, as in production.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "leadhub.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--timeout",
                "120",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request("GET", self.port, "/login/")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited during start-up")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def request(
    method: str, port: int, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, bytes, float]:
    """(status, body, milliseconds), the time covering connect, request and the whole response."""
    started = time.perf_counter()
    connection = HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, payload, (time.perf_counter() - started) * 1000


# --- data and credentials -----------------------------------------------------------------------------


def dataset_ensure(size: int, env: dict[str, str], reuse: bool, per_lead: int) -> str:
    from leadhub.tenancy.models import Organization

    prefix = f"lb{size}"
    slug = f"{prefix}-1"
    if Organization.objects.filter(slug=slug).exists():
        if not reuse:
            raise SystemExit(
                f"Organization {slug} exists: pass --reuse to measure it, or use a fresh database."
            )
        return slug
    print(f"[{BENCH}] generating {size:,} leads into {slug}...", file=sys.stderr, flush=True)
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "generate_dataset",
            "--organizations",
            "1",
            "--leads",
            str(size),
            "--touchpoints-per-lead",
            str(per_lead),
            "--prefix",
            prefix,
            "--vacuum",
            "--verbosity",
            "0",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,  # stdout carries only this bench's JSON lines
    )
    emit("generate_dataset_seconds", time.monotonic() - started, "s", leads=size, touchpoints=size * per_lead)
    return slug


def credentials(slug: str, size: int) -> Target:
    """A fresh API key and a signed-in session of the organization's admin (made directly in the
    session store the server reads, so sign-in throttling does not interfere)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization
    from leadhub.tenancy.services import Actor, api_key_create
    from leads.models import Lead

    organization = Organization.objects.get(slug=slug)
    user = get_user_model().objects.get(username=f"admin@{slug}.example")
    with tenant_context(organization):
        _, raw = api_key_create(organization=organization, name="bench", actor=Actor.system("bench"))
        # A name typed into the search box: the last name of a contact halfway down the list.
        middle = Lead.objects.order_by("-id").select_related("contact")[size // 2]
        search = middle.contact.last_name.lower()
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store["organization_id"] = organization.pk
    store.create()
    return Target(size, slug, raw, f"{settings.SESSION_COOKIE_NAME}={store.session_key}", search)


# --- measurements -------------------------------------------------------------------------------------


def deep_path(port: int, first: str, headers: dict[str, str], depth: int, api: bool) -> str:
    """Follow `next` links `depth` times and return the path reached."""
    path = first
    for _ in range(depth):
        status, body, _ = request("GET", port, path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        if api:
            link = json.loads(body).get("next")
            if not link:
                break
            parts = urlsplit(link)
            path = f"{parts.path}?{parts.query}"
        else:
            match = NEXT_LINK_RE.search(body.decode())
            if match is None:
                break
            path = "/leads/" + html.unescape(match.group(1))
    return path


def measure(
    port: int, path: str, headers: dict[str, str], warmup: int, count: int, budget: float
) -> list[float]:
    """`count` timings after `warmup` requests, or fewer if they take longer than `budget` seconds
    (a pathological variation still reports, from fewer samples: `requests` says how many)."""
    timings: list[float] = []
    deadline = time.monotonic() + budget
    for i in range(warmup + count):
        status, body, elapsed = request("GET", port, path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        if i >= warmup:
            timings.append(elapsed)
            if time.monotonic() > deadline and len(timings) >= 20:
                break
        elif time.monotonic() > deadline:
            warmup = i + 1  # the warm-up alone used the budget: measure the minimum from here
    return timings


def variations(target: Target, base: str) -> dict[str, str]:
    return {
        "first_page": base,
        "stage_filter": f"{base}?{urlencode({'stage': 'sql'})}",
        "search": f"{base}?{urlencode({'q': target.search})}",
        "order_by_score": f"{base}?{urlencode({'ordering': '-score'})}",
    }


def lists_measure(port: int, target: Target, args: argparse.Namespace, context: dict[str, Any]) -> None:
    surfaces: dict[str, tuple[str, dict[str, str]]] = {
        "api": (
            "/api/v1/leads/",
            {"Authorization": f"Bearer {target.api_key}", "Accept": "application/json"},
        ),
        "page": ("/leads/", {"Cookie": target.session_cookie}),
    }
    for surface, (base, headers) in surfaces.items():
        paths = variations(target, base)
        paths["deep_page"] = deep_path(port, base, headers, args.depth, api=surface == "api")
        for name, path in paths.items():
            timings = measure(port, path, headers, args.warmup, args.requests, args.budget)
            extra = {
                "leads": target.size,
                "surface": surface,
                "variation": name,
                "requests": len(timings),
                **context,
            }
            emit(f"{surface}.{name}.median", statistics.median(timings), "ms", **extra)
            emit(f"{surface}.{name}.p95", percentile(timings, 0.95), "ms", **extra)


def create_measure(port: int, target: Target, args: argparse.Namespace, context: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {target.api_key}", "Content-Type": "application/json"}
    run = uuid.uuid4().hex[:8]

    def create(i: int) -> tuple[int, float]:
        body = json.dumps(
            {
                "contact_data": {
                    "email": f"bench.{run}.{i}@newco{i % 97}.example",
                    "first_name": "Bench",
                    "last_name": f"Lead {i}",
                    "job_title": "Head of Demand Generation",
                    "company": {"name": f"Newco {i % 97}"},
                },
                "source_channel": "paid_search",
            }
        ).encode()
        status, payload, elapsed = request("POST", port, "/api/v1/leads/", headers, body)
        if status not in (200, 201):
            raise RuntimeError(f"POST /api/v1/leads/ answered {status}: {payload[:300]!r}")
        return status, elapsed

    with ThreadPoolExecutor(max_workers=args.concurrency) as executor:
        list(executor.map(create, range(args.concurrency * 2)))  # warm-up
        started = time.perf_counter()
        results = list(executor.map(create, range(args.concurrency * 2, args.concurrency * 2 + args.creates)))
        elapsed = time.perf_counter() - started
    timings = [ms for _, ms in results]
    extra = {
        "leads": target.size,
        "surface": "api",
        "concurrency": args.concurrency,
        "requests": len(results),
        **context,
    }
    emit("api.create.throughput", len(results) / elapsed, "leads/s", **extra)
    emit("api.create.median", statistics.median(timings), "ms", **extra)
    emit("api.create.p95", percentile(timings, 0.95), "ms", **extra)


# --- entry point --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lead_list", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="The benchmark database (default: $DATABASE_URL).",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"))
    parser.add_argument(
        "--sizes", default="1000,100000,1000000", help="Leads per organization, comma-separated."
    )
    parser.add_argument(
        "--reuse", action="store_true", help="Measure existing lb<N>-1 organizations as they are."
    )
    parser.add_argument("--touchpoints-per-lead", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200, help="Measured requests per variation.")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--budget", type=float, default=120, help="Seconds per variation before it stops at 20+ samples."
    )
    parser.add_argument("--depth", type=int, default=50, help="Pages followed for the deep page.")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent clients creating leads.")
    parser.add_argument("--creates", type=int, default=400, help="Leads created per size.")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})

    env = server_env(args.database_url, args.redis_url)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    targets = [
        credentials(dataset_ensure(size, env, args.reuse, args.touchpoints_per_lead), size) for size in sizes
    ]
    connection.close()
    context = {"workers": args.workers, "cpus": os.cpu_count(), "database": connection.vendor}
    # A terminated bench still stops its server (the finally below runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = Server(env, args.workers)
    try:
        for target in targets:
            lists_measure(server.port, target, args, context)
        for target in targets:
            create_measure(server.port, target, args, context)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

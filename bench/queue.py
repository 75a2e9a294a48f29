"""The sales rep's queue at scale, in process: the page and the API for one rep holding N open handoffs.

    DATABASE_URL=postgres://leadhub_app@127.0.0.1:5432/leadhub_queue REDIS_URL=redis://127.0.0.1:6379/11 \\
        CACHE_KEY_PREFIX=queue python -m bench.queue [--sizes 100,10000] [--requests 100]

Migrates the database it is given, then for each size N sets up (idempotently) an organization
`queue-bench-<N>` with one rep holding N pending handoffs and a second rep holding N/2, so that the rep's
rows are a part of the table as in real life. Companies, contacts, leads and handoffs are inserted set-based
(multi-row INSERTs, 2,000 rows a statement), priorities spread 0-100, SLA deadlines over the next and last
two days (a fifth without one), a mix of SLA states; then ANALYZE.

Measured through Django's test client (the whole middleware stack: session or API key, the tenant's
transaction with row-level security, rendering), `--requests` sequential requests after a warm-up:
- `page_first`:  GET /conversion/queue/ (the rep's first page, 25 rows)
- `page_deep`:   the same page from a cursor half-way down the queue
- `page_filter`: GET /conversion/queue/?grade=A&source=paid_search
- `api_first`:   GET /api/v1/conversion/queue/?assigned_to=<rep> (50 rows, Bearer key)
- `api_deep`:    the same from a cursor half-way down
The smallest size is the baseline of the same run. Prints one JSON object per line: p50 and p95 latency.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import time
from typing import Any

BENCH = "queue"
BATCH = 2000


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def _fill(organization: Any, rep: Any, count: int, rng: random.Random, tag: str) -> None:
    """`count` pending handoffs for `rep`, with their leads, contacts and companies, in multi-row INSERTs."""
    from django.utils import timezone

    from conversion.models import Handoff
    from leads.models import Channel, Company, Contact, Lead

    now = timezone.now()
    channels = [Channel.PAID_SEARCH, Channel.ORGANIC_SEARCH, Channel.EMAIL, Channel.EVENTS]
    states = ["on_track", "on_track", "warning", "breached", ""]
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        companies = Company.objects.bulk_create(
            [
                Company(name=f"{tag} company {start + i}", country="Germany", industry="Software")
                for i in range(size)
            ]
        )
        contacts = Contact.objects.bulk_create(
            [
                Contact(
                    email=f"{tag}-{start + i}@bench.example",
                    email_normalized=f"{tag}-{start + i}@bench.example",
                    first_name="Bench",
                    last_name=f"Lead {start + i}",
                    company=company,
                )
                for i, company in enumerate(companies)
            ]
        )
        leads = Lead.objects.bulk_create(
            [
                Lead(
                    contact=contact,
                    stage="mql",
                    owner=rep,
                    score=rng.randint(0, 100),
                    grade=rng.choice("ABCDEF"),
                    source_channel=rng.choice(channels),
                )
                for contact in contacts
            ]
        )
        Handoff.objects.bulk_create(
            [
                Handoff(
                    lead=lead,
                    from_stage="mql",
                    assigned_to=rep,
                    assigned_by_rule="round robin: bench",
                    priority=rng.randint(0, 100),
                    handed_at=now - dt.timedelta(minutes=rng.randint(0, 5000)),
                    sla_due_at=None
                    if rng.random() < 0.2
                    else now + dt.timedelta(minutes=rng.randint(-2880, 2880)),
                    sla_state=rng.choice(states),
                )
                for lead in leads
            ]
        )


def setup(size: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from conversion.models import Handoff
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Membership, Organization, Role
    from leadhub.tenancy.services import Actor, api_key_create

    users = get_user_model()
    organization, _ = Organization.objects.get_or_create(
        slug=f"queue-bench-{size}", defaults={"name": f"Queue bench {size}"}
    )
    rep, _ = users.objects.get_or_create(
        username=f"rep-{size}@bench.example", defaults={"email": f"rep-{size}@bench.example"}
    )
    other, _ = users.objects.get_or_create(
        username=f"other-{size}@bench.example", defaults={"email": f"other-{size}@bench.example"}
    )
    for user in (rep, other):
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": Role.SALES_REP}
        )
    rng = random.Random(size)
    with tenant_context(organization):
        if Handoff.objects.filter(assigned_to=rep).count() != size:
            Handoff.objects.all().delete()
            began = time.perf_counter()
            _fill(organization, rep, size, rng, f"r{size}")
            _fill(organization, other, size // 2, rng, f"o{size}")
            emit("setup_seconds", time.perf_counter() - began, "s", size=size, rows=size + size // 2)
        _, raw_key = api_key_create(
            organization=organization, name=f"bench {time.time()}", actor=Actor.system("bench")
        )
    with connection.cursor() as cursor:
        for table in ("conversion_handoff", "leads_lead", "leads_contact", "leads_company"):
            cursor.execute(f"ANALYZE {table}")
    return {"organization": organization, "rep": rep, "key": raw_key}


def run(size: int, requests: int) -> None:
    from django.test import Client

    from conversion.queue import selectors
    from leadhub.tenancy.context import tenant_context

    target = setup(size)
    organization, rep = target["organization"], target["rep"]
    with tenant_context(organization):
        rows = selectors.queue_rows(user_id=rep.pk)
        middle = rows[size // 2]
        cursor = selectors._cursor_encode("next", middle)  # a position half-way down the queue
    page = Client()
    page.force_login(rep, backend="django.contrib.auth.backends.ModelBackend")
    session = page.session
    session["organization_id"] = organization.pk
    session.save()
    api = Client(HTTP_AUTHORIZATION=f"Bearer {target['key']}")
    cases = {
        "page_first": (page, "/conversion/queue/"),
        "page_deep": (page, f"/conversion/queue/?cursor={cursor}"),
        "page_filter": (page, "/conversion/queue/?grade=A&source=paid_search"),
        "api_first": (api, f"/api/v1/conversion/queue/?assigned_to={rep.pk}"),
        "api_deep": (api, f"/api/v1/conversion/queue/?assigned_to={rep.pk}&cursor={cursor}"),
    }
    for name, (client, url) in cases.items():
        for _ in range(5):
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{name}: {response.status_code} {response.content[:300]!r}")
        timings = []
        for _ in range(requests):
            began = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - began) * 1000)
        extra = {"size": size, "requests": requests}
        emit(f"{name}_p50", percentile(timings, 0.5), "ms", **extra)
        emit(f"{name}_p95", percentile(timings, 0.95), "ms", **extra)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", default="100,10000", help="Open handoffs of the rep; the smallest is the baseline."
    )
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    os.environ.setdefault("LEADHUB_DEMO", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench.queue measures PostgreSQL: set DATABASE_URL.")
    settings.ALLOWED_HOSTS = ["*"]
    # No collectstatic in a bench: static URLs without the manifest's hashes.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
    for size in sorted(int(s) for s in args.sizes.split(",")):
        run(size, args.requests)


if __name__ == "__main__":
    main()

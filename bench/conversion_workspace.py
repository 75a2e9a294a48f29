"""The lead workspace and the notifications bell at scale, in process (Django's test client).

    DATABASE_URL=postgres://leadhub_app@127.0.0.1:5432/leadhub_bench python -m bench.conversion_workspace \\
        [--history 20000] [--notifications 100000] [--requests 60]

In an organization `ws-bench` (made if missing), a sales rep works two leads: one with a short history
(10 of each: activities, notes, touchpoints) — the baseline of the same run — and one with `--history` of
each. The workspace page (`GET /conversion/leads/<pk>/`, the first page of the merged timeline) and the
next timeline page (htmx) are timed for both, `--requests` times after a warm-up. Then the bell
(`GET /conversion/notifications/bell/`) is timed for a user with no notification (baseline) and one with
`--notifications` of them, half unread. Prints one JSON object per line: p50 and
p95 in milliseconds, with the baseline's beside each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from typing import Any

BENCH = "conversion_workspace"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def timed(call: Any, count: int) -> list[float]:
    call()  # warm-up
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    os.environ.setdefault("LEADHUB_DEMO", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from conversion.models import Activity, Note, Notification
    from conversion.workspace.selectors import lead_timeline
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Membership, Organization, Role
    from leads.models import Contact, Lead, Touchpoint

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    # DEBUG off serves hashed static files from the manifest, as in production.
    call_command("collectstatic", interactive=False, verbosity=0)
    organization, _ = Organization.objects.get_or_create(
        slug="ws-bench", defaults={"name": "Workspace bench"}
    )
    users = get_user_model()._default_manager
    rep, _ = users.get_or_create(username="rep@ws-bench.example", defaults={"email": "rep@ws-bench.example"})
    quiet, _ = users.get_or_create(
        username="quiet@ws-bench.example", defaults={"email": "quiet@ws-bench.example"}
    )
    for user in (rep, quiet):
        Membership.objects.get_or_create(
            organization=organization, user=user, defaults={"role": Role.SALES_REP}
        )

    def lead_with_history(email: str, size: int) -> Lead:
        with tenant_context(organization):
            contact, _ = Contact.objects.get_or_create(
                email_normalized=email, defaults={"email": email, "first_name": "Bench"}
            )
            lead, created = Lead.objects.get_or_create(contact=contact, journey=1, defaults={"owner": rep})
            if not created:
                return lead
            print(f"[{BENCH}] writing {size:,} of each record for {email}...", file=sys.stderr, flush=True)
            now = timezone.now()
            for start in range(0, size, 5000):
                chunk = range(start, min(size, start + 5000))
                at = [now - dt.timedelta(minutes=3 * i + 1) for i in chunk]
                Activity.objects.bulk_create(
                    [
                        Activity(lead=lead, user=rep, kind="call", outcome="Connected", occurred_at=t)
                        for t in at
                    ]
                )
                Note.objects.bulk_create(
                    [Note(lead=lead, author=rep, body="note", created_at=t, updated_at=t) for t in at]
                )
                Touchpoint.objects.bulk_create(
                    [Touchpoint(lead=lead, contact=contact, type="page_view", occurred_at=t) for t in at]
                )
            return lead

    small = lead_with_history("small10@ws-bench.example", 10)
    large = lead_with_history("large@ws-bench.example", args.history)
    with tenant_context(organization):
        if Notification.objects.filter(user=rep).count() < args.notifications:
            print(f"[{BENCH}] writing {args.notifications:,} notifications...", file=sys.stderr, flush=True)
            now = timezone.now()
            for start in range(0, args.notifications, 10_000):
                Notification.objects.bulk_create(
                    [
                        Notification(
                            user=rep,
                            kind="task",
                            title="Task due",
                            created_at=now - dt.timedelta(seconds=i),
                            read_at=now if i % 2 else None,
                        )
                        for i in range(start, min(args.notifications, start + 10_000))
                    ]
                )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    client = Client()
    client.force_login(rep, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["organization_id"] = organization.pk
    session.save()
    quiet_client = Client()
    quiet_client.force_login(quiet, backend="django.contrib.auth.backends.ModelBackend")
    session = quiet_client.session
    session["organization_id"] = organization.pk
    session.save()
    htmx = {"HX-Request": "true", "HX-Target": "timeline-more"}

    def report(metric: str, samples: list[float], baseline: list[float], **extra: Any) -> None:
        for share, name in ((0.5, "p50"), (0.95, "p95")):
            emit(
                f"{metric}_{name}",
                percentile(samples, share),
                "ms",
                baseline=round(percentile(baseline, share), 2),
                **extra,
            )

    pages: dict[str, list[float]] = {}
    for name, lead in (("small", small), ("large", large)):
        url = f"/conversion/leads/{lead.pk}/"
        pages[f"{name}_page"] = timed(lambda url=url: client.get(url), args.requests)
        with tenant_context(organization):
            position = lead_timeline(lead).next_cursor or ""
        pages[f"{name}_more"] = timed(
            lambda url=url, position=position: client.get(url, {"timeline": position}, headers=htmx),
            args.requests,
        )
    report("workspace_page", pages["large_page"], pages["small_page"], history_per_kind=args.history)
    report("timeline_next_page", pages["large_more"], pages["small_more"], history_per_kind=args.history)
    bell = timed(lambda: client.get("/conversion/notifications/bell/"), args.requests)
    quiet_bell = timed(lambda: quiet_client.get("/conversion/notifications/bell/"), args.requests)
    report("bell", bell, quiet_bell, notifications=args.notifications)


if __name__ == "__main__":
    main()

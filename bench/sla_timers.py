"""SLA timers processed per second by the sweep (conversion.sla.sweep), on PostgreSQL.

    python -m bench.sla_timers --database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_sla \\
        [--redis-url redis://127.0.0.1:6379/1] [--sizes 1000,50000] [--reps 20]

For each size N, an organization `bench-sla-<N>` holds N/2 pending handoffs of a team of `--reps` reps with
a manager, each with its two clocks: the accept clock past its deadline (a breach: the rep and the manager
notified, the escalation recorded) and the first-contact clock past its warning point (a warning: the rep
notified). So N timers are due at once, half warnings and half breaches. The organization is built once
(bulk inserts) and reset before each run (stamps cleared, events and notifications deleted).

The sweep runs as the beat's task does, in chunks of 500, each chunk one transaction with its claim
(UPDATE ... FOR UPDATE SKIP LOCKED RETURNING), its events, its in-app notifications (conversion.notify,
one row each) and the handoffs' SLA state. Each notification's email goes to Redis as a task after commit,
as in production: tasks are not eager here, and go to a queue of this run's own, deleted afterwards.

Printed per size: timers per second, seconds, notifications; then the cost of an idle sweep (nothing
due), which the 30-second beat pays every time. The smallest size is the baseline of the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
import time
from typing import Any

BENCH = "sla_timers"
BATCH = 5000


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 3), "unit": unit, **extra}),
        flush=True,
    )


def _django(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url  # tasks go to Redis, as in production
    os.environ["CACHE_KEY_PREFIX"] = f"bench-sla-{secrets.token_hex(3)}"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    import django

    django.setup()


def _organization(size: int, reps: int) -> Any:
    """The bench organization of `size` timers, built once."""
    from django.db import connection, transaction

    from leadhub.tenancy.models import Organization

    slug = f"bench-sla-{size}"
    organization = Organization.objects.filter(slug=slug).first()
    if organization is not None:
        return organization
    started = time.monotonic()
    with transaction.atomic():  # a half-built organization would be reused by the next run
        organization = _build(slug, size, reps)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversion_slaclock")
        cursor.execute("ANALYZE conversion_handoff")
        cursor.execute("ANALYZE leads_lead")
        cursor.execute("ANALYZE leads_contact")
    emit("setup", time.monotonic() - started, "s", timers=size)
    return organization


def _build(slug: str, size: int, reps: int) -> Any:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from conversion.models import BusinessHours, ClockKind, Handoff, SalesTeam, SlaClock, TeamMember
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Membership, Organization, Role
    from leads.models import Contact, Lead

    organization = Organization.objects.create(name=f"SLA bench {size}", slug=slug)
    users = get_user_model().objects
    manager = users.create_user(username=f"manager@{slug}.example", email=f"manager@{slug}.example")
    Membership.objects.create(user=manager, organization=organization, role=Role.SALES_MANAGER)
    members = []
    for index in range(reps):
        email = f"rep{index}@{slug}.example"
        rep = users.create_user(username=email, email=email, first_name=f"Rep {index}")
        Membership.objects.create(user=rep, organization=organization, role=Role.SALES_REP)
        members.append(rep)
    now = timezone.now()
    handoffs_wanted = size // 2
    with tenant_context(organization):
        team = SalesTeam.objects.create(name="Bench", timezone="Europe/Berlin", manager=manager)
        TeamMember.objects.bulk_create([TeamMember(team=team, user=rep) for rep in members])
        BusinessHours.objects.create(team=team, week=[[["00:00", "24:00"]]] * 7)
        for offset in range(0, handoffs_wanted, BATCH):
            count = min(BATCH, handoffs_wanted - offset)
            contacts = Contact.objects.bulk_create(
                [
                    Contact(
                        email=f"lead{offset + i}@{slug}.example",
                        email_normalized=f"lead{offset + i}@{slug}.example",
                        first_name="Lead",
                        last_name=str(offset + i),
                    )
                    for i in range(count)
                ]
            )
            leads = Lead.objects.bulk_create(
                [Lead(contact=c, stage="mql", score=50, grade="B") for c in contacts]
            )
            handoffs = Handoff.objects.bulk_create(
                [
                    Handoff(
                        lead=lead,
                        from_stage="mql",
                        team=team,
                        assigned_to=members[i % reps],
                        assigned_by_rule="bench",
                        priority=40,
                        handed_at=now - dt.timedelta(minutes=400),
                    )
                    for i, lead in enumerate(leads)
                ]
            )
            clocks = []
            for handoff in handoffs:
                start = handoff.handed_at
                common = {
                    "handoff": handoff,
                    "team": team,
                    "assigned_to_id": handoff.assigned_to_id,
                    "policy_name": "Default policy",
                    "started_at": start,
                }
                # accept: 240 business minutes (breached); first contact: 480 (warned at 360)
                clocks.append(
                    SlaClock(
                        kind=ClockKind.ACCEPT,
                        budget_minutes=240,
                        due_at=start + dt.timedelta(minutes=240),
                        warn_at=start + dt.timedelta(minutes=180),
                        **common,
                    )
                )
                clocks.append(
                    SlaClock(
                        kind=ClockKind.FIRST_CONTACT,
                        budget_minutes=480,
                        due_at=start + dt.timedelta(minutes=480),
                        warn_at=start + dt.timedelta(minutes=360),
                        **common,
                    )
                )
            SlaClock.objects.bulk_create(clocks)
    return organization


def _reset(organization: Any) -> None:
    """Every clock due again: stamps cleared, the previous run's events and notifications gone."""
    from conversion.models import Notification, SlaClock, SlaEvent
    from leadhub.tenancy.context import tenant_context

    with tenant_context(organization):
        SlaEvent.objects.all().delete()
        Notification.objects.all()._raw_delete(Notification.objects.db)
        SlaClock.objects.update(warned_at=None, breached_at=None, stopped_at=None, outcome="")


def _run(organization: Any, size: int, *, report: bool = True) -> float:
    from django.utils import timezone

    from conversion.sla.sweep import sla_sweep_organization

    _reset(organization)
    started = time.monotonic()
    result = sla_sweep_organization(organization_id=organization.pk, now=timezone.now())
    elapsed = time.monotonic() - started
    timers = result.warned + result.breached
    assert timers == size, f"expected {size} timers, swept {timers}"
    if not report:
        return timers / elapsed
    emit(
        "timers_per_second",
        timers / elapsed,
        "timers/s",
        timers=size,
        warned=result.warned,
        breached=result.breached,
        notifications=result.notified,
        seconds=round(elapsed, 3),
    )
    started = time.monotonic()
    again = sla_sweep_organization(organization_id=organization.pk, now=timezone.now())
    assert again.warned + again.breached == 0
    emit("idle_sweep", (time.monotonic() - started) * 1000, "ms", timers=size)
    return timers / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"))
    parser.add_argument(
        "--sizes", default="1000,50000", help="Timers due per run; the first is the baseline."
    )
    parser.add_argument("--reps", type=int, default=20)
    args, _ = parser.parse_known_args(argv)  # `python -m bench` passes every benchmark the same arguments
    if not args.database_url.startswith("postgres"):
        print("sla_timers measures the PostgreSQL path: give --database-url postgres://...", file=sys.stderr)
        return
    _django(args.database_url, args.redis_url)
    from leadhub.celery import app

    queue = f"bench-sla-{secrets.token_hex(4)}"
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        # Warm-up (imports, URL resolver, connections), not measured: one untimed sweep of the baseline.
        _run(_organization(sizes[0], args.reps), sizes[0], report=False)
        baseline = None
        for size in sizes:
            rate = _run(_organization(size, args.reps), size)
            if baseline is None:
                baseline = rate
            else:
                emit("rate_vs_baseline", rate / baseline, "x", timers=size, baseline_timers=sizes[0])
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)


if __name__ == "__main__":
    main()

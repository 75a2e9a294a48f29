"""SLA timers with a real Celery worker through Redis (not eager): the sweep task warns one handoff's
clock and breaches another's, notifying the rep and the manager; sent twice, it changes nothing more.
On PostgreSQL the worker runs as the application's role, so row-level security applies to it too."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from django.utils import timezone

from conversion.models import (
    BusinessHours,
    ClockKind,
    Notification,
    SalesTeam,
    SlaClock,
    SlaEvent,
    TeamMember,
)
from conversion.services.core import handoff_open
from conversion.sla import tasks
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from tests.factories import LeadFactory, MembershipFactory, OrganizationFactory, UserFactory
from tests.test_worker import pytestmark as worker_marks
from tests.test_worker import queue, worker  # noqa: F401  (fixtures)

pytestmark = worker_marks
WAIT_SECONDS = 30


def _wait(check: Any) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return bool(check())


def test_a_real_worker_warns_and_breaches(worker: Path) -> None:  # noqa: F811
    organization = OrganizationFactory.create(name="SLA Worker", slug="sla-worker")
    rep = UserFactory.create(email="rep@sla-worker.example")
    manager = UserFactory.create(email="manager@sla-worker.example")
    MembershipFactory.create(user=rep, organization=organization, role=Role.SALES_REP)
    MembershipFactory.create(user=manager, organization=organization, role=Role.SALES_MANAGER)
    now = timezone.now()
    with tenant_context(organization):
        team = SalesTeam.objects.create(name="Always", timezone="Asia/Tokyo", manager=manager)
        TeamMember.objects.create(team=team, user=rep)
        BusinessHours.objects.create(team=team, week=[[["00:00", "24:00"]]] * 7)
        opened = {}
        for minutes in (200, 300):  # accept clock (240 min): past its warning; past its deadline
            opened[minutes] = handoff_open(
                lead=LeadFactory.create(stage="mql"),
                assigned_to=rep,
                team=team,
                rule="test",
                priority=10,
                actor=Actor.system("test"),
                at=now - dt.timedelta(minutes=minutes),
            )

    tasks.sla_sweep.delay()

    def swept() -> bool:
        with tenant_context(organization):
            return SlaClock.objects.filter(kind=ClockKind.ACCEPT, breached_at__isnull=False).exists() and (
                SlaClock.objects.filter(kind=ClockKind.ACCEPT, warned_at__isnull=False).exists()
            )

    assert _wait(swept), f"the worker did not sweep in {WAIT_SECONDS}s:\n{worker.read_text()}"
    with tenant_context(organization):
        warned = SlaClock.objects.get(handoff=opened[200], kind=ClockKind.ACCEPT)
        breached = SlaClock.objects.get(handoff=opened[300], kind=ClockKind.ACCEPT)
        assert warned.warned_at is not None and warned.breached_at is None
        assert breached.breached_at is not None
        kinds = sorted(Notification.objects.values_list("kind", "user__email"))
        assert kinds == [
            ("sla_breach", manager.email),
            ("sla_breach", rep.email),
            ("sla_warning", rep.email),
        ]
        events = SlaEvent.objects.count()

    tasks.sla_sweep.delay()  # a second run, through the same worker
    assert _wait(lambda: worker.read_text().count("conversion.sla.tasks.sla_sweep") >= 4)
    time.sleep(0.5)
    with tenant_context(organization):
        assert Notification.objects.count() == 3 and SlaEvent.objects.count() == events
    output = worker.read_text()
    assert "succeeded" in output and "Traceback" not in output, output

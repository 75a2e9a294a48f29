"""The sweep: warnings, breaches, notifications, escalation, and that a second run does nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from conversion.models import (
    BusinessHours,
    ClockKind,
    Escalation,
    Handoff,
    HandoffStatus,
    Notification,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    SlaState,
)
from conversion.sla import tasks
from conversion.sla.sweep import sla_sweep, sla_sweep_organization
from tests.conversion.sla.test_clocks import ROUND_THE_CLOCK


@pytest.fixture
def always_open(team: Any, in_org: Any) -> Any:
    with in_org():
        BusinessHours.objects.create(team=team, week=ROUND_THE_CLOCK)
    return team


def test_warning_then_breach_notify_and_record(
    org: Any,
    always_open: Any,
    open_handoff: Any,
    sales_rep: Any,
    manager: Any,
    in_org: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    now = timezone.now()
    with in_org():
        # Opened 200 minutes ago: the accept clock (240) is past its warning (180), not yet due.
        handoff = open_handoff(team=always_open, at=now - dt.timedelta(minutes=200))
        assert Handoff.objects.get(pk=handoff.pk).sla_state == SlaState.WARNING

    with django_capture_on_commit_callbacks(execute=True):
        result = sla_sweep(now=now)
    assert (result["warned"], result["breached"]) == (1, 0)
    with in_org():
        accept = SlaClock.objects.get(handoff=handoff, kind=ClockKind.ACCEPT)
        assert accept.warned_at == now and accept.breached_at is None
        note = Notification.objects.get(kind="sla_warning")
        assert note.user == sales_rep and note.lead_id == handoff.lead_id
        assert note.title.startswith("Accept or reject")
        assert [e.kind for e in SlaEvent.objects.filter(clock=accept)] == ["warning"]
    assert [m.to for m in mail.outbox] == [[sales_rep.email]]

    later = now + dt.timedelta(minutes=45)
    result = sla_sweep(now=later)
    assert (result["warned"], result["breached"], result["reassigned"]) == (0, 1, 0)
    with in_org():
        accept.refresh_from_db()
        assert accept.breached_at == later
        breach_notes = Notification.objects.filter(kind="sla_breach")
        assert sorted(n.user.email for n in breach_notes) == [manager.email, sales_rep.email]
        assert sorted(SlaEvent.objects.filter(clock=accept).values_list("kind", flat=True)) == [
            "breach",
            "escalation",
            "warning",
        ]
        stored = Handoff.objects.get(pk=handoff.pk)
        assert (stored.sla_state, stored.sla_due_at) == (SlaState.BREACHED, accept.due_at)


def test_a_second_sweep_and_a_repeated_task_do_nothing(
    org: Any, other_org: Any, always_open: Any, open_handoff: Any, in_org: Any
) -> None:
    now = timezone.now()
    with in_org():
        for _ in range(3):
            open_handoff(team=always_open, at=now - dt.timedelta(days=2))
    first = sla_sweep(now=now, chunk=2)  # chunks of two: all three clocks of each kind
    assert (first["warned"], first["breached"]) == (0, 6)
    with in_org():
        notes = Notification.objects.count()
        events = SlaEvent.objects.count()
        # Several breaches for one person in one chunk make one digest, not one notification each:
        # three chunks of two clocks, each one digest to the rep and one to the manager.
        digests = list(Notification.objects.filter(kind="sla_breach"))
        assert notes == len(digests) == 6
        assert {n.title for n in digests} == {"2 leads breached the SLA"}
        assert {n.url for n in digests} == {"/conversion/queue/", "/conversion/sla/#at-risk"}
    assert sla_sweep(now=now)["breached"] == 0
    assert tasks.sla_sweep.apply().get()["breached"] == 0
    assert tasks.sla_sweep_organization.apply(args=[org.pk]).get()["breached"] == 0
    with in_org():
        assert Notification.objects.count() == notes
        assert SlaEvent.objects.count() == events == 12  # breach + escalation per clock


def test_a_missed_warning_goes_straight_to_breach(
    always_open: Any, open_handoff: Any, in_org: Any, org: Any
) -> None:
    now = timezone.now()
    with in_org():
        handoff = open_handoff(team=always_open, at=now - dt.timedelta(minutes=400))
    result = sla_sweep_organization(organization_id=org.pk, now=now)
    assert (result.warned, result.breached) == (1, 1)  # contact clock warned, accept clock breached
    with in_org():
        accept = SlaClock.objects.get(handoff=handoff, kind=ClockKind.ACCEPT)
        assert accept.warned_at is None and accept.breached_at == now


def test_stopped_clocks_are_not_swept(
    always_open: Any, open_handoff: Any, sales_rep: Any, in_org: Any, org: Any
) -> None:
    from conversion.services.core import handoff_close
    from leadhub.tenancy.services import Actor

    now = timezone.now()
    with in_org():
        handoff = open_handoff(team=always_open, at=now - dt.timedelta(minutes=100))
        handoff_close(handoff=handoff, status=HandoffStatus.WITHDRAWN, actor=Actor(user=sales_rep))
    result = sla_sweep_organization(organization_id=org.pk, now=now + dt.timedelta(days=3))
    assert (result.warned, result.breached) == (0, 0)


@pytest.mark.parametrize("escalation", [Escalation.FALLBACK_QUEUE, Escalation.TEAM_MANAGER])
def test_breach_reassigns_per_policy(
    escalation: str, always_open: Any, open_handoff: Any, manager: Any, in_org: Any, org: Any
) -> None:
    now = timezone.now()
    with in_org():
        SlaPolicy.objects.create(name="Strict", accept_minutes=30, contact_minutes=60, escalation=escalation)
        handoff = open_handoff(team=always_open, at=now - dt.timedelta(minutes=40))
    result = sla_sweep_organization(organization_id=org.pk, now=now)
    assert (result.breached, result.reassigned) == (1, 1)
    with in_org():
        old = Handoff.objects.get(pk=handoff.pk)
        assert old.status == HandoffStatus.WITHDRAWN
        new = Handoff.objects.get(previous=old)
        expected = manager if escalation == Escalation.TEAM_MANAGER else None
        assert new.assigned_to == expected and new.status == HandoffStatus.PENDING
        assert "SLA breached" in new.assigned_by_rule
        # The new handoff has fresh clocks; the old accept clock stays breached, its contact clock stops.
        assert SlaClock.objects.filter(handoff=new, stopped_at__isnull=True).count() == 2
        old_clocks = {c.kind: c.outcome for c in SlaClock.objects.filter(handoff=old)}
        assert old_clocks == {ClockKind.ACCEPT: "breached", ClockKind.FIRST_CONTACT: "cancelled"}
        event = SlaEvent.objects.get(kind="reassignment")
        assert event.detail["handoff"] == new.pk
    # The new handoff is not due yet: a second sweep moves nothing more.
    assert sla_sweep_organization(organization_id=org.pk, now=now).reassigned == 0


def test_no_reassignment_loop_from_the_fallback_queue(
    always_open: Any, open_handoff: Any, in_org: Any, org: Any
) -> None:
    now = timezone.now()
    with in_org():
        SlaPolicy.objects.create(
            name="Strict", accept_minutes=30, contact_minutes=60, escalation=Escalation.FALLBACK_QUEUE
        )
        open_handoff(team=always_open, at=now - dt.timedelta(minutes=40), to=None)
    result = sla_sweep_organization(organization_id=org.pk, now=now)
    assert (result.breached, result.reassigned) == (1, 0)


def test_without_a_team_manager_the_sales_managers_hear_of_a_breach(
    open_handoff: Any, manager: Any, admin_user: Any, in_org: Any, org: Any
) -> None:
    with in_org():
        BusinessHours.objects.create(team=None, week=ROUND_THE_CLOCK)
        open_handoff(team=None, at=timezone.now() - dt.timedelta(minutes=250))
    sla_sweep_organization(organization_id=org.pk)
    with in_org():
        told = set(Notification.objects.filter(kind="sla_breach").values_list("user__email", flat=True))
    assert manager.email in told and admin_user.email not in told


def test_the_sweep_keeps_to_its_organization(
    always_open: Any, open_handoff: Any, in_org: Any, in_other_org: Any, org: Any, other_org: Any
) -> None:
    now = timezone.now()
    with in_org():
        open_handoff(team=always_open, at=now - dt.timedelta(days=1))
    assert sla_sweep_organization(organization_id=other_org.pk, now=now).breached == 0
    with in_other_org():
        assert not SlaClock.objects.exists()
    assert sla_sweep_organization(organization_id=org.pk, now=now).breached == 2


def test_the_beat_runs_the_sweep_every_30_seconds() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["sla-sweep"]
    assert entry["task"] == tasks.sla_sweep.name
    assert entry["schedule"] == dt.timedelta(seconds=30)


def test_a_deadline_before_the_next_beat_gets_a_precise_sweep() -> None:
    now = timezone.now()
    soon, later = now + dt.timedelta(seconds=20), now + dt.timedelta(minutes=5)
    with (
        mock.patch.object(tasks, "_broker_in_use", return_value=True),
        mock.patch.object(tasks.sla_sweep_organization, "apply_async") as send,
    ):
        assert tasks._schedule_precise({1: soon, 2: later}) == 1
        assert tasks._schedule_precise({1: soon}) == 0  # the same deadline seen by a second sweep
    (call,) = send.call_args_list
    assert call.kwargs["args"] == [1] and soon < call.kwargs["eta"] <= soon + dt.timedelta(seconds=1)


def test_the_sweep_reports_each_organizations_next_deadline(
    always_open: Any, open_handoff: Any, in_org: Any, org: Any, other_org: Any
) -> None:
    now = timezone.now()
    with in_org():
        handoff = open_handoff(team=always_open, at=now - dt.timedelta(minutes=10))
        accept = SlaClock.objects.get(handoff=handoff, kind=ClockKind.ACCEPT)
    result = sla_sweep(now=now, look_ahead=True)
    assert result["upcoming"] == {org.pk: accept.warn_at}
    assert sla_sweep(now=now)["upcoming"] == {}

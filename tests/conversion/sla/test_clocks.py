"""Clocks start and stop through conversion.signals, as the handoff's services announce themselves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from conversion.models import (
    BusinessHours,
    ClockKind,
    ClockOutcome,
    Escalation,
    Handoff,
    HandoffStatus,
    Holiday,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    SlaState,
)
from conversion.services.core import activity_log, handoff_close, handoff_reassign
from leadhub.tenancy.services import Actor
from tests.conversion.sla.conftest import BERLIN, TUESDAY_10

ROUND_THE_CLOCK = [[["00:00", "24:00"]]] * 7


def clocks_of(handoff: Handoff) -> dict[str, SlaClock]:
    return {c.kind: c for c in SlaClock.objects.filter(handoff=handoff)}


def test_opening_starts_both_clocks_in_the_teams_hours(team: Any, open_handoff: Any, in_org: Any) -> None:
    with in_org():
        handoff = open_handoff(team=team)
        clocks = clocks_of(handoff)
        accept, contact = clocks[ClockKind.ACCEPT], clocks[ClockKind.FIRST_CONTACT]
        # Default policy: 240 and 480 business minutes, warning at 75%, Mon-Fri 09:00-17:00 Berlin.
        assert accept.policy is None and accept.policy_name == "Default policy"
        assert accept.due_at == dt.datetime(2026, 3, 10, 14, 0, tzinfo=BERLIN)
        assert accept.warn_at == dt.datetime(2026, 3, 10, 13, 0, tzinfo=BERLIN)
        assert contact.due_at == dt.datetime(2026, 3, 11, 10, 0, tzinfo=BERLIN)
        assert (accept.team_id, accept.assigned_to_id) == (team.pk, handoff.assigned_to_id)
        stored = Handoff.objects.get(pk=handoff.pk)
        assert stored.sla_due_at == accept.due_at
        # Those deadlines are long past today: the handoff shows as breached until the sweep stamps it.
        assert stored.sla_state == SlaState.BREACHED == handoff.sla_state


def test_a_handoff_on_a_holiday_evening_starts_at_the_next_opening(
    team: Any, open_handoff: Any, in_org: Any
) -> None:
    with in_org():
        Holiday.objects.create(name="Team day", date=dt.date(2026, 3, 11), team=team)
        Holiday.objects.create(name="Other team's day", date=dt.date(2026, 3, 12), team=None, yearly=True)
        handoff = open_handoff(team=team, at=dt.datetime(2026, 3, 10, 20, 0, tzinfo=BERLIN))
        accept = clocks_of(handoff)[ClockKind.ACCEPT]
        # Wed a team holiday, Thu an organization holiday: Fri 09:00 + 4 h.
        assert accept.due_at == dt.datetime(2026, 3, 13, 13, 0, tzinfo=BERLIN)


def test_no_team_uses_the_organization_default_hours(open_handoff: Any, in_org: Any) -> None:
    with in_org():
        BusinessHours.objects.create(
            team=None, timezone="America/New_York", week=[[["08:00", "12:00"]]] * 5 + [[], []]
        )
        handoff = open_handoff(team=None, at=dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC))  # 11:00 EDT
        accept = clocks_of(handoff)[ClockKind.ACCEPT]
        # 60 minutes on Tuesday, 180 on Wednesday from 08:00 New York time.
        assert accept.due_at == dt.datetime(2026, 3, 11, 15, 0, tzinfo=dt.UTC)


def test_accepting_stops_the_accept_clock_met_or_late(
    team: Any, open_handoff: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        on_time = open_handoff(team=team)
        handoff_close(
            handoff=on_time,
            status=HandoffStatus.ACCEPTED,
            actor=Actor(user=sales_rep),
            at=TUESDAY_10 + dt.timedelta(hours=1),
        )
        accept = clocks_of(on_time)[ClockKind.ACCEPT]
        assert (accept.outcome, accept.elapsed_minutes) == (ClockOutcome.MET, 60)
        assert SlaEvent.objects.filter(clock=accept, kind="met").count() == 1
        assert clocks_of(on_time)[ClockKind.FIRST_CONTACT].stopped_at is None

        late = open_handoff(team=team)
        handoff_close(
            handoff=late,
            status=HandoffStatus.ACCEPTED,
            actor=Actor(user=sales_rep),
            at=TUESDAY_10 + dt.timedelta(days=1),
        )
        accept = clocks_of(late)[ClockKind.ACCEPT]
        assert accept.outcome == ClockOutcome.BREACHED
        assert accept.elapsed_minutes == 8 * 60  # 7 h on Tuesday (10-17), 1 h on Wednesday


def test_first_activity_stops_the_contact_clock(
    team: Any, open_handoff: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        handoff = open_handoff(team=team)
        handoff_close(
            handoff=handoff, status=HandoffStatus.ACCEPTED, actor=Actor(user=sales_rep), at=TUESDAY_10
        )
        activity_log(
            lead=handoff.lead,
            kind="call",
            actor=Actor(user=sales_rep),
            occurred_at=TUESDAY_10 + dt.timedelta(hours=2),
        )
        contact = clocks_of(handoff)[ClockKind.FIRST_CONTACT]
        assert contact.stopped_at == TUESDAY_10 + dt.timedelta(hours=2)
        assert contact.outcome == ClockOutcome.MET
        stored = Handoff.objects.get(pk=handoff.pk)
        assert (stored.sla_due_at, stored.sla_state) == (None, SlaState.MET)
        # A second activity changes nothing.
        activity_log(
            lead=handoff.lead,
            kind="email",
            actor=Actor(user=sales_rep),
            occurred_at=TUESDAY_10 + dt.timedelta(hours=3),
        )
        assert clocks_of(handoff)[ClockKind.FIRST_CONTACT].stopped_at == TUESDAY_10 + dt.timedelta(hours=2)


def test_rejecting_counts_the_decision_and_cancels_the_contact_clock(
    team: Any, open_handoff: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        handoff = open_handoff(team=team)
        handoff_close(
            handoff=handoff,
            status=HandoffStatus.REJECTED,
            actor=Actor(user=sales_rep),
            reason="no_budget",
            at=TUESDAY_10 + dt.timedelta(minutes=30),
        )
        clocks = clocks_of(handoff)
        assert clocks[ClockKind.ACCEPT].outcome == ClockOutcome.MET
        assert clocks[ClockKind.FIRST_CONTACT].outcome == ClockOutcome.CANCELLED
        assert all(c.stopped_at is not None for c in clocks.values())


def test_reassigning_withdraws_the_old_clocks_and_starts_new_ones(
    team: Any, open_handoff: Any, manager: Any, in_org: Any
) -> None:
    with in_org():
        BusinessHours.objects.create(team=team, week=ROUND_THE_CLOCK)
        handoff = open_handoff(team=team, at=timezone.now())
        replacement = handoff_reassign(
            handoff=handoff, to_user=manager, actor=Actor(user=manager), reason="holiday"
        )
        old = clocks_of(handoff)
        assert {c.outcome for c in old.values()} == {ClockOutcome.CANCELLED}
        new = clocks_of(replacement)
        assert {c.assigned_to_id for c in new.values()} == {manager.pk}
        assert all(c.stopped_at is None for c in new.values())
        stored = Handoff.objects.get(pk=replacement.pk)
        assert stored.sla_state == SlaState.ON_TRACK
        assert stored.sla_due_at == new[ClockKind.ACCEPT].due_at
        assert Handoff.objects.get(pk=handoff.pk).sla_due_at is None


def test_policy_selection_by_grade_score_and_priority(team: Any, open_handoff: Any, in_org: Any) -> None:
    with in_org():
        hot = SlaPolicy.objects.create(
            name="Hot", position=1, grades="A", min_score=70, accept_minutes=30, contact_minutes=60
        )
        vip = SlaPolicy.objects.create(
            name="VIP", position=2, min_priority=80, accept_minutes=60, contact_minutes=120
        )
        SlaPolicy.objects.create(name="Off", position=0, is_active=False, accept_minutes=1, contact_minutes=1)
        cold = SlaPolicy.objects.create(
            name="Cold",
            position=3,
            grades="DEF",
            warn_percent=None,
            warn_minutes_before=30,
            accept_minutes=480,
            contact_minutes=960,
            escalation=Escalation.FALLBACK_QUEUE,
        )

        def policy_of(**kwargs: Any) -> str:
            return clocks_of(open_handoff(team=team, **kwargs))[ClockKind.ACCEPT].policy_name

        assert policy_of(grade="A", score=90, priority=90) == "Hot"  # first in order wins
        assert policy_of(grade="A", score=60, priority=90) == "VIP"
        assert policy_of(grade="E", score=10, priority=5) == "Cold"
        assert policy_of(grade="B", score=50, priority=40) == "Default policy"
        cold_clock = clocks_of(open_handoff(team=team, grade="F"))[ClockKind.ACCEPT]
        assert cold_clock.policy == cold and cold_clock.escalation == Escalation.FALLBACK_QUEUE
        # 30 minutes before a deadline of 480 business minutes: after 450 (Wed 09:30 from Tue 10:00).
        assert cold_clock.warn_at == dt.datetime(2026, 3, 11, 9, 30, tzinfo=BERLIN)
        assert {hot.pk, vip.pk} <= set(SlaPolicy.objects.values_list("pk", flat=True))

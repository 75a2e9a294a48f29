"""Fixtures of the SLA tests: a team in Berlin with a manager and a rep, and a clock-free way to open
handoffs at a chosen instant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conversion.models import Handoff, SalesTeam, TeamMember
from conversion.services.core import handoff_open
from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import Actor
from tests.factories import LeadFactory, MembershipFactory, UserFactory

BERLIN = ZoneInfo("Europe/Berlin")
# A Tuesday morning in Berlin: inside the default hours (Mon-Fri 09:00-17:00).
TUESDAY_10 = dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)


@pytest.fixture
def manager(org: Organization) -> Any:
    user = UserFactory(email="manager@acme.example", first_name="Mia", last_name="Manager")
    MembershipFactory(user=user, organization=org, role=Role.SALES_MANAGER)
    return user


@pytest.fixture
def team(org: Organization, manager: Any, sales_rep: Any, in_org: Any) -> SalesTeam:
    with in_org():
        team = SalesTeam.objects.create(name="DACH", timezone="Europe/Berlin", manager=manager)
        TeamMember.objects.create(team=team, user=sales_rep)
    return team


@pytest.fixture
def open_handoff(sales_rep: Any) -> Callable[..., Handoff]:
    """`open_handoff(team=..., at=..., grade=..., score=..., priority=..., to=...)` inside a tenant."""

    def make(
        *,
        team: SalesTeam | None = None,
        at: dt.datetime = TUESDAY_10,
        grade: str = "B",
        score: int = 50,
        priority: int = 40,
        to: Any = "rep",
    ) -> Handoff:
        lead = LeadFactory(stage="mql", grade=grade, score=score)
        return handoff_open(
            lead=lead,
            assigned_to=sales_rep if to == "rep" else to,
            team=team,
            rule="test",
            priority=priority,
            actor=Actor.system("test"),
            at=at,
        )

    return make

"""Helpers of the queue's tests: reps as members with a role, teams, rules, and leads with a company."""

from __future__ import annotations

from typing import Any

from conversion.models import AssignmentRule, SalesTeam, TeamMember
from conversion.queue import services
from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import Actor
from leads.models import Lead
from tests.factories import CompanyFactory, LeadFactory, MembershipFactory, UserFactory

SYSTEM = Actor.system("test")


def member(organization: Organization, email: str, role: str = Role.SALES_REP, **names: str) -> Any:
    user = UserFactory(email=email, **names)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def team_with(name: str, *users: Any, capacity: int | None = None, tz: str = "UTC") -> SalesTeam:
    """A team (in the current tenant) with `users` as active members, in that order of joining."""
    team = SalesTeam.objects.create(name=name, timezone=tz)
    for user in users:
        TeamMember.objects.create(team=team, user=user, max_open_leads=capacity)
    return team


def rule(
    name: str, kind: str, *, team: SalesTeam | None = None, user: Any = None, **conditions: Any
) -> AssignmentRule:
    data: dict[str, Any] = {"name": name, "kind": kind, "conditions": conditions}
    if team is not None:
        data["team"] = team
    if user is not None:
        data["user"] = user
    return services.rule_create(data=data, actor=SYSTEM)


def mql(
    *,
    stage: str = "mql",
    country: str = "Germany",
    industry: str = "Software",
    employees: int | None = 120,
    grade: str = "B",
    score: int = 60,
    company: Any = None,
    **kwargs: Any,
) -> Lead:
    company = company or CompanyFactory(industry=industry, employee_count=employees, country=country)
    return LeadFactory(
        stage=stage, grade=grade, score=score, contact__company=company, contact__country=country, **kwargs
    )

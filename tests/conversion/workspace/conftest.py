from __future__ import annotations

from typing import Any

import pytest

from conversion.models import Handoff
from conversion.services.core import handoff_open
from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import Actor
from leads.models import Lead
from tests.factories import LeadFactory, MembershipFactory, UserFactory


def member(organization: Organization, role: str, email: str, first: str, last: str) -> Any:
    user = UserFactory(email=email, first_name=first, last_name=last)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def hand(lead: Lead, rep: Any, **kwargs: Any) -> Handoff:
    """Hand `lead` to `rep` (inside the lead's tenant), as the queue's assignment would."""
    options: dict[str, Any] = {"team": None, "rule": "round robin", "priority": 0, **kwargs}
    return handoff_open(lead=lead, assigned_to=rep, actor=Actor.system("test"), **options)


@pytest.fixture
def colleague(org: Organization) -> Any:
    """A second sales rep, Ada Reyes, to mention."""
    return member(org, Role.SALES_REP, "ada@acme.example", "Ada", "Reyes")


@pytest.fixture
def manager(org: Organization) -> Any:
    return member(org, Role.SALES_MANAGER, "manager@acme.example", "Mona", "Grant")


@pytest.fixture
def outsider(other_org: Organization) -> Any:
    """A user of another organization (mentioning them must do nothing)."""
    return member(other_org, Role.SALES_REP, "eve@globex.example", "Eve", "Stone")


@pytest.fixture
def lead(org: Organization, sales_rep: Any, in_org: Any) -> Lead:
    with in_org():
        return LeadFactory(
            stage="mql",
            owner=sales_rep,
            contact__first_name="Grace",
            contact__last_name="Hopper",
            contact__email="grace@navy.example",
            contact__email_normalized="grace@navy.example",
        )

from __future__ import annotations

from typing import Any

import pytest

from leadhub.tenancy.models import Organization, Role
from leads.models import Lead
from tests.factories import LeadFactory, MembershipFactory, UserFactory


@pytest.fixture
def colleague(org: Organization) -> Any:
    """A second sales rep, Ada Reyes, to mention."""
    user = UserFactory(email="ada@acme.example", first_name="Ada", last_name="Reyes")
    MembershipFactory(user=user, organization=org, role=Role.SALES_REP)
    return user


@pytest.fixture
def manager(org: Organization) -> Any:
    user = UserFactory(email="manager@acme.example", first_name="Mona", last_name="Grant")
    MembershipFactory(user=user, organization=org, role=Role.SALES_MANAGER)
    return user


@pytest.fixture
def outsider(other_org: Organization) -> Any:
    """A user of another organization (mentioning them must do nothing)."""
    user = UserFactory(email="eve@globex.example", first_name="Eve", last_name="Stone")
    MembershipFactory(user=user, organization=other_org, role=Role.SALES_REP)
    return user


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

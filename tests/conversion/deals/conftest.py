from __future__ import annotations

from typing import Any

import pytest

from leadhub.tenancy.models import Organization, Role
from tests.conftest import _member
from tests.factories import CompanyFactory, ContactFactory, LeadFactory


@pytest.fixture
def sales_manager(org: Organization) -> Any:
    return _member(org, Role.SALES_MANAGER, "manager@acme.example")


def sql_lead(**contact: Any) -> Any:
    """An SQL lead whose contact works for a company (call inside the tenant)."""
    company = CompanyFactory(name=contact.pop("company_name", "Initech"))
    return LeadFactory(stage="sql", contact=ContactFactory(company=company, **contact))

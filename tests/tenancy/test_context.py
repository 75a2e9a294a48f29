import pytest
from django.db import connection

from leadhub.tenancy.context import CrossTenantError, NoTenantError, tenant_context
from leads.models import Lead
from tests.factories import LeadFactory


def test_default_manager_fails_closed_without_tenant(db):
    with pytest.raises(NoTenantError):
        Lead.objects.count()


def test_default_manager_scopes_to_current_tenant(org, other_org):
    with tenant_context(org):
        mine = LeadFactory()
    with tenant_context(other_org):
        LeadFactory()
        assert list(Lead.objects.values_list("pk", flat=True)) != [mine.pk]
        assert Lead.objects.count() == 1
    with tenant_context(org):
        assert list(Lead.objects.values_list("pk", flat=True)) == [mine.pk]


def test_saving_another_tenants_row_is_refused(org, other_org):
    with tenant_context(org):
        lead = LeadFactory()
    with tenant_context(other_org), pytest.raises(CrossTenantError):
        lead.save()


def test_relation_to_another_tenants_row_is_refused(org, other_org):
    with tenant_context(org):
        lead = LeadFactory()
    with tenant_context(other_org):
        stolen = LeadFactory()
        stolen.contact = lead.contact
        with pytest.raises(CrossTenantError):
            stolen.save()


def test_nested_context_restores_database_tenant(org, other_org):
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    with tenant_context(org):
        with tenant_context(other_org):
            pass
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('leadhub.organization_id', true)")
            assert cursor.fetchone()[0] == str(org.pk)

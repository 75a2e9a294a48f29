"""`field__any_of`: the same rows as `__in`, sent as one array parameter on PostgreSQL (a thousand values
are one parameter, not a thousand placeholders the driver must parse)."""

from __future__ import annotations

import pytest
from django.db import connection

from leadhub.tenancy.context import tenant_context
from leads.models import Lead, Touchpoint
from leads.tracking.events import _by_external_id
from tests.factories import ContactFactory, LeadFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def test_any_of_finds_what_in_finds_on_text_and_relation_columns(org, other_org):
    with tenant_context(other_org):
        TouchpointFactory(external_id="e1", anonymous_id="other-visitor")
    with tenant_context(org):
        stored = {name: TouchpointFactory(external_id=name, anonymous_id=f"visitor-{name}") for name in "abc"}
        TouchpointFactory(external_id="", anonymous_id="visitor-blank")
        wanted = ["a", "c", "e1", "missing"]
        assert set(Touchpoint.objects.filter(external_id__any_of=wanted)) == set(
            Touchpoint.objects.filter(external_id__in=wanted)
        ) == {stored["a"], stored["c"]}
        assert list(Touchpoint.objects.filter(external_id__any_of=[])) == []
        leads = [LeadFactory(contact=ContactFactory()) for _ in range(3)]
        ids = [leads[0].contact_id, leads[2].contact_id, 10**12]
        assert set(Lead.objects.filter(contact_id__any_of=ids)) == {leads[0], leads[2]}
        assert set(_by_external_id(["b", ""])) == {stored["b"]}


def test_a_thousand_values_are_one_parameter_on_postgresql(org):
    if connection.vendor != "postgresql":
        pytest.skip("elsewhere the lookup is __in")
    with tenant_context(org):
        values = [f"x{n}" for n in range(1000)]
        sql, params = Touchpoint.objects.filter(external_id__any_of=values).query.sql_with_params()
        assert "= ANY(%s::varchar(100)[])" in sql
        assert [p for p in params if isinstance(p, list)] == [values]

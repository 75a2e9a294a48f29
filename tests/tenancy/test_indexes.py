"""Every tenant table is reachable by organization through an index (DESIGN: an indexed organization
key), without a redundant single-column one."""

from django.db import connection

from leadhub.tenancy.rls import tenant_models


def test_every_tenant_table_has_an_index_led_by_organization(db):
    missing = []
    with connection.cursor() as cursor:
        for model in tenant_models():
            table = model._meta.db_table
            constraints = connection.introspection.get_constraints(cursor, table)
            led_by_org = [
                name
                for name, info in constraints.items()
                if (info["index"] or info["unique"]) and (info["columns"] or [None])[0] == "organization_id"
            ]
            if not led_by_org:
                missing.append(table)
    assert missing == []

"""PostgreSQL row-level security, tested in raw SQL as the application's role: with the application's own
tenant filter out of the way, the database alone keeps every tenant table's rows to their organization.

The tables are discovered (every TenantModel), so a table added later is covered by these tests too.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, models, transaction

from leadhub.tenancy.context import RLS_SETTING, apply_database_tenant, tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.rls import POLICY_NAME, tenant_models
from tests.test_isolation_sweep import TenantData, member_tenant_data

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row-level security is a PostgreSQL feature; SQLite has none"
)


def _tables() -> list[str]:
    return [model._meta.db_table for model in tenant_models()]


def _count(sql: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.fetchone()[0])


def _refused(sql: str, params: list[Any]) -> str:
    """Run `sql` in a savepoint and return the database's refusal (fails the test if it is accepted)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the same-tenant foreign keys are deferred
    except DatabaseError as exc:
        return str(exc)
    raise AssertionError(f"The database accepted: {sql} {params}")


@pytest.fixture
def both(
    org: Organization, other_org: Organization, admin_user: Any, other_admin: Any
) -> tuple[TenantData, TenantData]:
    return member_tenant_data(org, admin_user), member_tenant_data(other_org, other_admin)


def test_the_app_role_is_subject_to_row_level_security(db: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        user, superuser, bypass = cursor.fetchone()
    assert not superuser, f"{user} is a superuser: row-level security does not apply to it"
    assert not bypass, f"{user} has BYPASSRLS"


def test_every_tenant_table_has_forced_rls_and_the_tenant_policy(db: Any) -> None:
    assert _tables()
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", [table]
            )
            enabled, forced = cursor.fetchone()
            assert enabled and forced, f"{table}: row-level security enabled={enabled} forced={forced}"
            cursor.execute(
                "SELECT cmd, qual, with_check FROM pg_policies WHERE tablename = %s AND policyname = %s",
                [table, POLICY_NAME],
            )
            policy = cursor.fetchone()
            assert policy is not None, f"{table} has no {POLICY_NAME} policy"
            cmd, qual, with_check = policy
            assert cmd == "ALL"
            assert RLS_SETTING in qual and RLS_SETTING in with_check


def test_with_a_tenant_set_no_table_shows_another_tenants_rows(both: tuple[TenantData, TenantData]) -> None:
    ours, theirs = both
    with tenant_context(ours.organization):
        for model in tenant_models():
            table = model._meta.db_table
            # Raw SQL: no manager, no ORM filter, only the database's policy.
            assert (
                _count(f'SELECT count(*) FROM "{table}" WHERE organization_id = %s', [theirs.organization.pk])
                == 0
            )
            assert (
                _count(f'SELECT count(*) FROM "{table}" WHERE organization_id <> %s', [ours.organization.pk])
                == 0
            )
            assert _count(f'SELECT count(*) FROM "{table}" WHERE id = %s', [theirs.rows[model].pk]) == 0
            # The unscoped manager (admin, maintenance) is held by the same policy.
            unscoped: models.Manager[Any] = model.unscoped  # type: ignore[attr-defined]
            assert not unscoped.filter(organization_id=theirs.organization.pk).exists()
            # ... while this tenant's own row is there, so the zero above is not an empty table.
            assert _count(f'SELECT count(*) FROM "{table}" WHERE id = %s', [ours.rows[model].pk]) == 1


def test_with_no_tenant_set_no_table_shows_any_row(both: tuple[TenantData, TenantData]) -> None:
    ours, _ = both
    apply_database_tenant(None)
    for table in _tables():
        assert _count(f'SELECT count(*) FROM "{table}"') == 0, table
    # The same tables are not empty: a tenant sees its rows.
    with tenant_context(ours.organization):
        assert all(_count(f'SELECT count(*) FROM "{table}"') >= 1 for table in _tables())


def test_a_row_cannot_be_inserted_for_another_tenant(both: tuple[TenantData, TenantData]) -> None:
    ours, theirs = both
    with tenant_context(ours.organization):
        for model in tenant_models():
            table = model._meta.db_table
            columns = [
                f.column
                for f in model._meta.concrete_fields
                if not f.primary_key and not getattr(f, "generated", False)
            ]
            selected = ["%s" if column == "organization_id" else f'"{column}"' for column in columns]
            # A copy of our own row, relabelled as theirs.
            error = _refused(
                f'INSERT INTO "{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) '
                f'SELECT {", ".join(selected)} FROM "{table}" WHERE id = %s',
                [theirs.organization.pk, ours.rows[model].pk],
            )
            assert "row-level security" in error, f"{table}: {error}"


def test_a_row_cannot_be_moved_to_or_changed_in_another_tenant(both: tuple[TenantData, TenantData]) -> None:
    ours, theirs = both
    with tenant_context(ours.organization):
        for model in tenant_models():
            table = model._meta.db_table
            error = _refused(
                f'UPDATE "{table}" SET organization_id = %s WHERE id = %s',
                [theirs.organization.pk, ours.rows[model].pk],
            )
            assert "row-level security" in error, f"{table}: {error}"
            with connection.cursor() as cursor:
                cursor.execute(
                    f'UPDATE "{table}" SET organization_id = organization_id WHERE id = %s',
                    [theirs.rows[model].pk],
                )
                assert cursor.rowcount == 0, f"{table}: another tenant's row was updatable"
                cursor.execute(f'DELETE FROM "{table}" WHERE id = %s', [theirs.rows[model].pk])
                assert cursor.rowcount == 0, f"{table}: another tenant's row was deletable"
    with tenant_context(theirs.organization):
        for model, row in theirs.rows.items():
            assert model._base_manager.filter(pk=row.pk).exists(), f"{model.__name__} row of theirs is gone"


def _tenant_relations() -> list[tuple[type[models.Model], models.Field]]:
    models_ = tenant_models()
    return [
        (model, model_field)
        for model in models_
        for model_field in model._meta.concrete_fields
        if model_field.is_relation
        and model_field.name != "organization"
        and model_field.related_model in models_
    ]


def test_a_relation_cannot_point_into_another_tenant(both: tuple[TenantData, TenantData]) -> None:
    ours, theirs = both
    relations = _tenant_relations()
    assert relations, "no relation between tenant tables found"
    with tenant_context(ours.organization):
        for model, model_field in relations:
            target = model_field.related_model
            assert isinstance(target, type)
            error = _refused(
                f'UPDATE "{model._meta.db_table}" SET "{model_field.column}" = %s WHERE id = %s',
                [theirs.rows[target].pk, ours.rows[model].pk],
            )
            assert "same_org_fk" in error or "foreign key" in error, (
                f"{model.__name__}.{model_field.name}: {error}"
            )


def test_the_composite_key_replaces_the_plain_one_and_refuses_a_missing_row(
    both: tuple[TenantData, TenantData],
) -> None:
    """Each relation between tenant tables is held by its composite key alone (Django's single-column
    key, which it implies, is dropped), and that key refuses an id that exists nowhere."""
    ours, _ = both
    relations = _tenant_relations()
    with connection.cursor() as cursor:
        for model, model_field in relations:
            cursor.execute(
                """
                SELECT count(*) FILTER (WHERE cardinality(c.conkey) = 1),
                       count(*) FILTER (WHERE cardinality(c.conkey) = 2)
                FROM pg_constraint c
                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
                WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND a.attname = %s""",
                [model._meta.db_table, model_field.column],
            )
            plain, composite = cursor.fetchone()
            assert (plain, composite) == (0, 1), (
                f"{model.__name__}.{model_field.name}: {plain} plain, {composite}"
            )
    with tenant_context(ours.organization):
        for model, model_field in relations:
            error = _refused(
                f'UPDATE "{model._meta.db_table}" SET "{model_field.column}" = %s WHERE id = %s',
                [10**12, ours.rows[model].pk],
            )
            assert "same_org_fk" in error, f"{model.__name__}.{model_field.name}: {error}"


def test_the_organization_key_is_kept_unless_a_required_relation_proves_it(db: Any) -> None:
    """A row with a required relation to another tenant table gets its organization proven by the
    composite key; every chain of required relations ends at a table with its own organization key."""
    from leadhub.tenancy.rls import _tenant_implied, tenant_models

    models_ = tenant_models()
    required = {
        model: [
            f.related_model
            for f in model._meta.concrete_fields
            if f.is_relation and f.name != "organization" and f.related_model in models_ and not f.null
        ]
        for model in models_
    }
    with connection.cursor() as cursor:
        for model in models_:
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass "
                "AND confrelid = 'tenancy_organization'::regclass",
                [model._meta.db_table],
            )
            keys = cursor.fetchone()[0]
            assert keys == (0 if _tenant_implied(model, models_) else 1), model.__name__
            # Follow required relations: they must reach a table that keeps its own key, never loop.
            seen, current = {model}, model
            while required[current]:
                current = required[current][0]
                assert current not in seen, f"required relations loop at {current.__name__}"
                seen.add(current)


def test_the_same_relation_within_the_tenant_is_accepted(both: tuple[TenantData, TenantData]) -> None:
    ours, _ = both
    with tenant_context(ours.organization):
        for model, model_field in _tenant_relations():
            target = model_field.related_model
            assert isinstance(target, type)
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        f'UPDATE "{model._meta.db_table}" SET "{model_field.column}" = %s WHERE id = %s',
                        [ours.rows[target].pk, ours.rows[model].pk],
                    )
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            except IntegrityError as exc:
                raise AssertionError(
                    f"{model.__name__}.{model_field.name} refused its own tenant: {exc}"
                ) from exc


def test_installing_a_tenant_key_checks_the_rows_stored_before_it(
    both: tuple[TenantData, TenantData],
) -> None:
    """A composite key added to a table that already holds rows is validated by PostgreSQL under no
    tenant, which proves nothing (FORCE RLS hides every row); install checks each tenant's rows."""
    from leadhub.tenancy.rls import CrossTenantRowsError, install
    from leads.models import Contact, Lead

    ours, theirs = both
    with tenant_context(ours.organization), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'leads_lead'::regclass AND contype = 'f' "
            "AND pg_get_constraintdef(oid) LIKE '%%(organization_id, contact_id)%%'"
        )
        (composite,) = cursor.fetchone()
        cursor.execute(f'ALTER TABLE leads_lead DROP CONSTRAINT "{composite}"')
        # With the composite key gone nothing stops a contact of the wrong tenant.
        cursor.execute(
            "UPDATE leads_lead SET contact_id = %s WHERE id = %s",
            [theirs.rows[Contact].pk, ours.rows[Lead].pk],
        )
    # As migrate runs it: no tenant set, so PostgreSQL's own validation of the re-added key sees nothing.
    with pytest.raises(
        CrossTenantRowsError, match=rf"leads_lead.contact_id .*organization {ours.organization.pk}: 1"
    ):
        install(connection)

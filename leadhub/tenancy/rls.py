"""Row-level security and tenant-consistent foreign keys on PostgreSQL.

Installed after every `migrate` (post_migrate), for every model deriving from TenantModel, so a
table added later is covered without anyone remembering to add it:
- RLS enabled and FORCED (it then binds the tables' owner too), with one policy that admits only rows
  of the tenant set on the transaction by `tenant_context` (`set_config(..., true)`, a SET LOCAL);
  with no tenant set, no row is visible or writable.
- For each relation between two tenant tables, a composite foreign key
  `(organization_id, x_id) -> (organization_id, id)`: the database itself refuses a relation that
  crosses tenants. This is also the key shape a sharded PostgreSQL (Citus) requires. It replaces
  Django's single-column key on the same column, which it implies, and, where the relation is required,
  the row's own key to the organization (the related row's proves it).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from leadhub.tenancy.context import RLS_SETTING

POLICY_NAME = "tenant_isolation"


def tenant_models() -> list[type[Model]]:
    from leadhub.tenancy.models import TenantModel

    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.proxy and model._meta.managed
    ]


def _policy_sql(table: str) -> list[str]:
    predicate = f"organization_id = NULLIF(current_setting('{RLS_SETTING}', true), '')::bigint"
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"',
        f'CREATE POLICY {POLICY_NAME} ON "{table}" USING ({predicate}) WITH CHECK ({predicate})',
    ]


def _constraint_exists(cursor: Any, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = %s", [name])
    return cursor.fetchone() is not None


def _short(name: str) -> str:
    # PostgreSQL identifiers are at most 63 bytes.
    if len(name) <= 63:
        return name
    import hashlib

    return name[:54] + "_" + hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]


def install(connection: BaseDatabaseWrapper | None = None) -> None:
    connection = connection or connections["default"]
    if connection.vendor != "postgresql":
        return
    models = tenant_models()
    with connection.cursor() as cursor:
        referenced: set[type[Model]] = set()
        for model in models:
            for field in model._meta.concrete_fields:
                if field.is_relation and field.name != "organization" and field.related_model in models:
                    referenced.add(field.related_model)
        for model in referenced:
            table = model._meta.db_table
            name = _short(f"{table}_org_id_uniq")
            if not _constraint_exists(cursor, name):
                cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE (organization_id, id)')
        for model in models:
            table = model._meta.db_table
            for statement in _policy_sql(table):
                cursor.execute(statement)
            for field in model._meta.concrete_fields:
                if not (field.is_relation and field.name != "organization" and field.related_model in models):
                    continue
                target = field.related_model._meta.db_table
                name = _short(f"{table}_{field.column}_same_org_fk")
                if not _constraint_exists(cursor, name):
                    # ON DELETE stays Django's (in Python); this key only guarantees that both rows
                    # share a tenant, so it must not fire deletes itself.
                    cursor.execute(
                        f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" '
                        f'FOREIGN KEY (organization_id, "{field.column}") '
                        f'REFERENCES "{target}" (organization_id, id) DEFERRABLE INITIALLY DEFERRED'
                    )
                    _existing_rows_check(connection, table, str(field.column), target, name)
                _plain_keys_drop(cursor, table, str(field.column), target)
            if _tenant_implied(model, models):
                _plain_keys_drop(cursor, table, "organization_id", "tenancy_organization")


def _tenant_implied(model: type[Model], models: list[type[Model]]) -> bool:
    """Whether a row's organization is already proven by a composite key: a required relation to another
    tenant table makes the row's organization that row's, which its own key (or, in turn, another such
    relation) proves exists. Its own key to the organization then only repeats the check on every insert."""
    return any(
        field.is_relation
        and field.name != "organization"
        and field.related_model in models
        and not field.null
        for field in model._meta.concrete_fields
    )


def _plain_keys_drop(cursor: Any, table: str, column: str, target: str) -> None:
    """Drop Django's single-column key where the composite one stands: a row the composite key admits
    always exists in the target table, so the plain key proves nothing more and only doubles the check
    every insert pays (a bulk import's largest cost). A later migration that recreates it (altering the
    field) sees it dropped again by the next migrate's install."""
    cursor.execute(
        """
        SELECT c.conname FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND c.confrelid = %s::regclass
          AND cardinality(c.conkey) = 1 AND a.attname = %s""",
        [f'"{table}"', f'"{target}"', column],
    )
    for (plain,) in cursor.fetchall():
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{plain}"')


class CrossTenantRowsError(RuntimeError):
    """Rows stored before a tenant-consistency key existed point into another tenant."""


def _existing_rows_check(
    connection: BaseDatabaseWrapper, table: str, column: str, target: str, constraint: str
) -> None:
    """Check the rows a table held before `constraint` was added to it.

    PostgreSQL validates a new foreign key with a query that FORCE row-level security limits to the
    tenant set at the time: with none set it sees no row and proves nothing. So the rows are checked
    here organization by organization, under each one's policy, where a reference into another tenant
    looks exactly like a missing row. A new table is empty and costs one index probe per organization.
    """
    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization

    broken: list[str] = []
    for organization_id in Organization.objects.using(connection.alias).values_list("pk", flat=True):
        with tenant_context(organization_id, using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
                f'(SELECT 1 FROM "{target}" r WHERE r.id = t."{column}")'
            )
            count = cursor.fetchone()[0]
        if count:
            broken.append(f"organization {organization_id}: {count}")
    if broken:
        raise CrossTenantRowsError(
            f"{table}.{column} holds rows whose {target} is missing or in another organization "
            f"({'; '.join(broken)}); {constraint} cannot be trusted. Fix or remove those rows, then "
            "migrate again."
        )


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    # post_migrate is sent once per app after all migrations ran, so every table exists by now.
    install(connections[using])

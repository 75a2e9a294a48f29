"""The current tenant, held in a context variable and mirrored into PostgreSQL per transaction.

`tenant_context(org)` is the only way to set it: it opens a transaction and runs
`set_config('leadhub.organization_id', id, true)` (a `SET LOCAL`), so row-level security sees the same
tenant as the ORM, and the setting can never leak to another client behind a transaction pooler.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connections, transaction

if TYPE_CHECKING:
    from leadhub.tenancy.models import Organization

RLS_SETTING = "leadhub.organization_id"


class NoTenantError(RuntimeError):
    """A tenant table was queried with no tenant set: fail closed instead of returning every tenant's rows."""


class CrossTenantError(RuntimeError):
    """A write tried to store or link a row of another tenant."""


@dataclass(frozen=True)
class TenantState:
    organization_id: int


_current: ContextVar[TenantState | None] = ContextVar("leadhub_tenant", default=None)


def current_organization_id() -> int:
    state = _current.get()
    if state is None:
        raise NoTenantError("No tenant is set: wrap the work in tenant_context(organization).")
    return state.organization_id


def current_organization_id_or_none() -> int | None:
    state = _current.get()
    return state.organization_id if state else None


def apply_database_tenant(organization_id: int | None, using: str = "default") -> None:
    """Mirror the tenant into the open transaction (PostgreSQL only; SQLite has no row-level security)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true)",
            [RLS_SETTING, "" if organization_id is None else str(organization_id)],
        )


@contextmanager
def tenant_context(organization: Organization | int, *, using: str = "default") -> Iterator[int]:
    """Run the block as `organization`, in one transaction, with row-level security set to it."""
    organization_id = organization if isinstance(organization, int) else organization.pk
    if organization_id is None:
        raise NoTenantError("tenant_context needs a saved organization.")
    previous = _current.get()
    token = _current.set(TenantState(organization_id))
    try:
        with transaction.atomic(using=using):
            apply_database_tenant(organization_id, using)
            yield organization_id
    finally:
        _current.reset(token)
        # Inside an enclosing transaction (a nested context, a test case) the SET LOCAL outlives this
        # block: put back the enclosing tenant, or none, so row-level security and the ORM agree again.
        connection = connections[using]
        if connection.in_atomic_block and not connection.needs_rollback:
            apply_database_tenant(previous.organization_id if previous else None, using)

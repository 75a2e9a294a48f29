"""The foreign keys of the rows a PostgreSQL import writes, checked per range instead of per row.

PostgreSQL checks a foreign key with a trigger call per row written: a query on the referenced table that
locks the referenced row (FOR KEY SHARE) until the writing transaction ends. An imported row carries five
references (its contact's organization and company, its lead's contact, its stage change's lead and user),
and those calls were a quarter of a 1M-row import. Where the role may set `session_replication_role`
(PostgreSQL 15 and later: db_bootstrap grants it) and no table the import writes has a trigger of its
own, the loader's transactions run with row triggers off (`replica`) and give the same guarantees
set-based, before they write:

- a row the range references but does not write (its organization, the job, the user, the companies its
  contacts name) is locked FOR KEY SHARE by one statement per kind, so no other transaction can delete it
  or change its key before the range commits; the statement counts the rows it locked against the rows
  referenced, and a row missing, deleted meanwhile or of another tenant (row-level security hides it)
  fails the range before anything of it is written;
- a row the range references that the same transaction wrote (a lead's contact, a stage change's lead)
  exists by construction: its id comes from the RETURNING of the statement that wrote it, under the
  tenant's row-level security, and is locked as written until the transaction ends;
- a reference the import always leaves empty (a lead's owner and campaigns, a stage change's API key)
  needs no check.

Row-level security is no trigger: replica mode leaves tenant isolation exactly as it is. `VERIFIED` names
how each foreign key of the written tables is covered; a test compares it with the catalogue, so a foreign
key added later fails that test until the import covers it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from django.db import connection


class Covered(Enum):
    LOCKED = "locked and counted at the start of the transaction"
    WRITTEN = "written by the same transaction, its id taken from RETURNING"
    EMPTY = "always left empty by an import"


# (table, foreign key columns) -> how the import covers it when row triggers are off.
VERIFIED: dict[tuple[str, tuple[str, ...]], Covered] = {
    ("leads_company", ("organization_id",)): Covered.LOCKED,
    ("leads_contact", ("organization_id",)): Covered.LOCKED,
    ("leads_contact", ("organization_id", "company_id")): Covered.LOCKED,
    ("leads_lead", ("organization_id", "contact_id")): Covered.WRITTEN,
    ("leads_lead", ("organization_id", "campaign_id")): Covered.EMPTY,
    ("leads_lead", ("organization_id", "first_touch_campaign_id")): Covered.EMPTY,
    ("leads_lead", ("owner_id",)): Covered.EMPTY,
    ("leads_stagechange", ("organization_id", "lead_id")): Covered.WRITTEN,
    ("leads_stagechange", ("changed_by_user_id",)): Covered.LOCKED,
    ("leads_stagechange", ("changed_by_api_key_id",)): Covered.EMPTY,
    ("leads_importrejection", ("organization_id", "job_id")): Covered.LOCKED,
}
WRITTEN_TABLES = sorted({table for table, _ in VERIFIED})


class ReferenceGone(RuntimeError):
    """A row the range references was deleted (or is not the tenant's) before the range could lock it."""


def row_triggers_may_be_off() -> bool:
    """Whether this connection's role may turn row triggers off, and no written table has one of its own
    (replica mode would silently skip it)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int")
        if cursor.fetchone()[0] < 150000:  # parameter privileges came with PostgreSQL 15
            return False
        cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
        if not cursor.fetchone()[0]:
            return False
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = ANY(%s::regclass[])",
            [WRITTEN_TABLES],
        )
        return int(cursor.fetchone()[0]) == 0


def row_triggers_set(cursor: Any, off: bool) -> None:
    """For the rest of the transaction (set_config is local to it, and undone with a rolled-back
    savepoint)."""
    role = "replica" if off else "origin"
    cursor.execute("SELECT set_config('session_replication_role', %s, true)", [role])


def foreign_keys(cursor: Any) -> set[tuple[str, tuple[str, ...]]]:
    """(table, columns) of every foreign key of the tables the import writes, from the catalogue."""
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text,
               array_agg(a.attname::text ORDER BY k.ordinality)
        FROM pg_constraint c
             CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ordinality)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])
        GROUP BY c.oid, c.conrelid""",
        [WRITTEN_TABLES],
    )
    return {(table, tuple(columns)) for table, columns in cursor.fetchall()}


def _locked(cursor: Any, what: str, statement: str, params: dict[str, Any]) -> None:
    """Run `statement`, which locks rows FOR KEY SHARE and returns how many rows it wanted and how many it
    locked; fail unless they are as many."""
    cursor.execute(statement, params)
    wanted, locked = cursor.fetchone()
    if locked != wanted:
        raise ReferenceGone(
            f"{wanted - locked} of the {wanted} {what} this part of the file refers to no longer exist "
            "(deleted while the import ran). The rows before it are imported; run the import again to resume."
        )


def _one(table: str, param: str) -> str:
    return f"SELECT 1, (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = %({param})s FOR KEY SHARE) x)"


def lock_organization(cursor: Any, params: dict[str, Any]) -> None:
    _locked(cursor, "organization", _one("tenancy_organization", "org"), params)


def lock_range(cursor: Any, params: dict[str, Any], company_ids: str | None) -> None:
    """The organization, the job, the user (`params`: org, job, user) and the companies (`company_ids`:
    a query of the ids the partition's contacts name), locked for the partition's transaction."""
    lock_organization(cursor, params)
    _locked(cursor, "import job", _one("leads_importjob", "job"), params)
    if params.get("user") is not None:
        _locked(cursor, "user", _one("auth_user", "user"), params)
    if company_ids is not None:
        _locked(
            cursor,
            "companies",
            f"""
            WITH named AS MATERIALIZED ({company_ids})
            SELECT (SELECT count(*) FROM named),
                   (SELECT count(*) FROM (SELECT 1 FROM leads_company c WHERE c.id IN (SELECT id FROM named)
                                          FOR KEY SHARE OF c) x)""",
            params,
        )

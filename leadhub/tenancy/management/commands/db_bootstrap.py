"""Create the application's PostgreSQL role and database, as an administrator, once per server.

The role is what row-level security binds: LOGIN, NOSUPERUSER, NOBYPASSRLS. It owns the tables it
migrates, which is why every tenant table's RLS is FORCED (see leadhub/tenancy/rls.py).
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.core.management.base import BaseCommand, CommandParser
from psycopg import sql


class Command(BaseCommand):
    help = "Create the non-superuser role and database LeadHub connects with (run with an admin URL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin-url", required=True, help="postgres://postgres@host:5432/postgres")
        parser.add_argument("--role", default="leadhub_app")
        parser.add_argument("--password", default="", help="Password for the role (none with trust auth).")
        parser.add_argument("--database", default="leadhub")
        parser.add_argument(
            "--createdb",
            action="store_true",
            help="Let the role create databases (needed only where the test runner creates test_<db>).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role, database = options["role"], options["database"]
        with psycopg.connect(options["admin_url"], autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            attributes = sql.SQL("LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE {createdb}").format(
                createdb=sql.SQL("CREATEDB" if options["createdb"] else "NOCREATEDB")
            )
            verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
            conn.execute(sql.SQL("{} {} WITH {}").format(verb, sql.Identifier(role), attributes))
            if options["password"]:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(options["password"])
                    )
                )
            if conn.info.server_version >= 150000:
                # Row triggers off (replica) for an import's own transactions, which then check their
                # foreign keys per range instead of per row (leads/imports/references.py). Row-level
                # security is no trigger: it binds the role exactly as before.
                grant = sql.SQL("GRANT SET ON PARAMETER session_replication_role TO {}")
                conn.execute(grant.format(sql.Identifier(role)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(role)
                    )
                )
        # Under row-level security PostgreSQL uses an index only for leakproof operators, and LIKE is not
        # marked so, which would turn every search of a large tenant into a table scan. textlike raises
        # no error that depends on the row's value (only on the pattern the user typed), so it cannot
        # leak another tenant's data. Marking it needs a superuser and is per database.
        admin_target = psycopg.conninfo.make_conninfo(options["admin_url"], dbname=database)
        with psycopg.connect(admin_target, autocommit=True) as conn:
            conn.execute("ALTER FUNCTION pg_catalog.textlike(text, text) LEAKPROOF")
        self.stdout.write(f"Role {role} (no superuser, no BYPASSRLS) and database {database} are ready.")

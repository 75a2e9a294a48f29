"""Deploy checks: the application's database role must be subject to row-level security."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.db import connections


@register(Tags.security, deploy=True)
def check_database_role_is_subject_to_rls(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
    except Exception as exc:  # the database may be unreachable while building an image
        return [Error(f"Could not inspect the database role: {exc}", id="tenancy.E002")]
    if row and (row[0] or row[1]):
        return [
            Error(
                "The application connects to PostgreSQL as a superuser or a role with BYPASSRLS, "
                "so row-level security does not isolate tenants.",
                hint="Connect as the 'leadhub_app' role created by `manage.py db_bootstrap` (see README).",
                id="tenancy.E001",
            )
        ]
    return []

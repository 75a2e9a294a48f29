"""Benchmarks that print figures, one JSON object per line; never part of the test run."""

# The server settings that bulk-write figures depend on most; printed with them so that every figure can be
# traced to the configuration it was measured on (deploy/postgres-tuning.sql sets them for production).
POSTGRES_SETTINGS = (
    "server_version",
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "wal_compression",
    "synchronous_commit",
)


def postgres_settings() -> dict[str, str]:
    """The current database's values of POSTGRES_SETTINGS (Django must be set up)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            [list(POSTGRES_SETTINGS)],
        )
        return dict(cursor.fetchall())

"""PostgreSQL bulk-load helpers shared by `generate_dataset` and CSV import: session settings for big
set-based statements, and staging tables (COPY cannot target a table under row-level security, so rows
are COPYed into a temporary table and moved with INSERT ... SELECT inside `tenant_context`)."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, transaction

BULK_SETTINGS = (
    ("maintenance_work_mem", "1GB"),
    ("work_mem", "256MB"),
    ("max_parallel_maintenance_workers", "2"),
)


def session_tune(cursor: Any, *, temp_buffers: str = "2GB") -> None:
    """Memory for sorts, hashes and index builds for the current transaction, and room for temporary
    tables in memory (see temp_buffers_raise)."""
    for setting, value in BULK_SETTINGS:
        cursor.execute("SELECT set_config(%s, %s, true)", [setting, value])
    temp_buffers_raise(cursor, temp_buffers)


def temp_buffers_raise(cursor: Any, size: str = "2GB") -> None:
    """Keep staging rows in memory instead of spilling to temp files. Allowed only before the session's
    first temporary table; a session that already used one keeps its setting."""
    try:
        with transaction.atomic():
            cursor.execute(f"SET LOCAL temp_buffers = '{size}'")
    except DatabaseError:
        pass


def copy_lines(raw: Any, statement: str, lines: list[str], chunk: int = 4000) -> None:
    """COPY text-format `lines` (each ending in a newline) with `statement` (`COPY t FROM STDIN`)."""
    with raw.copy(statement) as copy:
        for start in range(0, len(lines), chunk):
            copy.write("".join(lines[start : start + chunk]))

"""The PostgreSQL import: COPY the file into a temporary staging table, then set-based SQL per chunk.

1. COPY the raw CSV bytes into the job's unlogged staging table `import_raw_<job>` (one text column per
   header, a row number). A file COPY cannot parse (ragged rows, blank lines, bytes invalid in its
   encoding) is streamed again through Python's csv module instead, each bad row carrying its reason.
2. Per range of CHUNK_ROWS rows, in three phases, each row-level-security checked as the tenant:
   A. typing (`import_rows_<job>`): every cell trimmed and typed, the row's errors (values.py mirrors
      row_clean), the identity email, its partition (a hash of the email) and its occurrence number among
      the range's rows with the same email;
   B. companies, for the whole range in file order: matched by domain, else by name, as
      `companies_bulk_upsert` does; new ones inserted; ids for the contacts and leads the range may
      create, taken in file order;
   C. per partition: contacts by INSERT ... ON CONFLICT (organization, email_normalized) DO UPDATE, one
      statement per occurrence number (a statement may not touch a row twice), filling in without
      blanking known values, custom values merged (`contacts_bulk_upsert` semantics, rows in file order);
      a lead (journey 1, the row's stage) with its first stage change for contacts without any lead;
      refused rows into ImportRejection.
   Every occurrence of an email falls in the same partition, so partitions never touch the same contact
   or lead: phases A and C run in IMPORT_WORKERS threads, each with its own connection and transaction,
   while B, which several partitions share, runs alone between them. From the second range on, a range's
   A and B run while the range before it is in C, in the other of two sets of staging tables (SLOTS).
   Inside an enclosing transaction (a test case) one worker runs every phase on the caller's connection.
3. The contacts' trigram search index takes new entries in its pending list, merged every 64 MB and once
   at the end (gin_clean_pending_list), instead of once every few thousand rows.
4. Where the role may (references.py), the loader's transactions run with row triggers off and check the
   foreign keys of what they write per range: the rows a partition refers to and does not write are
   locked and counted in one statement per kind, instead of one trigger query per reference per row.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leads.bulk_sql import temp_buffers_raise
from leads.imports.loading import Loader
from leads.imports.reader import rows_iter
from leads.imports.references import lock_organization, lock_range, row_triggers_may_be_off, row_triggers_set
from leads.imports.spec import COMPANY_TARGETS, CONTACT_TARGETS, PLACEHOLDER_DOMAIN, ImportSpec
from leads.imports.values import (
    sql_custom,
    sql_email_errors,
    sql_length_error,
    sql_literal,
)
from leads.models import Channel
from leads.models_imports import ImportJob

CHUNK_ROWS = 50_000
# A first range this large refreshes the companies' statistics before its contacts look them up by id.
ANALYZE_AFTER_ROWS = 10_000
_TIMINGS_LOCK = threading.Lock()
PG_ENCODINGS = {"utf-8": "UTF8", "utf-8-sig": "UTF8", "cp1252": "WIN1252"}
WHITESPACE = "E' \\t\\r\\n\\f'"
CONTACT_COLUMNS = [t for t in CONTACT_TARGETS if t != "email"]

CHUNK_TABLES = "imp_co_new, imp_up, imp_first"
SLOTS = (0, 1)
SEARCH_INDEX = "contact_search_trgm"


def cell(index: int) -> str:
    return f"btrim(coalesce(c{index}, ''), {WHITESPACE})"


def trimmed(index: int) -> str:
    """A cell in the chunk query, where each is trimmed once (see _rows_sql)."""
    return f"v{index}"


def _grouped(function: str, parts: list[str], size: int = 90) -> str:
    """`function(parts...)`, split in calls of at most `size` arguments joined by || (PostgreSQL
    functions take at most 100)."""
    if not parts:
        return "''" if function == "concat" else "'{}'::jsonb"
    calls = [f"{function}({', '.join(parts[i : i + size])})" for i in range(0, len(parts), size)]
    return " || ".join(calls)


@dataclass(frozen=True)
class Range:
    """Rows start < rn <= stop of the file, staged in the tables of `slot` (two ranges are in flight at
    once: one stored while the next is typed), and the time stamp its rows are stored with."""

    start: int
    stop: int
    slot: int
    now: datetime.datetime

    @property
    def rows(self) -> int:
        return self.stop - self.start


class PostgresImport(Loader):
    first_range = True
    sequences: tuple[int, int] | None = None
    statistics_target: str | None = None
    # Foreign keys checked per range, not per row (references.py), where the role may.
    row_triggers_off = False
    _local: threading.local | None = None

    @property
    def current(self) -> Range:
        """The range this thread works on."""
        assert self._local is not None
        return self._local.range  # type: ignore[no-any-return]

    def _on(self, work_range: Range) -> None:
        if self._local is None:
            self._local = threading.local()
        self._local.range = work_range

    @property
    def columns(self) -> int:
        return len(self.spec.headers)

    @property
    def raw(self) -> str:
        return f"import_raw_{int(self.job.pk)}"

    def staging(self, kind: str, slot: int) -> str:
        """The job's staging table `kind` (rows, ids, companies) of a slot."""
        return f"import_{kind}_{int(self.job.pk)}_{slot}"

    def _staging_all(self) -> str:
        return ", ".join(self.staging(kind, slot) for kind in ("rows", "ids", "companies") for slot in SLOTS)

    def _sql(self, sql: str) -> str:
        """A statement written against imp_raw / imp_rows / imp_ids / imp_company, on this job's staging
        tables, with SEQ_CONTACT and SEQ_LEAD naming the id sequences by oid: pg_get_serial_sequence() in
        a statement would look the sequence up in the catalogue again for every row."""
        for token, name in (
            ("imp_raw", self.raw),
            ("imp_rows", self.staging("rows", self.current.slot)),
            ("imp_ids", self.staging("ids", self.current.slot)),
            ("imp_company", self.staging("companies", self.current.slot)),
            ("SEQ_CONTACT", f"{self._sequences()[0]}::regclass"),
            ("SEQ_LEAD", f"{self._sequences()[1]}::regclass"),
        ):
            sql = sql.replace(token, name)
        return sql

    def _sequences(self) -> tuple[int, int]:
        if self.sequences is None:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_get_serial_sequence('leads_contact', 'id')::regclass::oid, "
                    "pg_get_serial_sequence('leads_lead', 'id')::regclass::oid"
                )
                contact, lead = cursor.fetchone()
            self.sequences = (int(contact), int(lead))
        return self.sequences

    def workers(self) -> int:
        """Threads for the partitioned phases: one inside an enclosing transaction (other connections
        could not see its uncommitted rows)."""
        if connection.in_atomic_block:
            return 1
        return max(1, int(settings.IMPORT_WORKERS))

    # --- staging ---------------------------------------------------------------------------------

    def stage(self) -> int:
        """COPY the file into the staging table; returns the number of data records."""
        started = time.monotonic()
        with connection.cursor() as cursor:
            temp_buffers_raise(cursor, "1GB")
            self.drop(cursor)
            columns = ", ".join(f"c{i} text" for i in range(self.columns))
            cursor.execute(
                f"CREATE UNLOGGED TABLE {self.raw} "
                f"(rn bigint GENERATED ALWAYS AS IDENTITY, {columns}, bad text)"
            )
            names = ", ".join(f"c{i}" for i in range(self.columns))
            try:
                with transaction.atomic():
                    self._copy_fast(cursor, names)
            except (psycopg.Error, ValueError):
                cursor.execute(f"TRUNCATE {self.raw} RESTART IDENTITY")
                self._copy_checked(cursor, names)
            # The ranges read their rows by number; the refused rows are looked up by it too.
            cursor.execute(f"CREATE INDEX ON {self.raw} (rn)")
            cursor.execute(f"ANALYZE {self.raw}")
            cursor.execute(f"SELECT coalesce(max(rn), 0) FROM {self.raw}")
            total = int(cursor.fetchone()[0])
        self.timings["copy"] = time.monotonic() - started
        return total

    def drop(self, cursor: Any | None = None) -> None:
        """Drop the job's staging tables (they are unlogged scratch space, not kept after the run)."""
        statement = f"DROP TABLE IF EXISTS {self.raw}, {self._staging_all()}"
        if cursor is not None:
            cursor.execute(statement)
            return
        with connection.cursor() as own:
            own.execute(statement)

    def _copy_fast(self, cursor: Any, names: str) -> None:
        encoding = PG_ENCODINGS[self.shape.encoding]
        statement = (
            f"COPY {self.raw} ({names}) FROM STDIN WITH (FORMAT csv, HEADER true, "
            f"DELIMITER {sql_literal(self.shape.delimiter)}, ENCODING '{encoding}')"
        )
        with self.path.open("rb") as handle, cursor.cursor.copy(statement) as copy:
            first = True
            for block in iter(lambda: handle.read(1 << 20), b""):
                if first and block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]
                first = False
                copy.write(block)

    def _copy_checked(self, cursor: Any, names: str) -> None:
        """Row by row through Python's csv module: blank records keep their number, ragged ones are
        padded or cut and carry the reason they are refused."""
        width = self.columns
        with cursor.cursor.copy(f"COPY {self.raw} ({names}, bad) FROM STDIN") as copy:
            for row in rows_iter(self.path, self.shape):
                bad = None
                if not any(c.strip() for c in row):
                    row = []
                elif len(row) != width:
                    bad = f"The row has {len(row)} columns; the header has {width}."
                cells: list[str | None] = [*row[:width], *([None] * (width - len(row)))]
                copy.write_row([*[c.replace("\x00", "") if c else c for c in cells], bad])

    def choices_of(self, index: int, limit: int) -> list[str] | None:
        """Distinct non-blank values of column `index` over the whole file, or None past `limit`."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT {cell(index)} FROM {self.raw} WHERE {cell(index)} <> '' LIMIT {limit + 1}",
                {},
            )
            values = sorted(row[0] for row in cursor.fetchall())
        return None if len(values) > limit else values

    # --- ranges ------------------------------------------------------------------------------------

    def run(self, total: int) -> None:
        job = self.job
        workers = self.workers()
        self.first_range = True
        self.row_triggers_off = row_triggers_may_be_off()
        self._sequences()  # once, before the threads use them
        self._statistics()
        self._staging_create()
        bounds = [
            (start, min(start + CHUNK_ROWS, total)) for start in range(job.processed_rows, total, CHUNK_ROWS)
        ]
        if workers == 1:
            for start, stop in bounds:
                self._on(Range(start, stop, 0, timezone.now()))
                with self._transaction() as cursor:
                    self._prepare(cursor, 1)
                    counts = self._partition(cursor, 0)
                    self._progress_save(counts, stop)
                    committing = time.monotonic()
                self._time_add("commit", committing)
                self._range_done(stop, total)
        else:
            self._pipelined(bounds, total, workers)
        self._search_index_merge()

    def _pipelined(self, bounds: list[tuple[int, int]], total: int, workers: int) -> None:
        """Each range is typed and its companies stored (phases A and B) while the range before it
        stores its contacts and leads (phase C), in the other slot's tables: B runs on one connection,
        and the CPU it leaves idle goes to the range in C. The first range's successor waits until the
        first is in and the statistics know the organization (see _range_done)."""
        organization_id = self.job.organization_id

        def made(n: int) -> Range | None:
            """Range n, stamped when its preparation starts."""
            if n >= len(bounds):
                return None
            return Range(bounds[n][0], bounds[n][1], n % len(SLOTS), timezone.now())

        current = made(0)
        if current is not None:
            self._prepared(current, workers)
        for n in range(len(bounds)):
            assert current is not None
            following = made(n + 1)
            ahead: threading.Thread | None = None
            failures: list[BaseException] = []
            if following is not None and not self.first_range:
                ahead = threading.Thread(
                    target=self._prepared_ahead, args=(following, workers, failures), name="import-next"
                )
                ahead.start()
            try:
                results = self._parallel(workers, self._partition, current)
            finally:
                if ahead is not None:
                    ahead.join()
            counts = {key: sum(r[key] for r in results) for key in results[0]}
            with tenant_context(organization_id):
                self._progress_save(counts, current.stop)
            if failures:  # the stored range counts as done: a run started again resumes after it
                raise failures[0]
            self._range_done(current.stop, total)
            if following is not None and ahead is None:
                self._prepared(following, workers)
            current = following

    def _prepared(self, work_range: Range, workers: int) -> None:
        """Phases A and B of a range, in this thread (and A's workers)."""
        self._on(work_range)
        with connection.cursor() as cursor:
            cursor.execute(self._sql("TRUNCATE imp_rows, imp_ids"))
        self._parallel(workers, partial(self._typed, parts=workers), work_range)
        with self._transaction() as cursor:
            self._companies(cursor)

    def _prepared_ahead(self, work_range: Range, workers: int, failures: list[BaseException]) -> None:
        """_prepared in a thread of its own: its failure is kept for the caller to raise."""
        try:
            self._prepared(work_range, workers)
        except BaseException as exc:  # re-raised by _pipelined
            failures.append(exc)
        finally:
            connections.close_all()

    def _prepare(self, cursor: Any, parts: int) -> None:
        """Phases A and B of this thread's range on one connection."""
        cursor.execute(self._sql("TRUNCATE imp_rows, imp_ids"))
        self._typed(cursor, 0, parts=parts)
        self._companies(cursor)

    def _range_done(self, stop: int, total: int) -> None:
        if self.progress is not None:
            self.progress(self.current.rows)
        if self.first_range and stop < total:
            # To statistics that have not seen an organization it looks empty, and every index leading
            # with organization_id (which row-level security adds to each query) then looks as cheap as
            # the one that seeks a key: a lookup by id or email could walk the organization's rows for
            # each row imported. Analyzed once its first range is in, when more follow (its companies: in
            # phase B); ANALYZE reads a sample of the whole table, every tenant's, so small files skip it.
            with connection.cursor() as cursor:
                self._timed(cursor, "analyze tables", "ANALYZE leads_contact, leads_lead")
        self.first_range = False

    def _progress_save(self, counts: dict[str, int], stop: int) -> None:
        ImportJob.objects.filter(pk=self.job.pk).update(
            processed_rows=stop,
            created_count=F("created_count") + counts["created"],
            updated_count=F("updated_count") + counts["updated"],
            rejected_count=F("rejected_count") + counts["rejected"],
            leads_created=F("leads_created") + counts["leads"],
        )

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A transaction as the tenant, with the loader's settings. Row triggers turned off are on again
        at its end: inside an enclosing transaction (a test case) the setting would outlive it."""
        with tenant_context(self.job.organization_id), connection.cursor() as cursor:
            self._settings(cursor)
            yield cursor
            if self.row_triggers_off:
                row_triggers_set(cursor, False)

    def _settings(self, cursor: Any) -> None:
        if self.row_triggers_off:
            row_triggers_set(cursor, True)
        cursor.execute("SELECT set_config('work_mem', '256MB', true)")
        # A range's commit does not wait for its WAL to reach the disk: after a crash the job resumes
        # from the last range whose progress survived, which the same transaction wrote.
        cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
        # New search-index entries wait in the index's pending list; _search_index_merge merges them.
        cursor.execute("SELECT set_config('gin_pending_list_limit', '65536', true)")

    def _parallel(self, workers: int, work: Callable[[Any, int], Any], work_range: Range) -> list[Any]:
        """`work(cursor, part)` for each partition in its own thread, connection and tenant transaction;
        the first failure is raised once every thread has finished."""
        results: list[Any] = [None] * workers
        errors: list[BaseException] = []

        def target(part: int) -> None:
            self._on(work_range)
            try:
                with connection.cursor() as cursor:
                    temp_buffers_raise(cursor, "256MB")
                with self._transaction() as cursor:
                    results[part] = work(cursor, part)
                    committing = time.monotonic()
                self._time_add("commit", committing)
            except BaseException as exc:  # re-raised in the calling thread
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=target, args=(part,), name=f"import-{work_range.slot}-{part}")
            for part in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results

    def _search_index_merge(self) -> None:
        began = time.monotonic()
        with tenant_context(self.job.organization_id), connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [SEARCH_INDEX])
            if cursor.fetchone()[0] is not None:
                cursor.execute(f"SELECT gin_clean_pending_list('{SEARCH_INDEX}'::regclass)")
        self._time_add("search index", began)

    def _timed(self, cursor: Any, name: str, sql: str, params: dict[str, Any] | None = None) -> int:
        began = time.monotonic()
        staging = sql.startswith("ANALYZE imp_")
        if staging:
            # The planner needs the staging tables' sizes and rough distinct counts, not fine histograms:
            # a tenth of the usual sample gives them for a tenth of the work.
            cursor.execute("SELECT set_config('default_statistics_target', '10', true)")
        cursor.execute(self._sql(sql), params or {})
        count = int(cursor.rowcount or 0)
        if staging:
            cursor.execute("SELECT set_config('default_statistics_target', %s, true)", [self._statistics()])
        self._time_add(name, began)
        return count

    def _statistics(self) -> str:
        if self.statistics_target is None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reset_val FROM pg_settings WHERE name = 'default_statistics_target'")
                self.statistics_target = str(cursor.fetchone()[0])
        return self.statistics_target

    def _time_add(self, name: str, began: float) -> None:
        elapsed = time.monotonic() - began
        with _TIMINGS_LOCK:
            self.timings[name] = self.timings.get(name, 0.0) + elapsed

    def _staging_create(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self._staging_all()}")
            for slot in SLOTS:
                self._on(Range(0, 0, slot, timezone.now()))
                cursor.execute(
                    self._sql(f"CREATE UNLOGGED TABLE imp_rows AS {self._rows_sql()} WITH NO DATA"),
                    {"start": 0, "stop": 0, "part": 0, "parts": 1, "org": self.job.organization_id},
                )
                cursor.execute(
                    self._sql("CREATE UNLOGGED TABLE imp_ids (rn bigint, contact_id bigint, lead_id bigint)")
                )

    def _identity(self, value: Callable[[int], str]) -> tuple[str, str, str | None]:
        """The row's identity (its email, else a stand-in address), its email cell and its external id
        cell, each read through `value` (a cell index to SQL)."""
        standard = self.spec.standard
        email_index, external_index = standard.get("email"), standard.get("external_id")
        email = value(email_index) if email_index is not None else "''"
        external = value(external_index) if external_index is not None else None
        if external is not None:
            token = f"lower({external})"
            simple = (
                f"({token} ~ '^[a-z0-9][a-z0-9._-]{{0,39}}$' AND position('..' in {token}) = 0 "
                f"AND right({token}, 1) <> '.')"
            )
            hashed = f"left(encode(sha256(convert_to({external}, 'UTF8')), 'hex'), 24)"
            placeholder = (
                f"'ext-' || CASE WHEN {simple} THEN {token} ELSE {hashed} END || '@{PLACEHOLDER_DOMAIN}'"
            )
        else:
            placeholder = f"'import-{self.job.pk}-' || rn || '@{PLACEHOLDER_DOMAIN}'"
        if email_index is not None and external is None:
            identity = email
        elif email_index is not None:
            identity = f"CASE WHEN {email} <> '' THEN {email} ELSE {placeholder} END"
        else:
            identity = placeholder
        return identity, email, external

    def _rows_sql(self) -> str:
        spec = self.spec
        standard = spec.standard
        identity, email, external = self._identity(trimmed)
        # The partition is chosen before any other cell is trimmed: each worker reads the whole range.
        partition_identity, _, _ = self._identity(cell)
        errors = ["bad", *sql_email_errors(email, external, "email" in standard, external is not None)]
        selects = [f"{identity} AS email"]
        for target in CONTACT_COLUMNS:
            value = trimmed(standard[target]) if target in standard else "''"
            if target in standard:
                errors.append(sql_length_error(target, value, CONTACT_TARGETS[target][1]))
            selects.append(f"{value} AS {target}")
        for target, (_, limit) in COMPANY_TARGETS.items():
            value = trimmed(standard[target]) if target in standard else "''"
            if target == "company_domain" and target in standard:
                value = (
                    f"regexp_replace(split_part(regexp_replace(lower({value}), '^https?://', ''), '/', 1), "
                    f"'^www\\.', '')"
                )
            if target in standard:
                errors.append(sql_length_error(target, value, limit))
            selects.append(f"{value} AS {target}")
        pairs: list[str] = []
        for column in spec.custom:
            value_sql, error_sql = sql_custom(column, trimmed(column.index))
            pairs += [sql_literal(column.key), value_sql]
            errors.append(error_sql)
        selects.append(f"jsonb_strip_nulls({_grouped('jsonb_build_object', pairs, 90)}) AS custom")
        if spec.stage_column is not None:
            raw = trimmed(spec.stage_column)
            cases = " ".join(
                f"WHEN {sql_literal(value)} THEN {sql_literal(stage)}"
                for value, stage in spec.stage_map.items()
            )
            selects.append(f"CASE {raw} {cases} ELSE 'cold' END AS stage" if cases else "'cold' AS stage")
            selects.append(f"{raw} AS stage_raw")
        else:
            selects += ["'cold' AS stage", "'' AS stage_raw"]
        error_array = f"array_remove(ARRAY[{', '.join(errors)}]::text[], NULL)"
        # The key phase B groups the range's companies by, and the contacts find theirs by.
        company_key = (
            "CASE WHEN e.company_domain <> '' THEN 'd:' || e.company_domain "
            "WHEN e.company <> '' THEN 'n:' || lower(e.company) END"
            if spec.has_company
            else "NULL::text"
        )
        cells = ", ".join(f"{cell(i)} AS v{i}" for i in range(self.columns))
        not_blank = f"{_grouped('concat', [f'v{i}' for i in range(self.columns)])} <> ''"
        # OFFSET 0 fences keep PostgreSQL from inlining the subqueries: every cell is trimmed once, and
        # every row's checks run once, not again for each later reference.
        return f"""
            SELECT s.*,
                   CASE WHEN s.ok THEN row_number() OVER (PARTITION BY s.ok, s.email_norm ORDER BY s.rn) END
                       AS occ,
                   %(part)s::int AS part
            FROM (
                SELECT e.*, lower(e.email) AS email_norm, cardinality(e.errors) = 0 AS ok,
                       {company_key} AS company_key FROM (
                    SELECT rn, {", ".join(selects)}, {error_array} AS errors
                    FROM (
                        SELECT rn, bad, {cells} FROM imp_raw
                        WHERE rn > %(start)s AND rn <= %(stop)s
                          AND (%(parts)s = 1 OR
                               mod(abs(hashtext(lower({partition_identity}))::bigint), %(parts)s) = %(part)s)
                        OFFSET 0
                    ) t
                    WHERE {not_blank}
                    OFFSET 0
                ) e
                OFFSET 0
            ) s"""

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"org": self.job.organization_id, "now": self.current.now, "job": self.job.pk, **extra}

    def _typed(self, cursor: Any, part: int, *, parts: int) -> None:
        """Phase A: the range's rows of partition `part`, trimmed, typed and checked."""
        self._timed(
            cursor,
            "rows",
            f"INSERT INTO imp_rows {self._rows_sql()}",
            self._params(start=self.current.start, stop=self.current.stop, part=part, parts=parts),
        )

    def _companies(self, cursor: Any) -> None:
        """Phase B: the range's companies, over every partition in file order; and the ids of the
        contacts and leads it will create, taken in file order too, so that the partitions' concurrent
        inserts still number them as the file runs (a file in time order keeps it in (created_at, id))."""
        # The staging tables get statistics only from ANALYZE; without them the joins below become
        # nested loops over the whole range.
        self._timed(cursor, "analyze", "ANALYZE imp_rows (rn, email_norm, occ, part, company_key)")
        if self.spec.has_company:
            if self.row_triggers_off:  # the companies' reference
                lock_organization(cursor, self._params())
            cursor.execute(self._sql(f"DROP TABLE IF EXISTS {CHUNK_TABLES}, imp_company"))
            steps = [("collect", company_collect_sql(self.spec)), *COMPANY_STEPS]
            for name, sql in steps:
                self._timed(cursor, f"companies {name}", sql, self._params())
            cursor.execute(f"DROP TABLE IF EXISTS {CHUNK_TABLES}")
            if self.first_range and self.current.rows >= ANALYZE_AFTER_ROWS:  # see _range_done()
                self._timed(cursor, "analyze tables", "ANALYZE leads_company")
        self._timed(cursor, "ids", IDS_SQL, self._params())
        self._timed(cursor, "analyze", "ANALYZE imp_ids")

    def _partition(self, cursor: Any, part: int) -> dict[str, int]:
        """Phase C: contacts, leads and refused rows of one partition."""
        job = self.job
        params = self._params(part=part)
        cursor.execute(f"DROP TABLE IF EXISTS {CHUNK_TABLES}")
        if self.row_triggers_off:  # what the partition's rows refer to and do not write
            began = time.monotonic()
            named = self._sql(COMPANIES_NAMED) if self.spec.has_company else None
            lock_range(cursor, {**params, "user": job.created_by_id}, named)
            self._time_add("references", began)
        cursor.execute(self._sql("SELECT coalesce(max(occ), 0) FROM imp_rows WHERE part = %(part)s"), params)
        passes = int(cursor.fetchone()[0])
        cursor.execute(
            "CREATE TEMP TABLE imp_up (id bigint, email_normalized text, inserted boolean, occ int) "
            "ON COMMIT DROP"
        )
        contacts = contacts_sql(self.spec.has_company)
        for occurrence in range(1, passes + 1):
            self._timed(cursor, "contacts", contacts, {**params, "occ": occurrence})
        self._timed(cursor, "contacts", "ANALYZE imp_up")
        reason_file = sql_literal(f"Imported from {job.file_name}"[:500])
        if self.spec.stage_column is not None:
            header = self.spec.headers[self.spec.stage_column]
            known = "ARRAY[" + ", ".join(sql_literal(v) for v in self.spec.stage_map) + "]::text[]"
            reason = (
                f"CASE WHEN f.stage_raw = ANY({known}) THEN "
                f"{sql_literal(f'Imported outcome: {header} = ')} || f.stage_raw ELSE {reason_file} END"
            )
        else:
            reason = reason_file
        lead_params = {**params, "user": job.created_by_id, "channel": Channel.IMPORT}
        leads = 0
        for name, sql in LEADS_STEPS:
            for which in (LEADS_OF_STORED, LEADS_OF_NEW) if name == "leads" else ("",):
                count = self._timed(cursor, name, sql.format(reason=reason, which=which), lead_params)
                if name == "leads":
                    leads += count
        headers = self.spec.headers
        pairs = []
        for index, header in enumerate(headers):
            pairs += [sql_literal(header), f"coalesce(c{index}, '')"]
        values = _grouped("jsonb_build_object", pairs, 90)
        email_norm = (
            f"left(lower({cell(self.spec.standard['email'])}), 254)"
            if "email" in self.spec.standard
            else "''"
        )
        # A range run again after a stop (the worker was lost) does not report its rows twice.
        self._timed(
            cursor,
            "rejections",
            f"""
            INSERT INTO leads_importrejection (organization_id, job_id, row_number, errors, "values",
                                               email_normalized)
            SELECT %(org)s, %(job)s, r.rn, to_jsonb(r.errors), {values}, {email_norm}
            FROM imp_rows r JOIN imp_raw USING (rn)
            WHERE r.part = %(part)s AND cardinality(r.errors) > 0
              AND NOT EXISTS (
                  SELECT 1 FROM leads_importrejection x
                  WHERE x.organization_id = %(org)s AND x.job_id = %(job)s AND x.row_number = r.rn
              )""",
            params,
        )
        cursor.execute(
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM imp_up"
        )
        created, updated = cursor.fetchone()
        cursor.execute(
            self._sql("SELECT count(*) FROM imp_rows WHERE part = %(part)s AND cardinality(errors) > 0"),
            params,
        )
        rejected = cursor.fetchone()[0]
        # ON COMMIT DROP does not fire when the range runs inside an enclosing transaction (a savepoint).
        cursor.execute(f"DROP TABLE IF EXISTS {CHUNK_TABLES}")
        return {"created": created, "updated": updated, "rejected": rejected, "leads": leads}


# Companies named by the chunk's rows, matched and created as companies_bulk_upsert does: by domain, else
# by name among companies without another domain; the first row names a new company (its domain when it
# has no name), the last non-blank industry and country win.
COMPANY_LASTS = ("company_industry", "company_country")


def company_collect_sql(spec: ImportSpec) -> str:
    """Each company the range's rows name, once, with what its first row says of it (and the last
    non-blank industry and country, when the file has those columns)."""
    columns = [c for c in COMPANY_LASTS if c in spec.standard]
    lasts = {c: f"coalesce(l.{c}, '')" if c in columns else "''::text" for c in COMPANY_LASTS}
    join = ""
    if columns:
        aggregates = ", ".join(
            f"(array_agg(r.{c} ORDER BY r.rn DESC) FILTER (WHERE r.{c} <> ''))[1] AS {c}" for c in columns
        )
        join = f"""
        LEFT JOIN (
            SELECT r.company_key AS key, {aggregates}
            FROM imp_rows r
            WHERE cardinality(r.errors) = 0 AND r.company_key IS NOT NULL
            GROUP BY 1
        ) l ON l.key = f.key"""
    return f"""
        CREATE UNLOGGED TABLE imp_company AS
        SELECT f.key, f.name, f.match_name, f.domain, {lasts["company_industry"]} AS industry,
               {lasts["company_country"]} AS country, NULL::bigint AS id, NULL::text AS stored_name
        FROM (
            SELECT DISTINCT ON (r.company_key) r.company_key AS key,
                   CASE WHEN r.company <> '' THEN r.company ELSE r.company_domain END AS name,
                   r.company AS match_name, r.company_domain AS domain
            FROM imp_rows r
            WHERE cardinality(r.errors) = 0 AND r.company_key IS NOT NULL
            ORDER BY r.company_key, r.rn
        ) f{join}"""


COMPANY_STEPS: list[tuple[str, str]] = [
    ("analyze", "ANALYZE imp_company"),
    (
        "match by domain",
        """
        UPDATE imp_company t SET id = c.id FROM leads_company c
        WHERE t.domain <> '' AND c.domain = t.domain""",
    ),
    (
        "match by name",
        """
        UPDATE imp_company t SET id = m.id FROM (
            SELECT t2.key, min(c.id) AS id
            FROM imp_company t2 JOIN leads_company c ON c.name_key = lower(t2.match_name)
            WHERE t2.id IS NULL AND t2.match_name <> '' AND (c.domain = '' OR c.domain = t2.domain)
            GROUP BY t2.key
        ) m
        WHERE t.key = m.key""",
    ),
    ("new", "CREATE TEMP TABLE imp_co_new (id bigint, domain text, name_key text) ON COMMIT DROP"),
    (
        "insert",
        """
        WITH ins AS (
            INSERT INTO leads_company (organization_id, name, domain, industry, employee_count,
                                       annual_revenue, country, custom, created_at, updated_at)
            SELECT %(org)s, left(t.name, 200), t.domain, t.industry, NULL, NULL, t.country, '{}'::jsonb,
                   %(now)s, %(now)s
            FROM imp_company t WHERE t.id IS NULL
            RETURNING id, domain, name_key
        )
        INSERT INTO imp_co_new SELECT id, domain, name_key FROM ins""",
    ),
    ("analyze new", "ANALYZE imp_co_new"),
    (
        "link new by domain",
        """
        UPDATE imp_company t SET id = n.id FROM imp_co_new n
        WHERE t.id IS NULL AND t.domain <> '' AND n.domain = t.domain""",
    ),
    (
        "link new by name",
        """
        UPDATE imp_company t SET id = n.id FROM imp_co_new n
        WHERE t.id IS NULL AND t.domain = '' AND n.domain = '' AND n.name_key = lower(left(t.name, 200))""",
    ),
    (
        "update",
        """
        UPDATE leads_company c
        SET domain = CASE WHEN c.domain = '' THEN t.domain ELSE c.domain END,
            industry = CASE WHEN t.industry <> '' THEN t.industry ELSE c.industry END,
            country = CASE WHEN t.country <> '' THEN t.country ELSE c.country END,
            updated_at = %(now)s
        FROM imp_company t
        WHERE c.id = t.id AND c.created_at <> %(now)s
          AND ((c.domain = '' AND t.domain <> '') OR (t.industry <> '' AND t.industry <> c.industry)
               OR (t.country <> '' AND t.country <> c.country))""",
    ),
    # The name each company has now, for the contacts' search text.
    ("names", "UPDATE imp_company t SET stored_name = c.name FROM leads_company c WHERE c.id = t.id"),
]

# The companies a partition's contacts name.
COMPANIES_NAMED = """
    SELECT DISTINCT t.id FROM imp_rows r JOIN imp_company t ON t.key = r.company_key
    WHERE r.part = %(part)s AND r.occ IS NOT NULL AND t.id IS NOT NULL"""

# Ids for the contacts the range may create (the first row of each email) and their first leads, in file
# order, in a narrow table beside the rows. The row of an email stored already is an update: its ids go
# unused, which costs less than looking every email up beforehand (and a sequence has ids to spare).
IDS_SQL = """
    INSERT INTO imp_ids (rn, contact_id, lead_id)
    SELECT o.rn, nextval(SEQ_CONTACT), nextval(SEQ_LEAD)
    FROM (SELECT rn FROM imp_rows WHERE occ = 1 ORDER BY rn OFFSET 0) o"""

_FILL = ", ".join(
    f"{c} = CASE WHEN EXCLUDED.{c} <> '' THEN EXCLUDED.{c} ELSE leads_contact.{c} END"
    for c in CONTACT_COLUMNS
)


def _merged(column: str) -> str:
    return (
        f"nullif(CASE WHEN EXCLUDED.{column} <> '' THEN EXCLUDED.{column} "
        f"ELSE leads_contact.{column} END, '')"
    )


def contacts_sql(has_company: bool) -> str:
    """One occurrence pass of a partition's contacts (rows with occ = %(occ)s): upserted by email, each
    row's contact id and whether it was inserted kept in imp_up."""
    if has_company:
        company_join, company_id, company_name = (
            "LEFT JOIN imp_company t ON t.key = r.company_key",
            "t.id",
            "t.stored_name",
        )
    else:
        company_join, company_id, company_name = "", "NULL::bigint", "NULL::text"
    return f"""
    WITH up AS (
        INSERT INTO leads_contact (id, organization_id, email, email_normalized, {", ".join(CONTACT_COLUMNS)},
                                   company_id, custom, search_text, created_at, updated_at)
        SELECT coalesce(i.contact_id, nextval(SEQ_CONTACT)), %(org)s,
               r.email, r.email_norm, {", ".join(f"r.{c}" for c in CONTACT_COLUMNS)}, {company_id},
               r.custom,
               left(lower(concat_ws(' ', nullif(r.first_name, ''), nullif(r.last_name, ''), r.email_norm,
                    nullif({company_name}, ''))), 700),
               %(now)s, %(now)s
        FROM imp_rows r LEFT JOIN imp_ids i ON i.rn = r.rn {company_join}
        WHERE r.part = %(part)s AND r.occ = %(occ)s
        -- In email order the range's keys reach the unique email index as one sweep over its leaves,
        -- not at random (the ids, taken in file order, keep the file's order).
        ORDER BY r.email_norm
        ON CONFLICT (organization_id, email_normalized) DO UPDATE SET
            {_FILL},
            company_id = coalesce(EXCLUDED.company_id, leads_contact.company_id),
            custom = leads_contact.custom || EXCLUDED.custom,
            -- CASE, not coalesce: under row-level security PostgreSQL uses the primary key only for
            -- expressions it knows cannot leak, and it does not count coalesce among them.
            search_text = left(lower(concat_ws(' ', {_merged("first_name")}, {_merged("last_name")},
                leads_contact.email_normalized,
                (SELECT nullif(c.name, '') FROM leads_company c
                 WHERE c.id = CASE WHEN EXCLUDED.company_id IS NOT NULL THEN EXCLUDED.company_id
                                   ELSE leads_contact.company_id END))), 700),
            updated_at = EXCLUDED.updated_at
        RETURNING id, email_normalized, (xmax = 0) AS inserted
    )
    INSERT INTO imp_up SELECT id, email_normalized, inserted, %(occ)s FROM up"""


# Which contacts get a first lead: the ones stored before this range only if they have none yet (ordered
# by journey so that only lead_unique_journey answers without a sort: where the statistics do not know
# the organization yet, every index leading with organization_id looks as cheap, and one that cannot seek
# the contact would walk all of the organization's leads for each row), first, so that the probe never
# walks the leads of this range; the ones this range created cannot have any, and need no probe.
LEADS_OF_STORED = """NOT f.new_contact
              AND (SELECT l.id FROM leads_lead l
                   WHERE l.organization_id = %(org)s AND l.contact_id = f.contact_id
                   ORDER BY l.journey LIMIT 1) IS NULL"""
LEADS_OF_NEW = "f.new_contact"

# A first journey for contacts without any lead, in the stage of their first row in the chunk. Each step
# materialises what the next joins, with statistics, so the planner hashes instead of looping.
LEADS_STEPS: list[tuple[str, str]] = [
    (
        "leads firsts",
        """
        CREATE TEMP TABLE imp_first ON COMMIT DROP AS
        SELECT DISTINCT ON (u.id) u.id AS contact_id, r.stage, r.stage_raw, i.lead_id AS new_lead_id,
               u.inserted AS new_contact
        FROM imp_rows r JOIN imp_up u ON u.email_normalized = r.email_norm AND u.occ = r.occ
             LEFT JOIN imp_ids i ON i.rn = r.rn
        WHERE r.part = %(part)s ORDER BY u.id, r.rn""",
    ),
    # The statement below joins the leads it inserts back to imp_first, and the planner cannot know how
    # many it will insert: with the index a low guess costs a probe per lead, not a scan.
    ("leads analyze", "CREATE INDEX ON imp_first (contact_id)"),
    ("leads analyze", "ANALYZE imp_first"),
    (
        "leads",
        """
        WITH new AS (
            INSERT INTO leads_lead (id, organization_id, contact_id, stage, owner_id, score, grade,
                                    source_channel, campaign_id, first_touch_at, first_touch_channel,
                                    first_touch_campaign_id, first_touch_url, last_touch_at, budget,
                                    authority, need, timing, journey, is_current, stage_changed_at,
                                    created_at, updated_at)
            SELECT coalesce(f.new_lead_id, nextval(SEQ_LEAD)), %(org)s,
                   f.contact_id, f.stage, NULL, 0, '', %(channel)s, NULL, NULL, '', NULL, '', NULL,
                   '', '', '', '', 1, true, %(now)s, %(now)s, %(now)s
            FROM imp_first f
            WHERE {which}
            RETURNING id, contact_id
        )
        -- Each new lead's first stage change: one row per lead, so the statement's count is the leads'.
        INSERT INTO leads_stagechange (organization_id, lead_id, from_stage, to_stage, changed_at,
                                       changed_by_user_id, changed_by_api_key_id, rule, reason)
        SELECT %(org)s, n.id, '', f.stage, %(now)s, %(user)s, NULL, 'import', left({reason}, 2000)
        FROM new n JOIN imp_first f USING (contact_id)""",
    ),
]

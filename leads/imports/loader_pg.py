"""The PostgreSQL import: COPY the file into a temporary staging table, then set-based SQL per chunk.

1. COPY the raw CSV bytes into the job's unlogged staging table `import_raw_<job>` (one text column per
   header, a row number). A file COPY cannot parse (ragged rows, blank lines, bytes invalid in its
   encoding) is streamed again through Python's csv module instead, each bad row carrying its reason.
2. Per range of CHUNK_ROWS rows, in three phases, each row-level-security checked as the tenant:
   A. typing (`import_rows_<job>`): every cell trimmed and typed, the row's errors (values.py mirrors
      row_clean), the identity email, its partition (a hash of the email) and its occurrence number among
      the range's rows with the same email;
   B. companies, for the whole range in file order: matched by domain, else by name, as
      `companies_bulk_upsert` does; new ones inserted;
   C. per partition: contacts by INSERT ... ON CONFLICT (organization, email_normalized) DO UPDATE, one
      statement per occurrence number (a statement may not touch a row twice), filling in without
      blanking known values, custom values merged (`contacts_bulk_upsert` semantics, rows in file order);
      a lead (journey 1, the row's stage) with its first stage change for contacts without any lead;
      refused rows into ImportRejection.
   Every occurrence of an email falls in the same partition, so partitions never touch the same contact
   or lead: phases A and C run in IMPORT_WORKERS threads, each with its own connection and transaction,
   while B, which several partitions share, runs alone between them. Inside an enclosing transaction (a
   test case) one worker runs every phase on the caller's connection.
3. The contacts' trigram search index takes the range's new entries in its pending list and merges them
   once at the end (gin_clean_pending_list), instead of once every few thousand rows.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
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
from leads.imports.spec import COMPANY_TARGETS, CONTACT_TARGETS, PLACEHOLDER_DOMAIN
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

CHUNK_TABLES = "imp_co, imp_co_new, imp_up, imp_first, imp_new"
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


class PostgresImport(Loader):
    now: datetime.datetime | None = None  # the current range's time stamp
    first_range = True
    range_rows = 0

    @property
    def columns(self) -> int:
        return len(self.spec.headers)

    @property
    def raw(self) -> str:
        return f"import_raw_{int(self.job.pk)}"

    @property
    def rows(self) -> str:
        return f"import_rows_{int(self.job.pk)}"

    @property
    def ids(self) -> str:
        return f"import_ids_{int(self.job.pk)}"

    def _sql(self, sql: str) -> str:
        """A statement written against imp_raw / imp_rows / imp_ids, on this job's staging tables."""
        return sql.replace("imp_raw", self.raw).replace("imp_rows", self.rows).replace("imp_ids", self.ids)

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
        statement = f"DROP TABLE IF EXISTS {self.raw}, {self.rows}, {self.ids}"
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
        start = job.processed_rows
        workers = self.workers()
        self.first_range = True
        self._rows_table_create()
        while start < total:
            stop = min(start + CHUNK_ROWS, total)
            self.range_rows = stop - start
            self.now = timezone.now()
            if workers == 1:
                with tenant_context(job.organization_id), connection.cursor() as cursor:
                    self._settings(cursor)
                    cursor.execute(f"TRUNCATE {self.rows}, {self.ids}")
                    self._typed(cursor, 0, start=start, stop=stop, parts=1)
                    self._companies(cursor)
                    counts = self._partition(cursor, 0)
                    self._progress_save(counts, stop)
                    committing = time.monotonic()
                self._time_add("commit", committing)
            else:
                with connection.cursor() as cursor:
                    cursor.execute(f"TRUNCATE {self.rows}, {self.ids}")
                self._parallel(workers, partial(self._typed, start=start, stop=stop, parts=workers))
                with tenant_context(job.organization_id), connection.cursor() as cursor:
                    self._settings(cursor)
                    self._companies(cursor)
                results = self._parallel(workers, self._partition)
                counts = {key: sum(r[key] for r in results) for key in results[0]}
                with tenant_context(job.organization_id):
                    self._progress_save(counts, stop)
            if self.progress is not None:
                self.progress(stop - start)
            if self.first_range and stop < total:
                # To statistics that have not seen an organization it looks empty, and every index leading
                # with organization_id (which row-level security adds to each query) then looks as cheap as
                # the one that seeks a key: a lookup by id or email could walk the organization's rows for
                # each row imported. Analyzed once its first range is in, when more follow (its companies: in
                # phase B); ANALYZE reads a sample of the whole table, every tenant's, so small files skip it.
                with connection.cursor() as cursor:
                    self._timed(cursor, "analyze tables", "ANALYZE leads_contact, leads_lead")
                self.first_range = False
            start = stop
        self._search_index_merge()

    def _progress_save(self, counts: dict[str, int], stop: int) -> None:
        ImportJob.objects.filter(pk=self.job.pk).update(
            processed_rows=stop,
            created_count=F("created_count") + counts["created"],
            updated_count=F("updated_count") + counts["updated"],
            rejected_count=F("rejected_count") + counts["rejected"],
            leads_created=F("leads_created") + counts["leads"],
        )

    @staticmethod
    def _settings(cursor: Any) -> None:
        cursor.execute("SELECT set_config('work_mem', '256MB', true)")
        # A range's commit does not wait for its WAL to reach the disk: after a crash the job resumes
        # from the last range whose progress survived, which the same transaction wrote.
        cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
        # New search-index entries wait in the index's pending list; _search_index_merge merges them.
        cursor.execute("SELECT set_config('gin_pending_list_limit', '1048576', true)")

    def _parallel(self, workers: int, work: Callable[[Any, int], Any]) -> list[Any]:
        """`work(cursor, part)` for each partition in its own thread, connection and tenant transaction;
        the first failure is raised once every thread has finished."""
        results: list[Any] = [None] * workers
        errors: list[BaseException] = []
        organization_id = self.job.organization_id

        def target(part: int) -> None:
            try:
                with connection.cursor() as cursor:
                    temp_buffers_raise(cursor, "256MB")
                with tenant_context(organization_id), connection.cursor() as cursor:
                    self._settings(cursor)
                    results[part] = work(cursor, part)
                    committing = time.monotonic()
                self._time_add("commit", committing)
            except BaseException as exc:  # re-raised in the calling thread
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=target, args=(part,), name=f"import-{part}") for part in range(workers)
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
        self.timings["search index"] = time.monotonic() - began

    def _timed(self, cursor: Any, name: str, sql: str, params: dict[str, Any] | None = None) -> int:
        began = time.monotonic()
        cursor.execute(self._sql(sql), params or {})
        self._time_add(name, began)
        return int(cursor.rowcount or 0)

    def _time_add(self, name: str, began: float) -> None:
        elapsed = time.monotonic() - began
        with _TIMINGS_LOCK:
            self.timings[name] = self.timings.get(name, 0.0) + elapsed

    def _rows_table_create(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.rows}, {self.ids}")
            cursor.execute(
                self._sql(f"CREATE UNLOGGED TABLE {self.rows} AS {self._rows_sql()} WITH NO DATA"),
                {"start": 0, "stop": 0, "part": 0, "parts": 1, "org": self.job.organization_id},
            )
            cursor.execute(f"CREATE UNLOGGED TABLE {self.ids} (rn bigint, contact_id bigint, lead_id bigint)")

    def _rows_sql(self) -> str:
        spec = self.spec
        standard = spec.standard
        email_index, external_index = standard.get("email"), standard.get("external_id")
        email = trimmed(email_index) if email_index is not None else "''"
        external = trimmed(external_index) if external_index is not None else None
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
        errors = ["bad", *sql_email_errors(email, external, email_index is not None, external is not None)]
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
        cells = ", ".join(f"{cell(i)} AS v{i}" for i in range(self.columns))
        not_blank = f"{_grouped('concat', [f'v{i}' for i in range(self.columns)])} <> ''"
        # OFFSET 0 fences keep PostgreSQL from inlining the subqueries: every cell is trimmed once, and
        # every row's checks run once, not again for each later reference.
        return f"""
            SELECT s.*,
                   CASE WHEN s.ok THEN row_number() OVER (PARTITION BY s.ok, s.email_norm ORDER BY s.rn) END
                       AS occ,
                   %(part)s::int AS part,
                   NULL::bigint AS company_id, NULL::bigint AS contact_id, NULL::boolean AS created,
                   -- Whether the email is stored already (one index probe, while the partitions type
                   -- their rows in parallel): the rows of new emails get their ids in phase B.
                   CASE WHEN s.ok THEN (
                       SELECT c.id FROM leads_contact c
                       WHERE c.organization_id = %(org)s AND c.email_normalized = s.email_norm LIMIT 1
                   ) END AS stored_id
            FROM (
                -- email_norm is a plain column (fenced by OFFSET 0) by the time the probe above compares it:
                -- under row-level security an index serves only comparisons free of non-leakproof
                -- functions such as lower().
                SELECT e.*, lower(e.email) AS email_norm, cardinality(e.errors) = 0 AS ok FROM (
                    SELECT rn, {", ".join(selects)}, {error_array} AS errors
                    FROM (
                        SELECT rn, bad, {cells} FROM imp_raw WHERE rn > %(start)s AND rn <= %(stop)s OFFSET 0
                    ) t
                    WHERE {not_blank}
                      AND (%(parts)s = 1
                           OR mod(abs(hashtext(lower({identity}))::bigint), %(parts)s) = %(part)s)
                    OFFSET 0
                ) e
                OFFSET 0
            ) s"""

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"org": self.job.organization_id, "now": self.now, "job": self.job.pk, **extra}

    def _typed(self, cursor: Any, part: int, *, start: int, stop: int, parts: int) -> None:
        """Phase A: the range's rows of partition `part`, trimmed, typed and checked."""
        self._timed(
            cursor,
            "rows",
            f"INSERT INTO imp_rows {self._rows_sql()}",
            self._params(start=start, stop=stop, part=part, parts=parts),
        )

    def _companies(self, cursor: Any) -> None:
        """Phase B: the range's companies, over every partition in file order; and the ids of the
        contacts and leads it will create, taken in file order too, so that the partitions' concurrent
        inserts still number them as the file runs (a file in time order keeps it in (created_at, id))."""
        # The staging tables get statistics only from ANALYZE; without them the joins below become
        # nested loops over the whole range.
        self._timed(
            cursor, "analyze", "ANALYZE imp_rows (rn, email_norm, occ, part, company, company_domain)"
        )
        if self.spec.has_company:
            cursor.execute(f"DROP TABLE IF EXISTS {CHUNK_TABLES}")
            for name, sql in COMPANY_STEPS:
                self._timed(cursor, f"companies {name}", sql, self._params())
            cursor.execute(f"DROP TABLE IF EXISTS {CHUNK_TABLES}")
            if self.first_range and self.range_rows >= ANALYZE_AFTER_ROWS:  # see run()
                self._timed(cursor, "analyze tables", "ANALYZE leads_company")
        self._timed(cursor, "ids", IDS_SQL, self._params())
        self._timed(cursor, "analyze", "ANALYZE imp_ids")

    def _partition(self, cursor: Any, part: int) -> dict[str, int]:
        """Phase C: contacts, leads and refused rows of one partition."""
        job = self.job
        params = self._params(part=part)
        cursor.execute(f"DROP TABLE IF EXISTS {CHUNK_TABLES}")
        cursor.execute(self._sql("SELECT coalesce(max(occ), 0) FROM imp_rows WHERE part = %(part)s"), params)
        passes = int(cursor.fetchone()[0])
        for occurrence in range(1, passes + 1):
            self._timed(
                cursor,
                "contacts",
                "CREATE TEMP TABLE imp_up (id bigint, email_normalized text, inserted boolean) ON COMMIT DROP"
                if occurrence == 1
                else "TRUNCATE imp_up",
            )
            self._timed(cursor, "contacts", CONTACTS_SQL, {**params, "occ": occurrence})
            self._timed(cursor, "contacts", "ANALYZE imp_up")
            self._timed(cursor, "contacts link", CONTACTS_LINK_SQL, {**params, "occ": occurrence})
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
            count = self._timed(cursor, name, sql.format(reason=reason), lead_params)
            if name == "stage changes":
                leads = count
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
            self._sql(
                "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created), "
                "count(*) FILTER (WHERE cardinality(errors) > 0) FROM imp_rows WHERE part = %(part)s"
            ),
            params,
        )
        created, updated, rejected = cursor.fetchone()
        # ON COMMIT DROP does not fire when the range runs inside an enclosing transaction (a savepoint).
        cursor.execute(f"DROP TABLE IF EXISTS {CHUNK_TABLES}")
        return {"created": created, "updated": updated, "rejected": rejected, "leads": leads}


COMPANY_KEY = (
    "CASE WHEN {t}.company_domain <> '' THEN 'd:' || {t}.company_domain ELSE 'n:' || lower({t}.company) END"
)

# Companies named by the chunk's rows, matched and created as companies_bulk_upsert does: by domain, else
# by name among companies without another domain; the first row names a new company (its domain when it
# has no name), the last non-blank industry and country win.
COMPANY_STEPS: list[tuple[str, str]] = [
    (
        "collect",
        f"""
        CREATE TEMP TABLE imp_co ON COMMIT DROP AS
        SELECT {COMPANY_KEY.format(t="r")} AS key,
               (array_agg(CASE WHEN r.company <> '' THEN r.company ELSE r.company_domain END
                           ORDER BY r.rn))[1] AS name,
               (array_agg(r.company ORDER BY r.rn))[1] AS match_name,
               (array_agg(r.company_domain ORDER BY r.rn))[1] AS domain,
               coalesce((array_agg(r.company_industry ORDER BY r.rn DESC)
                   FILTER (WHERE r.company_industry <> ''))[1], '') AS industry,
               coalesce((array_agg(r.company_country ORDER BY r.rn DESC)
                   FILTER (WHERE r.company_country <> ''))[1], '') AS country,
               NULL::bigint AS id
        FROM imp_rows r
        WHERE cardinality(r.errors) = 0 AND (r.company <> '' OR r.company_domain <> '')
        GROUP BY 1""",
    ),
    ("analyze", "ANALYZE imp_co"),
    (
        "match by domain",
        "UPDATE imp_co t SET id = c.id FROM leads_company c WHERE t.domain <> '' AND c.domain = t.domain",
    ),
    (
        "match by name",
        """
        UPDATE imp_co t SET id = m.id FROM (
            SELECT t2.key, min(c.id) AS id
            FROM imp_co t2 JOIN leads_company c ON c.name_key = lower(t2.match_name)
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
            FROM imp_co t WHERE t.id IS NULL
            RETURNING id, domain, name_key
        )
        INSERT INTO imp_co_new SELECT id, domain, name_key FROM ins""",
    ),
    ("analyze new", "ANALYZE imp_co_new"),
    (
        "link new by domain",
        """
        UPDATE imp_co t SET id = n.id FROM imp_co_new n
        WHERE t.id IS NULL AND t.domain <> '' AND n.domain = t.domain""",
    ),
    (
        "link new by name",
        """
        UPDATE imp_co t SET id = n.id FROM imp_co_new n
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
        FROM imp_co t
        WHERE c.id = t.id AND c.created_at <> %(now)s
          AND ((c.domain = '' AND t.domain <> '') OR (t.industry <> '' AND t.industry <> c.industry)
               OR (t.country <> '' AND t.country <> c.country))""",
    ),
    (
        "link",
        f"""
        UPDATE imp_rows r SET company_id = t.id FROM imp_co t
        WHERE cardinality(r.errors) = 0 AND t.key = {COMPANY_KEY.format(t="r")}""",
    ),
]

# Ids for the range's new contacts (the first row of an email not yet stored) and their first leads, in
# file order, in a narrow table beside the rows. A contact stored meanwhile by someone else makes its row
# an update; its ids go unused.
IDS_SQL = """
    INSERT INTO imp_ids (rn, contact_id, lead_id)
    SELECT o.rn, nextval(pg_get_serial_sequence('leads_contact', 'id')),
           nextval(pg_get_serial_sequence('leads_lead', 'id'))
    FROM (SELECT rn FROM imp_rows WHERE occ = 1 AND stored_id IS NULL ORDER BY rn OFFSET 0) o"""

_FILL = ", ".join(
    f"{c} = CASE WHEN EXCLUDED.{c} <> '' THEN EXCLUDED.{c} ELSE leads_contact.{c} END"
    for c in CONTACT_COLUMNS
)


def _merged(column: str) -> str:
    return (
        f"nullif(CASE WHEN EXCLUDED.{column} <> '' THEN EXCLUDED.{column} "
        f"ELSE leads_contact.{column} END, '')"
    )


CONTACTS_SQL = f"""
    WITH up AS (
        INSERT INTO leads_contact (id, organization_id, email, email_normalized, {", ".join(CONTACT_COLUMNS)},
                                   company_id, custom, search_text, created_at, updated_at)
        SELECT coalesce(i.contact_id, nextval(pg_get_serial_sequence('leads_contact', 'id'))), %(org)s,
               r.email, r.email_norm, {", ".join(f"r.{c}" for c in CONTACT_COLUMNS)}, r.company_id,
               r.custom,
               left(lower(concat_ws(' ', nullif(r.first_name, ''), nullif(r.last_name, ''), r.email_norm,
                    (SELECT nullif(c.name, '') FROM leads_company c WHERE c.id = r.company_id))), 700),
               %(now)s, %(now)s
        FROM imp_rows r LEFT JOIN imp_ids i ON i.rn = r.rn
        WHERE r.part = %(part)s AND r.occ = %(occ)s
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
    INSERT INTO imp_up SELECT id, email_normalized, inserted FROM up"""
CONTACTS_LINK_SQL = """
    UPDATE imp_rows r SET contact_id = u.id, created = u.inserted
    FROM imp_up u WHERE r.part = %(part)s AND r.occ = %(occ)s AND r.email_norm = u.email_normalized"""

# A first journey for contacts without any lead, in the stage of their first row in the chunk. Each step
# materialises what the next joins, with statistics, so the planner hashes instead of looping.
LEADS_STEPS: list[tuple[str, str]] = [
    (
        "leads firsts",
        """
        CREATE TEMP TABLE imp_first ON COMMIT DROP AS
        SELECT DISTINCT ON (r.contact_id) r.contact_id, r.stage, r.stage_raw, i.lead_id AS new_lead_id
        FROM imp_rows r LEFT JOIN imp_ids i ON i.rn = r.rn
        WHERE r.part = %(part)s AND r.contact_id IS NOT NULL ORDER BY r.contact_id, r.rn""",
    ),
    ("leads analyze", "ANALYZE imp_first"),
    ("leads new", "CREATE TEMP TABLE imp_new (id bigint, contact_id bigint) ON COMMIT DROP"),
    (
        "leads insert",
        """
        WITH new AS (
            INSERT INTO leads_lead (id, organization_id, contact_id, stage, owner_id, score, grade,
                                    source_channel, campaign_id, first_touch_at, first_touch_channel,
                                    first_touch_campaign_id, first_touch_url, last_touch_at, budget,
                                    authority, need, timing, journey, is_current, stage_changed_at,
                                    created_at, updated_at)
            SELECT coalesce(f.new_lead_id, nextval(pg_get_serial_sequence('leads_lead', 'id'))), %(org)s,
                   f.contact_id, f.stage, NULL, 0, '', %(channel)s, NULL, NULL, '', NULL, '', NULL,
                   '', '', '', '', 1, true, %(now)s, %(now)s, %(now)s
            FROM imp_first f
            -- Ordered by journey so that only lead_unique_journey can answer without a sort: for an
            -- organization the statistics do not know yet (a first import), every index leading with
            -- organization_id looks as cheap, and one that cannot seek the contact would walk all the
            -- leads this very statement inserts, for each row.
            WHERE (SELECT l.id FROM leads_lead l
                   WHERE l.organization_id = %(org)s AND l.contact_id = f.contact_id
                   ORDER BY l.journey LIMIT 1) IS NULL
            RETURNING id, contact_id
        )
        INSERT INTO imp_new SELECT id, contact_id FROM new""",
    ),
    ("leads analyze", "ANALYZE imp_new"),
    (
        "stage changes",
        """
        INSERT INTO leads_stagechange (organization_id, lead_id, from_stage, to_stage, changed_at,
                                       changed_by_user_id, changed_by_api_key_id, rule, reason)
        SELECT %(org)s, n.id, '', f.stage, %(now)s, %(user)s, NULL, 'import', left({reason}, 2000)
        FROM imp_new n JOIN imp_first f USING (contact_id)""",
    ),
]

"""`python manage.py generate_dataset`: the demo's shape at benchmark scale.

    generate_dataset --organizations 1 --leads 1000000 --touchpoints-per-lead 10 [--seed 1] [--prefix bench]

`--leads` counts leads PER ORGANIZATION (the benchmarks want "one organization holding N leads"); the total
is organizations x leads, each lead with its contact, and touchpoints-per-lead touchpoints on average
(exactly that many per block of leads, shared out by how far each lead went). Organizations are named
`<prefix>-1`, `<prefix>-2`...; users `admin@<slug>.example` etc. share the demo password.

PostgreSQL: rows are streamed with COPY into temporary staging tables (COPY FROM cannot target a table
under row-level security, and the tenant tables must keep theirs), then moved with one INSERT ... SELECT
per table and organization inside `tenant_context(org)`, so the policies' WITH CHECK verifies every row.
For a large load relative to what the tables hold (`--rebuild-indexes auto`), the tables' secondary
indexes and foreign keys are dropped first and re-created afterwards, in the same transaction: other
sessions wait on the lock and never see the tables without them; the definitions are read from the
catalog before and compared after. Everything happens in one transaction: a failed run leaves nothing.

SQLite: the same drafts are written with batched bulk_create in the tenant context.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils.text import slugify
from tqdm import tqdm

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Membership, Organization, Role
from leadhub.tenancy.services import Actor, audit_record
from leads.bulk_sql import copy_lines, session_tune
from leads.demo import (
    COUNTRIES,
    DEMO_PASSWORD,
    MOVE_REASONS,
    MOVE_RULES,
    STAGE_CODES,
    CompanyDraft,
    LeadDraft,
    OrganizationData,
    OrmWriter,
    Pools,
    campaigns_create,
    custom_fields_ensure,
    history_window,
    ids_reserve,
    json_text,
    touch_counts_fixed_mean,
    touch_template,
)
from leads.models import Company, Contact, Lead, StageChange, Touchpoint

LOADED_MODELS = (Company, Contact, Lead, StageChange, Touchpoint)
ROLES = (
    ("admin", Role.ADMIN),
    ("marketer", Role.MARKETER),
    ("manager", Role.SALES_MANAGER),
    ("rep1", Role.SALES_REP),
    ("rep2", Role.SALES_REP),
    ("rep3", Role.SALES_REP),
    ("rep4", Role.SALES_REP),
)
COPY_CHUNK = 4000
CHUNK_LEADS = 25_000
FOREIGN_KEY_RE = re.compile(r"FOREIGN KEY \(([^)]+)\) REFERENCES ([\w.\"]+)\(([^)]+)\)")
REBUILD_MIN_LEADS = 50_000

# How each reference of a loaded row is proved while the foreign keys are dropped (PostgreSQL's own
# validation of a re-added key is no proof: FORCE row-level security limits it to the tenant set at the
# time). CHUNK: the row points at a contact or lead that the same chunk's INSERTs created from the same
# staging row, proved by their row counts; TEMPLATE: the value comes from the touch templates, checked
# chunk by chunk (a few hundred rows) instead of in 10M touchpoints; SCAN: checked in the loaded table
# after the load; NULL: the loader always leaves it empty. organization_id needs no entry: the policies'
# WITH CHECK holds it to the tenant being loaded. A foreign key not listed here stops the load.
CHUNK, TEMPLATE, SCAN, NULL = "chunk", "template", "scan", "null"
LOADED_REFERENCES: dict[str, dict[str, str]] = {
    "leads_company": {},
    "leads_contact": {"company_id": SCAN},
    "leads_lead": {
        "contact_id": CHUNK,
        "owner_id": SCAN,
        "campaign_id": SCAN,
        "first_touch_campaign_id": SCAN,
    },
    "leads_stagechange": {"lead_id": CHUNK, "changed_by_user_id": SCAN, "changed_by_api_key_id": NULL},
    "leads_touchpoint": {"lead_id": CHUNK, "contact_id": CHUNK, "campaign_id": TEMPLATE},
}
TEMPLATE_REFERENCES_SQL = """
    SELECT count(*) FROM gen_template t
    WHERE t.organization_id = %(org)s AND t.campaign_id IS NOT NULL
      AND t.campaign_id NOT IN (SELECT id FROM leads_campaign)
"""

GEN_TABLES_SQL = """
CREATE TEMP TABLE gen_company (
    organization_id bigint, id bigint, name text, domain text, industry text,
    employee_count integer, annual_revenue numeric, country text, custom jsonb, created_at bigint
) ON COMMIT DROP;
CREATE TEMP TABLE gen_lead (
    organization_id bigint, lead_id bigint, contact_id bigint, company_id bigint,
    email text, first_name text, last_name text, job_title text, phone text, country text, city text,
    contact_custom jsonb, search_text text, created_at bigint,
    stage text, stage_changed_at bigint, owner_id bigint, score integer, grade text,
    source_channel text, campaign_id bigint,
    ft_at bigint, ft_channel text, ft_campaign_id bigint, ft_url text, lt_at bigint,
    budget text, authority text, need text, timing text,
    mv_from smallint[], mv_to smallint[], mv_at bigint[], mv_rule smallint[], mv_reason smallint[],
    mv_by_owner boolean[], tp_pattern integer, tp_span double precision
) ON COMMIT DROP;
CREATE TEMP TABLE gen_pattern (
    organization_id bigint, id integer, templates integer[], fracs double precision[]
) ON COMMIT DROP;
CREATE TEMP TABLE gen_template (
    organization_id bigint, id integer, type text, channel text, campaign_id bigint,
    url text, referrer text, utm_source text, utm_medium text, utm_campaign text, utm_content text,
    utm_term text, properties jsonb
) ON COMMIT DROP;
"""
GEN_LEAD_COLUMNS = (
    "organization_id, lead_id, contact_id, company_id, email, first_name, last_name, job_title, "
    "phone, country, city, contact_custom, search_text, created_at, stage, stage_changed_at, "
    "owner_id, score, grade, source_channel, campaign_id, ft_at, ft_channel, ft_campaign_id, ft_url, "
    "lt_at, budget, authority, need, timing, mv_from, mv_to, mv_at, mv_rule, mv_reason, mv_by_owner, "
    "tp_pattern, tp_span"
)
INSERT_SQL = {
    "companies": """
        INSERT INTO leads_company (
            id, organization_id, name, domain, industry, employee_count, annual_revenue, country,
            custom, created_at, updated_at)
        SELECT id, organization_id, name, domain, industry, employee_count, annual_revenue, country,
               custom, to_timestamp(created_at), to_timestamp(created_at)
        FROM gen_company WHERE organization_id = %(org)s""",
    "contacts": """
        INSERT INTO leads_contact (
            id, organization_id, email, email_normalized, first_name, last_name, job_title, phone,
            country, city, company_id, custom, search_text, created_at, updated_at)
        SELECT contact_id, organization_id, email, email, first_name, last_name, job_title, phone,
               country, city, company_id, contact_custom, search_text, to_timestamp(created_at),
               to_timestamp(created_at)
        FROM gen_lead WHERE organization_id = %(org)s""",
    "leads": """
        INSERT INTO leads_lead (
            id, organization_id, contact_id, stage, owner_id, score, grade, source_channel,
            campaign_id, first_touch_at, first_touch_channel, first_touch_campaign_id,
            first_touch_url, last_touch_at, budget, authority, need, timing, journey, is_current,
            stage_changed_at, created_at, updated_at)
        SELECT lead_id, organization_id, contact_id, stage, owner_id, score, grade, source_channel,
               campaign_id, to_timestamp(ft_at), ft_channel, ft_campaign_id, ft_url,
               to_timestamp(lt_at), budget, authority, need, timing, 1, true,
               to_timestamp(stage_changed_at), to_timestamp(created_at), to_timestamp(stage_changed_at)
        FROM gen_lead WHERE organization_id = %(org)s""",
    "stage_changes": """
        INSERT INTO leads_stagechange (
            organization_id, lead_id, from_stage, to_stage, changed_at, changed_by_user_id, rule,
            reason)
        SELECT g.organization_id, g.lead_id, (%(stages)s::text[])[m.f + 1],
               (%(stages)s::text[])[m.t + 1], to_timestamp(m.at),
               CASE WHEN m.by_owner THEN g.owner_id END,
               (%(rules)s::text[])[m.rule + 1], (%(reasons)s::text[])[m.reason + 1]
        FROM gen_lead g,
             unnest(g.mv_from, g.mv_to, g.mv_at, g.mv_rule, g.mv_reason, g.mv_by_owner)
                 AS m(f, t, at, rule, reason, by_owner)
        WHERE g.organization_id = %(org)s""",
    "touchpoints": """
        INSERT INTO leads_touchpoint (
            organization_id, lead_id, contact_id, anonymous_id, external_id, type, occurred_at,
            channel, campaign_id, url, referrer, utm_source, utm_medium, utm_campaign, utm_content,
            utm_term, properties, created_at)
        SELECT g.organization_id, g.lead_id, g.contact_id, '', '', t.type, x.at, t.channel,
               t.campaign_id, t.url, t.referrer, t.utm_source, t.utm_medium, t.utm_campaign,
               t.utm_content, t.utm_term, t.properties, x.at
        FROM gen_lead g
        JOIN gen_pattern p ON p.organization_id = g.organization_id AND p.id = g.tp_pattern
        CROSS JOIN LATERAL unnest(p.templates, p.fracs) AS u(template, frac)
        CROSS JOIN LATERAL (SELECT to_timestamp(g.created_at + u.frac * g.tp_span) AS at) x
        JOIN gen_template t ON t.organization_id = g.organization_id AND t.id = u.template
        WHERE g.organization_id = %(org)s""",
}


class Command(BaseCommand):
    help = "Generate benchmark-scale organizations with realistic leads and touchpoints (COPY on PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organizations", type=int, default=1, help="How many organizations to create.")
        parser.add_argument("--leads", type=int, default=1000, help="Leads (and contacts) PER organization.")
        parser.add_argument(
            "--touchpoints-per-lead", type=int, default=10, help="Average touchpoints per lead."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (same seed, same data).")
        parser.add_argument(
            "--prefix", default="bench", help="Organization slugs are <prefix>-1, <prefix>-2..."
        )
        parser.add_argument(
            "--rebuild-indexes",
            choices=("auto", "always", "never"),
            default="auto",
            help="PostgreSQL: drop and re-create secondary indexes and foreign keys around the load "
            f"(auto: when loading at least {REBUILD_MIN_LEADS:,} leads and at least half of what the "
            "table holds).",
        )
        parser.add_argument(
            "--vacuum",
            action="store_true",
            help="PostgreSQL: VACUUM ANALYZE the loaded tables after commit (benchmarks then start from a "
            "settled table instead of racing autovacuum).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organizations, leads = options["organizations"], options["leads"]
        per_lead = options["touchpoints_per_lead"]
        if organizations < 1 or leads < 1 or per_lead < 0:
            raise CommandError(
                "--organizations and --leads must be at least 1, --touchpoints-per-lead at least 0."
            )
        prefix = slugify(options["prefix"])
        if not prefix:
            raise CommandError("--prefix must contain letters or digits.")
        slugs = [f"{prefix}-{i}" for i in range(1, organizations + 1)]
        taken = sorted(Organization.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        if taken:
            raise CommandError(f"Organizations {', '.join(taken)} already exist; choose another --prefix.")
        self.verbose = options["verbosity"] > 0
        self.timings: dict[str, float] = {}
        started = time.monotonic()
        pools = Pools.build(options["seed"])
        start, end = history_window()
        postgres = connection.vendor == "postgresql"
        with transaction.atomic():
            orgs = self._organizations_create(slugs)
            datasets = []
            for index, (org, owners) in enumerate(orgs):
                data = OrganizationData(
                    seed=f"{options['seed']}:{index}",
                    pools=pools,
                    leads=leads,
                    start=start,
                    end=end,
                    owners=len(owners),
                    site=f"www.{org.slug}.example",
                )
                with tenant_context(org):
                    custom_fields_ensure()
                    campaign_ids = campaigns_create(data)
                datasets.append((org, owners, data, campaign_ids))
            if postgres:
                counts = PostgresLoader(self, per_lead=per_lead, rebuild=options["rebuild_indexes"]).load(
                    datasets
                )
            else:
                counts = self._orm_load(datasets, per_lead)
        if postgres and options["vacuum"]:
            with self._phase("vacuum analyze"), connection.cursor() as cursor:
                for model in LOADED_MODELS:
                    cursor.execute(f'VACUUM (ANALYZE) "{model._meta.db_table}"')
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Generated {organizations:,} organization(s) x {leads:,} leads ({', '.join(slugs[:3])}"
            f"{'...' if organizations > 3 else ''}): {counts['companies']:,} companies, "
            f"{counts['contacts']:,} "
            f"contacts, {counts['leads']:,} leads, {counts['stage_changes']:,} stage changes, "
            f"{counts['touchpoints']:,} touchpoints in {elapsed:.1f} s"
            f" ({'COPY' if postgres else 'bulk insert'})."
        )
        if self.verbose:
            self.stdout.write(
                "Phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items())
            )
            self.stdout.write(
                f"Users: admin@{slugs[0]}.example (and marketer, manager, rep1-4) / {DEMO_PASSWORD}"
            )

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Time a phase; totals per phase are printed at the end."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - began

    def _organizations_create(self, slugs: list[str]) -> list[tuple[Organization, list[int]]]:
        User = get_user_model()
        password = make_password(DEMO_PASSWORD)
        result = []
        for slug in slugs:
            org = Organization.objects.create(name=slug.replace("-", " ").title(), slug=slug)
            users = User.objects.bulk_create(
                [
                    User(
                        username=f"{local}@{slug}.example",
                        email=f"{local}@{slug}.example",
                        password=password,
                        first_name=local.capitalize(),
                        last_name=org.name,
                    )
                    for local, _ in ROLES
                ]
            )
            users = list(User.objects.filter(username__in=[u.username for u in users]).order_by("username"))
            by_local = {u.username.split("@")[0]: u for u in users}
            Membership.objects.bulk_create(
                [Membership(organization=org, user=by_local[local], role=role) for local, role in ROLES]
            )
            with tenant_context(org):
                audit_record(
                    actor=Actor.system("generate_dataset"), action="organization.created", target=org
                )
            result.append((org, [by_local[local].pk for local, role in ROLES if role == Role.SALES_REP]))
        return result

    def _orm_load(self, datasets: list[Any], per_lead: int) -> dict[str, int]:
        totals = dict.fromkeys(("companies", "contacts", "leads", "stage_changes", "touchpoints"), 0)
        leads_total = sum(data.lead_count for _, _, data, _ in datasets)
        with tqdm(total=leads_total, unit="lead", disable=not self.verbose, file=self.stderr._out) as bar:
            for org, owners, data, campaign_ids in datasets:
                with tenant_context(org):
                    company_count = max(5, data.lead_count // 8)
                    data.companies_generate(company_count, ids_reserve(Company, company_count))
                    writer = OrmWriter(data=data, campaign_ids=campaign_ids, owner_ids=owners)
                    writer.companies_write(data.companies)
                    first_contact = ids_reserve(Contact, data.lead_count)
                    first_lead = ids_reserve(Lead, data.lead_count)
                    writer.leads_write(
                        data.leads_generate(
                            first_lead_id=first_lead,
                            first_contact_id=first_contact,
                            touch_counts=touch_counts_fixed_mean(per_lead),
                        ),
                        progress=bar.update,
                    )
                for key, value in writer.counts.items():
                    totals[key] += value
        return totals


class PostgresLoader:
    """COPY into staging tables, then INSERT ... SELECT per organization under row-level security."""

    def __init__(self, command: Command, *, per_lead: int, rebuild: str) -> None:
        self.command = command
        self.per_lead = per_lead
        self.rebuild = rebuild
        self.tables = [model._meta.db_table for model in LOADED_MODELS]
        self.references_dropped = False

    def load(self, datasets: list[Any]) -> dict[str, int]:
        command = self.command
        cursor = connection.cursor()
        raw = cursor.cursor  # the psycopg cursor, for COPY
        session_tune(cursor)
        for statement in GEN_TABLES_SQL.split(";"):
            if statement.strip():
                cursor.execute(statement)
        # Other writers to these tables wait until commit: ids are reserved as consecutive ranges below.
        cursor.execute(f"LOCK TABLE {', '.join(self.tables)} IN SHARE ROW EXCLUSIVE MODE")
        leads_total = sum(data.lead_count for _, _, data, _ in datasets)
        existing = self._estimated_rows(cursor, Lead._meta.db_table)
        rebuild = self.rebuild == "always" or (
            self.rebuild == "auto" and leads_total >= REBUILD_MIN_LEADS and leads_total >= existing / 2
        )
        counts = dict.fromkeys(("companies", "contacts", "leads", "stage_changes", "touchpoints"), 0)
        definitions = self._definitions(cursor) if rebuild else None
        self.references_dropped = definitions is not None
        if definitions is not None:
            # Dropping a foreign key alters both tables, which PostgreSQL refuses while checks deferred
            # from the set-up writes (campaigns, spend) are pending: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            with command._phase("drop indexes and foreign keys"):
                self._drop(cursor, definitions)
        with tqdm(
            total=leads_total,
            unit="lead",
            unit_scale=True,
            disable=not command.verbose,
            file=command.stderr._out,
            desc="leads",
        ) as bar:
            for org, owners, data, campaign_ids in datasets:
                company_count = max(5, data.lead_count // 8)
                companies = data.companies_generate(company_count, ids_reserve(Company, company_count))
                self._copy_companies(raw, org.pk, companies)
                with tenant_context(org), command._phase("insert companies"):
                    cursor.execute(INSERT_SQL["companies"], {"org": org.pk})
                counts["companies"] += company_count
                first_contact = ids_reserve(Contact, data.lead_count)
                first_lead = ids_reserve(Lead, data.lead_count)
                self._leads_load(
                    cursor, org, owners, data, campaign_ids, first_lead, first_contact, counts, bar
                )
        if definitions is not None:
            self._recreate(cursor, definitions, [org for org, _, _, _ in datasets])
        if rebuild:
            # Fresh statistics for the planner; a small load into big tables leaves them about right.
            with command._phase("analyze"):
                for table in self.tables:
                    cursor.execute(f'ANALYZE "{table}"')
        return counts

    def _leads_load(
        self,
        cursor: Any,
        org: Organization,
        owners: list[int],
        data: OrganizationData,
        campaign_ids: list[int],
        first_lead: int,
        first_contact: int,
        counts: dict[str, int],
        bar: tqdm,
    ) -> None:
        """Generate in a producer thread while this one COPYs and INSERTs the previous chunk: psycopg
        releases the GIL while PostgreSQL works, so Python and PostgreSQL each keep a core busy."""
        command, raw = self.command, cursor.cursor
        chunks: queue.Queue[tuple[list[str], int, int] | BaseException | None] = queue.Queue(maxsize=2)

        def produce() -> None:
            try:
                drafts = data.leads_generate(
                    first_lead_id=first_lead,
                    first_contact_id=first_contact,
                    touch_counts=touch_counts_fixed_mean(self.per_lead),
                )
                lines: list[str] = []
                for line in self._lead_lines(org.pk, data, drafts, owners, campaign_ids):
                    lines.append(line)
                    if len(lines) >= CHUNK_LEADS:
                        chunks.put((lines, len(data.patterns), len(lines)))
                        lines = []
                if lines:
                    chunks.put((lines, len(data.patterns), len(lines)))
                chunks.put(None)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                chunks.put(exc)

        producer = threading.Thread(target=produce, name="generate_dataset", daemon=True)
        producer.start()
        templates: dict[tuple[int, int], int] = {}
        patterns_copied = analyzed_patterns = 0
        first_chunk = True
        params = {"stages": list(STAGE_CODES), "rules": list(MOVE_RULES), "reasons": list(MOVE_REASONS)}
        while True:
            with command._phase("generate (waiting)"):
                item = chunks.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            lines, pattern_count, size = item
            with command._phase("COPY"):
                copy_lines(raw, f"COPY gen_lead ({GEN_LEAD_COLUMNS}) FROM STDIN", lines, COPY_CHUNK)
            with command._phase("COPY patterns"):
                self._copy_patterns(
                    raw, org.pk, data, campaign_ids, templates, patterns_copied, pattern_count
                )
                patterns_copied = pattern_count
            with command._phase("analyze staging"):
                # Statistics on the join columns only, so that the planner hashes the pattern and template
                # tables; whole-row statistics of the wide, array-laden staging rows cost seconds a chunk,
                # and every chunk has the shape of the first.
                if first_chunk:
                    cursor.execute("ANALYZE gen_lead (organization_id, tp_pattern)")
                if first_chunk or pattern_count > analyzed_patterns:
                    cursor.execute("ANALYZE gen_pattern")
                    cursor.execute("ANALYZE gen_template")
                    analyzed_patterns = pattern_count
                first_chunk = False
            with tenant_context(org):
                if self.references_dropped:
                    with command._phase("references"):
                        cursor.execute(TEMPLATE_REFERENCES_SQL, {"org": org.pk})
                        if cursor.fetchone()[0]:
                            raise CommandError("Touch templates reference missing campaigns; rolled back.")
                for name in ("contacts", "leads", "stage_changes", "touchpoints"):
                    with command._phase(f"insert {name}"):
                        cursor.execute(INSERT_SQL[name], {**params, "org": org.pk})
                        counts[name] += cursor.rowcount
                    if name in ("contacts", "leads") and cursor.rowcount != size:
                        # Every staged row became a contact and a lead: the "chunk" references hold.
                        raise CommandError(
                            f"Inserted {cursor.rowcount} {name} of {size} staged; rolled back."
                        )
            cursor.execute("TRUNCATE gen_lead")
            bar.update(size)
        producer.join()

    @staticmethod
    def _estimated_rows(cursor: Any, table: str) -> float:
        cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", [table])
        return float(cursor.fetchone()[0])

    # COPY --------------------------------------------------------------------------------------------

    def _copy_companies(self, raw: Any, org_id: int, companies: list[CompanyDraft]) -> None:
        with raw.copy("COPY gen_company FROM STDIN") as copy:
            buffer = []
            for c in companies:
                buffer.append(
                    f"{org_id}\t{c.id}\t{c.name}\t{c.domain}\t{c.industry}\t{c.employee_count}\t"
                    f"{c.annual_revenue}\t"
                    f"{COUNTRIES[c.country_index][0]}\t{json_text(c.custom)}\t{int(c.created_at)}\n"
                )
                if len(buffer) >= COPY_CHUNK:
                    copy.write("".join(buffer))
                    buffer = []
            if buffer:
                copy.write("".join(buffer))

    def _lead_lines(
        self,
        org_id: int,
        data: OrganizationData,
        drafts: Iterator[LeadDraft],
        owners: list[int],
        campaign_ids: list[int],
    ) -> Iterator[str]:
        """gen_lead rows in COPY text format (pool strings carry no characters that need escaping)."""
        campaign = [*map(str, campaign_ids), r"\N"]  # index -1 -> NULL
        owner_text = [*map(str, owners), r"\N"]
        # First-touch columns per touchpoint pattern: the entry touch is the pattern's first.
        first_touch: dict[int, tuple[str, float]] = {}

        def first_fields(pattern: int) -> tuple[str, float]:
            found = first_touch.get(pattern)
            if found is None:
                sequence, last_frac = data.patterns[pattern]
                t = touch_template(sequence[0][0], data.site)
                found = first_touch[pattern] = (
                    f"{t.channel}\t{campaign[t.campaign_index]}\t{t.url}",
                    last_frac,
                )
            return found

        for d in drafts:
            created = d.created_at
            if d.pattern >= 0:
                fields, last_frac = first_fields(d.pattern)
                touch = f"{int(created)}\t{fields}\t{int(created + last_frac * d.touch_span)}"
                pattern = str(d.pattern)
            else:
                touch, pattern = "\\N\t\t\\N\t\t\\N", r"\N"
            f, t, at, rule, reason, by_owner = zip(*d.moves, strict=True)
            yield (
                f"{org_id}\t{d.lead_id}\t{d.contact_id}\t{d.company.id}\t{d.email}\t{d.first_name}\t"
                f"{d.last_name}\t{d.job_title}\t{d.phone}\t{d.country}\t{d.city}\t"
                f"{json_text(d.contact_custom)}\t{d.search_text}\t{int(created)}\t{d.stage}\t"
                f"{int(d.stage_changed_at)}\t{owner_text[d.owner_index]}\t{d.score}\t{d.grade}\t"
                f"{d.source_channel}\t{campaign[d.campaign_index]}\t{touch}\t"
                f"{d.bant[0]}\t{d.bant[1]}\t{d.bant[2]}\t{d.bant[3]}\t"
                f"{{{','.join(map(str, f))}}}\t{{{','.join(map(str, t))}}}\t"
                f"{{{','.join([str(int(x)) for x in at])}}}\t{{{','.join(map(str, rule))}}}\t"
                f"{{{','.join(map(str, reason))}}}\t{{{','.join(['t' if x else 'f' for x in by_owner])}}}\t"
                f"{pattern}\t{d.touch_span:.0f}\n"
            )

    def _copy_patterns(
        self,
        raw: Any,
        org_id: int,
        data: OrganizationData,
        campaign_ids: list[int],
        templates: dict[tuple[int, int], int],
        start: int,
        stop: int,
    ) -> None:
        """Patterns `start:stop` (those the chunk's leads introduced) and the templates (type, channel,
        campaign, URL, UTM...) their touches point to that are not stored yet."""
        known = len(templates)
        with raw.copy("COPY gen_pattern FROM STDIN") as copy:
            for index in range(start, stop):
                sequence = data.patterns[index][0]
                ids = [templates.setdefault(key, len(templates) + 1) for key, _ in sequence]
                fracs = ",".join(f"{frac:.6f}" for _, frac in sequence)
                copy.write(f"{org_id}\t{index}\t{{{','.join(map(str, ids))}}}\t{{{fracs}}}\n")
        campaign = [*map(str, campaign_ids), r"\N"]
        with raw.copy("COPY gen_template FROM STDIN") as copy:
            for key, template_id in templates.items():
                if template_id <= known:
                    continue
                t = touch_template(key, data.site)
                copy.write(
                    f"{org_id}\t{template_id}\t{t.type}\t{t.channel}\t{campaign[t.campaign_index]}\t{t.url}\t"
                    f"{t.referrer}\t{t.utm_source}\t{t.utm_medium}\t{t.utm_campaign}\t{t.utm_content}\t"
                    f"{t.utm_term}\t{json_text(t.properties)}\n"
                )

    # Indexes and foreign keys --------------------------------------------------------------------------

    def _definitions(self, cursor: Any) -> dict[str, list[tuple[str, str, str]]]:
        """Secondary indexes (not backing a primary key or unique constraint) and foreign keys of the
        loaded tables, as (table, name, definition)."""
        cursor.execute(
            """
            SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
            WHERE x.indrelid = ANY(%s::regclass[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid
                              AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))
            ORDER BY 1, 2
            """,
            [self.tables],
        )
        indexes = [tuple(row) for row in cursor.fetchall()]
        cursor.execute(
            """
            SELECT t.relname, k.conname, pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
            WHERE k.conrelid = ANY(%s::regclass[]) AND k.contype = 'f'
            ORDER BY 1, 2
            """,
            [self.tables],
        )
        foreign_keys = [tuple(row) for row in cursor.fetchall()]
        return {"indexes": indexes, "foreign_keys": foreign_keys}

    def _drop(self, cursor: Any, definitions: dict[str, list[tuple[str, str, str]]]) -> None:
        for table, name, _ in definitions["foreign_keys"]:
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for _, name, _ in definitions["indexes"]:
            cursor.execute(f'DROP INDEX "{name}"')

    def _recreate(
        self,
        cursor: Any,
        definitions: dict[str, list[tuple[str, str, str]]],
        organizations: list[Organization],
    ) -> None:
        command = self.command
        for table, _name, definition in definitions["indexes"]:
            with command._phase(f"index {table}"):
                cursor.execute(definition)
        # The references were proved while loading or are checked now, under each tenant's policy
        # (LOADED_REFERENCES); the constraints are re-added as they were once the proofs cover them all.
        self._references_covered(definitions["foreign_keys"])
        for table, name, definition in definitions["foreign_keys"]:
            cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for organization in organizations:
            with tenant_context(organization):
                self._references_check(cursor, definitions["foreign_keys"])
        after = self._definitions(cursor)
        if after != definitions:
            raise CommandError(
                f"Indexes or foreign keys differ after the load; rolled back.\n{definitions}\n{after}"
            )
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype = 'f' "
            "AND NOT convalidated",
            [self.tables],
        )
        if cursor.fetchone()[0]:
            raise CommandError("A re-created foreign key is not validated; rolled back.")

    def _references_covered(self, foreign_keys: list[tuple[str, str, str]]) -> None:
        """Every dropped foreign key is one whose loaded values were proved (LOADED_REFERENCES)."""
        for table, _name, definition in foreign_keys:
            match = FOREIGN_KEY_RE.match(definition)
            if match is None:
                raise CommandError(f"Unexpected foreign key definition on {table}: {definition}")
            columns = [c.strip() for c in match.group(1).split(",") if c.strip() != "organization_id"]
            for column in columns:
                if column not in LOADED_REFERENCES.get(table, {}):
                    raise CommandError(
                        f"The loader does not prove {table}.{column} ({definition}); add it to "
                        "LOADED_REFERENCES. Rolled back."
                    )

    def _references_check(self, cursor: Any, foreign_keys: list[tuple[str, str, str]]) -> None:
        """The SCAN references of every loaded row resolve, in one scan per table (hashed NOT IN; a row
        with a NULL key passes, as in MATCH SIMPLE). Under the tenant's policy the referenced tenant tables
        show only its own rows, so this also proves no relation crosses tenants."""
        by_table: dict[str, dict[tuple[str, str, str], str]] = {}
        for table, _name, definition in foreign_keys:
            match = FOREIGN_KEY_RE.match(definition)
            if match is None:
                raise CommandError(f"Unexpected foreign key definition on {table}: {definition}")
            columns, target, target_columns = match.groups()
            own = [c.strip() for c in columns.split(",") if c.strip() != "organization_id"]
            if not any(LOADED_REFERENCES[table].get(column) == SCAN for column in own):
                continue
            # Under the tenant's policy a referenced tenant table shows only the tenant's rows, so the
            # composite (organization_id, x) -> (organization_id, id) check and the plain x -> id check
            # are the same test: run it once.
            key = (
                columns.removeprefix("organization_id, "),
                target,
                target_columns.removeprefix("organization_id, "),
            )
            # NOT IN over an empty table is true even for NULL: the IS NOT NULL keeps MATCH SIMPLE.
            by_table.setdefault(table, {})[key] = (
                f"(({columns}) IS NOT NULL AND ({columns}) NOT IN (SELECT {target_columns} FROM {target}))"
            )
        for table, conditions in by_table.items():
            with self.command._phase(f"foreign keys {table}"):
                cursor.execute(f'SELECT count(*) FROM "{table}" WHERE {" OR ".join(conditions.values())}')
                broken = cursor.fetchone()[0]
            if broken:
                raise CommandError(f"{broken} rows of {table} reference missing rows; rolled back.")

"""CSV import from the command line and through its services, on SQLite (batched upserts) and PostgreSQL
(COPY + set-based SQL under row-level security): the same file gives the same rows either way."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, OutboxEvent
from leads.imports import email_is_placeholder
from leads.models import Company, Contact, CustomField, Lead, Stage, StageChange
from leads.models_imports import ImportJob, ImportRejection
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

CSV = (
    "Email,First Name,Last Name,Company,Domain,age,plan,signup,vip,notes,outcome\n"
    "ann@example.com,Ann,Lee,Acme,acme.com,34,pro,2024-01-05,yes,hello,won\n"
    "bob@example.com,Bob,,Acme,,41,free,2024-02-03,no,,lost\n"
    "bad-email,Carl,Doe,Globex,,40,pro,2024-03-01,no,,won\n"
    "ANN@example.com ,,Leeson,,,35,pro,,yes,,\n"
    'dan@example.com,Dan,Park,Initech,initech.com,,free,2023-12-31,no,"multi\nline",lost\n'
    ",,,,,,,,,,\n"
    "eve@example.com,Eve,Stone,Initech,,29,pro,2024-01-01,no,<script>alert(1)</script>,\n"
)


def run(
    org: Any, tmp_path: Path, text: str, *args: str, name: str = "leads.csv", encoding: str = "utf-8"
) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    out = io.StringIO()
    call_command("import_leads", "--organization", org.slug, str(path), "--json", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


STAGES = ("--stage-column", "outcome", "--stage-map", "won=customer", "--stage-map", "lost=disqualified")


def test_import_maps_types_stages_and_reports(org, tmp_path):
    summary = run(org, tmp_path, CSV, "--custom-fields", "auto", *STAGES)
    assert summary["rows"] == 7
    assert (summary["created"], summary["updated"], summary["rejected"]) == (4, 1, 1)
    assert summary["leads_created"] == 4
    assert summary["rejected_by_column"] == {"email": 1}
    with tenant_context(org):
        fields = {f.key: f for f in CustomField.objects.all()}
        assert {k: f.field_type for k, f in fields.items()} == {
            "age": "number",
            "plan": "choice",
            "signup": "date",
            "vip": "boolean",
            "notes": "text",
        }
        assert fields["plan"].choices == ["free", "pro"]
        ann = Contact.objects.get(email_normalized="ann@example.com")
        # The later row updates without blanking: first name kept, last name and age replaced.
        assert (ann.first_name, ann.last_name) == ("Ann", "Leeson")
        assert ann.custom == {"age": 35, "plan": "pro", "signup": "2024-01-05", "vip": True, "notes": "hello"}
        assert ann.company.domain == "acme.com"
        assert ann.search_text == "ann leeson ann@example.com acme"
        dan = Contact.objects.get(email_normalized="dan@example.com")
        assert dan.custom["notes"] == "multi\nline"
        stages = {x.contact.email_normalized: x.stage for x in Lead.objects.select_related("contact")}
        assert stages == {
            "ann@example.com": Stage.CUSTOMER,
            "bob@example.com": Stage.DISQUALIFIED,
            "dan@example.com": Stage.DISQUALIFIED,
            "eve@example.com": Stage.COLD,
        }
        change = StageChange.objects.get(lead__contact=ann)
        assert (change.from_stage, change.to_stage, change.rule) == ("", "customer", "import")
        assert change.reason == "Imported outcome: outcome = won"
        assert set(Lead.objects.values_list("source_channel", flat=True)) == {"import"}
        rejection = ImportRejection.objects.get()
        assert rejection.row_number == 3
        assert rejection.errors == ["email: Enter a valid email address."]
        assert rejection.values["First Name"] == "Carl"
        # Name-only companies match only companies without a domain, as capture does.
        assert sorted(Company.objects.values_list("name", "domain")) == [
            ("Acme", ""),
            ("Acme", "acme.com"),
            ("Initech", ""),
            ("Initech", "initech.com"),
        ]
        job = ImportJob.objects.get()
        assert job.status == "done" and job.processed_rows == 7
        assert AuditLog.objects.filter(action="import.completed", target_id=str(job.pk)).exists()
        assert OutboxEvent.objects.filter(name="contacts.imported", payload__import_id=job.pk).exists()


def test_existing_contacts_are_updated_never_blanked(org, tmp_path):
    with tenant_context(org):
        ContactFactory(
            email="ann@example.com", email_normalized="ann@example.com", first_name="Annie", job_title="CMO"
        )
    summary = run(org, tmp_path, "email,first_name,job_title\nann@example.com,,\n")
    assert (summary["created"], summary["updated"]) == (0, 1)
    with tenant_context(org):
        ann = Contact.objects.get()
        assert (ann.first_name, ann.job_title) == ("Annie", "CMO")
        # The contact already had no lead: the import gives it its first journey.
        assert Lead.objects.filter(contact=ann).count() == 1


def test_reimport_updates_and_starts_no_new_journeys(org, tmp_path):
    run(org, tmp_path, CSV, "--custom-fields", "auto", *STAGES)
    again = run(org, tmp_path, CSV, "--custom-fields", "auto", *STAGES)
    assert (again["created"], again["updated"], again["leads_created"]) == (0, 5, 0)
    with tenant_context(org):
        assert Lead.objects.count() == 4


def test_file_without_email_column_gets_placeholder_identities(org, tmp_path):
    text = (
        '"age";"job";"y"\n56;"housemaid";"no"\n57;"services";"yes"\n37;"services";"no"\n40;"housemaid";""\n'
    )
    summary = run(
        org,
        tmp_path,
        text,
        "--custom-fields",
        "auto",
        "--stage-column",
        "y",
        "--stage-map",
        "yes=customer",
        "--stage-map",
        "no=disqualified",
    )
    assert (summary["created"], summary["rejected"]) == (4, 0)
    with tenant_context(org):
        contacts = list(Contact.objects.order_by("email_normalized"))
        assert all(email_is_placeholder(c.email) for c in contacts)
        job = ImportJob.objects.get()
        assert {c.email for c in contacts} == {f"import-{job.pk}-{n}@no-email.invalid" for n in (1, 2, 3, 4)}
        assert sorted(Lead.objects.values_list("stage", flat=True)) == [
            "cold",
            "customer",
            "disqualified",
            "disqualified",
        ]
        assert CustomField.objects.get(key="job").field_type == "choice"


def test_external_id_gives_stable_identities(org, tmp_path):
    text = "customer id,name\nC-001,Ann\nC-002,Bob\n"
    run(org, tmp_path, text, "--map", "customer id=external_id", "--map", "name=first_name")
    again = run(org, tmp_path, text, "--map", "customer id=external_id", "--map", "name=first_name")
    assert (again["created"], again["updated"]) == (0, 2)
    with tenant_context(org):
        assert sorted(Contact.objects.values_list("email", flat=True)) == [
            "ext-c-001@no-email.invalid",
            "ext-c-002@no-email.invalid",
        ]


def test_bad_rows_are_refused_with_reasons(org, tmp_path):
    with tenant_context(org):
        CustomField.objects.create(entity="contact", key="seats", label="Seats", field_type="number")
        CustomField.objects.create(
            entity="contact", key="tier", label="Tier", field_type="choice", choices=["a", "b"]
        )
    long_name = "x" * 101
    text = (
        "email,first_name,seats,tier,extra\n"
        "ok@example.com,Ok,3,a,1\n"
        f"long@example.com,{long_name},4,b,1\n"
        "nan@example.com,Nan,many,c,1\n"
        "short@example.com,Short\n"
        ",Nobody,1,a,1\n"
    )
    summary = run(org, tmp_path, text, "--map", "seats=custom:seats", "--map", "tier=custom:tier")
    assert (summary["created"], summary["rejected"]) == (1, 4)
    with tenant_context(org):
        errors = {r.row_number: r.errors for r in ImportRejection.objects.all()}
    assert errors[2] == ["first_name: Ensure this value has at most 100 characters (it has 101)."]
    assert errors[3] == ["seats: 'many' is not a number.", "tier: 'c' is not one of: a, b."]
    assert errors[4] == ["The row has 2 columns; the header has 5."]
    assert errors[5] == ["email: The row has no email address."]


def test_semicolons_and_windows_encoding(org, tmp_path):
    text = "email;first_name;city\nrene@example.com;René;Zürich\n"
    summary = run(org, tmp_path, text, "--delimiter", ";", encoding="cp1252")
    assert summary["created"] == 1
    with tenant_context(org):
        contact = Contact.objects.get()
        assert (contact.first_name, contact.city) == ("René", "Zürich")


def test_imports_stay_in_their_organization(org, other_org, tmp_path):
    run(org, tmp_path, CSV, "--custom-fields", "auto")
    with tenant_context(other_org):
        assert not Contact.objects.exists() and not CustomField.objects.exists()
        assert not ImportJob.objects.exists()


def test_command_errors_name_the_problem(org, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("email\na@example.com\n")
    with pytest.raises(CommandError, match="No organization with slug"):
        call_command("import_leads", "--organization", "nope", str(path))
    with pytest.raises(CommandError, match="columns the file does not have: mail"):
        call_command("import_leads", "--organization", org.slug, str(path), "--map", "mail=email")
    with pytest.raises(CommandError, match=r"stage_map\.a"):
        call_command(
            "import_leads",
            "--organization",
            org.slug,
            str(path),
            "--stage-column",
            "email",
            "--stage-map",
            "a=winner",
        )
    with pytest.raises(CommandError, match="is not a field"):
        call_command("import_leads", "--organization", org.slug, str(path), "--map", "email=password")


def test_summary_text_output(org, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(CSV)
    out = io.StringIO()
    call_command(
        "import_leads",
        "--organization",
        org.slug,
        str(path),
        "--custom-fields",
        "auto",
        stdout=out,
        stderr=io.StringIO(),
    )
    text = out.getvalue()
    assert "7 rows, 4 created, 1 updated, 1 rejected; 4 leads created." in text
    assert "rejected: 1 x email" in text


def _bulk_csv(rows: int) -> str:
    """Repeated emails (in any case and spacing) far apart, companies shared by many rows, bad rows."""
    lines = ["email,first_name,last_name,company,domain,industry,plan,outcome"]
    for n in range(rows):
        person = n % (rows // 3)
        email = f" Person{person}@Example.com" if n % 2 else f"person{person}@example.com"
        if n % 37 == 0:
            email = f"broken-{n}"
        first = f"First{n}" if n % 5 else ""
        industry = ["", "Software", "Retail"][n % 3]
        lines.append(
            f"{email},{first},Last{n},Company {n % 11},{'' if n % 4 else f'c{n % 11}.example'},{industry},"
            f"{['free', 'pro'][n % 2]},{['won', 'lost', ''][n % 3]}"
        )
    return "\n".join(lines) + "\n"


def _state(org: Any) -> dict[str, Any]:
    with tenant_context(org):
        contacts = {
            c.email_normalized: (
                c.first_name,
                c.last_name,
                c.custom,
                c.company.name if c.company else None,
                c.search_text,
            )
            for c in Contact.objects.select_related("company")
        }
        companies = sorted((c.name, c.domain, c.industry) for c in Company.objects.all())
        stages = sorted((x.contact.email_normalized, x.stage) for x in Lead.objects.select_related("contact"))
        rejected = sorted(ImportRejection.objects.values_list("row_number", flat=True))
        changes = StageChange.objects.count()
    return {
        "contacts": contacts,
        "companies": companies,
        "stages": stages,
        "rejected": rejected,
        "changes": changes,
    }


@pytest.mark.django_db(transaction=True)
def test_parallel_partitions_give_the_same_rows_as_one_worker(
    org, other_org, tmp_path, settings, monkeypatch
):
    """On PostgreSQL, outside a transaction, contacts are imported by several connections at once, each
    owning the emails that hash to it; the result must be exactly the one-worker result."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the partitioned import runs on PostgreSQL")
    import threading

    from leads.imports import loader_pg

    monkeypatch.setattr(loader_pg, "CHUNK_ROWS", 150)
    seen: set[str] = set()
    partition = loader_pg.PostgresImport._partition

    def spy(self: Any, cursor: Any, part: int) -> dict[str, int]:
        seen.add(threading.current_thread().name)
        return partition(self, cursor, part)

    monkeypatch.setattr(loader_pg.PostgresImport, "_partition", spy)
    prepared_in: list[str] = []
    prepared = loader_pg.PostgresImport._prepared

    def prepare_spy(self: Any, *args: Any, **kwargs: Any) -> None:
        prepared_in.append(threading.current_thread().name)
        prepared(self, *args, **kwargs)

    monkeypatch.setattr(loader_pg.PostgresImport, "_prepared", prepare_spy)
    text = _bulk_csv(600)
    settings.IMPORT_WORKERS = 1
    one = run(org, tmp_path, text, "--custom-fields", "auto", *STAGES, name="one.csv")
    assert seen == {threading.current_thread().name}
    seen.clear()
    settings.IMPORT_WORKERS = 2
    two = run(other_org, tmp_path, text, "--custom-fields", "auto", *STAGES, name="two.csv")
    # Two connections per range, the ranges staged in two slots by turns...
    assert seen == {"import-0-0", "import-0-1", "import-1-0", "import-1-1"}
    # ...and from the third range on, each range is typed while the one before it is stored.
    assert prepared_in == [threading.current_thread().name] * 2 + ["import-next"] * 2
    assert {k: one[k] for k in ("created", "updated", "rejected", "leads_created")} == {
        k: two[k] for k in ("created", "updated", "rejected", "leads_created")
    }
    assert (one["created"], one["rejected"]) == (200, 17)
    assert _state(org) == _state(other_org)
    # New contacts and their leads are numbered in the file's order, whichever connection stored them.
    for organization in (org, other_org):
        with tenant_context(organization):
            emails = list(Contact.objects.order_by("id").values_list("email_normalized", flat=True))
            by_lead = list(Lead.objects.order_by("id").values_list("contact_id", flat=True))
        first_rows = {}
        for n, line in enumerate(text.splitlines()[1:]):
            email = line.split(",")[0].strip().lower()
            if "@" in email:
                first_rows.setdefault(email, n)
        assert emails == sorted(first_rows, key=first_rows.__getitem__)
        assert by_lead == sorted(by_lead)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'import\\_r%%'")
        assert cursor.fetchone()[0] == 0, "staging tables are dropped after the run"


def test_a_company_named_by_several_rows_keeps_its_first_name_and_last_known_details(org, tmp_path):
    """The first row names a new company; its industry and country are the last non-blank ones in the
    file; a company already stored keeps its name, and its contacts' search text carries that name."""
    with tenant_context(org):
        Company.objects.create(name="Stored Name Ltd", domain="stored.example")
    text = (
        "email,company,domain,industry,company_country\n"
        "a@x.example,Acme,,Software,\n"
        "b@x.example,ACME,,,Spain\n"
        "c@x.example,acme,,Retail,\n"
        "d@x.example,,,Energy,\n"
        "e@x.example,Other name,stored.example,Banking,\n"
    )
    summary = run(org, tmp_path, text, "--map", "company_country=company_country")
    assert (summary["created"], summary["rejected"]) == (5, 0)
    with tenant_context(org):
        acme = Company.objects.get(name_key="acme")
        assert (acme.name, acme.industry, acme.country) == ("Acme", "Retail", "Spain")
        stored = Company.objects.get(domain="stored.example")
        assert (stored.name, stored.industry) == ("Stored Name Ltd", "Banking")
        contacts = {c.email_normalized: c for c in Contact.objects.select_related("company")}
        assert {e: contacts[e].company_id for e in ("a@x.example", "b@x.example", "c@x.example")} == {
            e: acme.pk for e in ("a@x.example", "b@x.example", "c@x.example")
        }
        assert contacts["d@x.example"].company_id is None
        assert contacts["e@x.example"].company_id == stored.pk
        assert contacts["e@x.example"].search_text == "e@x.example stored name ltd"
        assert contacts["b@x.example"].search_text == "b@x.example acme"


@pytest.mark.django_db(transaction=True)
def test_a_range_failing_ahead_leaves_the_stored_ranges_counted(org, tmp_path, settings, monkeypatch):
    """When the range prepared ahead fails, the range stored meanwhile still counts as done: the job
    fails with its progress at the end of that range, and no staging table is left behind."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the overlapping ranges run on PostgreSQL")
    from leads.imports import loader_pg

    monkeypatch.setattr(loader_pg, "CHUNK_ROWS", 150)
    settings.IMPORT_WORKERS = 2
    companies = loader_pg.PostgresImport._companies

    def failing(self: Any, cursor: Any) -> None:
        if self.current.start == 450:
            raise RuntimeError("lost the connection")
        companies(self, cursor)

    monkeypatch.setattr(loader_pg.PostgresImport, "_companies", failing)
    with pytest.raises(RuntimeError, match="lost the connection"):
        run(org, tmp_path, _bulk_csv(600), "--custom-fields", "auto", *STAGES)
    with tenant_context(org):
        job = ImportJob.objects.get()
        # Range 450-600 failed while range 300-450 was stored; 300-450 is in, the job says so.
        assert (job.status, job.processed_rows) == ("failed", 450)
        assert "lost the connection" in job.error
        assert Lead.objects.count() == job.leads_created > 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'import\\_%%'")
        assert cursor.fetchone()[0] == 0

"""An import's foreign keys, checked per range with row triggers off (leads/imports/references.py): every
foreign key of the written tables is covered, a reference that is gone or of another tenant fails the
range before it writes, and the triggers are on again afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, OperationalError, connection, connections, transaction

from leadhub.tenancy.context import tenant_context
from leads.imports import loader_pg
from leads.imports.references import VERIFIED, ReferenceGone, foreign_keys, row_triggers_may_be_off
from leads.models import Company, Contact, Lead
from leads.models_imports import ImportJob
from tests.capture.test_imports_command import STAGES, _bulk_csv, _state, run

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based checks run on PostgreSQL"),
]

CSV = (
    "email,first_name,company,domain,outcome\n"
    "ann@example.com,Ann,Acme,acme.example,won\n"
    "bob@example.com,Bob,Globex,,lost\n"
    "cat@example.com,Cat,Acme,acme.example,\n"
)


def test_every_foreign_key_of_the_written_tables_is_covered():
    with connection.cursor() as cursor:
        assert foreign_keys(cursor) == set(VERIFIED)


def test_the_application_role_may_turn_row_triggers_off():
    assert row_triggers_may_be_off(), (
        "the role may not set session_replication_role: run manage.py db_bootstrap once (it grants it)"
    )


def test_a_trigger_of_its_own_on_a_written_table_keeps_row_triggers_on():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION leadhub_test_noop() RETURNS trigger LANGUAGE plpgsql "
            "AS $$BEGIN RETURN NEW; END$$"
        )
        cursor.execute(
            "CREATE TRIGGER leadhub_test_noop BEFORE INSERT ON leads_lead "
            "FOR EACH ROW EXECUTE FUNCTION leadhub_test_noop()"
        )
    assert not row_triggers_may_be_off()


def test_row_triggers_are_on_again_after_an_import(org, tmp_path):
    summary = run(org, tmp_path, CSV, *STAGES)
    assert (summary["created"], summary["leads_created"]) == (3, 3)
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
    # A reference to a contact that does not exist is refused again, by the foreign key's trigger.
    with tenant_context(org), pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(contact_id=10**12, stage="cold")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _after_companies(monkeypatch: Any, then: Any) -> None:
    """Run `then(loader, cursor)` right after phase B stored the range's companies, in its transaction."""
    companies = loader_pg.PostgresImport._companies

    def patched(self: Any, cursor: Any) -> None:
        companies(self, cursor)
        then(self, cursor)

    monkeypatch.setattr(loader_pg.PostgresImport, "_companies", patched)


def _failed_without_rows(org: Any) -> ImportJob:
    with tenant_context(org):
        job = ImportJob.objects.get()
        assert job.status == "failed"
        assert "no longer exist" in job.error
        assert (Contact.objects.count(), Lead.objects.count(), job.processed_rows) == (0, 0, 0)
        return job


def test_a_company_deleted_before_its_contacts_are_stored_fails_the_range(org, tmp_path, monkeypatch):
    with tenant_context(org):
        acme = Company.objects.create(name="Acme", domain="acme.example")

    def delete(loader: Any, cursor: Any) -> None:
        cursor.execute("DELETE FROM leads_company WHERE id = %s", [acme.pk])

    _after_companies(monkeypatch, delete)
    with pytest.raises(ReferenceGone, match="1 of the 2 companies"):
        run(org, tmp_path, CSV, *STAGES)
    _failed_without_rows(org)


def test_a_company_of_another_tenant_is_refused(org, other_org, tmp_path, monkeypatch):
    """Were a staged company id ever another tenant's, row-level security hides that company from the
    lock, and the range fails instead of linking to it."""
    with tenant_context(other_org):
        foreign = Company.objects.create(name="Acme", domain="acme.example")

    def point_elsewhere(loader: Any, cursor: Any) -> None:
        cursor.execute(
            f"UPDATE {loader.staging('companies', loader.current.slot)} SET id = %s WHERE domain = %s",
            [foreign.pk, "acme.example"],
        )

    _after_companies(monkeypatch, point_elsewhere)
    with pytest.raises(ReferenceGone, match="companies"):
        run(org, tmp_path, CSV, *STAGES)
    _failed_without_rows(org)
    with tenant_context(other_org):
        assert Contact.objects.filter(company=foreign).count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_companies_a_range_names_stay_locked_until_it_commits(org, tmp_path, settings, monkeypatch):
    """What the foreign key's trigger guaranteed: while a partition's transaction is open, no other
    transaction may delete (or lock for update) a company its contacts name."""
    settings.IMPORT_WORKERS = 2
    with tenant_context(org):
        Company.objects.create(name="Acme", domain="acme.example")
    probed: list[int] = []
    lock_range = loader_pg.lock_range

    def lock_then_probe(cursor: Any, params: dict[str, Any], company_ids: str | None) -> None:
        lock_range(cursor, params, company_ids)
        assert company_ids is not None
        cursor.execute(company_ids, params)
        other = connections.create_connection("default")
        try:
            with other.cursor() as probe:
                probe.execute("SELECT set_config('leadhub.organization_id', %s, false)", [str(org.pk)])
                for (company_id,) in cursor.fetchall():
                    with pytest.raises(OperationalError, match="could not obtain lock"):
                        probe.execute(
                            "SELECT 1 FROM leads_company WHERE id = %s FOR UPDATE NOWAIT", [company_id]
                        )
                    probed.append(company_id)
        finally:
            other.close()

    monkeypatch.setattr(loader_pg, "lock_range", lock_then_probe)
    summary = run(org, tmp_path, CSV, *STAGES)
    assert summary["created"] == 3
    with tenant_context(org):
        assert sorted(set(probed)) == sorted(Company.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_per_row_checks_and_per_range_checks_store_the_same_rows(
    org, other_org, tmp_path, settings, monkeypatch
):
    """Where the role may not turn row triggers off, the import keeps PostgreSQL's per-row checks; the two
    store exactly the same rows."""
    monkeypatch.setattr(loader_pg, "CHUNK_ROWS", 150)
    settings.IMPORT_WORKERS = 2
    text = _bulk_csv(450)
    per_range = run(org, tmp_path, text, "--custom-fields", "auto", *STAGES, name="a.csv")
    monkeypatch.setattr(loader_pg, "row_triggers_may_be_off", lambda: False)
    per_row = run(other_org, tmp_path, text, "--custom-fields", "auto", *STAGES, name="b.csv")
    keys = ("created", "updated", "rejected", "leads_created")
    assert {k: per_range[k] for k in keys} == {k: per_row[k] for k in keys}
    assert _state(org) == _state(other_org)

"""The import on databases without COPY (SQLite): batches through `contacts_bulk_upsert`, with the same
rules (values.row_clean), the same outcome and the same counts as the PostgreSQL path."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from django.db.models import F
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.services import Actor
from leads.imports.loading import Loader
from leads.imports.reader import FileShape, rows_iter
from leads.imports.spec import ImportSpec
from leads.imports.values import CleanRow, row_clean
from leads.models import Channel, Contact, Lead, StageChange
from leads.models_imports import ImportJob, ImportRejection
from leads.services import contacts_bulk_upsert

BATCH_ROWS = 1000


def records(path: Path, shape: FileShape) -> Iterator[tuple[int, list[str]]]:
    return enumerate(rows_iter(path, shape), start=1)


def records_count(path: Path, shape: FileShape) -> int:
    return sum(1 for _ in rows_iter(path, shape))


def column_choices(path: Path, shape: FileShape, index: int, limit: int) -> list[str] | None:
    values: set[str] = set()
    for _, row in records(path, shape):
        value = row[index].strip() if index < len(row) else ""
        if value:
            values.add(value)
            if len(values) > limit:
                return None
    return sorted(values)


def stage_reason(spec: ImportSpec, row: CleanRow, file_name: str) -> str:
    if spec.stage_column is not None and row.stage_raw in spec.stage_map:
        return f"Imported outcome: {spec.headers[spec.stage_column]} = {row.stage_raw}"[:2000]
    return f"Imported from {file_name}"[:500]


class OrmImport(Loader):
    @property
    def actor(self) -> Actor:
        return Actor(user=self.job.created_by, rule="import")

    def run(self, total: int) -> None:
        job = self.job
        iterator = records(self.path, self.shape)
        # Resume after the rows a previous run of this job already committed.
        for _ in islice(iterator, job.processed_rows):
            pass
        while True:
            batch = list(islice(iterator, BATCH_ROWS))
            if not batch:
                break
            with tenant_context(job.organization_id):
                counts = self._batch(batch)
                ImportJob.objects.filter(pk=job.pk).update(
                    processed_rows=batch[-1][0],
                    created_count=F("created_count") + counts["created"],
                    updated_count=F("updated_count") + counts["updated"],
                    rejected_count=F("rejected_count") + counts["rejected"],
                    leads_created=F("leads_created") + counts["leads"],
                )
            if self.progress is not None:
                self.progress(len(batch))

    def _batch(self, batch: list[tuple[int, list[str]]]) -> dict[str, int]:
        spec, width = self.spec, len(self.spec.headers)
        rejected: list[ImportRejection] = []
        accepted: list[CleanRow] = []
        for number, cells in batch:
            if not any(c.strip() for c in cells):
                continue
            row = row_clean(spec, cells, row_number=number, job_id=self.job.pk)
            if len(cells) != width:
                row.errors.insert(0, f"The row has {len(cells)} columns; the header has {width}.")
            if row.errors:
                rejected.append(self._rejection(row, cells))
            else:
                accepted.append(row)
        items: list[dict[str, Any]] = []
        for row in accepted:
            item: dict[str, Any] = {"email": row.email, **row.contact, "custom_fields": row.custom}
            company = {
                "name": row.company.get("company", ""),
                "domain": row.company.get("company_domain", ""),
                "industry": row.company.get("company_industry", ""),
                "country": row.company.get("company_country", ""),
            }
            if company["name"] or company["domain"]:
                item["company"] = company
            items.append(item)
        results, errors = contacts_bulk_upsert(items=items, actor=self.actor)
        for index, item_errors in errors.items():
            row = accepted[index]
            row.errors = [f"{field}: {' '.join(messages)}" for field, messages in item_errors.items()]
            rejected.append(self._rejection(row, dict(batch)[row.row_number]))
        ImportRejection.objects.bulk_create(rejected, batch_size=500)
        created = sum(1 for contact, was_created in results.values() if was_created)
        leads = self._leads([(accepted[i], contact) for i, (contact, _) in sorted(results.items())])
        return {
            "created": created,
            "updated": len(results) - created,
            "rejected": len(rejected),
            "leads": leads,
        }

    def _rejection(self, row: CleanRow, cells: list[str]) -> ImportRejection:
        values = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(self.spec.headers)}
        email_index = self.spec.standard.get("email")
        email = (
            cells[email_index].strip().lower()[:254]
            if email_index is not None and email_index < len(cells)
            else ""
        )
        return ImportRejection(
            job_id=self.job.pk,
            row_number=row.row_number,
            errors=row.errors,
            values=values,
            email_normalized=email,
        )

    def _leads(self, rows: list[tuple[CleanRow, Contact]]) -> int:
        """A first journey, in the row's stage, for contacts that have no lead at all (re-importing a file
        never starts new journeys)."""
        ids = {contact.pk for _, contact in rows}
        having = set(Lead.objects.filter(contact_id__in=ids).values_list("contact_id", flat=True))
        now = timezone.now()
        new: dict[int, tuple[Lead, CleanRow]] = {}
        for row, contact in rows:
            if contact.pk in having or contact.pk in new:
                continue
            lead = Lead(
                contact=contact,
                stage=row.stage,
                source_channel=Channel.IMPORT,
                journey=1,
                is_current=True,
                stage_changed_at=now,
                created_at=now,
            )
            new[contact.pk] = (lead, row)
        Lead.objects.bulk_create([lead for lead, _ in new.values()], batch_size=500)
        StageChange.objects.bulk_create(
            [
                StageChange(
                    lead=lead,
                    from_stage="",
                    to_stage=lead.stage,
                    changed_at=now,
                    changed_by_user=self.job.created_by,
                    rule="import",
                    reason=stage_reason(self.spec, row, self.job.file_name),
                )
                for lead, row in new.values()
            ],
            batch_size=500,
        )
        return len(new)

"""Every write of a CSV import: create the job from a file, configure its mapping, start it, run it.

A job runs in chunks, each its own transaction under the organization's row-level security: the
dashboard sees the progress as it goes, and a run that stops halfway (worker lost) resumes where the
last committed chunk ended when the task runs again. Contacts are matched by normalised email with
`contacts_bulk_upsert` semantics (known values are never blanked); a row without an email gets a
stand-in address (see spec.placeholder_email).
"""

from __future__ import annotations

import csv
import io
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from leadhub.events import ContactsImported, publish
from leadhub.tenancy.context import current_organization_id, tenant_context
from leadhub.tenancy.services import Actor, audit_record
from leads.imports.loader_orm import OrmImport, column_choices, records_count
from leads.imports.loader_pg import PostgresImport
from leads.imports.reader import FileShape, rows_sample, shape_read
from leads.imports.spec import CustomColumn, ImportSpec, spec_build
from leads.imports.values import NUMBER_RE, CleanRow, profile_columns, row_clean
from leads.models import CustomField, CustomFieldEntity, CustomFieldType
from leads.models_imports import ImportJob, ImportStatus
from leads.services import custom_field_create

logger = logging.getLogger(__name__)
PREVIEW_ROWS = 10
MAX_CHOICES = 100
UPLOAD_LIMIT = 512 * 1024 * 1024

Progress = Callable[[int], None]


def import_directory() -> Path:
    directory = Path(getattr(settings, "LEADHUB_IMPORT_DIR", settings.BASE_DIR / "var" / "imports"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _shape(job: ImportJob) -> FileShape:
    return FileShape(encoding=job.encoding, delimiter=job.delimiter, headers=list(job.headers))


def import_job_create(
    *,
    path: Path,
    file_name: str,
    actor: Actor,
    delimiter: str | None = None,
    stored_path: str = "",
) -> ImportJob:
    """Read the file's shape (encoding, delimiter, header), profile a sample and keep a preview."""
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise ValidationError({"delimiter": ["The delimiter is one character, not a quote or line break."]})
    try:
        shape = shape_read(path, delimiter)
    except ValueError as exc:
        raise ValidationError({"file": [str(exc)]}) from None
    except (OSError, csv.Error) as exc:
        raise ValidationError({"file": [f"The file cannot be read as CSV: {exc}"]}) from None
    sample = rows_sample(path, shape)
    profiles = profile_columns(shape.headers, sample)
    with transaction.atomic():
        job = ImportJob.objects.create(
            file_name=file_name[:255],
            stored_path=stored_path,
            file_size=path.stat().st_size,
            delimiter=shape.delimiter,
            encoding=shape.encoding,
            headers=shape.headers,
            profile=[p.as_json() for p in profiles],
            preview=[row[: len(shape.headers)] for row in sample[:PREVIEW_ROWS]],
            created_by=actor.user,
        )
    return job


def import_job_upload(*, upload: UploadedFile, actor: Actor, delimiter: str | None = None) -> ImportJob:
    """Keep an uploaded file until its import ends, and create its job."""
    name = Path(upload.name or "upload.csv").name
    if upload.size and upload.size > UPLOAD_LIMIT:
        raise ValidationError({"file": [f"Files up to {UPLOAD_LIMIT // (1024 * 1024)} MB can be imported."]})
    if not upload.size:
        raise ValidationError({"file": ["The file is empty."]})
    target = import_directory() / f"{current_organization_id()}-{uuid.uuid4().hex}.csv"
    with target.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    try:
        return import_job_create(
            path=target, file_name=name, actor=actor, delimiter=delimiter, stored_path=target.name
        )
    except ValidationError:
        target.unlink(missing_ok=True)
        raise


def job_spec(job: ImportJob) -> ImportSpec:
    choices = {
        p["header"]: p.get("choices") or [] for p in job.profile if isinstance(p, dict) and "header" in p
    }
    return spec_build(
        headers=list(job.headers),
        mapping=dict(job.mapping),
        custom_types=dict(job.custom_types),
        stage_column=job.stage_column,
        stage_map=dict(job.stage_map),
        choices={key: choices.get(column, []) for column, key in _custom_columns(job).items()},
    )


def _custom_columns(job: ImportJob) -> dict[str, str]:
    return {
        column: target.removeprefix("custom:")
        for column, target in job.mapping.items()
        if isinstance(target, str) and target.startswith("custom:")
    }


def import_job_configure(
    *,
    job: ImportJob,
    mapping: dict[str, str],
    custom_types: dict[str, str],
    stage_column: str = "",
    stage_map: dict[str, str] | None = None,
    actor: Actor,
) -> ImportJob:
    """Set the column mapping; refused with messages naming the column when it cannot work."""
    if job.status != ImportStatus.DRAFT:
        raise ValidationError({"status": ["This import has started; its mapping cannot change."]})
    job.mapping = {str(k): str(v) for k, v in mapping.items()}
    job.custom_types = {str(k): str(v) for k, v in custom_types.items()}
    job.stage_column = stage_column
    job.stage_map = {str(k): str(v) for k, v in (stage_map or {}).items() if str(v).strip()}
    job_spec(job)  # raises ValidationError naming the problem
    job.save(update_fields=["mapping", "custom_types", "stage_column", "stage_map"])
    return job


def import_preview(*, job: ImportJob) -> list[CleanRow]:
    """The preview rows as the import would store them, with their errors."""
    spec = job_spec(job)
    return [
        row_clean(spec, cells, row_number=number, job_id=job.pk)
        for number, cells in enumerate(job.preview, start=1)
    ]


def import_job_start(*, job: ImportJob, actor: Actor) -> ImportJob:
    """Queue the import as a background task, after this transaction commits."""
    from leads.imports.tasks import import_run_task

    if job.status != ImportStatus.DRAFT:
        raise ValidationError({"status": ["This import has already started."]})
    if not job.mapping:
        raise ValidationError({"mapping": ["Map the columns before starting the import."]})
    job_spec(job)
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="import.started",
        target=job,
        target_label=job.file_name,
        changes={"mapping": job.mapping, "stage_column": job.stage_column},
    )
    organization_id, job_id = job.organization_id, job.pk
    transaction.on_commit(lambda: import_run_task.delay(organization_id, job_id))
    return job


def _fields_ensure(
    job: ImportJob, spec: ImportSpec, choices_of: Callable[[int, int], list[str] | None]
) -> ImportSpec:
    """Create the custom fields the mapping names that do not exist yet. A choice field lists every value
    of its column in the whole file (past MAX_CHOICES values it becomes a text field)."""
    created: list[str] = list(job.fields_created)
    columns: list[CustomColumn] = []
    with tenant_context(job.organization_id):
        existing = {f.key: f for f in CustomField.objects.filter(entity=CustomFieldEntity.CONTACT)}
        position = max([f.position for f in existing.values()] + [0])
        for column in spec.custom:
            definition = existing.get(column.key)
            if definition is None:
                field_type, choices = column.field_type, list(column.choices)
                if field_type == CustomFieldType.CHOICE:
                    full = choices_of(column.index, MAX_CHOICES)
                    if full is None:
                        field_type, choices = CustomFieldType.TEXT, []
                    else:
                        choices = full or choices or ["-"]
                position += 1
                definition = custom_field_create(
                    entity=CustomFieldEntity.CONTACT,
                    key=column.key,
                    label=column.header[:100],
                    field_type=field_type,
                    choices=choices,
                    help_text=f"Imported from {job.file_name}"[:200],
                    position=position,
                )
                created.append(column.key)
            columns.append(
                CustomColumn(
                    column.index, column.header, column.key, definition.field_type, tuple(definition.choices)
                )
            )
        ImportJob.objects.filter(pk=job.pk).update(fields_created=created)
    job.fields_created = created
    spec.custom = columns
    return spec


def import_job_run(
    *,
    job_id: int,
    organization_id: int,
    path: Path | None = None,
    progress_total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
) -> ImportJob:
    """Run (or resume) the import. Not inside a transaction: every chunk commits on its own."""
    with tenant_context(organization_id):
        job = ImportJob.objects.select_related("created_by").get(pk=job_id)
        if job.status in {ImportStatus.DONE, ImportStatus.FAILED}:
            return job  # a second delivery of the task
        if job.status == ImportStatus.DRAFT:
            raise ValidationError({"status": ["Start the import first."]})
        job.status = ImportStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at"])
    source = path or (import_directory() / job.stored_path)
    began = time.monotonic()
    loader: PostgresImport | OrmImport | None = None
    try:
        if not source.exists():
            raise ValidationError({"file": ["The uploaded file is no longer available; upload it again."]})
        with tenant_context(organization_id):
            spec = job_spec(job)
        shape = _shape(job)
        if connection.vendor == "postgresql":
            loader = PostgresImport(job=job, spec=spec, path=source, shape=shape, progress=progress)
            total = loader.stage()
            choices_of = loader.choices_of
        else:
            loader = OrmImport(job=job, spec=spec, path=source, shape=shape, progress=progress)
            total = records_count(source, shape)

            def choices_of(index: int, limit: int) -> list[str] | None:
                return column_choices(source, shape, index, limit)

        with tenant_context(organization_id):
            ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
        if progress_total is not None:
            progress_total(total)
        loader.spec = _fields_ensure(job, spec, choices_of)
        if progress is not None and job.processed_rows:
            progress(job.processed_rows)
        loader.run(total)
        if isinstance(loader, PostgresImport):
            logger.info("Import %s phases: %s", job.pk, {k: round(v, 2) for k, v in loader.timings.items()})
    except Exception as exc:
        with tenant_context(organization_id):
            message = (
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                if isinstance(exc, ValidationError) and hasattr(exc, "error_dict")
                else f"{type(exc).__name__}: {exc}"
            )
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportStatus.FAILED, error=message[:2000], finished_at=timezone.now()
            )
            job.refresh_from_db()
            audit_record(
                actor=Actor(user=job.created_by, rule="import"),
                action="import.failed",
                target=job,
                target_label=job.file_name,
                changes={"error": message[:500], "processed_rows": job.processed_rows},
            )
        _stored_file_delete(job)
        raise
    finally:
        if isinstance(loader, PostgresImport):
            loader.drop()
    with tenant_context(organization_id):
        job.refresh_from_db()
        job.status = ImportStatus.DONE
        job.finished_at = timezone.now()
        job.seconds = round(time.monotonic() - began, 3)
        job.save(update_fields=["status", "finished_at", "seconds"])
        audit_record(
            actor=Actor(user=job.created_by, rule="import"),
            action="import.completed",
            target=job,
            target_label=job.file_name,
            changes=import_summary(job),
        )
        publish(
            ContactsImported(
                organization_id=organization_id,
                import_id=job.pk,
                created=job.created_count,
                updated=job.updated_count,
            )
        )
    _stored_file_delete(job)
    return job


def _stored_file_delete(job: ImportJob) -> None:
    """The upload holds personal data: it goes as soon as the import ends (refused rows stay, as
    ImportRejection, for the report, and erasure finds them)."""
    if job.stored_path:
        (import_directory() / Path(job.stored_path).name).unlink(missing_ok=True)
        with tenant_context(job.organization_id):
            ImportJob.objects.filter(pk=job.pk).update(stored_path="")


def import_summary(job: ImportJob) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for errors in job.rejections.values_list("errors", flat=True)[:10_000]:
        for error in errors:
            reason = str(error).split(": ", 1)[0] if ": " in str(error) else str(error)
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "rows": job.total_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "rejected": job.rejected_count,
        "leads_created": job.leads_created,
        "custom_fields_created": list(job.fields_created),
        "rejected_by_column": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }


def import_rejections_csv(*, job: ImportJob) -> Iterator[str]:
    """The refused rows as CSV: row number, reasons, then the row's own columns (for fixing and
    re-importing)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    headers = list(job.headers)
    writer.writerow(["row", "errors", *headers])
    yield buffer.getvalue()
    for rejection in job.rejections.order_by("row_number").iterator(chunk_size=2000):
        buffer.seek(0)
        buffer.truncate()
        values = rejection.values or {}
        cells = [values.get(h, "") for h in headers]
        writer.writerow(
            [
                rejection.row_number,
                _spreadsheet_safe(" | ".join(rejection.errors)),
                *map(_spreadsheet_safe, cells),
            ]
        )
        yield buffer.getvalue()


def _spreadsheet_safe(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (the file came from outside); numbers stay."""
    text = str(value)
    if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not NUMBER_RE.match(text)):
        return "'" + text
    return text

"""`python manage.py import_leads`: import a CSV file of contacts and leads into an organization.

    import_leads --organization SLUG FILE [--delimiter ;] [--map COLUMN=FIELD ...] [--custom-fields auto]
                 [--stage-column COL --stage-map VALUE=STAGE ...]

FIELD is a standard field (email, first_name, last_name, job_title, phone, country, city, company,
company_domain, company_industry, company_country, external_id, stage), `custom:<key>` (created when
missing, typed from the data) or `skip`. Columns named like a standard field map to it by default; with
`--custom-fields auto` every other column becomes a typed custom field. A file without an email column
imports too: an `external_id` column gives each contact a stable stand-in address, otherwise every row
gets its own (`import-<job>-<row>@no-email.invalid`). Contacts are matched by normalised email; known
values are never blanked. Prints a progress bar and a summary (created, updated, rejected with reasons).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.imports.services import import_job_configure, import_job_create, import_job_run, import_summary
from leads.imports.spec import auto_mapping
from leads.models_imports import ImportStatus


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, target = value.partition("=")
        if not sep or not key:
            raise CommandError(f"{option} takes KEY=VALUE, got '{value}'.")
        pairs[key] = target
    return pairs


class Command(BaseCommand):
    help = "Import contacts and leads from a CSV file (COPY and set-based upserts on PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file (header row first).")
        parser.add_argument("--organization", required=True, help="The organization's slug.")
        parser.add_argument("--delimiter", default=None, help="Column separator (detected when omitted).")
        parser.add_argument(
            "--map", action="append", default=[], metavar="COLUMN=FIELD", help="Map a column to a field."
        )
        parser.add_argument(
            "--custom-fields",
            choices=("auto", "none"),
            default="none",
            help="auto: every unmapped column becomes a typed custom field.",
        )
        parser.add_argument("--stage-column", default="", help="Column holding a historical outcome.")
        parser.add_argument(
            "--stage-map", action="append", default=[], metavar="VALUE=STAGE", help="Outcome value to stage."
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug '{options['organization']}'.")
        explicit = _pairs(options["map"], "--map")
        stage_map = _pairs(options["stage_map"], "--stage-map")
        actor = Actor.system("import_leads")
        try:
            with tenant_context(organization):
                job = import_job_create(
                    path=path, file_name=path.name, actor=actor, delimiter=options["delimiter"]
                )
                unknown = sorted(set(explicit) - set(job.headers))
                if unknown:
                    raise CommandError(
                        f"--map names columns the file does not have: {', '.join(unknown)}. "
                        f"Columns: {', '.join(job.headers)}"
                    )
                mapping = auto_mapping(
                    list(job.headers),
                    explicit,
                    custom_auto=options["custom_fields"] == "auto",
                    stage_column=options["stage_column"],
                )
                types = {p["header"]: p["field_type"] for p in job.profile}
                custom_types = {
                    target.removeprefix("custom:"): types.get(column, "text")
                    for column, target in mapping.items()
                    if target.startswith("custom:")
                }
                import_job_configure(
                    job=job,
                    mapping=mapping,
                    custom_types=custom_types,
                    stage_column=options["stage_column"],
                    stage_map=stage_map,
                    actor=actor,
                )
                job.status = ImportStatus.QUEUED
                job.save(update_fields=["status"])
        except ValidationError as exc:
            details = exc.message_dict if hasattr(exc, "error_dict") else {"file": exc.messages}
            raise CommandError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in details.items())
            ) from None
        verbose = options["verbosity"] > 0 and not options["json"]
        bar = tqdm(unit="row", unit_scale=True, disable=not verbose, file=self.stderr._out, desc="rows")

        def total(count: int) -> None:
            bar.total = count
            bar.refresh()

        try:
            job = import_job_run(
                job_id=job.pk,
                organization_id=organization.pk,
                path=path,
                progress_total=total,
                progress=bar.update,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        finally:
            bar.close()
        with tenant_context(organization):
            summary = {"import_id": job.pk, **import_summary(job), "seconds": job.seconds}
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(
            f"Imported {path.name} into {organization.slug} in {job.seconds:.1f} s: "
            f"{summary['rows']:,} rows, "
            f"{job.created_count:,} created, {job.updated_count:,} updated, {job.rejected_count:,} rejected; "
            f"{job.leads_created:,} leads created."
        )
        if job.fields_created:
            self.stdout.write(f"Custom fields created: {', '.join(job.fields_created)}")
        for reason, count in summary["rejected_by_column"].items():
            self.stdout.write(f"  rejected: {count:,} x {reason}")
        if job.rejected_count:
            self.stdout.write(
                f"Rejected rows with their reasons: the import's page in the dashboard (import #{job.pk})."
            )

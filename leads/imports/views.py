"""Dashboard pages of imports, duplicates and a contact's data rights.

Import: upload -> map columns (with a preview of the first rows as they would be stored) -> start ->
progress (htmx polling) -> result with the refused rows (CSV download). Duplicates: groups to review and
a merge page where the user picks the surviving contact and, field by field, the values kept. Contact
data: export (JSON download) and erasure (confirmation by typing the email)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import KeysetOrder, keyset_page, member_required, render_page
from leads.dedupe.services import MERGE_FIELDS, contacts_merge, duplicate_groups, merge_defaults
from leads.imports.services import (
    import_job_configure,
    import_job_start,
    import_job_upload,
    import_preview,
    import_rejections_csv,
    import_summary,
)
from leads.imports.spec import (
    COMPANY_TARGETS,
    CONTACT_TARGETS,
    CUSTOM_PREFIX,
    OTHER_TARGETS,
    SKIP,
    auto_mapping,
    custom_key_for,
)
from leads.models import Contact, CustomField, CustomFieldEntity, CustomFieldType, Stage
from leads.models_imports import ImportJob, ImportStatus
from leads.privacy.services import contact_erase, contact_export

IMPORT_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
PRIVACY_ROLES: tuple[str, ...] = (Role.ADMIN,)
NEW_FIELD = "__new__"
REJECTIONS_SHOWN = 50
DELIMITER_CHOICES = [("", "Detect"), (",", "Comma ,"), (";", "Semicolon ;"), ("\t", "Tab"), ("|", "Pipe |")]


# --- imports ------------------------------------------------------------------------------------------


@member_required(*IMPORT_ROLES)
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    """Import history, and the upload form."""
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        delimiter = request.POST.get("delimiter") or None
        if upload is None:
            errors.append("Choose a CSV file to upload.")
        elif delimiter not in (None, ",", ";", "\t", "|"):
            errors.append("Choose a delimiter from the list.")
        else:
            try:
                job = import_job_upload(upload=upload, actor=Actor.from_request(request), delimiter=delimiter)
            except ValidationError as exc:
                errors += [m for messages_ in exc.message_dict.values() for m in messages_]
            else:
                return redirect("import-map", pk=job.pk)
    page = keyset_page(
        ImportJob.objects.select_related("created_by"),
        order=KeysetOrder("created_at"),
        cursor=request.GET.get("cursor"),
        size=25,
    )
    return render_page(
        request,
        "leads/imports/import_list.html",
        {"page": page, "errors": errors, "delimiters": DELIMITER_CHOICES},
        status=400 if errors else 200,
    )


def _targets() -> list[tuple[str, list[tuple[str, str]]]]:
    custom = [
        (f"{CUSTOM_PREFIX}{f.key}", f"{f.label} ({f.get_field_type_display()})")
        for f in CustomField.objects.filter(entity=CustomFieldEntity.CONTACT)
    ]
    return [
        ("Contact", [(k, v[0]) for k, v in CONTACT_TARGETS.items()]),
        ("Company", [(k, v[0]) for k, v in COMPANY_TARGETS.items()]),
        ("Identity and outcome", list(OTHER_TARGETS.items())),
        ("Existing custom fields", custom),
    ]


def _mapping_from_post(request: HttpRequest, job: ImportJob) -> tuple[dict[str, str], dict[str, str], str]:
    mapping: dict[str, str] = {}
    types: dict[str, str] = {}
    stage_column = ""
    for index, header in enumerate(job.headers):
        target = request.POST.get(f"target-{index}", SKIP)
        if target == NEW_FIELD:
            key = (request.POST.get(f"key-{index}") or custom_key_for(header)).strip()
            target = CUSTOM_PREFIX + key
            types[key] = request.POST.get(f"type-{index}", CustomFieldType.TEXT)
        if target == "stage":
            stage_column = header
            continue
        mapping[header] = target
    return mapping, types, stage_column


def _job(pk: int) -> ImportJob:
    return get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)


@for_model(ImportJob)
@member_required(*IMPORT_ROLES)
@require_http_methods(["GET", "POST"])
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    if job.status != ImportStatus.DRAFT:
        return redirect("import-detail", pk=job.pk)
    existing = set(CustomField.objects.filter(entity=CustomFieldEntity.CONTACT).values_list("key", flat=True))
    errors: dict[str, list[str]] = {}
    preview = None
    if request.method == "POST":
        mapping, types, stage_column = _mapping_from_post(request, job)
        stage_map = {
            value: request.POST.get(f"stage-{i}", "")
            for i, value in enumerate(_stage_values(job, stage_column))
            if request.POST.get(f"stage-{i}")
        }
        try:
            import_job_configure(
                job=job,
                mapping=mapping,
                custom_types=types,
                stage_column=stage_column,
                stage_map=stage_map,
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            errors = exc.message_dict
            job.mapping, job.custom_types, job.stage_column, job.stage_map = (
                mapping,
                types,
                stage_column,
                stage_map,
            )
        else:
            if request.POST.get("action") == "start":
                import_job_start(job=job, actor=Actor.from_request(request))
                return redirect("import-detail", pk=job.pk)
            preview = import_preview(job=job)
    if not job.mapping:
        job.mapping = auto_mapping(list(job.headers), {}, custom_auto=True)
    columns = []
    for index, header in enumerate(job.headers):
        profile = job.profile[index] if index < len(job.profile) else {}
        target = "stage" if header == job.stage_column else job.mapping.get(header, SKIP)
        key = (
            target.removeprefix(CUSTOM_PREFIX) if target.startswith(CUSTOM_PREFIX) else custom_key_for(header)
        )
        new_field = target.startswith(CUSTOM_PREFIX) and key not in existing
        columns.append(
            {
                "index": index,
                "header": header,
                "profile": profile,
                "target": NEW_FIELD if new_field else target,
                "key": key,
                "type": job.custom_types.get(key, profile.get("field_type", CustomFieldType.TEXT)),
                "errors": errors.get(f"mapping.{header}", []) + errors.get(f"custom_types.{key}", []),
            }
        )
    other_errors = [
        m
        for field, msgs in errors.items()
        if not field.startswith(("mapping.", "custom_types."))
        for m in msgs
    ]
    context = {
        "job": job,
        "columns": columns,
        "targets": _targets(),
        "types": CustomFieldType.choices,
        "stages": Stage.choices,
        "stage_values": [
            (i, v, job.stage_map.get(v, "")) for i, v in enumerate(_stage_values(job, job.stage_column))
        ],
        "preview": preview,
        "preview_headers": _preview_headers(job) if preview is not None else [],
        "errors": other_errors,
        "has_errors": bool(errors),
        "new_field": NEW_FIELD,
    }
    return render_page(request, "leads/imports/import_map.html", context, status=400 if errors else 200)


def _stage_values(job: ImportJob, column: str) -> list[str]:
    for profile in job.profile:
        if profile.get("header") == column:
            return list(profile.get("choices") or profile.get("samples") or [])
    return []


def _preview_headers(job: ImportJob) -> list[str]:
    return ["Email (identity)", *[v[0] for k, v in CONTACT_TARGETS.items() if k != "email"]]


@for_model(ImportJob)
@member_required(*IMPORT_ROLES)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    context: dict[str, Any] = {"job": job}
    if job.is_finished:
        context["summary"] = import_summary(job)
        context["rejections"] = list(job.rejections.order_by("row_number")[:REJECTIONS_SHOWN])
    if request.htmx and request.htmx.target == "import-progress":  # type: ignore[attr-defined]
        response = render(request, "leads/imports/_progress.html", context)
        if job.is_finished:
            # The whole page changes (summary, refused rows): reload it once.
            response["HX-Refresh"] = "true"
        return response
    return render_page(request, "leads/imports/import_detail.html", context)


@for_model(ImportJob)
@member_required(*IMPORT_ROLES)
def import_rejections(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    job = _job(pk)

    def rows() -> Iterator[str]:
        # Streaming runs after the request's tenant context has closed: open one for the rows.
        with tenant_context(job.organization_id):
            yield from import_rejections_csv(job=job)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected-rows.csv"'
    return response


# --- duplicates ---------------------------------------------------------------------------------------

DUPLICATE_REASONS = [
    ("name_company", "Same name at the same company"),
    ("phone", "Same phone number"),
    ("email_variant", "Email variants (+tags, Gmail dots)"),
]


@member_required(*IMPORT_ROLES)
def duplicates(request: HttpRequest) -> HttpResponse:
    reason = request.GET.get("reason", "name_company")
    if reason not in dict(DUPLICATE_REASONS):
        reason = "name_company"
    groups = duplicate_groups(reason=reason)
    return render_page(
        request,
        "leads/imports/duplicates.html",
        {"groups": groups, "reason": reason, "reasons": DUPLICATE_REASONS},
    )


@member_required(*IMPORT_ROLES)
@require_http_methods(["GET", "POST"])
def contact_merge(request: HttpRequest) -> HttpResponse:
    """?ids=1,2,3: choose the survivor and, per field, the value kept; POST merges."""
    raw = request.POST.get("ids") or request.GET.get("ids", "")
    ids = [int(v) for v in raw.split(",") if v.strip().isdigit()][:10]
    contacts = list(Contact.objects.select_related("company").filter(pk__in=ids).order_by("created_at", "id"))
    if len(contacts) < 2:
        messages.error(request, "Choose at least two contacts of this organization to merge.")
        return redirect("duplicates")
    errors: dict[str, list[str]] = {}
    survivor_id = int(request.POST.get("survivor") or contacts[0].pk)
    by_id = {c.pk: c for c in contacts}
    survivor = by_id.get(survivor_id, contacts[0])
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        choices = {
            f: int(request.POST[f"field-{f}"])
            for f in MERGE_FIELDS
            if request.POST.get(f"field-{f}", "").isdigit()
        }
        try:
            merged = contacts_merge(
                survivor=survivor,
                others=[c for c in contacts if c.pk != survivor.pk],
                actor=Actor.from_request(request),
                field_choices=choices,
            )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, f"{len(contacts) - 1} contact(s) merged into {merged}.")
            lead = merged.leads.filter(is_current=True).first()
            return redirect("lead-detail", pk=lead.pk) if lead else redirect("duplicates")
    defaults = merge_defaults(survivor, [c for c in contacts if c.pk != survivor.pk])
    rows = []
    for field in MERGE_FIELDS:
        attname = "company" if field == "company" else field
        rows.append(
            {
                "field": field,
                "label": str(getattr(Contact._meta.get_field(field), "verbose_name", field)).capitalize(),
                "options": [(c.pk, getattr(c, attname) or "") for c in contacts],
                "chosen": defaults[field],
            }
        )
    context = {
        "contacts": contacts,
        "survivor": survivor,
        "rows": rows,
        "ids": ",".join(str(c.pk) for c in contacts),
        "errors": [m for msgs in errors.values() for m in msgs],
        "columns": [(c, c.leads.count()) for c in contacts],
    }
    return render_page(request, "leads/imports/merge.html", context, status=400 if errors else 200)


# --- a contact's data ---------------------------------------------------------------------------------


@for_model(Contact)
@member_required(*PRIVACY_ROLES)
def contact_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.select_related("company"), pk=pk)
    data = contact_export(contact=contact, actor=Actor.from_request(request))
    response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}.json"'
    return response


@for_model(Contact)
@member_required(*PRIVACY_ROLES)
@require_http_methods(["GET", "POST"])
def contact_erase_view(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.select_related("company"), pk=pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            report = contact_erase(
                contact=contact, actor=Actor.from_request(request), confirm=request.POST.get("confirm", "")
            )
        except ValidationError as exc:
            errors = [m for msgs in exc.message_dict.values() for m in msgs]
        else:
            rows = sum(report["deleted"].values())
            messages.success(request, f"The contact and {rows} record(s) about them are erased.")
            return redirect("lead-list")
    context = {"contact": contact, "errors": errors, "lead_count": contact.leads.count()}
    return render_page(request, "leads/imports/erase_confirm.html", context, status=400 if errors else 200)

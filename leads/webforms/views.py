"""Dashboard pages of web forms (admins and marketers): the list, the builder (settings, fields,
consent checkboxes, embed codes), deletion, and the submissions with the spam review queue."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import AuditLog, Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import KeysetOrder, keyset_page, member_required
from leads.models import Contact
from leads.models_forms import (
    ConsentPurpose,
    ConsentSource,
    ConsentStatus,
    Form,
    FormField,
    FormSubmission,
    SubmissionStatus,
)
from leads.webforms import consent, selectors, services
from leads.webforms.forms import (
    ConsentForm,
    ContactConsentForm,
    FormFieldForm,
    FormSettingsForm,
    SubmissionFilterForm,
)
from leads.webforms.public_views import form_html
from leads.webforms.schema import definition_build

BUILDER_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
SUBMISSION_PAGE_SIZE = 25


def _form_get(pk: int) -> Form:
    return get_object_or_404(Form, pk=pk)


@member_required(*BUILDER_ROLES)
def form_list(request: HttpRequest) -> HttpResponse:
    forms = list(selectors.form_list())
    counts = selectors.submission_counts([f.pk for f in forms])
    rows = [{"form": f, "counts": counts.get(f.pk, {})} for f in forms]
    return render(request, "leads/forms/list.html", {"rows": rows})


@member_required(*BUILDER_ROLES)
@require_http_methods(["GET", "POST"])
def form_create_view(request: HttpRequest) -> HttpResponse:
    settings_form = FormSettingsForm(request.POST or None, initial={"max_fields_shown": 0})
    if request.method == "POST" and settings_form.is_valid():
        try:
            form = services.form_create(data=settings_form.service_data(), actor=Actor.from_request(request))
        except ValidationError as exc:
            service_errors_to_form(settings_form, exc)
        else:
            messages.success(request, f"Form “{form.name}” created. Add the fields it should ask.")
            return redirect("form-edit", pk=form.pk)
    status = 400 if settings_form.errors else 200
    return render(request, "leads/forms/create.html", {"settings_form": settings_form}, status=status)


def _builder_context(
    request: HttpRequest,
    form: Form,
    *,
    settings_form: FormSettingsForm | None = None,
    field_form: FormFieldForm | None = None,
    consent_form: ConsentForm | None = None,
) -> dict[str, Any]:
    definition = definition_build(form)
    base = request.build_absolute_uri("/").rstrip("/")
    versions = selectors.consent_versions(form)
    return {
        "form": form,
        "definition": definition,
        "fields": list(FormField.objects.filter(form=form).select_related("custom_field")),
        "settings_form": settings_form or FormSettingsForm.for_form(form),
        "field_form": field_form or FormFieldForm(),
        "consent_form": consent_form or ConsentForm(),
        "consents": [v for v in versions if v.is_current],
        "consent_history": versions,
        "hosted_url": f"{base}/f/{form.public_key}/",
        "script_code": f'<script src="{base}/embed/forms/{form.public_key}.js" async></script>',
        "script_code_sync": f'<script src="{base}/embed/forms/{form.public_key}.js"></script>',
        "html_code": form_html(definition, action=f"{base}/f/{form.public_key}/"),
        "api_url": f"{base}/api/v1/forms/{form.pk}/submissions/",
        "counts": selectors.submission_counts([form.pk]).get(form.pk, {}),
        "changes": AuditLog.objects.filter(target_type="Form", target_id=str(form.pk)).select_related(
            "actor_user", "actor_api_key"
        )[:10],
    }


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, pk: int) -> HttpResponse:
    form = _form_get(pk)
    settings_form = FormSettingsForm.for_form(form, request.POST or None)
    if request.method == "POST" and settings_form.is_valid():
        try:
            services.form_update(
                form=form, data=settings_form.service_data(), actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(settings_form, exc)
        else:
            messages.success(request, "Form settings saved.")
            return redirect("form-edit", pk=form.pk)
    if request.method == "POST":
        form.refresh_from_db()
    context = _builder_context(request, form, settings_form=settings_form)
    return render(request, "leads/forms/edit.html", context, status=400 if settings_form.errors else 200)


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_http_methods(["GET", "POST"])
def form_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    form = _form_get(pk)
    counts = selectors.submission_counts([form.pk]).get(form.pk, {})
    error = ""
    if request.method == "POST":
        try:
            services.form_delete(form=form, actor=Actor.from_request(request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, f"Form “{form.name}” deleted. Leads it captured stay.")
            return redirect("form-list")
    return render(
        request,
        "leads/forms/delete.html",
        {"form": form, "counts": counts, "total": sum(counts.values()), "error": error},
        status=400 if error else 200,
    )


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_POST
def form_field_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    form = _form_get(pk)
    field_form = FormFieldForm(request.POST)
    if field_form.is_valid():
        try:
            field = services.form_field_add(
                form=form, data=field_form.service_data(), actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(field_form, exc)
        else:
            messages.success(request, f"Field “{field.label}” added.")
            return redirect("form-edit", pk=form.pk)
    return render(
        request, "leads/forms/edit.html", _builder_context(request, form, field_form=field_form), status=400
    )


def _field_get(form: Form, form_field_pk: int) -> FormField:
    return get_object_or_404(FormField, pk=form_field_pk, form=form)


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_http_methods(["GET", "POST"])
def form_field_edit(request: HttpRequest, pk: int, form_field_pk: int) -> HttpResponse:
    form = _form_get(pk)
    field = _field_get(form, form_field_pk)
    field_form = FormFieldForm(request.POST or None, field=field)
    if request.method == "POST" and field_form.is_valid():
        try:
            services.form_field_update(
                field=field, data=field_form.service_data(), actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(field_form, exc)
        else:
            messages.success(request, f"Field “{field.label}” saved.")
            return redirect("form-edit", pk=form.pk)
    return render(
        request,
        "leads/forms/field_edit.html",
        {"form": form, "field": field, "field_form": field_form},
        status=400 if field_form.errors else 200,
    )


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_POST
def form_field_move_view(request: HttpRequest, pk: int, form_field_pk: int) -> HttpResponse:
    form = _form_get(pk)
    field = _field_get(form, form_field_pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    services.form_field_move(field=field, offset=offset, actor=Actor.from_request(request))
    return redirect("form-edit", pk=form.pk)


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_http_methods(["GET", "POST"])
def form_field_delete_view(request: HttpRequest, pk: int, form_field_pk: int) -> HttpResponse:
    form = _form_get(pk)
    field = _field_get(form, form_field_pk)
    error = ""
    if request.method == "POST":
        try:
            services.form_field_delete(field=field, actor=Actor.from_request(request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, f"Field “{field.label}” removed. Answers already captured stay.")
            return redirect("form-edit", pk=form.pk)
    return render(
        request,
        "leads/forms/field_delete.html",
        {"form": form, "field": field, "error": error},
        status=400 if error else 200,
    )


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_POST
def form_consent_view(request: HttpRequest, pk: int) -> HttpResponse:
    form = _form_get(pk)
    consent_form = ConsentForm(request.POST)
    if consent_form.is_valid():
        data = consent_form.cleaned_data
        try:
            version = services.form_consent_set(
                form=form,
                purpose=data["purpose"],
                text=data["text"],
                required=data["required"],
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            service_errors_to_form(consent_form, exc)
        else:
            messages.success(
                request, f"{version.get_purpose_display()} consent saved (version {version.version})."
            )
            return redirect("form-edit", pk=form.pk)
    return render(
        request,
        "leads/forms/edit.html",
        _builder_context(request, form, consent_form=consent_form),
        status=400,
    )


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_POST
def form_consent_remove_view(request: HttpRequest, pk: int, purpose: str) -> HttpResponse:
    form = _form_get(pk)
    if purpose not in ConsentPurpose.values:
        raise Http404("No such consent purpose.")
    services.form_consent_remove(form=form, purpose=purpose, actor=Actor.from_request(request))
    messages.success(
        request, f"{ConsentPurpose(purpose).label} checkbox removed; consent already given stays."
    )
    return redirect("form-edit", pk=form.pk)


@for_model(Form)
@member_required(*BUILDER_ROLES)
def form_submissions(request: HttpRequest, pk: int) -> HttpResponse:
    form = _form_get(pk)
    filters = SubmissionFilterForm(request.GET or None)
    status = filters.cleaned_data.get("status", "") if filters.is_valid() else ""
    page = keyset_page(
        selectors.submissions_of(form, status),
        order=KeysetOrder("created_at"),
        cursor=request.GET.get("cursor"),
        size=SUBMISSION_PAGE_SIZE,
    )
    return render(
        request,
        "leads/forms/submissions.html",
        {
            "form": form,
            "filters": filters,
            "status": status,
            "page": page,
            "counts": selectors.submission_counts([form.pk]).get(form.pk, {}),
            "releasable": {SubmissionStatus.REJECTED, SubmissionStatus.FAILED},
        },
    )


@for_model(Form)
@member_required(*BUILDER_ROLES)
@require_POST
def form_submission_release_view(request: HttpRequest, pk: int, form_submission_pk: int) -> HttpResponse:
    form = _form_get(pk)
    submission = get_object_or_404(FormSubmission, pk=form_submission_pk, form=form)
    try:
        services.submission_release(submission=submission, actor=Actor.from_request(request))
    except ValidationError as exc:
        messages.error(request, "Could not release it: " + " ".join(exc.messages))
    else:
        messages.success(request, "Submission released: its lead is being captured.")
    return redirect("form-submissions", pk=form.pk)


# --- a contact's consent, from the lead page ----------------------------------------------------------

CONSENT_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER, Role.SALES_MANAGER, Role.SALES_REP)


@for_model(Contact)
@member_required(*CONSENT_ROLES)
@require_POST
def contact_consent_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record consent given or withdrawn by the person outside a form (source: dashboard, audited)."""
    contact = get_object_or_404(Contact, pk=pk)
    wanted = request.POST.get("lead", "")
    lead = contact.leads.filter(pk=int(wanted)).first() if wanted.isdigit() else None
    lead = lead or contact.leads.order_by("-is_current", "-journey").first()
    back = redirect("lead-detail", pk=lead.pk) if lead else redirect("lead-list")
    form = ContactConsentForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label or name if name in form.fields else 'Consent'}: "
            + " ".join(str(error) for error in errors)
            for name, errors in form.errors.items()
        )
        messages.error(request, f"Consent not recorded. {problems}")
        return back
    data = form.cleaned_data
    actor = Actor.from_request(request)
    label = ConsentPurpose(data["purpose"]).label
    if data["status"] == ConsentStatus.WITHDRAWN:
        consent.consent_withdraw(
            contact=contact, purpose=data["purpose"], source=ConsentSource.DASHBOARD, actor=actor
        )
        messages.success(request, f"{label}: consent withdrawn.")
    else:
        consent.consent_record(
            contact=contact,
            purpose=data["purpose"],
            status=ConsentStatus.GRANTED,
            source=ConsentSource.DASHBOARD,
            text=data["text"].strip(),
            actor=actor,
        )
        messages.success(request, f"{label}: consent recorded.")
    return back

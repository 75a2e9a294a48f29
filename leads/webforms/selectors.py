"""Reads of web forms: progressive profiling (which fields a known visitor still has to answer), the
form list with its submission counts, and a form's submissions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, QuerySet

from leads.models import Contact, Lead, Touchpoint
from leads.models_forms import ConsentText, Form, FormSubmission
from leads.services import email_normalize
from leads.webforms.schema import FieldSpec, FormDefinition

MAX_VISITOR_ID = 64


def contact_known(*, visitor_id: str = "", email: str = "") -> Contact | None:
    """The contact a visitor is known as: by the email they typed, else by their first-party visitor id
    (a touchpoint or a form submission of theirs that was identified)."""
    normalized = email_normalize(email)
    if normalized and len(normalized) <= 254:
        found = Contact.objects.select_related("company").filter(email_normalized=normalized).first()
        if found is not None:
            return found
    if visitor_id and len(visitor_id) <= MAX_VISITOR_ID:
        contact_id = (
            Touchpoint.objects.filter(anonymous_id=visitor_id, contact__isnull=False)
            .order_by("-occurred_at")
            .values_list("contact_id", flat=True)
            .first()
        )
        if contact_id is not None:
            return Contact.objects.select_related("company").filter(pk=contact_id).first()
    return None


def _answered(spec: FieldSpec, contact: Contact, lead: Lead | None) -> bool:
    entity, _, name = spec.target.partition(".")
    value: Any = None
    if entity == "contact":
        value = getattr(contact, name, None)
    elif entity == "company":
        value = getattr(contact.company, name, None) if contact.company else None
    elif entity == "lead":
        value = getattr(lead, name, None) if lead else None
    elif entity == "custom":
        custom_entity, _, key = name.partition(".")
        holder = contact.company if custom_entity == "company" else contact
        value = (holder.custom or {}).get(key) if holder is not None else None
    return value not in (None, "")


def fields_to_show(definition: FormDefinition, contact: Contact | None) -> list[FieldSpec]:
    """Progressive profiling: the email, then the fields not yet answered, in the marketer's order, up to
    the form's maximum. An unknown visitor gets the first fields of the form."""
    lead = (
        Lead.objects.filter(contact=contact, is_current=True).order_by("-journey").first()
        if contact
        else None
    )
    email = [f for f in definition.fields if f.is_email]
    others = [f for f in definition.fields if not f.is_email]
    if contact is not None:
        others = [f for f in others if not _answered(f, contact, lead)]
    limit = definition.max_fields_shown
    if limit:
        others = others[: max(limit - len(email), 0)]
    chosen = {f.id for f in email + others}
    return [f for f in definition.fields if f.id in chosen]


def form_list() -> QuerySet[Form]:
    return Form.objects.order_by("name", "id")


def submission_counts(form_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        FormSubmission.objects.filter(form_id__in=form_ids)
        .order_by()
        .values("form_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["form_id"]][row["status"]] = row["n"]
    return counts


def submissions_of(form: Form, status: str = "") -> QuerySet[FormSubmission]:
    queryset = FormSubmission.objects.filter(form=form).select_related("contact", "lead")
    return queryset.filter(status=status) if status else queryset


def consent_versions(form: Form) -> list[ConsentText]:
    return list(ConsentText.objects.filter(form=form).order_by("purpose", "-version"))

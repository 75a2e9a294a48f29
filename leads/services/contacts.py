"""Contacts and companies: normalisation, capture-style upserts (single and set-based), edits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from leadhub.events import ContactUpdated, publish, publish_many
from leadhub.tenancy.services import Actor
from leads.models import Company, Contact, CustomFieldEntity
from leads.services.custom_fields import custom_fields_for, custom_values_clean, custom_values_merge

CONTACT_FIELDS = ("first_name", "last_name", "job_title", "phone", "country", "city")


COMPANY_FIELDS = ("name", "industry", "employee_count", "annual_revenue", "country")


FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.com",
        "yandex.ru",
    }
)


def email_normalize(email: str) -> str:
    """Lower-cased and trimmed. Gmail-style dots and +tags are kept: they can be distinct mailboxes."""
    return (email or "").strip().lower()


def domain_normalize(domain: str) -> str:
    domain = (domain or "").strip().lower()
    for prefix in ("https://", "http://"):
        if domain.startswith(prefix):
            domain = domain[len(prefix) :]
    domain = domain.split("/", 1)[0]
    return domain[4:] if domain.startswith("www.") else domain


def contact_search_text(contact: Contact, company_name: str = "") -> str:
    parts = [contact.first_name, contact.last_name, contact.email_normalized, company_name]
    return " ".join(p for p in parts if p).lower()[:700]


def _errors_of(exc: ValidationError, prefix: str = "") -> dict[str, list[str]]:
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    return {f"{prefix}{key}": [str(m) for m in value] for key, value in messages.items()}


def companies_bulk_upsert(
    *, items: Mapping[int, Mapping[str, Any]]
) -> tuple[dict[int, Company], dict[int, dict[str, list[str]]]]:
    """Capture-style upsert of many companies in a fixed number of statements.

    Matches by normalised domain, else by name (case-insensitive) among companies without another
    domain; fills in known values, never blanks. Items are {index: data}; returns the company per
    index (items naming no company are absent) and the errors per index.
    """
    definitions = custom_fields_for(CustomFieldEntity.COMPANY)
    errors: dict[int, dict[str, list[str]]] = {}
    prepared: dict[int, tuple[str, str, dict[str, Any], Mapping[str, Any]]] = {}
    for index, data in items.items():
        domain = domain_normalize(str(data.get("domain") or ""))
        name = str(data.get("name") or "").strip()
        if not domain and not name:
            continue
        try:
            custom = custom_values_clean(
                entity=CustomFieldEntity.COMPANY, values=data.get("custom_fields"), definitions=definitions
            )
            probe = Company(name=name or domain, domain=domain)
            for field in COMPANY_FIELDS:
                if data.get(field) not in (None, ""):
                    setattr(probe, field, data[field])
            probe.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors[index] = _errors_of(exc)
            continue
        prepared[index] = (domain, name, custom, data)

    domains = {domain for domain, _, _, _ in prepared.values() if domain}
    by_domain = {c.domain: c for c in Company.objects.filter(domain__in=domains)} if domains else {}
    names = {name.lower() for domain, name, _, _ in prepared.values() if name and domain not in by_domain}
    by_name: dict[str, list[Company]] = {}
    if names:
        for company in Company.objects.filter(name_key__in=names).order_by("id"):
            by_name.setdefault(company.name.lower(), []).append(company)

    result: dict[int, Company] = {}
    created: list[Company] = []
    touched: dict[int, Company] = {}
    now = timezone.now()
    for index, (domain, name, custom, data) in prepared.items():
        company = by_domain.get(domain) if domain else None
        if company is None and name:
            company = next((c for c in by_name.get(name.lower(), []) if c.domain in ("", domain)), None)
        if company is None:
            company = Company(name=name or domain, domain=domain)
            created.append(company)
            by_name.setdefault(company.name.lower(), []).append(company)
        elif domain and not company.domain:
            company.domain = domain
        if domain:
            by_domain[domain] = company
        for field in COMPANY_FIELDS:
            value = data.get(field)
            if value not in (None, "") and field != "name":
                setattr(company, field, value)
        company.custom = custom_values_merge(company.custom, custom, overwrite_blank=False)
        if company.pk is not None:
            company.updated_at = now
            touched[company.pk] = company
        result[index] = company
    Company.objects.bulk_create(created, batch_size=500)
    if touched:
        Company.objects.bulk_update(
            list(touched.values()),
            ["domain", *[f for f in COMPANY_FIELDS if f != "name"], "custom", "updated_at"],
            batch_size=500,
        )
    return result, errors


def company_upsert(*, data: Mapping[str, Any], actor: Actor | None = None) -> Company | None:
    """Find the company by normalised domain (else by name) and fill in what is known."""
    result, errors = companies_bulk_upsert(items={0: data})
    if errors:
        raise ValidationError(errors[0])
    return result.get(0)


def contacts_bulk_upsert(
    *, items: Sequence[Mapping[str, Any]], actor: Actor | None = None
) -> tuple[dict[int, tuple[Contact, bool]], dict[int, dict[str, list[str]]]]:
    """Create or update contacts by normalised email, for a batch, in a fixed number of statements.

    Known values are never overwritten with blanks: capture forms often ask for less than the record
    already holds. Every item is validated before any record changes, so an invalid item leaves no
    trace. Returns ({index: (contact, created)}, {index: {field: messages}}); an item's `company` may
    be a Company or a mapping (upserted too, errors under `company.`).
    """
    definitions = custom_fields_for(CustomFieldEntity.CONTACT)
    errors: dict[int, dict[str, list[str]]] = {}
    prepared: dict[int, tuple[str, str, dict[str, Any], Mapping[str, Any]]] = {}
    for index, data in enumerate(items):
        email = str(data.get("email") or "").strip()
        try:
            validate_email(email)
        except ValidationError:
            errors[index] = {"email": ["Enter a valid email address."]}
            continue
        try:
            custom = custom_values_clean(
                entity=CustomFieldEntity.CONTACT, values=data.get("custom_fields"), definitions=definitions
            )
            probe = Contact(email=email, email_normalized=email_normalize(email))
            for field in CONTACT_FIELDS:
                if data.get(field) not in (None, ""):
                    setattr(probe, field, data[field])
            probe.full_clean(
                exclude=["organization", "company"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            errors[index] = _errors_of(exc)
            continue
        prepared[index] = (email, email_normalize(email), custom, data)

    company_items = {
        i: d["company"] for i, (_, _, _, d) in prepared.items() if isinstance(d.get("company"), Mapping)
    }
    companies, company_errors = companies_bulk_upsert(items=company_items) if company_items else ({}, {})
    for index, item_errors in company_errors.items():
        errors[index] = {f"company.{key}": value for key, value in item_errors.items()}
        del prepared[index]

    emails = {normalized for _, normalized, _, _ in prepared.values()}
    existing: dict[str, Contact] = (
        {
            c.email_normalized: c
            for c in Contact.objects.select_for_update(of=("self",))
            .select_related("company")
            .filter(email_normalized__in=emails)
        }
        if emails
        else {}
    )
    result: dict[int, tuple[Contact, bool]] = {}
    created: list[Contact] = []
    changed: dict[str, list[str]] = {}
    now = timezone.now()
    for index in sorted(prepared):
        email, normalized, custom, data = prepared[index]
        contact = existing.get(normalized)
        was_created = contact is None
        if contact is None:
            contact = Contact(email=email, email_normalized=normalized)
            existing[normalized] = contact
            created.append(contact)
        fields = changed.setdefault(normalized, []) if contact.pk is not None else []
        for field in CONTACT_FIELDS:
            value = data.get(field)
            if value not in (None, "") and getattr(contact, field) != value:
                setattr(contact, field, value)
                fields.append(field)
        company = data.get("company") if isinstance(data.get("company"), Company) else companies.get(index)
        if company is not None and (contact.company_id != company.pk or contact.company_id is None):
            contact.company = company
            fields.append("company")
        merged = custom_values_merge(contact.custom, custom, overwrite_blank=False)
        if merged != contact.custom:
            contact.custom = merged
            fields.append("custom_fields")
        contact.search_text = contact_search_text(contact, _company_name(contact))
        contact.updated_at = now
        result[index] = (contact, was_created)
    Contact.objects.bulk_create(created, batch_size=500)
    updated = [existing[email] for email, fields in changed.items() if fields]
    if updated:
        Contact.objects.bulk_update(
            updated, [*CONTACT_FIELDS, "company", "custom", "search_text", "updated_at"], batch_size=500
        )
        publish_many(
            [
                ContactUpdated(
                    organization_id=contact.organization_id,
                    contact_id=contact.pk,
                    fields=sorted(set(changed[contact.email_normalized])),
                )
                for contact in updated
            ]
        )
    return result, errors


def contact_upsert(*, data: Mapping[str, Any], actor: Actor | None = None) -> tuple[Contact, bool]:
    """Create or update the contact with this normalised email (see contacts_bulk_upsert)."""
    with transaction.atomic():
        result, errors = contacts_bulk_upsert(items=[data], actor=actor)
        if errors:
            raise ValidationError(errors[0])
    return result[0]


def _company_name(contact: Contact) -> str:
    # A company assigned in this unit of work may not be saved yet (no id), but it is cached.
    if contact.company_id or Contact._meta.get_field("company").is_cached(contact):  # type: ignore[union-attr]
        return contact.company.name if contact.company else ""
    return ""


def contact_update(*, contact: Contact, data: Mapping[str, Any], actor: Actor) -> Contact:
    """Explicit edit (API PATCH, dashboard): blanks do clear values here, unlike capture."""
    custom = custom_values_clean(entity=CustomFieldEntity.CONTACT, values=data.get("custom_fields"))
    changed: list[str] = []
    with transaction.atomic():
        if "email" in data:
            email = str(data["email"] or "").strip()
            try:
                validate_email(email)
            except ValidationError:
                raise ValidationError({"email": ["Enter a valid email address."]}) from None
            normalized = email_normalize(email)
            if normalized != contact.email_normalized:
                if Contact.objects.filter(email_normalized=normalized).exclude(pk=contact.pk).exists():
                    raise ValidationError({"email": ["Another contact already has this email address."]})
                contact.email_normalized = normalized
            contact.email = email
            changed.append("email")
        for field in CONTACT_FIELDS:
            if field in data:
                setattr(contact, field, data[field] or "")
                changed.append(field)
        if "company" in data:
            contact.company = data["company"]
            changed.append("company")
        if "custom_fields" in data:
            contact.custom = custom_values_merge(contact.custom, custom, overwrite_blank=True)
            changed.append("custom_fields")
        contact.search_text = contact_search_text(contact, _company_name(contact))
        contact.full_clean(
            exclude=["organization", "company"], validate_unique=False, validate_constraints=False
        )
        contact.save()
        if changed:
            publish(
                ContactUpdated(organization_id=contact.organization_id, contact_id=contact.pk, fields=changed)
            )
    return contact


def company_update(*, company: Company, data: Mapping[str, Any], actor: Actor) -> Company:
    custom = custom_values_clean(entity=CustomFieldEntity.COMPANY, values=data.get("custom_fields"))
    if "domain" in data:
        domain = domain_normalize(str(data["domain"] or ""))
        if domain and Company.objects.filter(domain=domain).exclude(pk=company.pk).exists():
            raise ValidationError({"domain": ["Another company already has this domain."]})
        company.domain = domain
    for field in COMPANY_FIELDS:
        if field in data:
            setattr(
                company,
                field,
                data[field]
                if data[field] is not None
                else ("" if field in {"name", "industry", "country"} else None),
            )
    if "custom_fields" in data:
        company.custom = custom_values_merge(company.custom, custom, overwrite_blank=True)
    company.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    company.save()
    return company


def company_create(*, data: Mapping[str, Any], actor: Actor) -> Company:
    """An explicit create: unlike capture's upsert, a second company with a known domain is refused."""
    domain = domain_normalize(str(data.get("domain") or ""))
    if domain and Company.objects.filter(domain=domain).exists():
        raise ValidationError({"domain": ["Another company already has this domain."]})
    company = Company(name=str(data.get("name") or "").strip() or domain, domain=domain)
    for field in COMPANY_FIELDS:
        if data.get(field) not in (None, "") and field != "name":
            setattr(company, field, data[field])
    company.custom = custom_values_merge(
        {},
        custom_values_clean(entity=CustomFieldEntity.COMPANY, values=data.get("custom_fields")),
        overwrite_blank=True,
    )
    company.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    company.save()
    return company


def company_delete(*, company: Company, actor: Actor) -> None:
    """Contacts stay (their company is cleared); their search text no longer names the company."""
    with transaction.atomic():
        contact_ids = list(company.contacts.values_list("pk", flat=True))
        company.delete()
        for contact in Contact.objects.filter(pk__in=contact_ids).select_related("company"):
            contact.search_text = contact_search_text(contact)
            contact.save(update_fields=["search_text", "updated_at"])


def contact_delete(*, contact: Contact, actor: Actor) -> None:
    """Removes the contact with its leads, their history and touchpoints."""
    contact.delete()

"""Every write to the shared funnel records. Each public function is one unit of work: it runs in one
transaction, validates its input with messages that name the field, and publishes its domain event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import (
    Exists,
    F,
    Func,
    JSONField,
    Max,
    OuterRef,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast, Coalesce, Lower
from django.utils import timezone
from django.utils.dateparse import parse_date

from leadhub.events import (
    ContactUpdated,
    LeadCaptured,
    LeadStageChanged,
    TouchpointsRecorded,
    publish,
    publish_many,
)
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.services import Actor
from leads.models import (
    STAGE_TRANSITIONS,
    Campaign,
    CampaignSpend,
    Channel,
    Company,
    Contact,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
)

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


# --- normalisation -------------------------------------------------------------------------


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


# --- custom fields -------------------------------------------------------------------------


def custom_fields_for(entity: str) -> dict[str, CustomField]:
    return {f.key: f for f in CustomField.objects.filter(entity=entity)}


def custom_value_clean(definition: CustomField, value: Any) -> Any:
    """Coerce one value to the field's type, or raise ValueError with a message for the user."""
    if value is None or value == "":
        return None
    kind = definition.field_type
    if kind == CustomFieldType.TEXT:
        text = str(value)
        if len(text) > 2000:
            raise ValueError("Text is limited to 2,000 characters.")
        return text
    if kind == CustomFieldType.NUMBER:
        if isinstance(value, bool):
            raise ValueError("Expected a number.")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"'{value}' is not a number.") from None
        if not number.is_finite():
            raise ValueError("Expected a finite number.")
        return (
            int(number) if number == number.to_integral_value() and "." not in str(value) else float(number)
        )
    if kind == CustomFieldType.CHOICE:
        text = str(value)
        if definition.choices and text not in definition.choices:
            raise ValueError(f"'{text}' is not one of: {', '.join(map(str, definition.choices))}.")
        return text
    if kind == CustomFieldType.DATE:
        if isinstance(value, dt.date):
            return value.isoformat()
        parsed = parse_date(str(value)) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError(f"'{value}' is not a date (expected YYYY-MM-DD).")
        return parsed.isoformat()
    if kind == CustomFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "yes", "1", "y"}:
            return True
        if text in {"false", "no", "0", "n"}:
            return False
        raise ValueError(f"'{value}' is not yes or no.")
    raise ValueError(f"Unknown field type {kind}.")


def custom_values_clean(
    *,
    entity: str,
    values: Mapping[str, Any] | None,
    field_prefix: str = "custom_fields",
    definitions: dict[str, CustomField] | None = None,
) -> dict[str, Any]:
    """Validate a {key: value} mapping against the organization's custom fields (None means clear)."""
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise ValidationError({field_prefix: ["Expected an object of custom field values."]})
    definitions = custom_fields_for(entity) if definitions is None else definitions
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[f"{field_prefix}.{key}"] = [
                f"No {entity} custom field '{key}' exists in this organization."
            ]
            continue
        try:
            cleaned[key] = custom_value_clean(definition, value)
        except ValueError as exc:
            errors[f"{field_prefix}.{key}"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _merge_custom(
    existing: dict[str, Any], cleaned: dict[str, Any], *, overwrite_blank: bool
) -> dict[str, Any]:
    merged = dict(existing or {})
    for key, value in cleaned.items():
        if value is None:
            if overwrite_blank:
                merged.pop(key, None)
            continue
        merged[key] = value
    return merged


def custom_field_create(
    *,
    entity: str,
    key: str,
    label: str,
    field_type: str,
    choices: list[str] | None = None,
    help_text: str = "",
    position: int = 0,
) -> CustomField:
    errors: dict[str, str] = {}
    if entity not in CustomFieldEntity.values:
        errors["entity"] = f"Choose one of {', '.join(CustomFieldEntity.values)}."
    if field_type not in CustomFieldType.values:
        errors["field_type"] = f"Choose one of {', '.join(CustomFieldType.values)}."
    if field_type == CustomFieldType.CHOICE and not choices:
        errors["choices"] = "A choice field needs at least one choice."
    if not key:
        errors["key"] = "A key is required."
    if key and CustomField.objects.filter(entity=entity, key=key).exists():
        errors["key"] = f"A {entity} field with key '{key}' already exists."
    if errors:
        raise ValidationError(errors)
    field = CustomField(
        entity=entity,
        key=key,
        label=label or key,
        field_type=field_type,
        choices=[str(c) for c in (choices or [])],
        help_text=help_text,
        position=position,
    )
    field.full_clean(exclude=["organization"])
    field.save()
    return field


# --- companies and contacts ------------------------------------------------------------------


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
        for company in (
            Company.objects.annotate(name_lower=Lower("name")).filter(name_lower__in=names).order_by("id")
        ):
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
        company.custom = _merge_custom(company.custom, custom, overwrite_blank=False)
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
        merged = _merge_custom(contact.custom, custom, overwrite_blank=False)
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
            contact.custom = _merge_custom(contact.custom, custom, overwrite_blank=True)
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
        company.custom = _merge_custom(company.custom, custom, overwrite_blank=True)
    company.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    company.save()
    return company


# --- leads ----------------------------------------------------------------------------------


def lead_capture(
    *,
    contact_data: Mapping[str, Any],
    lead_data: Mapping[str, Any] | None = None,
    actor: Actor,
) -> tuple[Lead, bool]:
    """Upsert the contact by email and return its current journey, creating one if it has none open.

    Returns (lead, created). A contact whose last journey ended (customer, disqualified) starts a new one.
    """
    lead_data = dict(lead_data or {})
    with transaction.atomic():
        contact, _ = contact_upsert(data=contact_data, actor=actor)
        lead = (
            Lead.objects.select_for_update()
            .filter(contact=contact, is_current=True)
            .order_by("-journey")
            .first()
        )
        created = False
        if lead is None or lead.stage in {Stage.CUSTOMER, Stage.DISQUALIFIED}:
            journey = (lead.journey + 1) if lead else 1
            if lead is not None:
                Lead.objects.filter(pk=lead.pk).update(is_current=False)
            lead = _lead_new(contact=contact, journey=journey, data=lead_data, actor=actor)
            created = True
        else:
            _lead_apply(lead, lead_data, only_blank=True)
            lead.save()
        publish(
            LeadCaptured(
                organization_id=lead.organization_id, lead_id=lead.pk, contact_id=contact.pk, created=created
            )
        )
    return lead, created


LEAD_EDITABLE = (
    "owner",
    "score",
    "grade",
    "source_channel",
    "campaign",
    "budget",
    "authority",
    "need",
    "timing",
)


def _lead_apply(lead: Lead, data: Mapping[str, Any], *, only_blank: bool = False) -> None:
    for field in LEAD_EDITABLE:
        if field not in data:
            continue
        value = data[field]
        if only_blank and getattr(lead, field) not in (None, "", 0, Channel.DIRECT):
            continue
        if value is None and field in {"grade", "budget", "authority", "need", "timing"}:
            value = ""
        setattr(lead, field, value)
    if lead.grade and lead.grade not in "ABCDEF":
        raise ValidationError({"grade": ["Grade is one letter from A to F."]})


def _lead_build(*, contact: Contact, journey: int, data: Mapping[str, Any]) -> Lead:
    """A new, unsaved journey for the contact, with its initial stage and fields checked."""
    now = timezone.now()
    stage = data.get("stage") or Stage.COLD
    if stage not in Stage.values:
        raise ValidationError({"stage": [f"'{stage}' is not a stage."]})
    lead = Lead(
        contact=contact,
        journey=journey,
        stage=stage,
        stage_changed_at=now,
        created_at=data.get("created_at") or now,
    )
    _lead_apply(lead, data)
    if lead.campaign_id and not data.get("source_channel"):
        lead.source_channel = lead.campaign.channel if lead.campaign else lead.source_channel
    return lead


def _lead_first_stage(lead: Lead, data: Mapping[str, Any], actor: Actor) -> StageChange:
    return StageChange(
        lead=lead,
        from_stage="",
        to_stage=lead.stage,
        changed_at=lead.created_at,
        changed_by_user=actor.user,
        changed_by_api_key=actor.api_key,
        rule=actor.rule or "created",
        reason=str(data.get("stage_reason") or "Lead created"),
    )


def _lead_new(*, contact: Contact, journey: int, data: Mapping[str, Any], actor: Actor) -> Lead:
    lead = _lead_build(contact=contact, journey=journey, data=data)
    lead.save()
    _lead_first_stage(lead, data, actor).save()
    return lead


def lead_create(*, contact: Contact, data: Mapping[str, Any], actor: Actor) -> Lead:
    """A new journey for an existing contact (the API's plain create)."""
    with transaction.atomic():
        last = Lead.objects.filter(contact=contact).aggregate(j=Max("journey"))["j"] or 0
        Lead.objects.filter(contact=contact, is_current=True).update(is_current=False)
        lead = _lead_new(contact=contact, journey=last + 1, data=data, actor=actor)
        publish(
            LeadCaptured(
                organization_id=lead.organization_id, lead_id=lead.pk, contact_id=contact.pk, created=True
            )
        )
    return lead


# A journey in one of these stages is over: capturing the contact again starts a new one.
ENDED_STAGES = frozenset({Stage.CUSTOMER, Stage.DISQUALIFIED})


def leads_bulk_capture(
    *, entries: Sequence[tuple[Contact, Mapping[str, Any], bool]], actor: Actor
) -> list[tuple[Lead, bool]]:
    """Many leads in a handful of statements, whatever the size of the batch.

    Each entry is (contact, lead_data, new_journey). new_journey=True starts a new journey, as
    `lead_create` does; False reuses the contact's open journey (filling only blank fields), as
    `lead_capture` does, and starts one only when there is none or it ended. Entries apply in order,
    so two entries for one contact behave like two calls. Returns (lead, created) per entry.
    """
    if not entries:
        return []
    contact_ids = {contact.pk for contact, _, _ in entries}
    now = timezone.now()
    with transaction.atomic():
        current: dict[int, Lead] = {
            lead.contact_id: lead
            for lead in Lead.objects.select_for_update(of=("self",))
            .select_related("owner", "campaign")
            .filter(contact_id__in=contact_ids, is_current=True)
            .order_by("journey")
        }
        last_journey: dict[int, int] = dict(
            Lead.objects.filter(contact_id__in=contact_ids)
            .order_by()
            .values("contact_id")
            .annotate(last=Max("journey"))
            .values_list("contact_id", "last")
        )
        closed: set[int] = set()
        refreshed: dict[int, Lead] = {}
        created: list[tuple[Lead, Mapping[str, Any]]] = []
        results: list[tuple[Lead, bool]] = []
        for contact, data, new_journey in entries:
            lead = current.get(contact.pk)
            if not new_journey and lead is not None and lead.stage not in ENDED_STAGES:
                _lead_apply(lead, data, only_blank=True)
                if lead.pk is not None:
                    refreshed[lead.pk] = lead
                results.append((lead, False))
                continue
            if lead is not None:
                lead.is_current = False
                if lead.pk is not None:
                    closed.add(lead.pk)
            journey = last_journey.get(contact.pk, 0) + 1
            last_journey[contact.pk] = journey
            lead = _lead_build(contact=contact, journey=journey, data=data)
            current[contact.pk] = lead
            created.append((lead, data))
            results.append((lead, True))
        if closed:
            Lead.objects.filter(pk__in=closed).update(is_current=False)
        if refreshed:
            for lead in refreshed.values():
                lead.updated_at = now
            Lead.objects.bulk_update(list(refreshed.values()), [*LEAD_EDITABLE, "updated_at"], batch_size=500)
        Lead.objects.bulk_create([lead for lead, _ in created], batch_size=500)
        StageChange.objects.bulk_create(
            [_lead_first_stage(lead, data, actor) for lead, data in created], batch_size=500
        )
        publish_many(
            [
                LeadCaptured(
                    organization_id=lead.organization_id,
                    lead_id=lead.pk,
                    contact_id=lead.contact_id,
                    created=was_created,
                )
                for lead, was_created in results
            ]
        )
    return results


def lead_update(*, lead: Lead, data: Mapping[str, Any], actor: Actor) -> Lead:
    """Edit a lead's fields. The stage is not a field: it moves only through `lead_change_stage`."""
    if "stage" in data and data["stage"] != lead.stage:
        raise ValidationError(
            {"stage": ["Change the stage with the stage-change action, which records why."]}
        )
    with transaction.atomic():
        _lead_apply(lead, data)
        lead.save()
    return lead


class StageTransitionError(ValidationError):
    pass


def lead_change_stage(
    *, lead: Lead, to_stage: str, actor: Actor, reason: str = "", at: dt.datetime | None = None
) -> Lead:
    """The one way a lead changes stage: checks the move is allowed, records who or what and why, and
    publishes LeadStageChanged after commit."""
    if to_stage not in Stage.values:
        raise StageTransitionError({"stage": [f"'{to_stage}' is not a stage."]})
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        from_stage = locked.stage
        if to_stage == from_stage:
            return locked
        if to_stage not in STAGE_TRANSITIONS[from_stage]:
            allowed = ", ".join(sorted(STAGE_TRANSITIONS[from_stage])) or "none (start a new journey)"
            raise StageTransitionError(
                {
                    "stage": [
                        f"A lead cannot move from {from_stage} to {to_stage}; "
                        f"allowed from {from_stage}: {allowed}."
                    ]
                }
            )
        if to_stage in {Stage.DISQUALIFIED, Stage.RECYCLED} and not reason.strip():
            raise StageTransitionError({"reason": [f"Say why the lead is {to_stage}."]})
        when = at or timezone.now()
        locked.stage = to_stage
        locked.stage_changed_at = when
        locked.save(update_fields=["stage", "stage_changed_at", "updated_at"])
        StageChange.objects.create(
            lead=locked,
            from_stage=from_stage,
            to_stage=to_stage,
            changed_at=when,
            changed_by_user=actor.user,
            changed_by_api_key=actor.api_key,
            rule=actor.rule,
            reason=reason.strip(),
        )
        publish(
            LeadStageChanged(
                organization_id=locked.organization_id,
                lead_id=locked.pk,
                from_stage=from_stage,
                to_stage=to_stage,
                reason=reason.strip(),
            )
        )
    lead.stage, lead.stage_changed_at = locked.stage, locked.stage_changed_at
    return locked


def leads_bulk_change_stage(
    *, lead_ids: Iterable[int], to_stage: str, actor: Actor, reason: str = ""
) -> dict[int, str | None]:
    """Move many leads; each is its own savepoint so one refused move does not undo the others.
    Returns {lead_id: None on success, else the reason it was refused}."""
    results: dict[int, str | None] = {}
    ids = list(dict.fromkeys(int(i) for i in lead_ids))
    leads = {lead.pk: lead for lead in Lead.objects.filter(pk__in=ids)}
    for lead_id in ids:
        lead = leads.get(lead_id)
        if lead is None:
            results[lead_id] = "Not found."
            continue
        try:
            with transaction.atomic():
                lead_change_stage(lead=lead, to_stage=to_stage, actor=actor, reason=reason)
            results[lead_id] = None
        except ValidationError as exc:
            results[lead_id] = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return results


def lead_delete(*, lead: Lead, actor: Actor) -> None:
    with transaction.atomic():
        was_current = lead.is_current
        contact_id = lead.contact_id
        lead.delete()
        if was_current:
            newest = Lead.objects.filter(contact_id=contact_id).order_by("-journey").first()
            if newest is not None:
                Lead.objects.filter(pk=newest.pk).update(is_current=True)


# --- touchpoints ----------------------------------------------------------------------------


def touchpoints_record(*, touchpoints: list[Touchpoint]) -> list[Touchpoint]:
    """Store validated touchpoints in one statement and publish one event for the batch.

    Retries are harmless: a touchpoint whose `external_id` is already stored is skipped.
    """
    if not touchpoints:
        return []
    organization_id = current_organization_id()
    external_ids = [t.external_id for t in touchpoints if t.external_id]
    seen = (
        set(Touchpoint.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
        if external_ids
        else set()
    )
    fresh: list[Touchpoint] = []
    batch_ids: set[str] = set()
    for touchpoint in touchpoints:
        if touchpoint.external_id:
            if touchpoint.external_id in seen or touchpoint.external_id in batch_ids:
                continue
            batch_ids.add(touchpoint.external_id)
        if touchpoint.lead_id and not touchpoint.contact_id and touchpoint.lead is not None:
            touchpoint.contact_id = touchpoint.lead.contact_id
        if not touchpoint.channel and touchpoint.campaign_id and touchpoint.campaign is not None:
            touchpoint.channel = touchpoint.campaign.channel
        fresh.append(touchpoint)
    with transaction.atomic():
        created = Touchpoint.objects.bulk_create(fresh, batch_size=1000)
        lead_ids = sorted({t.lead_id for t in created if t.lead_id})
        if created:
            publish(
                TouchpointsRecorded(
                    organization_id=organization_id,
                    lead_ids=lead_ids,
                    touchpoint_ids=[t.pk for t in created if t.pk is not None][:1000],
                )
            )
    return created


def leads_touch_rollup(*, lead_ids: Iterable[int]) -> int:
    """Recompute first and last touch of these leads from their touchpoints, in one UPDATE.

    Idempotent, so a task delivered twice does no harm. Leads without touchpoints keep what capture set.
    """
    ids = list(lead_ids)
    if not ids:
        return 0
    of_lead = Touchpoint.objects.filter(lead_id=OuterRef("pk"))
    first = of_lead.order_by("occurred_at", "id")
    return (
        Lead.objects.filter(pk__in=ids)
        .filter(Exists(of_lead))
        .update(
            last_touch_at=Subquery(of_lead.order_by("-occurred_at", "-id").values("occurred_at")[:1]),
            first_touch_at=Subquery(first.values("occurred_at")[:1]),
            first_touch_channel=Coalesce(Subquery(first.values("channel")[:1]), Value("")),
            first_touch_campaign=Subquery(first.values("campaign_id")[:1]),
            first_touch_url=Coalesce(Subquery(first.values("url")[:1]), Value("")),
        )
    )


# --- campaigns ------------------------------------------------------------------------------


def campaign_spend_set(
    *, campaign: Campaign, date: dt.date, amount: Decimal, currency: str = "", note: str = ""
) -> CampaignSpend:
    """Record the spend of one campaign on one day (a second call for the same day replaces it)."""
    if amount < 0:
        raise ValidationError({"amount": ["Spend cannot be negative."]})
    spend, _ = CampaignSpend.objects.update_or_create(
        campaign=campaign,
        date=date,
        defaults={"amount": amount, "currency": currency or campaign.currency, "note": note},
    )
    return spend


# --- edits and deletions of the API and the dashboard ------------------------------------------

CAMPAIGN_FIELDS = (
    "name",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "start_date",
    "end_date",
    "budget",
    "currency",
)
TOUCHPOINT_EDITABLE = (
    "type",
    "occurred_at",
    "channel",
    "campaign",
    "url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "properties",
)


def company_create(*, data: Mapping[str, Any], actor: Actor) -> Company:
    """An explicit create: unlike capture's upsert, a second company with a known domain is refused."""
    domain = domain_normalize(str(data.get("domain") or ""))
    if domain and Company.objects.filter(domain=domain).exists():
        raise ValidationError({"domain": ["Another company already has this domain."]})
    company = Company(name=str(data.get("name") or "").strip() or domain, domain=domain)
    for field in COMPANY_FIELDS:
        if data.get(field) not in (None, "") and field != "name":
            setattr(company, field, data[field])
    company.custom = _merge_custom(
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


def _campaign_apply(campaign: Campaign, data: Mapping[str, Any]) -> None:
    for field in CAMPAIGN_FIELDS:
        if field in data:
            value = data[field]
            if value is None and field not in {"start_date", "end_date", "budget"}:
                value = ""
            setattr(campaign, field, value)
    errors: dict[str, list[str]] = {}
    if not campaign.name.strip():
        errors["name"] = ["A campaign needs a name."]
    elif Campaign.objects.filter(name=campaign.name).exclude(pk=campaign.pk).exists():
        errors["name"] = [f"A campaign named '{campaign.name}' already exists."]
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors["end_date"] = ["The end date is before the start date."]
    if errors:
        raise ValidationError(errors)
    campaign.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)


def campaign_create(*, data: Mapping[str, Any], actor: Actor) -> Campaign:
    campaign = Campaign()
    _campaign_apply(campaign, data)
    campaign.save()
    return campaign


def campaign_update(*, campaign: Campaign, data: Mapping[str, Any], actor: Actor) -> Campaign:
    _campaign_apply(campaign, data)
    campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign, actor: Actor) -> None:
    """Leads and touchpoints keep existing without the campaign; its spend goes with it."""
    campaign.delete()


def campaign_spend_delete(*, spend: CampaignSpend, actor: Actor) -> None:
    spend.delete()


def touchpoint_update(*, touchpoint: Touchpoint, data: Mapping[str, Any], actor: Actor) -> Touchpoint:
    """Correct a recorded touchpoint; the lead's first and last touch follow."""
    with transaction.atomic():
        for field in TOUCHPOINT_EDITABLE:
            if field in data:
                value = data[field]
                if value is None and field not in {"campaign", "occurred_at"}:
                    value = {} if field == "properties" else ""
                setattr(touchpoint, field, value)
        if touchpoint.occurred_at is None:
            raise ValidationError({"occurred_at": ["A touchpoint needs the time it occurred."]})
        touchpoint.full_clean(
            exclude=["organization", "lead", "contact", "campaign"],
            validate_unique=False,
            validate_constraints=False,
        )
        touchpoint.save()
        if touchpoint.lead_id:
            leads_touch_rollup(lead_ids=[touchpoint.lead_id])
    return touchpoint


def touchpoint_delete(*, touchpoint: Touchpoint, actor: Actor) -> None:
    with transaction.atomic():
        lead_id = touchpoint.lead_id
        touchpoint.delete()
        if lead_id:
            leads_touch_rollup(lead_ids=[lead_id])


def _custom_holders(field: CustomField) -> QuerySet[Any]:
    model = Contact if field.entity == CustomFieldEntity.CONTACT else Company
    return model.objects.filter(custom__has_key=field.key)


def custom_field_update(*, field: CustomField, data: Mapping[str, Any], actor: Actor) -> CustomField:
    """Edit a definition. Its key and entity are fixed (stored values refer to them), and a field that
    already holds values keeps its type and every choice in use: changing them would strand data."""
    errors: dict[str, list[str]] = {}
    for fixed in ("key", "entity"):
        if fixed in data and data[fixed] != getattr(field, fixed):
            errors[fixed] = [f"The {fixed} of a custom field cannot change; create a new field instead."]
    new_type = data.get("field_type", field.field_type)
    choices = data.get("choices")
    new_choices = [str(c) for c in choices] if choices is not None else list(field.choices)
    if new_type not in CustomFieldType.values:
        errors["field_type"] = [f"Choose one of {', '.join(CustomFieldType.values)}."]
    elif new_type != field.field_type:
        in_use = _custom_holders(field).count()
        if in_use:
            errors["field_type"] = [
                f"'{field.key}' holds values on {in_use} {field.entity} record(s), so its type cannot change "
                f"from {field.field_type} to {new_type}; create a new field instead."
            ]
    if new_type == CustomFieldType.CHOICE and not errors.get("field_type"):
        if not new_choices:
            errors["choices"] = ["A choice field needs at least one choice."]
        elif field.field_type == CustomFieldType.CHOICE:
            stored = KeyTransform(field.key, "custom")
            dropped = (
                _custom_holders(field)
                .annotate(stored_value=stored)
                .exclude(stored_value__in=new_choices)
                .values_list("stored_value", flat=True)
                .distinct()[:5]
            )
            missing = sorted({str(v) for v in dropped if v is not None})
            if missing:
                errors["choices"] = [f"Values in use cannot be removed: {', '.join(missing)}."]
    if errors:
        raise ValidationError(errors)
    field.field_type = new_type
    field.choices = new_choices if new_type == CustomFieldType.CHOICE else []
    for attr in ("label", "help_text", "position"):
        if attr in data and data[attr] is not None:
            setattr(field, attr, data[attr])
    field.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    field.save()
    return field


def custom_field_delete(*, field: CustomField, actor: Actor) -> None:
    """Remove the definition and its values from every record, in one UPDATE."""
    with transaction.atomic():
        removed: Func
        if connection.vendor == "postgresql":
            removed = Func(
                F("custom"),
                Cast(Value(field.key), TextField()),
                template="(%(expressions)s)",
                arg_joiner=" - ",
                output_field=JSONField(),
            )
        else:
            removed = Func(
                F("custom"), Value(f'$."{field.key}"'), function="JSON_REMOVE", output_field=JSONField()
            )
        _custom_holders(field).update(custom=removed)
        field.delete()

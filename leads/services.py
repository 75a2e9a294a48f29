"""Every write to the shared funnel records. Each public function is one unit of work: it runs in one
transaction, validates its input with messages that name the field, and publishes its domain event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date

from leadhub.events import ContactUpdated, LeadCaptured, LeadStageChanged, TouchpointsRecorded, publish
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


def company_upsert(*, data: Mapping[str, Any], actor: Actor | None = None) -> Company | None:
    """Find the company by normalised domain (else by exact name) and fill in what is known."""
    domain = domain_normalize(str(data.get("domain") or ""))
    name = str(data.get("name") or "").strip()
    if not domain and not name:
        return None
    company = None
    if domain:
        company = Company.objects.filter(domain=domain).first()
    if company is None and name:
        company = Company.objects.filter(name__iexact=name, domain__in=["", domain]).first()
    custom = custom_values_clean(entity=CustomFieldEntity.COMPANY, values=data.get("custom_fields"))
    if company is None:
        company = Company(name=name or domain, domain=domain)
    elif domain and not company.domain:
        company.domain = domain
    for field in COMPANY_FIELDS:
        value = data.get(field)
        if value not in (None, ""):
            setattr(company, field, value)
    company.custom = _merge_custom(company.custom, custom, overwrite_blank=False)
    company.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    company.save()
    return company


def contact_upsert(*, data: Mapping[str, Any], actor: Actor | None = None) -> tuple[Contact, bool]:
    """Create or update the contact with this normalised email. Known values are never overwritten
    with blanks: capture forms often ask for less than the record already holds."""
    email = str(data.get("email") or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None
    normalized = email_normalize(email)
    custom = custom_values_clean(entity=CustomFieldEntity.CONTACT, values=data.get("custom_fields"))
    company_data = data.get("company")
    company = None
    if isinstance(company_data, Company):
        company = company_data
    elif isinstance(company_data, Mapping):
        company = company_upsert(data=company_data, actor=actor)
    with transaction.atomic():
        contact = Contact.objects.select_for_update().filter(email_normalized=normalized).first()
        created = contact is None
        if contact is None:
            contact = Contact(email=email, email_normalized=normalized)
        changed: list[str] = []
        for field in CONTACT_FIELDS:
            value = data.get(field)
            if value not in (None, "") and getattr(contact, field) != value:
                setattr(contact, field, value)
                changed.append(field)
        if company is not None and contact.company_id != company.pk:
            contact.company = company
            changed.append("company")
        merged = _merge_custom(contact.custom, custom, overwrite_blank=False)
        if merged != contact.custom:
            contact.custom = merged
            changed.append("custom_fields")
        contact.search_text = contact_search_text(
            contact, company.name if company else _company_name(contact)
        )
        contact.full_clean(
            exclude=["organization", "company"], validate_unique=False, validate_constraints=False
        )
        contact.save()
        if changed and not created:
            publish(
                ContactUpdated(organization_id=contact.organization_id, contact_id=contact.pk, fields=changed)
            )
    return contact, created


def _company_name(contact: Contact) -> str:
    return contact.company.name if contact.company_id and contact.company else ""


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


def _lead_new(*, contact: Contact, journey: int, data: Mapping[str, Any], actor: Actor) -> Lead:
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
    lead.save()
    StageChange.objects.create(
        lead=lead,
        from_stage="",
        to_stage=stage,
        changed_at=lead.created_at,
        changed_by_user=actor.user,
        changed_by_api_key=actor.api_key,
        rule=actor.rule or "created",
        reason=str(data.get("stage_reason") or "Lead created"),
    )
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

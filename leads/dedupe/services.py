"""Duplicate contacts: finding them, and merging them into a survivor the user chose.

A merge re-points EVERY relation to the merged contacts (found generically from
`Contact._meta.related_objects`, so consent records, form submissions and whatever other apps add later
come along) with one UPDATE per relation. Unique constraints that include the contact are handled: lead
journeys are renumbered in time order (the newest open one stays current); for any other unique key a
model may register a resolver, else the most recently created row wins and the others are removed
(counted in the audit). The merged contacts' emails become aliases of the survivor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import CharField, Count, F, Func, Q, Value
from django.db.models.functions import Length, Lower

from leadhub.events import ContactUpdated, publish
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Contact, Lead
from leads.models_imports import ContactAlias
from leads.privacy.registry import contact_relations
from leads.services import CONTACT_FIELDS, contact_search_text, email_normalize

MERGE_FIELDS: tuple[str, ...] = ("email", *CONTACT_FIELDS, "company")
MAX_MERGE = 10
JOURNEY_SHIFT = 10_000

# model -> resolver(survivor, merged contacts, relation field name) run before the generic re-pointing.
ConflictResolver = Callable[[Contact, list[Contact], str], None]
_resolvers: dict[type[models.Model], ConflictResolver] = {}


def register_merge_resolver(model: type[models.Model], resolver: ConflictResolver) -> None:
    """Let `model` settle its own unique-key conflicts when contacts merge (e.g. keep the newer consent)."""
    _resolvers[model] = resolver


# --- finding duplicates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateGroup:
    reason: str
    key: str
    contacts: list[Contact]


def _gmail_key(email: str) -> str:
    local, _, domain = email.partition("@")
    local = local.split("+", 1)[0]
    if domain in {"gmail.com", "googlemail.com"}:
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def duplicate_groups(*, reason: str = "name_company", limit: int = 50) -> list[DuplicateGroup]:
    """Groups of contacts that are probably one person, for a human to review.

    name_company: same first and last name (case-insensitive) at the same company.
    phone: the same phone number (digits only, at least 7).
    email_variant: addresses that differ only by a +tag, or by dots at Gmail (which ignores them): such
        addresses usually reach one mailbox, but not always, so they are only ever suggested.
    """
    groups: list[DuplicateGroup] = []
    if reason == "name_company":
        keys = (
            Contact.objects.exclude(first_name="")
            .exclude(last_name="")
            .filter(company__isnull=False)
            .annotate(f=Lower("first_name"), la=Lower("last_name"))
            .values("f", "la", "company_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .order_by("-n", "la", "f")[:limit]
        )
        for key in keys:
            contacts = list(
                Contact.objects.select_related("company")
                .annotate(f=Lower("first_name"), la=Lower("last_name"))
                .filter(f=key["f"], la=key["la"], company_id=key["company_id"])
                .order_by("created_at", "id")[:MAX_MERGE]
            )
            groups.append(DuplicateGroup(reason, f"{key['f']} {key['la']} @ {key['company_id']}", contacts))
        return groups
    if reason == "phone":
        return _phone_groups(limit)
    if reason == "email_variant":
        by_key: dict[str, list[Contact]] = {}
        candidates = Contact.objects.filter(
            Q(email_normalized__contains="+")
            | Q(email_normalized__endswith="@gmail.com")
            | Q(email_normalized__endswith="@googlemail.com")
        ).select_related("company")
        for contact in candidates.order_by("created_at", "id"):
            by_key.setdefault(_gmail_key(contact.email_normalized), []).append(contact)
        # The plain address itself (no tag, no dots) may not be among the candidates: add it.
        plain = Contact.objects.filter(email_normalized__in=list(by_key)).select_related("company")
        for contact in plain:
            group = by_key[contact.email_normalized]
            if contact not in group:
                group.insert(0, contact)
        return [
            DuplicateGroup(reason, key, found[:MAX_MERGE]) for key, found in by_key.items() if len(found) > 1
        ][:limit]
    raise ValidationError({"reason": ["Choose one of name_company, phone, email_variant."]})


def _phone_groups(limit: int) -> list[DuplicateGroup]:
    """Contacts whose phone numbers have the same digits (at least 7), the largest groups first. On
    PostgreSQL the numbers are grouped by the database, so a tenant of a million contacts is never loaded
    into memory; elsewhere (the embedded setup's SQLite, which has no regexp_replace) in Python."""
    with_phone = Contact.objects.exclude(phone="")
    if connection.vendor == "postgresql":
        digits = Func(
            F("phone"),
            Value("[^0-9]"),
            Value(""),
            Value("g"),
            function="regexp_replace",
            output_field=CharField(),
        )
        numbered = with_phone.annotate(digits=digits)
        keys = list(
            numbered.annotate(length=Length("digits"))
            .filter(length__gte=7)
            .values("digits")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .order_by("-n", "digits")
            .values_list("digits", flat=True)[:limit]
        )
        members = numbered.filter(digits__in=keys)
        by_key: dict[str, list[Contact]] = {key: [] for key in keys}
        for contact in members.select_related("company").order_by("created_at", "id"):
            by_key[contact.digits].append(contact)  # type: ignore[attr-defined]
    else:
        found: dict[str, list[Contact]] = {}
        for contact in with_phone.select_related("company").order_by("created_at", "id"):
            number = "".join(ch for ch in contact.phone if ch.isdigit())
            if len(number) >= 7:
                found.setdefault(number, []).append(contact)
        ranked = sorted((k for k, v in found.items() if len(v) > 1), key=lambda k: (-len(found[k]), k))
        by_key = {key: found[key] for key in ranked[:limit]}
    return [DuplicateGroup("phone", key, group[:MAX_MERGE]) for key, group in by_key.items()]


# --- merging -----------------------------------------------------------------------------------------


def merge_defaults(survivor: Contact, others: Sequence[Contact]) -> dict[str, int]:
    """For each field, the contact whose value is kept by default: the survivor's, unless it is blank and
    another one has it (the first such in the given order)."""
    choice: dict[str, int] = {}
    for field in MERGE_FIELDS:
        attname = "company_id" if field == "company" else field
        chosen = survivor
        if getattr(survivor, attname) in (None, ""):
            chosen = next((o for o in others if getattr(o, attname) not in (None, "")), survivor)
        choice[field] = chosen.pk
    return choice


def contacts_merge(
    *,
    survivor: Contact,
    others: Sequence[Contact],
    actor: Actor,
    field_choices: Mapping[str, int] | None = None,
    custom_choices: Mapping[str, int] | None = None,
) -> Contact:
    """Merge `others` into `survivor`, which keeps its id. `field_choices` picks, per field, the contact
    whose value survives (defaults: merge_defaults); custom values are kept from the survivor, filled in
    from the others, or picked per key with `custom_choices`. Everything pointing at the others moves to
    the survivor. One transaction, audited."""
    ids = [o.pk for o in others]
    if not ids:
        raise ValidationError({"merge_ids": ["Name at least one contact to merge into this one."]})
    if survivor.pk in ids:
        raise ValidationError({"merge_ids": ["A contact cannot be merged into itself."]})
    if len(set(ids)) != len(ids):
        raise ValidationError({"merge_ids": ["A contact is named twice."]})
    if len(ids) > MAX_MERGE:
        raise ValidationError({"merge_ids": [f"Merge at most {MAX_MERGE} contacts at a time."]})
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Contact.objects.select_for_update(of=("self",))
            .select_related("company")
            .filter(pk__in=[survivor.pk, *ids])
        }
        missing = [i for i in ids if i not in locked]
        if missing or survivor.pk not in locked:
            raise ValidationError(
                {"merge_ids": [f"No such contact: {', '.join(map(str, missing or [survivor.pk]))}."]}
            )
        survivor = locked[survivor.pk]
        merged = [locked[i] for i in ids]
        everyone = {c.pk: c for c in [survivor, *merged]}
        choices = {
            **merge_defaults(survivor, merged),
            **{k: int(v) for k, v in (field_choices or {}).items()},
        }
        errors: dict[str, list[str]] = {}
        for field, chosen in choices.items():
            if field not in MERGE_FIELDS:
                errors[f"fields.{field}"] = [
                    f"“{field}” cannot be chosen; choose among {', '.join(MERGE_FIELDS)}."
                ]
            elif chosen not in everyone:
                errors[f"fields.{field}"] = [f"Contact {chosen} is not part of this merge."]
        custom_keys = set().union(*[set(c.custom or {}) for c in everyone.values()])
        for key, chosen in (custom_choices or {}).items():
            if key not in custom_keys:
                errors[f"custom_fields.{key}"] = [f"No contact in this merge has a value for “{key}”."]
            elif int(chosen) not in everyone:
                errors[f"custom_fields.{key}"] = [f"Contact {chosen} is not part of this merge."]
        if errors:
            raise ValidationError(errors)

        before = {
            f: str(getattr(survivor, "company_id" if f == "company" else f) or "") for f in MERGE_FIELDS
        }
        moved = _relations_repoint(survivor, merged)
        aliases = [
            ContactAlias(contact=survivor, email=c.email, email_normalized=c.email_normalized) for c in merged
        ]
        Contact.unscoped.filter(pk__in=ids).delete()
        # The survivor's own email may be replaced by a merged one: it becomes an alias in its turn.
        if choices["email"] != survivor.pk:
            aliases.append(
                ContactAlias(
                    contact=survivor, email=survivor.email, email_normalized=survivor.email_normalized
                )
            )
        for field in MERGE_FIELDS:
            source = everyone[choices[field]]
            if field == "company":
                survivor.company = source.company
            elif field == "email":
                survivor.email, survivor.email_normalized = source.email, email_normalize(source.email)
            else:
                setattr(survivor, field, getattr(source, field))
        custom = dict(survivor.custom or {})
        for other in merged:
            for key, value in (other.custom or {}).items():
                if custom.get(key) in (None, ""):
                    custom[key] = value
        for key, chosen in (custom_choices or {}).items():
            value = (everyone[int(chosen)].custom or {}).get(key)
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
        survivor.custom = custom
        survivor.search_text = contact_search_text(
            survivor, survivor.company.name if survivor.company else ""
        )
        survivor.save()
        existing_aliases = set(survivor.aliases.values_list("email_normalized", flat=True))
        ContactAlias.objects.bulk_create(
            [
                a
                for a in {a.email_normalized: a for a in aliases}.values()
                if a.email_normalized not in existing_aliases
                and a.email_normalized != survivor.email_normalized
            ]
        )
        after = {f: str(getattr(survivor, "company_id" if f == "company" else f) or "") for f in MERGE_FIELDS}
        audit_record(
            actor=actor,
            action="contact.merged",
            target=survivor,
            changes={
                "merged_ids": ids,
                "merged": [str(c) for c in merged],
                "fields": {f: [before[f], after[f]] for f in MERGE_FIELDS if before[f] != after[f]},
                "chosen_from": {f: c for f, c in choices.items() if c != survivor.pk},
                "moved": moved,
            },
        )
        publish(
            ContactUpdated(
                organization_id=survivor.organization_id,
                contact_id=survivor.pk,
                fields=[*sorted(f for f in MERGE_FIELDS if before[f] != after[f]), "merged"],
            )
        )
    return survivor


def _relations_repoint(survivor: Contact, merged: list[Contact]) -> dict[str, int]:
    """Move every row pointing at the merged contacts to the survivor, relation by relation."""
    ids = [c.pk for c in merged]
    moved: dict[str, int] = {}
    for rel in contact_relations():
        model = rel.related_model
        assert isinstance(model, type)
        label = f"{model._meta.label}.{rel.field.name}"
        if rel.many_to_many:
            m2m: Any = rel
            through = m2m.through
            contact_column = m2m.field.m2m_reverse_field_name()
            other_column = m2m.field.m2m_field_name()
            rows = through._base_manager.filter(**{f"{contact_column}__in": ids})
            kept = set(
                through._base_manager.filter(**{contact_column: survivor.pk}).values_list(
                    other_column, flat=True
                )
            )
            rows.filter(**{f"{other_column}__in": kept}).delete()
            moved[label] = rows.update(**{contact_column: survivor.pk})
            continue
        if model is Lead and rel.field.name == "contact":
            moved[label] = _leads_repoint(survivor, ids)
            continue
        if model in _resolvers:
            _resolvers[model](survivor, merged, rel.field.name)
        else:
            _unique_conflicts_settle(model, rel.field.name, survivor, ids)
        moved[label] = model._base_manager.filter(**{f"{rel.field.name}__in": ids}).update(
            **{rel.field.name: survivor}
        )
    return {k: v for k, v in moved.items() if v}


def _leads_repoint(survivor: Contact, ids: list[int]) -> int:
    """Journeys of all the contacts, renumbered 1..n by start; the newest open one (else the newest)
    stays current. Numbers go out of the way first: (contact, journey) is unique at every step."""
    leads = list(
        Lead.objects.filter(contact_id__in=[survivor.pk, *ids]).order_by("created_at", "journey", "id")
    )
    if not leads:
        return 0
    moving = sum(1 for lead in leads if lead.contact_id != survivor.pk)
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(journey=F("journey") + JOURNEY_SHIFT)
    open_leads = [lead for lead in leads if lead.stage not in {"customer", "disqualified"}]
    current = (open_leads or leads)[-1]
    for number, lead in enumerate(leads, start=1):
        lead.contact_id = survivor.pk
        lead.journey = number
        lead.is_current = lead.pk == current.pk
    Lead.objects.bulk_update(leads, ["contact", "journey", "is_current"], batch_size=500)
    return moving


def _unique_constraints_with(model: type[models.Model], field_name: str) -> list[list[str]]:
    """The other fields of each unique key of `model` that includes `field_name`."""
    keys: list[list[str]] = []
    for constraint in model._meta.constraints:
        if (
            isinstance(constraint, models.UniqueConstraint)
            and field_name in (constraint.fields or ())
            and constraint.condition is None
        ):
            keys.append([f for f in constraint.fields if f not in {field_name, "organization"}])
    for together in model._meta.unique_together:
        if field_name in together:
            keys.append([f for f in together if f not in {field_name, "organization"}])
    if getattr(model._meta.get_field(field_name), "unique", False):
        keys.append([])
    return keys


def _unique_conflicts_settle(
    model: type[models.Model], field_name: str, survivor: Contact, ids: list[int]
) -> None:
    """Rows that would collide on a unique key once re-pointed: the most recently created (else the
    highest id) of each colliding set stays, the others go."""
    order = "-created_at" if any(f.name == "created_at" for f in model._meta.concrete_fields) else "-pk"
    for others in _unique_constraints_with(model, field_name):
        rows = model._base_manager.filter(**{f"{field_name}__in": [survivor.pk, *ids]}).order_by(order, "-pk")
        seen: set[tuple[Any, ...]] = set()
        doomed: list[Any] = []
        for row in rows:
            key = tuple(getattr(row, model._meta.get_field(f).attname) for f in others)  # type: ignore[union-attr]
            if key in seen:
                doomed.append(row.pk)
            else:
                seen.add(key)
        if doomed:
            model._base_manager.filter(pk__in=doomed).delete()

"""Data subject rights: export everything held about a contact, and erase it.

Both find the data generically: every relation to Contact (and, one level further, every relation to
the rows found that way, such as a lead's stage history), every model registered with
`register_personal_data` by the contact's normalised email and aliases, and the audit entries about the
contact. Both are audited; the erasure's audit entry keeps a keyed hash of the email, never the email.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError, Q, TextField
from django.db.models.deletion import RestrictedError
from django.db.models.functions import Cast
from django.utils import timezone

from leadhub.tenancy.models import AuditLog, TenantModel
from leadhub.tenancy.rls import tenant_models
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Contact, CustomField, CustomFieldEntity
from leads.models_forms import FormSubmission
from leads.models_imports import ImportRejection
from leads.privacy.registry import contact_relations, personal_data_models, register_personal_data, row_data

EXPORT_FORMAT = "leadhub.contact-export.v1"
ERASED_LABEL = "erased contact"

register_personal_data(ImportRejection, email_field="email_normalized", fields=["values", "errors"])
# A rejected (spam) or pending form submission has no contact yet, but its payload holds the person's data.
register_personal_data(
    FormSubmission, email_field="email_normalized", fields=["payload", "consents", "user_agent", "ip_hash"]
)


def email_hash(email: str) -> str:
    """A keyed hash of a normalised email: proves later that an address was erased, without keeping it."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"erasure:{email.strip().lower()}".encode(), hashlib.sha256).hexdigest()


def _emails(contact: Contact) -> list[str]:
    return [contact.email_normalized, *contact.aliases.values_list("email_normalized", flat=True)]


def _related_rows(contact: Contact) -> dict[str, list[models.Model]]:
    """Rows pointing at the contact, and rows pointing at those (a lead's history), by model label."""
    found: dict[str, list[models.Model]] = {}
    seen: set[tuple[str, Any]] = set()

    def add(model: type[models.Model], rows: Iterable[models.Model]) -> list[models.Model]:
        fresh = []
        for row in rows:
            key = (model._meta.label, row.pk)
            if key not in seen:
                seen.add(key)
                fresh.append(row)
        if fresh:
            found.setdefault(model._meta.label, []).extend(fresh)
        return fresh

    level: list[tuple[type[models.Model], list[models.Model]]] = []
    for rel in contact_relations():
        model = rel.related_model
        assert isinstance(model, type)
        if rel.many_to_many:
            rows = list(model._base_manager.filter(**{rel.field.name: contact}).order_by("pk"))
        else:
            rows = list(model._base_manager.filter(**{rel.field.name: contact.pk}).order_by("pk"))
        level.append((model, add(model, rows)))
    for parent, rows in level:
        if not rows:
            continue
        for rel in parent._meta.related_objects:
            child = rel.related_model
            if not (isinstance(child, type) and issubclass(child, TenantModel)) or rel.many_to_many:
                continue
            ids = [r.pk for r in rows]
            add(child, child._base_manager.filter(**{f"{rel.field.name}__in": ids}).order_by("pk"))
    for entry in personal_data_models():
        rows = list(
            entry.model._base_manager.filter(**{f"{entry.email_field}__in": _emails(contact)}).order_by("pk")
        )
        add(entry.model, rows)
    return found


def contact_export(*, contact: Contact, actor: Actor) -> dict[str, Any]:
    """Everything held about the contact, as JSON-ready data. Audited (who exported whom)."""
    definitions = {f.key: f.label for f in CustomField.objects.filter(entity=CustomFieldEntity.CONTACT)}
    company = contact.company
    related = _related_rows(contact)
    audit = AuditLog.objects.filter(target_type="Contact", target_id=str(contact.pk)).order_by("created_at")
    data = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "contact": row_data(contact),
        "custom_fields": [
            {"key": key, "label": definitions.get(key, key), "value": value}
            for key, value in sorted((contact.custom or {}).items())
        ],
        "company": row_data(company) if company else None,
        "related": {label: [row_data(r) for r in rows] for label, rows in sorted(related.items())},
        "audit_log": [
            {"at": a.created_at.isoformat(), "action": a.action, "by": a.actor_label, "changes": a.changes}
            for a in audit
        ],
    }
    audit_record(
        actor=actor,
        action="contact.exported",
        target=contact,
        changes={"tables": {label: len(rows) for label, rows in related.items()}},
    )
    return data


def contact_erase(*, contact: Contact, actor: Actor, confirm: str) -> dict[str, Any]:
    """Erase the contact: delete it with every row that depends on it, the registered personal-data rows
    found by its emails, and scrub the audit entries about it. `confirm` must repeat the contact's email.

    Returns what was done (counts per table). One transaction: on any refusal nothing is erased."""
    if (confirm or "").strip().lower() != contact.email_normalized:
        raise ValidationError({"confirm": ["Type the contact's email address to confirm the erasure."]})
    emails = _emails(contact)
    contact_id = contact.pk
    with transaction.atomic():
        lead_ids = [str(i) for i in contact.leads.values_list("pk", flat=True)]
        deleted: dict[str, int] = {}
        scrubbed: dict[str, int] = {}
        for entry in personal_data_models():
            rows = entry.model._base_manager.filter(**{f"{entry.email_field}__in": emails})
            if entry.on_erase == "delete":
                count, _ = rows.delete()
                if count:
                    deleted[entry.model._meta.label] = count
            else:
                blank = {
                    name: ({} if isinstance(entry.model._meta.get_field(name), models.JSONField) else "")
                    for name in (*entry.fields, entry.email_field)
                }
                count = rows.update(**blank)
                if count:
                    scrubbed[entry.model._meta.label] = count
        try:
            _, per_model = contact.delete()
        except (ProtectedError, RestrictedError) as exc:
            raise ValidationError(
                {"contact": [f"Records of another kind must be removed first: {exc.args[0]}"]}
            ) from None
        deleted.update({label: count for label, count in per_model.items() if count})
        about = AuditLog.objects.filter(
            Q(target_type="Contact", target_id=str(contact_id))
            | Q(target_type="Lead", target_id__in=lead_ids)
        )
        scrubbed_audit = about.update(target_label=ERASED_LABEL, changes={"erased": True})
        if scrubbed_audit:
            scrubbed["tenancy.AuditLog"] = scrubbed_audit
        # Anything else that still spells the address out (free text, JSON payloads) is blanked where it
        # appears: the last net under the declared ones.
        swept = personal_text_sweep(emails)
        for label, count in swept.items():
            scrubbed[label] = scrubbed.get(label, 0) + count
        report = {"deleted": deleted, "scrubbed": scrubbed}
        audit_record(
            actor=actor,
            action="contact.erased",
            target_type="Contact",
            target_id=str(contact_id),
            target_label=ERASED_LABEL,
            changes={"email_sha256": email_hash(contact.email_normalized), **report},
        )
    return report


def _swept_fields(model: type[models.Model]) -> list[models.Field]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.JSONField | models.BinaryField)
        and not getattr(f, "generated", False)
        and not f.primary_key
    ]


def _needle_re(needles: list[str]) -> re.Pattern[str]:
    # Whole addresses only: erasing ann@example.com must not touch joann@example.com.
    alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return re.compile(rf"(?<![\w.+-])(?:{alternatives})(?![\w-]|\.\w)", re.IGNORECASE)


def personal_text_sweep(needles: list[str]) -> dict[str, int]:
    """Replace every occurrence of `needles` (whole email addresses, any case) in every text, JSON or
    binary column of every tenant table with "[erased]"; returns the rows touched per table. Erasure's
    last net after the targeted steps: it catches copies nobody declared (a payload, a note).

    One scan per table finds the rows where any text or JSON column holds a needle (a scan per column
    made erasing in a tenant of a million contacts take seconds per table); binary columns cannot be
    searched by the database and are read row by row."""
    touched: dict[str, int] = {}
    needles = [n for n in set(needles) if n]
    if not needles:
        return touched
    pattern = _needle_re(needles)
    for model in tenant_models():
        fields = _swept_fields(model)
        texts = [f for f in fields if not isinstance(f, models.BinaryField)]
        rows_touched: set[Any] = set()
        if texts:
            rows_touched |= _sweep(model, texts, _texts_holding(model, texts, needles), pattern)
        for field in fields:
            if isinstance(field, models.BinaryField):
                rows = model._base_manager.values_list("pk", field.attname).iterator(chunk_size=1000)
                rows_touched |= _sweep(model, [field], list(rows), pattern)
        if rows_touched:
            touched[model._meta.label] = len(rows_touched)
    return touched


def _texts_holding(model: type[models.Model], fields: list[models.Field], needles: list[str]) -> list[Any]:
    """(pk, *values of `fields`) of the rows where any of the fields contains a needle, in any case."""
    annotations: dict[str, Any] = {}
    query = Q()
    for field in fields:
        lookup = f"{field.name}__icontains"
        if isinstance(field, models.JSONField):
            annotations[f"_swept_{field.name}"] = Cast(field.name, TextField())
            lookup = f"_swept_{field.name}__icontains"
        for needle in needles:
            query |= Q(**{lookup: needle})
    rows = model._base_manager.annotate(**annotations).filter(query)
    return list(rows.values_list("pk", *[f.attname for f in fields]))


def _sweep(
    model: type[models.Model], fields: list[models.Field], rows: Any, pattern: re.Pattern[str]
) -> set[Any]:
    """Scrub `fields` of each (pk, *values) row; returns the pks of the rows changed."""
    changed: set[Any] = set()
    for pk, *values in rows:
        update = {}
        for field, value in zip(fields, values, strict=True):
            cleaned = _scrub_value(field, value, pattern)
            if cleaned is not _UNCHANGED:
                update[field.attname] = cleaned
        if update:
            model._base_manager.filter(pk=pk).update(**update)
            changed.add(pk)
    return changed


_UNCHANGED = object()


def _scrub_value(field: models.Field, value: Any, pattern: re.Pattern[str]) -> Any:
    if value is None:
        return _UNCHANGED
    if isinstance(field, models.BinaryField):
        text = bytes(value).decode("utf-8", errors="replace")
        return pattern.sub("[erased]", text).encode() if pattern.search(text) else _UNCHANGED
    if isinstance(field, models.JSONField):
        text = json.dumps(value)
        return json.loads(pattern.sub("[erased]", text)) if pattern.search(text) else _UNCHANGED
    text = str(value)
    if not pattern.search(text):
        return _UNCHANGED
    return pattern.sub("[erased]", text)[: field.max_length or None]

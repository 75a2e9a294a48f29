"""Where a contact's data lives, found generically.

- `contact_relations()`: every foreign key and one-to-one field to Contact in every installed app
  (`Contact._meta.related_objects`), so merge, export and erasure cover models other apps add later
  (consent records, form submissions...) without naming them.
- `register_personal_data(model, email_field=..., fields=[...])`: models holding personal data WITHOUT a
  foreign key to the contact (a raw form payload, a refused import row) declare how to find a person's
  rows (by normalised email) and which fields are personal. Export includes those rows, erasure deletes
  them (or blanks the fields with `on_erase="scrub"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import ForeignObjectRel

from leads.models import Contact


@dataclass(frozen=True)
class PersonalData:
    model: type[models.Model]
    email_field: str
    fields: tuple[str, ...]
    on_erase: str  # "delete" or "scrub"


_registry: dict[type[models.Model], PersonalData] = {}


def register_personal_data(
    model: type[models.Model],
    *,
    email_field: str,
    fields: list[str] | tuple[str, ...] = (),
    on_erase: str = "delete",
) -> None:
    """Declare that rows of `model` hold a person's data, found by `email_field` (normalised email)."""
    if on_erase not in {"delete", "scrub"}:
        raise ValueError("on_erase is 'delete' or 'scrub'.")
    model._meta.get_field(email_field)
    for name in fields:
        model._meta.get_field(name)
    _registry[model] = PersonalData(model, email_field, tuple(fields), on_erase)


def personal_data_models() -> list[PersonalData]:
    return list(_registry.values())


def contact_relations() -> list[ForeignObjectRel]:
    """Every relation pointing at Contact (foreign keys, one-to-ones and many-to-manys)."""
    return [rel for rel in Contact._meta.related_objects if rel.related_model is not Contact]


def row_data(instance: models.Model) -> dict[str, Any]:
    """A row's concrete fields as JSON-ready values (foreign keys as ids)."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if isinstance(value, bytes | memoryview):
            value = bytes(value).decode("utf-8", errors="replace")
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif value is not None and not isinstance(value, str | int | float | bool | dict | list):
            value = str(value)
        data[field.attname] = value
    return data

"""Per-organization custom fields on contacts and companies: definitions and typed values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Func, JSONField, QuerySet, TextField, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast
from django.utils.dateparse import parse_date

from leadhub.tenancy.services import Actor
from leads.models import Company, Contact, CustomField, CustomFieldEntity, CustomFieldType


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


def custom_values_merge(
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

"""What a chat question may ask and where its answer goes: the targets (BANT on the lead, contact
fields, custom fields), which answer types fit each, and the check of a visitor's answer against its
question (every public answer is hostile until it passes here)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from leads.models import CustomField, CustomFieldType
from leads.services import custom_value_clean, email_normalize
from scoring.chat.rules import number_parse, yes_no
from scoring.models_chat import AnswerType, ChatQuestion

EMAIL_TARGET = "contact.email"
# target -> (label, longest value the record keeps)
BANT_TARGETS: dict[str, tuple[str, int]] = {
    "lead.budget": ("Budget (BANT)", 200),
    "lead.authority": ("Authority (BANT)", 200),
    "lead.need": ("Need (BANT)", 500),
    "lead.timing": ("Timing (BANT)", 200),
}
CONTACT_TARGETS: dict[str, tuple[str, int]] = {
    "contact.first_name": ("First name", 100),
    "contact.last_name": ("Last name", 100),
    "contact.job_title": ("Job title", 150),
    "contact.phone": ("Phone", 40),
    "company.name": ("Company name", 200),
}
TEXT_LIKE = {AnswerType.TEXT, AnswerType.CHOICE}
MAX_TEXT = 1000
MAX_OPTIONS = 30


def target_choices(custom_fields: list[CustomField]) -> list[tuple[str, str]]:
    """Every place an answer can go, for the editor's select."""
    choices = [("", "Nowhere (kept on the conversation only)"), (EMAIL_TARGET, "Email (identifies the lead)")]
    choices += [(target, label) for target, (label, _) in BANT_TARGETS.items()]
    choices += [(target, label) for target, (label, _) in CONTACT_TARGETS.items()]
    choices += [(f"custom.{f.entity}.{f.key}", f"Custom: {f.label} ({f.entity})") for f in custom_fields]
    return choices


def target_resolve(target: str, answer_type: str, options: list[str]) -> CustomField | None:
    """Check that an answer of `answer_type` fits `target`; returns the custom field it names."""
    if answer_type == AnswerType.EMAIL or target == EMAIL_TARGET:
        if answer_type != AnswerType.EMAIL or target not in ("", EMAIL_TARGET):
            raise ValidationError(
                {"target": ["Only an email question goes to the email, and it always does."]}
            )
        return None
    if not target or target in BANT_TARGETS:
        return None
    if target in CONTACT_TARGETS:
        if answer_type not in TEXT_LIKE:
            raise ValidationError(
                {"answer_type": ["A contact field takes a free-text or single-choice answer."]}
            )
        return None
    entity, _, key = target.removeprefix("custom.").partition(".")
    if not target.startswith("custom.") or not key:
        raise ValidationError({"target": [f"'{target}' is not a field a chat answer can fill."]})
    field = CustomField.objects.filter(entity=entity, key=key).first()
    if field is None:
        raise ValidationError({"target": [f"No {entity} custom field '{key}' exists."]})
    fitting: dict[str, set[str]] = {
        CustomFieldType.TEXT: set(AnswerType.values) - {AnswerType.EMAIL},
        CustomFieldType.NUMBER: {AnswerType.NUMBER},
        CustomFieldType.BOOLEAN: {AnswerType.YES_NO},
        CustomFieldType.CHOICE: {AnswerType.CHOICE},
        CustomFieldType.DATE: set(),
    }
    fits = fitting[field.field_type]
    if answer_type not in fits:
        raise ValidationError(
            {
                "answer_type": [
                    f"The custom field '{field.label}' ({field.field_type}) cannot take this answer type."
                ]
            }
        )
    if field.field_type == CustomFieldType.CHOICE:
        outside = [o for o in options if o not in field.choices]
        if outside:
            raise ValidationError(
                {"options": [f"'{outside[0]}' is not a choice of the custom field '{field.label}'."]}
            )
    return field


def target_limit(target: str) -> int:
    for table in (BANT_TARGETS, CONTACT_TARGETS):
        if target in table:
            return table[target][1]
    return MAX_TEXT


def answer_clean(question: ChatQuestion, raw: Any) -> tuple[Any, str]:
    """(value as stored, value as shown) for a visitor's answer, or a ValidationError under `value`
    saying why it does not fit the question."""

    def refuse(message: str) -> ValidationError:
        return ValidationError({"value": [message]})

    kind = question.answer_type
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise refuse("An answer is required.")
    if isinstance(raw, dict | list):
        raise refuse("An answer is a single value.")
    value: Any
    if kind == AnswerType.CHOICE:
        value = str(raw)
        if value not in [str(o) for o in question.options]:
            raise refuse(
                f"'{value[:100]}' is not one of the choices: {', '.join(map(str, question.options))}."
            )
        shown = value
    elif kind == AnswerType.YES_NO:
        value = yes_no(raw)
        if value is None:
            raise refuse("Answer yes or no.")
        shown = "Yes" if value else "No"
    elif kind == AnswerType.NUMBER:
        number = number_parse(raw)
        if number is None:
            raise refuse(f"'{str(raw)[:50]}' is not a number.")
        if question.min_value is not None and number < Decimal(question.min_value):
            raise refuse(f"The number must be at least {question.min_value.normalize():f}.")
        if question.max_value is not None and number > Decimal(question.max_value):
            raise refuse(f"The number must be at most {question.max_value.normalize():f}.")
        value = int(number) if number == number.to_integral_value() else float(number)
        shown = f"{value}"
    elif kind == AnswerType.EMAIL:
        text = str(raw).strip()
        try:
            validate_email(text)
        except ValidationError:
            raise refuse("Enter a valid email address.") from None
        value = email_normalize(text)
        shown = text
    else:
        value = str(raw).strip()
        shown = value
    limit = target_limit(question.target)
    if len(shown) > limit:
        raise refuse(f"At most {limit:,} characters.")
    if question.custom_field_id and question.custom_field is not None:
        try:
            custom_value_clean(question.custom_field, value)
        except ValueError as exc:
            raise refuse(str(exc)) from None
    return value, shown

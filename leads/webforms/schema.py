"""What a form asks and how an answer is checked: the targets a field can map to, the form's definition
as one immutable object (cached per process, keyed by the form's `updated_at`), and the validation of
a submission against it."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from leads.models import Company, Contact, CustomField, CustomFieldEntity, CustomFieldType, Lead
from leads.models_forms import ConsentPurpose, ConsentText, Form, FormField, FormStatus
from leads.services import custom_value_clean, email_normalize

EMAIL_TARGET = "contact.email"
CONTACT_TARGETS = ("email", "first_name", "last_name", "job_title", "phone", "country", "city")
COMPANY_TARGETS = ("name", "domain", "industry", "employee_count", "annual_revenue", "country")
LEAD_TARGETS = ("budget", "authority", "need", "timing")
NUMBER_TARGETS = frozenset({"company.employee_count", "company.annual_revenue"})

# Always captured when the page provides them; kept on the submission and the form_submit touchpoint.
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
PAGE_KEYS = ("referrer", "page_url")
HIDDEN_KEYS = (*UTM_KEYS, *PAGE_KEYS)
# Free hidden keys a page may add (landing pages send lh_variant); bounded so a bot cannot bloat a row.
LH_KEY = re.compile(r"^lh_[a-z0-9_]{1,40}$")
MAX_LH_KEYS = 20
MAX_HIDDEN_LENGTH = 2000
MAX_ANSWER_LENGTH = 2000

# Reserved names in a public post.
HONEYPOT = "website"
TOKEN = "_lh_t"  # noqa: S105  (the name of the render token field)
VISITOR = "_lh_vid"
RETURN = "_lh_return"
CONSENT_PREFIX = "consent."

_LABELS = {
    "contact.email": "Email",
    "contact.first_name": "First name",
    "contact.last_name": "Last name",
    "contact.job_title": "Job title",
    "contact.phone": "Phone",
    "contact.country": "Country",
    "contact.city": "City",
    "company.name": "Company",
    "company.domain": "Company website",
    "company.industry": "Industry",
    "company.employee_count": "Number of employees",
    "company.annual_revenue": "Annual revenue",
    "company.country": "Company country",
    "lead.budget": "Budget",
    "lead.authority": "Your role in the decision",
    "lead.need": "What do you need?",
    "lead.timing": "Timing",
}


def standard_targets() -> list[tuple[str, str]]:
    """(target, label) of every built-in field a form may ask."""
    return list(_LABELS.items())


def target_choices(custom_fields: list[CustomField]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices for the builder's target select."""
    groups: dict[str, list[tuple[str, str]]] = {"Contact": [], "Company": [], "Lead": [], "Custom fields": []}
    for target, label in _LABELS.items():
        groups[target.split(".")[0].capitalize()].append((target, label))
    for custom in custom_fields:
        groups["Custom fields"].append(
            (
                f"custom.{custom.entity}.{custom.key}",
                f"{custom.label} ({custom.get_entity_display().lower()})",
            )
        )
    return [(name, items) for name, items in groups.items() if items]


def default_label(target: str, custom_field: CustomField | None = None) -> str:
    if custom_field is not None:
        return custom_field.label
    return _LABELS.get(target, target)


def model_max_length(target: str) -> int:
    entity, _, name = target.partition(".")
    model: Any = {"contact": Contact, "company": Company, "lead": Lead}.get(entity)
    if model is None:
        return MAX_ANSWER_LENGTH
    max_length = getattr(model._meta.get_field(name), "max_length", None)
    return int(max_length or MAX_ANSWER_LENGTH)


@dataclass(frozen=True)
class FieldSpec:
    id: int
    target: str
    label: str
    required: bool
    help_text: str = ""
    placeholder: str = ""
    min_length: int | None = None
    max_length: int | None = None
    pattern: str = ""
    choices: tuple[str, ...] = ()
    input_type: str = "text"  # text, email, tel, number, date, checkbox, select, textarea
    custom_field: CustomField | None = None

    @property
    def is_email(self) -> bool:
        return self.target == EMAIL_TARGET

    def public(self) -> dict[str, Any]:
        """What the embed script needs to draw the field."""
        return {
            "id": self.id,
            "name": self.target,
            "label": self.label,
            "type": self.input_type,
            "required": self.required,
            "help_text": self.help_text,
            "placeholder": self.placeholder,
            "choices": list(self.choices),
            "min_length": self.min_length,
            "max_length": self.max_length,
            "pattern": self.pattern,
        }


@dataclass(frozen=True)
class ConsentSpec:
    id: int
    purpose: str
    version: int
    text: str
    required: bool

    @property
    def name(self) -> str:
        return f"{CONSENT_PREFIX}{self.purpose}"

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "purpose": self.purpose,
            "text": self.text,
            "required": self.required,
        }


@dataclass(frozen=True)
class FormDefinition:
    id: int
    organization_id: int
    name: str
    public_key: str
    active: bool
    submit_label: str
    success_message: str
    redirect_url: str
    allowed_domains: tuple[str, ...]
    hidden_fields: Mapping[str, str]
    max_fields_shown: int
    double_opt_in: bool
    updated_at: Any
    fields: tuple[FieldSpec, ...]
    consents: tuple[ConsentSpec, ...]
    fields_by_id: Mapping[int, FieldSpec] = field(default_factory=dict)
    consents_by_id: Mapping[int, ConsentSpec] = field(default_factory=dict)

    def field_named(self, target: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.target == target), None)


def _input_type(row: FormField) -> str:
    if row.target == EMAIL_TARGET:
        return "email"
    if row.target == "contact.phone":
        return "tel"
    if row.target == "lead.need":
        return "textarea"
    if row.target in NUMBER_TARGETS:
        return "number"
    if row.choices:
        return "select"
    custom = row.custom_field
    if custom is not None:
        kinds: dict[str, str] = {
            CustomFieldType.NUMBER: "number",
            CustomFieldType.DATE: "date",
            CustomFieldType.BOOLEAN: "checkbox",
            CustomFieldType.CHOICE: "select",
        }
        return kinds.get(custom.field_type, "text")
    return "text"


def _spec(row: FormField) -> FieldSpec:
    choices = tuple(str(c) for c in (row.choices or []))
    if not choices and row.custom_field is not None and row.custom_field.field_type == CustomFieldType.CHOICE:
        choices = tuple(str(c) for c in row.custom_field.choices or [])
    return FieldSpec(
        id=row.pk,
        target=row.target,
        label=row.label,
        required=row.required or row.target == EMAIL_TARGET,
        help_text=row.help_text,
        placeholder=row.placeholder,
        min_length=row.min_length,
        max_length=row.max_length,
        pattern=row.pattern,
        choices=choices,
        input_type=_input_type(row),
        custom_field=row.custom_field,
    )


_cache: OrderedDict[int, FormDefinition] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 256


def definition_build(form: Form) -> FormDefinition:
    """The form as the public endpoints use it. Fields and consent texts are read once per version of
    the form (its `updated_at`) and process: the submit path then reads only the form's row."""
    with _cache_lock:
        cached = _cache.get(form.pk)
        if cached is not None and cached.updated_at == form.updated_at:
            _cache.move_to_end(form.pk)
            return cached
    fields = tuple(_spec(row) for row in FormField.objects.filter(form=form).select_related("custom_field"))
    consents = tuple(
        ConsentSpec(id=c.pk, purpose=c.purpose, version=c.version, text=c.text, required=c.required)
        for c in ConsentText.objects.filter(form=form, is_current=True).order_by("id")
    )
    definition = FormDefinition(
        id=form.pk,
        organization_id=form.organization_id,
        name=form.name,
        public_key=form.public_key,
        active=form.status == FormStatus.ACTIVE,
        submit_label=form.submit_label,
        success_message=form.success_message,
        redirect_url=form.redirect_url,
        allowed_domains=tuple(form.allowed_domains or ()),
        hidden_fields=dict(form.hidden_fields or {}),
        max_fields_shown=form.max_fields_shown,
        double_opt_in=form.double_opt_in,
        updated_at=form.updated_at,
        fields=fields,
        consents=consents,
        fields_by_id={f.id: f for f in fields},
        consents_by_id={c.id: c for c in consents},
    )
    with _cache_lock:
        _cache[form.pk] = definition
        _cache.move_to_end(form.pk)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return definition


# --- validation of one submission --------------------------------------------------------------


@dataclass
class Cleaned:
    values: dict[str, Any]
    hidden: dict[str, str]
    consents: list[dict[str, Any]]
    email_normalized: str


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"1", "true", "on", "yes", "y"}


def _check(spec: FieldSpec, raw: Any) -> Any:
    """The cleaned answer, or raise ValueError with the visitor-facing reason."""
    if spec.input_type == "checkbox":
        return _truthy(raw)
    if isinstance(raw, list | dict):
        raise ValueError("Expected a single value.")
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    limit = min(model_max_length(spec.target), MAX_ANSWER_LENGTH)
    if len(text) > limit:
        raise ValueError(f"At most {limit} characters.")
    if spec.min_length and len(text) < spec.min_length:
        raise ValueError(f"At least {spec.min_length} characters.")
    if spec.max_length and len(text) > spec.max_length:
        raise ValueError(f"At most {spec.max_length} characters.")
    if spec.pattern and re.fullmatch(spec.pattern, text) is None:
        raise ValueError("This does not have the expected format.")
    if spec.choices and text not in spec.choices:
        raise ValueError("Choose one of the options.")
    if spec.is_email:
        try:
            validate_email(text)
        except ValidationError:
            raise ValueError("Enter a valid email address.") from None
    if spec.target in NUMBER_TARGETS:
        try:
            number = float(text)
        except ValueError:
            raise ValueError("Enter a number.") from None
        if number < 0:
            raise ValueError("Enter a positive number.")
        return int(number) if spec.target == "company.employee_count" else text
    if spec.custom_field is not None:
        return custom_value_clean(spec.custom_field, text)
    return text


def hidden_clean(definition: FormDefinition, raw: Mapping[str, Any]) -> dict[str, str]:
    """The page values (UTM, referrer, landing page) and the `lh_*` keys; the form's own hidden values
    fill what the page did not send."""
    hidden: dict[str, str] = {}
    for key in HIDDEN_KEYS:
        value = raw.get(key)
        if isinstance(value, str | int | float) and str(value).strip():
            hidden[key] = str(value).strip()[:MAX_HIDDEN_LENGTH]
    extra = 0
    for key, value in raw.items():
        if extra >= MAX_LH_KEYS:
            break
        if isinstance(key, str) and LH_KEY.match(key) and isinstance(value, str | int | float):
            hidden[key] = str(value).strip()[:MAX_HIDDEN_LENGTH]
            extra += 1
    for key, value in definition.hidden_fields.items():
        hidden.setdefault(key, str(value))
    if "page_url" in hidden and not any(key in hidden for key in UTM_KEYS):
        # A page that did not copy its UTM values into the form still carries them in its address.
        try:
            query = parse_qs(urlsplit(hidden["page_url"]).query)
        except ValueError:
            query = {}
        for key in UTM_KEYS:
            if query.get(key):
                hidden[key] = query[key][0].strip()
    for key in UTM_KEYS:
        if key in hidden:
            hidden[key] = hidden[key][:200]
    return hidden


def submission_clean(
    definition: FormDefinition,
    raw: Mapping[str, Any],
    *,
    shown_fields: set[int] | None = None,
    shown_consents: set[int] | None = None,
) -> Cleaned:
    """Check every answer against the form. Required fields count only if they were shown (progressive
    profiling hides answered ones); the email is always required. Raises ValidationError naming each
    field."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for spec in definition.fields:
        shown = shown_fields is None or spec.id in shown_fields or spec.is_email
        try:
            value = _check(spec, raw.get(spec.target))
        except ValueError as exc:
            errors[spec.target] = [str(exc)]
            continue
        if value in (None, False) and spec.required and shown:
            errors[spec.target] = ["This field is required."]
            continue
        if value is not None:
            values[spec.target] = value
    consents: list[dict[str, Any]] = []
    for consent in (
        definition.consents if shown_consents is None else _consents_shown(definition, shown_consents)
    ):
        granted = _truthy(raw.get(consent.name))
        if consent.required and not granted:
            errors[consent.name] = ["Please tick this box to continue."]
            continue
        consents.append(
            {
                "purpose": consent.purpose,
                "granted": granted,
                "text_id": consent.id,
                "version": consent.version,
                "text": consent.text,
            }
        )
    if errors:
        raise ValidationError(errors)
    email = str(values.get(EMAIL_TARGET) or "")
    return Cleaned(
        values=values,
        hidden=hidden_clean(definition, raw),
        consents=consents,
        email_normalized=email_normalize(email),
    )


def _consents_shown(definition: FormDefinition, ids: set[int]) -> list[ConsentSpec]:
    """The versions the visitor saw: the ids the page was rendered with, old versions included."""
    current = [c for c in definition.consents if c.id in ids]
    known = {c.id for c in current}
    missing = ids - known
    if missing:
        current += [
            ConsentSpec(id=c.pk, purpose=c.purpose, version=c.version, text=c.text, required=c.required)
            for c in ConsentText.objects.filter(form_id=definition.id, pk__in=missing)
        ]
    return current


def pattern_check(pattern: str) -> str | None:
    """None when `pattern` is a usable regular expression, else why not."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"Not a valid regular expression: {exc}."
    return None


__all__ = [
    "CONSENT_PREFIX",
    "EMAIL_TARGET",
    "HONEYPOT",
    "RETURN",
    "TOKEN",
    "VISITOR",
    "Cleaned",
    "ConsentPurpose",
    "ConsentSpec",
    "CustomFieldEntity",
    "FieldSpec",
    "FormDefinition",
    "definition_build",
    "submission_clean",
]

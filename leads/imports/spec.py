"""What an import does with each column: the targets a column may map to, the identity of rows without
an email address, and the validated plan (`ImportSpec`) both loaders execute."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.text import slugify

from leads.models import CustomField, CustomFieldEntity, CustomFieldType, Stage

# Contacts without an email address get one under this reserved domain (RFC 2606: `.invalid` never
# resolves), so the contact stays unique by email as everywhere else and no message can ever reach it.
PLACEHOLDER_DOMAIN = "no-email.invalid"

# target -> (label, max length). Contact fields first, then the company's.
CONTACT_TARGETS: dict[str, tuple[str, int]] = {
    "email": ("Email", 254),
    "first_name": ("First name", 100),
    "last_name": ("Last name", 100),
    "job_title": ("Job title", 150),
    "phone": ("Phone", 40),
    "country": ("Country", 100),
    "city": ("City", 100),
}
COMPANY_TARGETS: dict[str, tuple[str, int]] = {
    "company": ("Company name", 200),
    "company_domain": ("Company domain", 253),
    "company_industry": ("Company industry", 100),
    "company_country": ("Company country", 100),
}
OTHER_TARGETS: dict[str, str] = {
    "external_id": "External id (identity when there is no email)",
    "stage": "Stage (historical outcome)",
}
STANDARD_TARGETS: tuple[str, ...] = (*CONTACT_TARGETS, *COMPANY_TARGETS, *OTHER_TARGETS)
SKIP = "skip"
CUSTOM_PREFIX = "custom:"

# Header names (normalised: lower case, letters and digits only) that map to a standard field by default.
HEADER_SYNONYMS: dict[str, str] = {
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "jobtitle": "job_title",
    "title": "job_title",
    "phone": "phone",
    "phonenumber": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "country": "country",
    "city": "city",
    "company": "company",
    "companyname": "company",
    "organization": "company",
    "organisation": "company",
    "account": "company",
    "domain": "company_domain",
    "website": "company_domain",
    "companydomain": "company_domain",
    "industry": "company_industry",
    "externalid": "external_id",
    "id": "external_id",
    "customerid": "external_id",
}


def target_label(target: str) -> str:
    if target in CONTACT_TARGETS:
        return CONTACT_TARGETS[target][0]
    if target in COMPANY_TARGETS:
        return COMPANY_TARGETS[target][0]
    if target in OTHER_TARGETS:
        return OTHER_TARGETS[target]
    if target.startswith(CUSTOM_PREFIX):
        return f"Custom field “{target.removeprefix(CUSTOM_PREFIX)}”"
    return "Skipped"


def header_default_target(header: str) -> str | None:
    return HEADER_SYNONYMS.get(re.sub(r"[^a-z0-9]", "", header.lower()))


def custom_key_for(header: str) -> str:
    """A custom field key from a column name: `emp.var.rate` -> `emp_var_rate`."""
    key = slugify(header.replace(".", "_").replace(" ", "_")).replace("-", "_").strip("_")
    return (key or "column")[:60]


def placeholder_email(*, external_id: str = "", job_id: int = 0, row_number: int = 0) -> str:
    """The stand-in address of a row without email: stable for an external id (re-importing the file
    updates the same contacts), else unique to the job's row."""
    if external_id:
        token = external_id.strip().lower()
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,39}", token) or ".." in token or token.endswith("."):
            token = hashlib.sha256(external_id.strip().encode()).hexdigest()[:24]
        return f"ext-{token}@{PLACEHOLDER_DOMAIN}"
    return f"import-{job_id}-{row_number}@{PLACEHOLDER_DOMAIN}"


def email_is_placeholder(email: str) -> bool:
    """True for the stand-in address of an imported contact without email (never send to it)."""
    return (email or "").strip().lower().endswith("@" + PLACEHOLDER_DOMAIN)


@dataclass(frozen=True)
class CustomColumn:
    index: int
    header: str
    key: str
    field_type: str
    choices: tuple[str, ...] = ()


@dataclass
class ImportSpec:
    """A validated plan: which column feeds which field, typed custom fields, stages from outcomes."""

    headers: list[str]
    standard: dict[str, int] = field(default_factory=dict)  # target -> column index
    custom: list[CustomColumn] = field(default_factory=list)
    stage_column: int | None = None
    stage_map: dict[str, str] = field(default_factory=dict)

    @property
    def has_company(self) -> bool:
        return "company" in self.standard or "company_domain" in self.standard

    @property
    def identity(self) -> str:
        if "email" in self.standard:
            return "email"
        if "external_id" in self.standard:
            return "external_id"
        return "row"

    def describe(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "fields": {t: self.headers[i] for t, i in self.standard.items()},
            "custom": {c.header: f"{c.key} ({c.field_type})" for c in self.custom},
            "stage_column": self.headers[self.stage_column] if self.stage_column is not None else "",
        }


def spec_build(
    *,
    headers: list[str],
    mapping: dict[str, str],
    custom_types: dict[str, str],
    stage_column: str,
    stage_map: dict[str, str],
    choices: dict[str, list[str]] | None = None,
) -> ImportSpec:
    """Check a mapping against the file's headers and the organization's custom fields.

    `mapping` is {column: target} with targets from STANDARD_TARGETS, `custom:<key>` or `skip`; a custom
    key that does not exist yet is created with `custom_types[key]` (and `choices[key]` for choice fields)
    when the import runs. Errors name the column (`mapping.<column>`) or the option.
    """
    errors: dict[str, list[str]] = {}
    index_of = {header: i for i, header in enumerate(headers)}
    spec = ImportSpec(headers=list(headers))
    existing = {f.key: f for f in CustomField.objects.filter(entity=CustomFieldEntity.CONTACT)}
    used_keys: dict[str, str] = {}
    for column, target in mapping.items():
        if column not in index_of:
            errors.setdefault("mapping", []).append(f"The file has no column “{column}”.")
            continue
        target = (target or SKIP).strip()
        index = index_of[column]
        if target == SKIP:
            continue
        if target in STANDARD_TARGETS:
            if target == "stage":
                if stage_column and stage_column != column:
                    errors[f"mapping.{column}"] = ["Only one column can hold the stage."]
                stage_column = column
                continue
            if target in spec.standard:
                errors[f"mapping.{column}"] = [
                    f"“{headers[spec.standard[target]]}” already maps to {target_label(target)}."
                ]
                continue
            spec.standard[target] = index
            continue
        if target.startswith(CUSTOM_PREFIX):
            key = target.removeprefix(CUSTOM_PREFIX).strip()
            if not re.fullmatch(r"[-a-zA-Z0-9_]{1,60}", key):
                errors[f"mapping.{column}"] = [
                    f"“{key}” is not a valid custom field key (letters, digits, _ and -, at most 60)."
                ]
                continue
            if key in used_keys:
                errors[f"mapping.{column}"] = [f"Custom field “{key}” is already fed by “{used_keys[key]}”."]
                continue
            used_keys[key] = column
            definition = existing.get(key)
            if definition is not None:
                spec.custom.append(
                    CustomColumn(index, column, key, definition.field_type, tuple(definition.choices))
                )
                continue
            field_type = custom_types.get(key, CustomFieldType.TEXT)
            if field_type not in CustomFieldType.values:
                errors[f"custom_types.{key}"] = [f"Choose one of {', '.join(CustomFieldType.values)}."]
                continue
            field_choices = tuple((choices or {}).get(key) or ())
            if field_type == CustomFieldType.CHOICE and not field_choices:
                errors[f"custom_types.{key}"] = ["A choice field needs the values it allows."]
                continue
            spec.custom.append(CustomColumn(index, column, key, field_type, field_choices))
            continue
        errors[f"mapping.{column}"] = [f"“{target}” is not a field an import can fill."]
    spec.custom.sort(key=lambda c: c.index)
    if stage_column:
        if stage_column not in index_of:
            errors["stage_column"] = [f"The file has no column “{stage_column}”."]
        else:
            spec.stage_column = index_of[stage_column]
            for value, stage in stage_map.items():
                if stage not in Stage.values:
                    errors[f"stage_map.{value}"] = [
                        f"“{stage}” is not a stage; choose one of {', '.join(Stage.values)}."
                    ]
            spec.stage_map = {str(k): str(v) for k, v in stage_map.items()}
    elif stage_map:
        errors["stage_column"] = ["Name the column whose values the stage map translates."]
    if errors:
        raise ValidationError(errors)
    return spec


def auto_mapping(
    headers: list[str],
    explicit: dict[str, str],
    *,
    custom_auto: bool,
    stage_column: str = "",
) -> dict[str, str]:
    """Explicit mappings first; then known header names to standard fields; with `custom_auto`, every
    other column to a custom field named after it (the stage column excepted)."""
    mapping: dict[str, str] = {}
    taken = {t for t in explicit.values() if t in STANDARD_TARGETS}
    for header in headers:
        if header in explicit:
            mapping[header] = explicit[header]
            continue
        if header == stage_column:
            continue
        default = header_default_target(header)
        if default is not None and default not in taken:
            mapping[header] = default
            taken.add(default)
        elif custom_auto:
            mapping[header] = CUSTOM_PREFIX + custom_key_for(header)
        else:
            mapping[header] = SKIP
    return mapping

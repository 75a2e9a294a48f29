"""Checking a rule before it is stored: every setting its dimension needs, in the one shape the
evaluators read, with errors that name the field and say what is wrong."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from leads.models import TouchpointType
from leads.services import domain_normalize
from scoring.engine.spec import FIT_FIELDS, NUMBER, NUMBER_PATTERN, WORD, field_kind
from scoring.models import (
    GRADES,
    BuyingStage,
    Dimension,
    EngagementKind,
    FitOperator,
)

_NUMBER = re.compile(NUMBER_PATTERN)
MAX_POINTS = 1000
MAX_LIST = 200
TOUCHPOINT_FIELDS = (
    "touchpoint_types",
    "url_contains",
    "property_key",
    "property_value",
    "cap",
    "repeat_limit",
    "repeat_window_days",
    "product_usage",
    "window_days",
    "engagement_kind",
    "half_life_days",
    "min_count",
    "buying_stage",
)
FIT_ONLY = ("field", "operator", "value", "negate")
RULE_FIELDS = ("dimension", "name", "position", "points", *FIT_ONLY, *TOUCHPOINT_FIELDS)
_BLANK: dict[str, Any] = {
    "field": "",
    "operator": "",
    "value": None,
    "negate": False,
    "touchpoint_types": [],
    "url_contains": "",
    "property_key": "",
    "property_value": "",
    "cap": None,
    "repeat_limit": None,
    "repeat_window_days": None,
    "product_usage": False,
    "window_days": None,
    "engagement_kind": "",
    "half_life_days": None,
    "min_count": None,
    "buying_stage": "",
}


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationError(self.fields)


def _int(data: Mapping[str, Any], name: str, errors: _Errors, *, low: int, high: int) -> int | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors.add(name, "Give a whole number.")
        return None
    try:
        number = int(value)
    except ValueError:
        errors.add(name, "Give a whole number.")
        return None
    if not low <= number <= high:
        errors.add(name, f"Give a number from {low} to {high}.")
        return None
    return number


def _text_list(value: Any) -> list[str] | None:
    """A list of texts, also accepted as one comma-separated text."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        return None
    return [str(v).strip() for v in value if str(v).strip()]


def _fit_clean(data: Mapping[str, Any], cleaned: dict[str, Any], errors: _Errors) -> None:
    operator = str(data.get("operator") or "")
    if operator not in FitOperator.values:
        errors.add("operator", f"Choose one of: {', '.join(FitOperator.values)}.")
        return
    cleaned["operator"] = operator
    cleaned["negate"] = bool(data.get("negate", False))
    value = data.get("value")
    field = str(data.get("field") or "").strip()
    if operator in (FitOperator.FREE_MAIL, FitOperator.COMPETITOR):
        cleaned["field"] = "contact.email"
    elif not field:
        errors.add("field", "Say which field the rule reads, e.g. contact.job_title or company.custom.plan.")
        return
    elif field_kind(field) is None:
        errors.add(
            "field",
            f"'{field}' is not a field rules can read; use one of {', '.join(FIT_FIELDS)}, "
            "contact.custom.<key> or company.custom.<key>.",
        )
        return
    else:
        cleaned["field"] = field
    if operator in (FitOperator.EQUALS, FitOperator.CONTAINS):
        if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
            errors.add("value", "Give the text (or number) to compare with.")
            return
        cleaned["value"] = str(value).strip()
    elif operator in (FitOperator.IN_LIST, FitOperator.CONTAINS_WORD, FitOperator.COMPETITOR):
        items = _text_list(value)
        if not items:
            errors.add("value", "Give a list of values (or one text with commas between them).")
            return
        if len(items) > MAX_LIST:
            errors.add("value", f"At most {MAX_LIST} values.")
            return
        if operator == FitOperator.CONTAINS_WORD:
            bad = [w for w in items if not WORD.match(w)]
            if bad:
                errors.add("value", f"Each entry is one word of letters or digits; not: {', '.join(bad)}.")
                return
            items = [w.lower() for w in items]
        if operator == FitOperator.COMPETITOR:
            items = [domain_normalize(d) for d in items]
        cleaned["value"] = items
    elif operator == FitOperator.BETWEEN:
        kind = field_kind(cleaned["field"])
        if kind not in (NUMBER, "custom"):
            errors.add("field", "'between' needs a number field (company size, revenue) or a custom field.")
            return
        if not isinstance(value, Mapping) or not ({"min", "max"} & set(value)):
            errors.add("value", 'Give {"min": number, "max": number}; either may be left out.')
            return
        bounds: dict[str, float] = {}
        for key in ("min", "max"):
            bound = value.get(key)
            if bound is None:
                continue
            if isinstance(bound, bool) or not isinstance(bound, int | float | str):
                errors.add("value", f"{key} must be a number.")
                return
            if not _NUMBER.match(str(bound)):
                errors.add("value", f"{key} must be a number.")
                return
            bounds[key] = float(bound)
        if not bounds:
            errors.add("value", "Give at least one of min and max.")
            return
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            errors.add("value", "min must not be above max.")
            return
        cleaned["value"] = {k: int(v) if float(v).is_integer() else v for k, v in bounds.items()}
    else:
        cleaned["value"] = None


def _match_clean(
    data: Mapping[str, Any], cleaned: dict[str, Any], errors: _Errors, *, required: bool
) -> None:
    types = data.get("touchpoint_types") or []
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list):
        errors.add("touchpoint_types", "Give a list of touchpoint types.")
        types = []
    unknown = [t for t in types if t not in TouchpointType.values]
    if unknown:
        errors.add(
            "touchpoint_types",
            f"Unknown type {', '.join(map(str, unknown))}; choose from {', '.join(TouchpointType.values)}.",
        )
    cleaned["touchpoint_types"] = sorted(set(types) - set(unknown))
    for name, limit in (("url_contains", 200), ("property_key", 100), ("property_value", 200)):
        value = data.get(name) or ""
        if not isinstance(value, str):
            errors.add(name, "Give a text.")
            value = ""
        if len(value) > limit:
            errors.add(name, f"At most {limit} characters.")
        cleaned[name] = value.strip()
    if cleaned["property_value"] and not cleaned["property_key"]:
        errors.add("property_key", "Say which property the value belongs to.")
    if required and not (cleaned["touchpoint_types"] or cleaned["url_contains"] or cleaned["property_key"]):
        errors.add(
            "touchpoint_types",
            "Say which touchpoints count: a type, a URL pattern or a property (e.g. url contains /pricing).",
        )


def rule_clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's settings as they will be stored; raises ValidationError naming each bad field."""
    errors = _Errors()
    cleaned: dict[str, Any] = dict(_BLANK)
    dimension = str(data.get("dimension") or "")
    if dimension not in Dimension.values:
        errors.add("dimension", f"Choose one of: {', '.join(Dimension.values)}.")
        errors.raise_if_any()
    cleaned["dimension"] = dimension
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add("name", "Give the rule a name people will read in explanations.")
    elif len(name.strip()) > 120:
        errors.add("name", "At most 120 characters.")
    else:
        cleaned["name"] = name.strip()
    points = _int(data, "points", errors, low=-MAX_POINTS, high=MAX_POINTS)
    if points is None and "points" not in errors.fields:
        errors.add("points", "Give the points (negative to take points away).")
    cleaned["points"] = points or 0
    cleaned["position"] = _int(data, "position", errors, low=0, high=100_000) or 0
    if dimension == Dimension.FIT:
        _fit_clean(data, cleaned, errors)
        errors.raise_if_any()
        return cleaned
    _match_clean(data, cleaned, errors, required=dimension != Dimension.ENGAGEMENT)
    window = _int(data, "window_days", errors, low=1, high=3650)
    cap = _int(data, "cap", errors, low=1, high=100_000)
    if dimension == Dimension.BEHAVIOUR:
        cleaned["cap"] = cap
        cleaned["window_days"] = window
        cleaned["repeat_limit"] = _int(data, "repeat_limit", errors, low=1, high=10_000)
        repeat_window = _int(data, "repeat_window_days", errors, low=1, high=3650)
        if repeat_window is not None and cleaned["repeat_limit"] is None:
            errors.add("repeat_limit", "Give how many occurrences count per period.")
        cleaned["repeat_window_days"] = repeat_window or (1 if cleaned["repeat_limit"] else None)
        cleaned["product_usage"] = bool(data.get("product_usage", False))
    elif dimension == Dimension.ENGAGEMENT:
        kind = str(data.get("engagement_kind") or EngagementKind.ACTIVITY)
        if kind not in EngagementKind.values:
            errors.add("engagement_kind", f"Choose one of: {', '.join(EngagementKind.values)}.")
        cleaned["engagement_kind"] = kind
        cleaned["window_days"] = window
        if kind == EngagementKind.ACTIVITY:
            cleaned["half_life_days"] = _int(data, "half_life_days", errors, low=1, high=3650) or 14
            cleaned["cap"] = cap
        elif window is None and "window_days" not in errors.fields:
            errors.add("window_days", "Say over how many days activity counts.")
        if kind == EngagementKind.FREQUENCY:
            min_count = _int(data, "min_count", errors, low=1, high=100_000)
            if min_count is None and "min_count" not in errors.fields:
                errors.add("min_count", "Say how many activities make the rule true.")
            cleaned["min_count"] = min_count
    else:
        stage = str(data.get("buying_stage") or "")
        if stage not in BuyingStage.values:
            errors.add("buying_stage", f"Choose one of: {', '.join(BuyingStage.values)}.")
        cleaned["buying_stage"] = stage
        cleaned["window_days"] = window or 30
    errors.raise_if_any()
    return cleaned


def grade_thresholds_clean(value: Any) -> dict[str, int]:
    """{"A": n, ..., "E": n}, each at least as high as the next grade's."""
    letters = GRADES[:-1]
    if not isinstance(value, Mapping) or set(value) != set(letters):
        raise ValidationError(
            {"grade_thresholds": [f"Give a fit threshold for each of {', '.join(letters)}."]}
        )
    thresholds: dict[str, int] = {}
    for letter in letters:
        number = value[letter]
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValidationError(
                {"grade_thresholds": [f"The threshold of {letter} must be a whole number."]}
            )
        thresholds[letter] = number
    for better, worse in itertools.pairwise(letters):
        if thresholds[better] < thresholds[worse]:
            raise ValidationError(
                {"grade_thresholds": [f"{better} needs at least the fit of {worse} ({thresholds[worse]})."]}
            )
    return thresholds

"""Query-string filters for the funnel's records, shared by the REST API and the dashboard.

`LeadFilter(request.GET, queryset=..., request=request)` is the lead list's filter everywhere. Besides
the declared filters, every filterset here accepts custom fields as `cf.<key>=value` (and
`cf.<key>__gte` / `cf.<key>__lte` for number and date fields); an unknown key or a value of the wrong
type is a form error named after the parameter, which the API answers with a 400.

Date bounds (`*_after`, `*_before`) are inclusive and accept a date (the whole day, in the site's time
zone) or an ISO 8601 date-time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from leads.models import (
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
    Touchpoint,
    TouchpointType,
)
from leads.services import custom_value_clean, email_normalize

CUSTOM_FIELD_PREFIX = "cf."
RANGE_SUFFIXES = {"__gte": "gte", "__lte": "lte"}
RANGE_TYPES = frozenset({CustomFieldType.NUMBER, CustomFieldType.DATE})

# `?ordering=` values of the lead list (and their `-` forms); the API's cursor pagination and the
# dashboard's sort links both use these.
LEAD_ORDERING_FIELDS: tuple[str, ...] = ("id", "created_at", "score", "last_touch_at", "stage_changed_at")


# --- dates ----------------------------------------------------------------------------------


class DateOrDateTimeField(forms.Field):
    """A date or an ISO 8601 date-time; cleans to (datetime, whole_day)."""

    default_error_messages = {"invalid": "Enter a date (YYYY-MM-DD) or an ISO 8601 date-time."}

    def to_python(self, value: Any) -> tuple[dt.datetime, bool] | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        day = parse_date(text) if len(text) == 10 else None
        if day is not None:
            start = dt.datetime.combine(day, dt.time.min)
            return timezone.make_aware(start), True
        try:
            moment = parse_datetime(text.replace(" ", "+") if "T" in text else text)
        except ValueError:
            moment = None
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment, False


@extend_schema_field(OpenApiTypes.STR)
class DateBoundFilter(django_filters.Filter):
    """`bound="after"`: on or after the value; `bound="before"`: on or before it (a date covers its day)."""

    field_class = DateOrDateTimeField

    def __init__(self, *args: Any, bound: str, **kwargs: Any) -> None:
        assert bound in {"after", "before"}
        self.bound = bound
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: tuple[dt.datetime, bool] | None) -> QuerySet[Any]:
        if value is None:
            return qs
        moment, whole_day = value
        if self.bound == "after":
            return qs.filter(**{f"{self.field_name}__gte": moment})
        if whole_day:
            return qs.filter(**{f"{self.field_name}__lt": moment + dt.timedelta(days=1)})
        return qs.filter(**{f"{self.field_name}__lte": moment})


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """The id of a related record (of the same organization: the filtered queryset is scoped)."""

    field_class = forms.IntegerField


# --- custom fields --------------------------------------------------------------------------


class CustomFieldValueField(forms.Field):
    """Cleans a `cf.<key>` value against the field's definition (the type decides the comparison)."""

    def __init__(self, *args: Any, definition: CustomField | None, param: str, **kwargs: Any) -> None:
        self.definition = definition
        self.param = param
        super().__init__(*args, **kwargs)

    def clean(self, value: Any) -> Any:
        if self.definition is None:
            raise forms.ValidationError(
                f"'{self.param}' does not name a custom field of this organization.",
                code="unknown_custom_field",
            )
        if value in self.empty_values:
            return None
        try:
            return custom_value_clean(self.definition, value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


class CustomFieldFilter(django_filters.Filter):
    """One `cf.<key>[__gte|__lte]` parameter, compared inside the JSON of `field_name`."""

    def __init__(
        self, *, json_path: str, key: str, lookup: str, definition: CustomField | None, param: str
    ) -> None:
        self.json_path = json_path
        self.key = key
        self.cf_lookup = lookup
        self.definition = definition
        self.param = param
        super().__init__(field_name=json_path, label=param, required=False)

    @property
    def field(self) -> forms.Field:
        if not hasattr(self, "_field"):
            self._field = CustomFieldValueField(definition=self.definition, param=self.param, required=False)
        return self._field

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is None or self.definition is None:
            return qs
        # Keys are slugs and may contain "__", so the JSON key is given explicitly, not as a lookup path.
        alias = "cf_" + "".join(ch if ch.isalnum() else "_" for ch in self.param)
        qs = qs.alias(**{alias: KeyTransform(self.key, self.json_path)})
        if self.cf_lookup == "exact" and self.definition.field_type == CustomFieldType.TEXT:
            return qs.filter(**{f"{alias}__iexact": value})
        return qs.filter(**{f"{alias}__{self.cf_lookup}": value})


class CustomFieldFilterSet(django_filters.FilterSet):
    """A FilterSet that adds a filter for each `cf.*` parameter present in the query string.

    Subclasses set `custom_field_entity` (whose definitions apply) and `custom_field_json` (the path of
    the JSON column holding the values, from the filtered model).
    """

    custom_field_entity: str = CustomFieldEntity.CONTACT
    custom_field_json: str = "custom"

    def __init__(
        self,
        data: Any = None,
        queryset: QuerySet[Any] | None = None,
        *,
        request: Any = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(data, queryset, request=request, prefix=prefix)
        params = [
            name for name in self.data if isinstance(name, str) and name.startswith(CUSTOM_FIELD_PREFIX)
        ]
        if not params:
            return
        definitions = {f.key: f for f in CustomField.objects.filter(entity=self.custom_field_entity)}
        for param in params:
            key, lookup = param[len(CUSTOM_FIELD_PREFIX) :], "exact"
            for suffix, range_lookup in RANGE_SUFFIXES.items():
                if key.endswith(suffix):
                    key, lookup = key[: -len(suffix)], range_lookup
                    break
            definition = definitions.get(key)
            if definition is not None and lookup != "exact" and definition.field_type not in RANGE_TYPES:
                # Only numbers and dates have an order; the error names the parameter like an unknown key.
                definition = None
            custom_filter = CustomFieldFilter(
                json_path=self.custom_field_json, key=key, lookup=lookup, definition=definition, param=param
            )
            custom_filter.model = self.queryset.model
            custom_filter.parent = self
            self.filters[param] = custom_filter


# --- leads ----------------------------------------------------------------------------------


class OwnerField(forms.Field):
    default_error_messages = {"invalid": "Use a user id, 'me' or 'none'."}

    def to_python(self, value: Any) -> str | int | None:
        text = "" if value in self.empty_values else str(value).strip().lower()
        if not text:
            return None
        if text in {"me", "none"}:
            return text
        if not text.isdigit():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


@extend_schema_field(OpenApiTypes.STR)
class OwnerFilter(django_filters.Filter):
    """`owner=<user id>`, `owner=me` (the signed-in user) or `owner=none` (unassigned)."""

    field_class = OwnerField

    def filter(self, qs: QuerySet[Any], value: str | int | None) -> QuerySet[Any]:
        if value is None:
            return qs
        if value == "none":
            return qs.filter(owner__isnull=True)
        if value == "me":
            request = getattr(self.parent, "request", None)
            user = getattr(request, "user", None)
            if user is None or not user.is_authenticated:
                # An API key has no user of its own, so "me" owns nothing.
                return qs.none()
            return qs.filter(owner_id=user.pk)
        return qs.filter(owner_id=value)


def search_filter(path: str) -> Any:
    def apply(qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        text = (value or "").strip().lower()
        if not text:
            return qs
        # search_text is stored lower-cased, so a case-sensitive LIKE on the lowered query matches like
        # icontains while letting PostgreSQL use the trigram index (icontains wraps the column in UPPER()).
        return qs.filter(**{f"{path}__contains": text})

    return apply


class LeadFilter(CustomFieldFilterSet):
    custom_field_entity = CustomFieldEntity.CONTACT
    custom_field_json = "contact__custom"

    stage = django_filters.MultipleChoiceFilter(
        distinct=False, choices=Stage.choices, help_text="One or more stages (repeat the parameter)."
    )
    owner = OwnerFilter(help_text="A user id, `me` (the signed-in user) or `none` (unassigned).")
    score_min = django_filters.NumberFilter(
        field_name="score", lookup_expr="gte", help_text="Score at least this."
    )
    score_max = django_filters.NumberFilter(
        field_name="score", lookup_expr="lte", help_text="Score at most this."
    )
    source_channel = django_filters.MultipleChoiceFilter(
        distinct=False,
        choices=Channel.choices,
        help_text="One or more source channels (repeat the parameter).",
    )
    campaign = IdFilter(field_name="campaign_id", help_text="Campaign id.")
    contact = IdFilter(field_name="contact_id", help_text="Contact id.")
    is_current = django_filters.BooleanFilter(
        help_text="Only each contact's current journey (true) or past ones (false)."
    )
    created_after = DateBoundFilter(field_name="created_at", bound="after", help_text="Created on or after.")
    created_before = DateBoundFilter(
        field_name="created_at", bound="before", help_text="Created on or before."
    )
    last_touch_after = DateBoundFilter(
        field_name="last_touch_at", bound="after", help_text="Last touch on or after."
    )
    last_touch_before = DateBoundFilter(
        field_name="last_touch_at", bound="before", help_text="Last touch on or before."
    )
    q = django_filters.CharFilter(
        method=search_filter("contact__search_text"),
        help_text="Search the contact's name, email and company.",
    )

    class Meta:
        model = Lead
        fields: list[str] = []


# --- contacts and companies -------------------------------------------------------------------


class ContactFilter(CustomFieldFilterSet):
    custom_field_entity = CustomFieldEntity.CONTACT
    custom_field_json = "custom"

    q = django_filters.CharFilter(
        method=search_filter("search_text"), help_text="Search name, email and company."
    )
    company = IdFilter(field_name="company_id", help_text="Company id.")
    email = django_filters.CharFilter(
        method="filter_email", help_text="Exact email address (case-insensitive)."
    )

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_email(self, qs: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return qs.filter(email_normalized=email_normalize(value)) if value else qs


class CompanyFilter(CustomFieldFilterSet):
    custom_field_entity = CustomFieldEntity.COMPANY
    custom_field_json = "custom"

    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Name contains.")
    domain = django_filters.CharFilter(method="filter_domain", help_text="Exact domain.")
    industry = django_filters.CharFilter(lookup_expr="iexact", help_text="Industry (case-insensitive).")

    class Meta:
        model = Company
        fields: list[str] = []

    def filter_domain(self, qs: QuerySet[Company], name: str, value: str) -> QuerySet[Company]:
        from leads.services import domain_normalize

        return qs.filter(domain=domain_normalize(value)) if value else qs


# --- touchpoints, campaigns, spend --------------------------------------------------------------


class TouchpointFilter(django_filters.FilterSet):
    lead = IdFilter(field_name="lead_id", help_text="Lead id.")
    contact = IdFilter(field_name="contact_id", help_text="Contact id.")
    type = django_filters.MultipleChoiceFilter(
        distinct=False, choices=TouchpointType.choices, help_text="One or more types."
    )
    channel = django_filters.MultipleChoiceFilter(
        distinct=False, choices=Channel.choices, help_text="One or more channels."
    )
    campaign = IdFilter(field_name="campaign_id", help_text="Campaign id.")
    occurred_after = DateBoundFilter(
        field_name="occurred_at", bound="after", help_text="Occurred on or after."
    )
    occurred_before = DateBoundFilter(
        field_name="occurred_at", bound="before", help_text="Occurred on or before."
    )
    anonymous_id = django_filters.CharFilter(help_text="Visitor id recorded before identification.")

    class Meta:
        model = Touchpoint
        fields: list[str] = []


class CampaignFilter(django_filters.FilterSet):
    channel = django_filters.MultipleChoiceFilter(
        distinct=False, choices=Channel.choices, help_text="One or more channels."
    )
    active_on = django_filters.DateFilter(method="filter_active_on", help_text="Running on this date.")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Name contains.")

    class Meta:
        model = Campaign
        fields: list[str] = []

    def filter_active_on(
        self, qs: QuerySet[Campaign], name: str, value: dt.date | None
    ) -> QuerySet[Campaign]:
        if value is None:
            return qs
        return qs.filter(Q(start_date__isnull=True) | Q(start_date__lte=value)).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=value)
        )


class CampaignSpendFilter(django_filters.FilterSet):
    campaign = IdFilter(field_name="campaign_id", help_text="Campaign id.")
    date_after = django_filters.DateFilter(
        field_name="date", lookup_expr="gte", help_text="On or after this day."
    )
    date_before = django_filters.DateFilter(
        field_name="date", lookup_expr="lte", help_text="On or before this day."
    )

    class Meta:
        model = CampaignSpend
        fields: list[str] = []

"""Reads of the funnel's records that are more than a one-liner. Each takes the organization explicitly
(the tenant context scopes the default managers too) and loads what its callers render, so that a list
costs the same number of queries whatever its length."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import DateTimeField, QuerySet, Value
from django.db.models.functions import Coalesce

from leadhub.tenancy.models import Organization
from leads.models import (
    Campaign,
    CampaignSpend,
    Company,
    Contact,
    CustomField,
    Lead,
    StageChange,
    Touchpoint,
)

# Leads never touched sort as the oldest: a NULL has no place in a cursor position.
NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def lead_list(*, organization: Organization) -> QuerySet[Lead]:
    return Lead.objects.filter(organization=organization).select_related("contact__company", "owner")


def leads_with_last_touch_sort(queryset: QuerySet[Lead]) -> QuerySet[Lead]:
    """Add `last_touch_sort`, the non-null last touch the lead list orders by."""
    return queryset.annotate(
        last_touch_sort=Coalesce("last_touch_at", Value(NEVER, output_field=DateTimeField()))
    )


def lead_history(*, lead: Lead) -> QuerySet[StageChange]:
    return StageChange.objects.filter(lead=lead).select_related("changed_by_user", "changed_by_api_key")


def contact_list(*, organization: Organization) -> QuerySet[Contact]:
    return Contact.objects.filter(organization=organization).select_related("company")


def company_list(*, organization: Organization) -> QuerySet[Company]:
    return Company.objects.filter(organization=organization)


def touchpoint_list(*, organization: Organization) -> QuerySet[Touchpoint]:
    return Touchpoint.objects.filter(organization=organization)


def campaign_list(*, organization: Organization) -> QuerySet[Campaign]:
    return Campaign.objects.filter(organization=organization)


def campaign_spend_list(*, organization: Organization) -> QuerySet[CampaignSpend]:
    return CampaignSpend.objects.filter(organization=organization).select_related("campaign")


def custom_field_list(*, organization: Organization) -> QuerySet[CustomField]:
    return CustomField.objects.filter(organization=organization)


def ids_existing(model: type[Any], ids: Iterable[int]) -> set[int]:
    """Which of these ids exist in the current organization (one query)."""
    wanted = {int(i) for i in ids}
    if not wanted:
        return set()
    return set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))


def leads_by_id(ids: Iterable[int]) -> dict[int, Lead]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {lead.pk: lead for lead in Lead.objects.filter(pk__in=wanted).only("pk", "contact_id")}


def current_lead_ids_by_contact(contact_ids: Iterable[int]) -> dict[int, int]:
    """Each contact's current journey (one query)."""
    wanted = set(contact_ids)
    if not wanted:
        return {}
    rows = (
        Lead.objects.filter(contact_id__any_of=list(wanted), is_current=True)
        .order_by("contact_id", "journey")
        .values_list("contact_id", "pk")
    )
    return dict(rows)


def contact_ids_by_email(emails: Iterable[str]) -> dict[str, int]:
    wanted = set(emails)
    if not wanted:
        return {}
    return dict(Contact.objects.filter(email_normalized__in=wanted).values_list("email_normalized", "pk"))

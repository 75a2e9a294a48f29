"""Touchpoints: recording (bulk, idempotent by external id), corrections, first/last touch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from leadhub.events import TouchpointsRecorded, publish
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.services import Actor
from leads.models import Lead, Touchpoint


def touchpoints_record(*, touchpoints: list[Touchpoint]) -> list[Touchpoint]:
    """Store validated touchpoints in one statement and publish one event for the batch.

    Retries are harmless: a touchpoint whose `external_id` is already stored is skipped.
    """
    if not touchpoints:
        return []
    organization_id = current_organization_id()
    external_ids = [t.external_id for t in touchpoints if t.external_id]
    seen = (
        set(Touchpoint.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
        if external_ids
        else set()
    )
    fresh: list[Touchpoint] = []
    batch_ids: set[str] = set()
    for touchpoint in touchpoints:
        if touchpoint.external_id:
            if touchpoint.external_id in seen or touchpoint.external_id in batch_ids:
                continue
            batch_ids.add(touchpoint.external_id)
        if touchpoint.lead_id and not touchpoint.contact_id and touchpoint.lead is not None:
            touchpoint.contact_id = touchpoint.lead.contact_id
        if not touchpoint.channel and touchpoint.campaign_id and touchpoint.campaign is not None:
            touchpoint.channel = touchpoint.campaign.channel
        fresh.append(touchpoint)
    with transaction.atomic():
        created = Touchpoint.objects.bulk_create(fresh, batch_size=1000)
        lead_ids = sorted({t.lead_id for t in created if t.lead_id})
        if created:
            publish(
                TouchpointsRecorded(
                    organization_id=organization_id,
                    lead_ids=lead_ids,
                    touchpoint_ids=[t.pk for t in created if t.pk is not None][:1000],
                )
            )
    return created


def leads_touch_rollup(*, lead_ids: Iterable[int]) -> int:
    """Recompute first and last touch of these leads from their touchpoints, in one UPDATE.

    Idempotent, so a task delivered twice does no harm. Leads without touchpoints keep what capture set.
    """
    ids = list(lead_ids)
    if not ids:
        return 0
    of_lead = Touchpoint.objects.filter(lead_id=OuterRef("pk"))
    first = of_lead.order_by("occurred_at", "id")
    return (
        Lead.objects.filter(pk__in=ids)
        .filter(Exists(of_lead))
        .update(
            last_touch_at=Subquery(of_lead.order_by("-occurred_at", "-id").values("occurred_at")[:1]),
            first_touch_at=Subquery(first.values("occurred_at")[:1]),
            first_touch_channel=Coalesce(Subquery(first.values("channel")[:1]), Value("")),
            first_touch_campaign=Subquery(first.values("campaign_id")[:1]),
            first_touch_url=Coalesce(Subquery(first.values("url")[:1]), Value("")),
        )
    )


def touchpoints_stitch(*, anonymous_id: str, lead: Lead) -> int:
    """Identity stitching: a visitor identified as `lead`'s contact (a form, an email click, an API
    call with their email) gets their earlier anonymous touchpoints. The lead's first touch is then
    recomputed, so the channel, campaign and landing page of the very first visit are kept.

    Only touchpoints not yet owned by anyone move; a shared device never takes another contact's
    history. Returns how many touchpoints were stitched, and publishes them like new ones.
    """
    if not anonymous_id:
        return 0
    organization_id = current_organization_id()
    with transaction.atomic():
        ids = list(
            Touchpoint.objects.filter(anonymous_id=anonymous_id, contact__isnull=True, lead__isnull=True)
            .order_by("id")
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Touchpoint.objects.filter(pk__in=ids).update(lead_id=lead.pk, contact_id=lead.contact_id)
        leads_touch_rollup(lead_ids=[lead.pk])
        publish(
            TouchpointsRecorded(
                organization_id=organization_id, lead_ids=[lead.pk], touchpoint_ids=ids[:1000]
            )
        )
    return len(ids)


TOUCHPOINT_EDITABLE = (
    "type",
    "occurred_at",
    "channel",
    "campaign",
    "url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "properties",
)


def touchpoint_update(*, touchpoint: Touchpoint, data: Mapping[str, Any], actor: Actor) -> Touchpoint:
    """Correct a recorded touchpoint; the lead's first and last touch follow."""
    with transaction.atomic():
        for field in TOUCHPOINT_EDITABLE:
            if field in data:
                value = data[field]
                if value is None and field not in {"campaign", "occurred_at"}:
                    value = {} if field == "properties" else ""
                setattr(touchpoint, field, value)
        if touchpoint.occurred_at is None:
            raise ValidationError({"occurred_at": ["A touchpoint needs the time it occurred."]})
        touchpoint.full_clean(
            exclude=["organization", "lead", "contact", "campaign"],
            validate_unique=False,
            validate_constraints=False,
        )
        touchpoint.save()
        if touchpoint.lead_id:
            leads_touch_rollup(lead_ids=[touchpoint.lead_id])
    return touchpoint


def touchpoint_delete(*, touchpoint: Touchpoint, actor: Actor) -> None:
    with transaction.atomic():
        lead_id = touchpoint.lead_id
        touchpoint.delete()
        if lead_id:
            leads_touch_rollup(lead_ids=[lead_id])

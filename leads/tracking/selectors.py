"""Reads of tracking and identity that other parts of capture call."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from leads.models import AdSource, AdSourceDelivery, Contact, ReferralCode, TrackingSite, Visitor
from leads.tracking.services import ANONYMOUS_ID_RE


def visitor_contact(anonymous_id: str) -> Contact | None:
    """The contact a first-party visitor id (the `lh_vid` cookie) was identified as, if any; forms use
    it to skip questions already answered (progressive profiling)."""
    if not anonymous_id or not ANONYMOUS_ID_RE.match(anonymous_id):
        return None
    visitor = (
        Visitor.objects.select_related("contact", "contact__company")
        .filter(anonymous_id=anonymous_id, contact__isnull=False)
        .first()
    )
    return visitor.contact if visitor is not None else None


def visitor_get(anonymous_id: str) -> Visitor | None:
    if not anonymous_id or not ANONYMOUS_ID_RE.match(anonymous_id):
        return None
    return Visitor.objects.filter(anonymous_id=anonymous_id).first()


def tracking_site_list() -> QuerySet[TrackingSite]:
    return TrackingSite.objects.order_by("name", "id")


def referral_code_list() -> QuerySet[ReferralCode]:
    return (
        ReferralCode.objects.select_related("referrer").annotate(lead_count=Count("leads")).order_by("code")
    )


def ad_source_list() -> QuerySet[AdSource]:
    return AdSource.objects.select_related("campaign").order_by("name", "id")


def ad_source_deliveries(*, source: AdSource) -> QuerySet[AdSourceDelivery]:
    return AdSourceDelivery.objects.filter(source=source).select_related("lead__contact")


def fields_seen(*, source: AdSource, limit: int = 50) -> list[str]:
    """Source field names of the recent deliveries, for the mapping editor."""
    names: set[str] = set()
    for fields in ad_source_deliveries(source=source).values_list("fields_received", flat=True)[:limit]:
        names.update(str(name) for name in fields or [])
    return sorted(names)

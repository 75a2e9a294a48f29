"""Writes of tracking and identity: tracked sites, page views from the snippet, identification
(stitching a visitor's anonymous history to a lead), and referral codes.

Each public function is one unit of work in one transaction; errors name the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from leadhub.tenancy.models import PublicKeyKind
from leadhub.tenancy.public import public_key_issue, public_key_revoke
from leadhub.tenancy.services import Actor, audit_record
from leads.models import (
    Campaign,
    Channel,
    Contact,
    Lead,
    LeadReferral,
    ReferralCode,
    Touchpoint,
    TouchpointType,
    TrackingSite,
    Visitor,
)
from leads.services import lead_capture, touchpoints_record, touchpoints_stitch
from leads.tracking.channels import PAID_CLICK_IDS, PAID_SOCIAL_CLICK_IDS, channel_classify

# PublicKeyKind has no referral kind yet; the key string is what resolves /r/<key>.
REFERRAL_KEY_KIND = PublicKeyKind.REFERRAL
ANONYMOUS_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{6,40}$")
REFERRAL_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
DOMAIN_RE = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
MAX_DOMAINS = 20


# --- domains and origins -------------------------------------------------------------------------


def domains_normalize(values: Iterable[str]) -> list[str]:
    """Hosts as stored: lower case, no scheme, path, port or "www."; "*.example.com" is kept."""
    result: list[str] = []
    errors: list[str] = []
    for raw in values:
        value = str(raw or "").strip().lower()
        if not value:
            continue
        if "://" in value:
            value = urlsplit(value).hostname or ""
        value = value.split("/", 1)[0].split(":", 1)[0].rstrip(".")
        if value.startswith("www."):
            value = value[4:]
        if not DOMAIN_RE.match(value) or len(value) > 253:
            errors.append(f"“{str(raw)[:80]}” is not a domain name (example.com or *.example.com).")
            continue
        if value not in result:
            result.append(value)
    if errors:
        raise ValidationError({"allowed_domains": errors})
    if len(result) > MAX_DOMAINS:
        raise ValidationError({"allowed_domains": [f"At most {MAX_DOMAINS} domains per site."]})
    return result


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether `host` is one of the allowed domains or a subdomain of one."""
    host = (host or "").strip().lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if not host:
        return False
    for domain in allowed:
        base = domain[2:] if domain.startswith("*.") else domain
        if host == base or host.endswith(f".{base}"):
            return True
    return False


def url_host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# --- tracked sites -------------------------------------------------------------------------------


def _site_clean(site: TrackingSite) -> None:
    site.name = (site.name or "").strip()
    if not site.name:
        raise ValidationError({"name": ["Give the site a name."]})
    if not site.allowed_domains:
        raise ValidationError({"allowed_domains": ["List at least one domain the snippet runs on."]})
    if site.site_url:
        try:
            URLValidator(schemes=["http", "https"])(site.site_url)
        except ValidationError:
            raise ValidationError(
                {"site_url": ["Enter the site's address, starting with https://."]}
            ) from None
        if not host_allowed(url_host(site.site_url), site.allowed_domains):
            raise ValidationError({"site_url": ["The site's address must be on one of its allowed domains."]})
    if TrackingSite.objects.filter(name=site.name).exclude(pk=site.pk).exists():
        raise ValidationError({"name": ["Another tracked site has this name."]})


def tracking_site_create(
    *,
    name: str,
    allowed_domains: Iterable[str],
    site_url: str = "",
    require_consent: bool = False,
    actor: Actor,
) -> TrackingSite:
    site = TrackingSite(
        name=name,
        allowed_domains=domains_normalize(allowed_domains),
        site_url=(site_url or "").strip(),
        require_consent=require_consent,
        created_by=actor.user,
    )
    _site_clean(site)
    with transaction.atomic():
        site.save()
        site.public_key = public_key_issue(
            organization=site.organization_id, kind=PublicKeyKind.TRACKING, object_id=site.pk
        ).key
        site.save(update_fields=["public_key"])
        audit_record(actor=actor, action="tracking_site.create", target=site, changes={"name": site.name})
    return site


def tracking_site_update(*, site: TrackingSite, data: Mapping[str, Any], actor: Actor) -> TrackingSite:
    before = {"name": site.name, "allowed_domains": list(site.allowed_domains), "site_url": site.site_url}
    if "name" in data:
        site.name = str(data["name"] or "")
    if "allowed_domains" in data:
        site.allowed_domains = domains_normalize(data["allowed_domains"] or [])
    if "site_url" in data:
        site.site_url = str(data["site_url"] or "").strip()
    if "require_consent" in data:
        site.require_consent = bool(data["require_consent"])
    _site_clean(site)
    with transaction.atomic():
        site.save()
        after = {"name": site.name, "allowed_domains": site.allowed_domains, "site_url": site.site_url}
        changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        audit_record(actor=actor, action="tracking_site.update", target=site, changes=changes)
    return site


def tracking_site_delete(*, site: TrackingSite, actor: Actor) -> None:
    """The snippet stops reporting at once (its key is revoked); recorded touchpoints stay."""
    with transaction.atomic():
        if site.public_key:
            public_key_revoke(key=site.public_key)
        audit_record(actor=actor, action="tracking_site.delete", target=site)
        site.delete()


# --- collected page views ------------------------------------------------------------------------


@dataclass
class PageView:
    """One page view from the snippet, bounded and checked (see `collect_parse`)."""

    event_id: str
    url: str
    title: str
    referrer: str
    occurred_at: dt.datetime
    time_on_page_ms: int | None = None


@dataclass
class Collected:
    anonymous_id: str
    referral_code: str
    views: list[PageView] = field(default_factory=list)
    # event id -> time on page, for views sent in an earlier batch
    leaves: dict[str, int] = field(default_factory=dict)


def _query(url: str) -> dict[str, str]:
    try:
        return {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=False)}
    except ValueError:
        return {}


def referral_code_normalize(code: str) -> str:
    code = (code or "").strip().lower()
    return code if REFERRAL_CODE_RE.match(code) else ""


def tracking_collect(*, site: TrackingSite, collected: Collected) -> int:
    """Store a batch of page views of one visitor as touchpoints, in one insert, and keep the visitor.

    A visitor who already identified gets their page views on their lead directly. A repeated event id
    (a beacon retried) is stored once. Returns how many touchpoints were stored.
    """
    now = timezone.now()
    anonymous_id = collected.anonymous_id
    referral = referral_code_normalize(collected.referral_code)
    with transaction.atomic():
        visitor = Visitor.objects.filter(anonymous_id=anonymous_id).only("pk", "contact_id").first()
        contact_id = visitor.contact_id if visitor else None
        lead_id = (
            Lead.objects.filter(contact_id=contact_id, is_current=True).values_list("pk", flat=True).first()
            if contact_id
            else None
        )
        utm_campaigns: set[str] = set()
        prepared: list[tuple[PageView, dict[str, str], list[str], str]] = []
        for view in collected.views:
            query = _query(view.url)
            utm = {key: query.get(key, "")[:200] for key in UTM_KEYS}
            if utm["utm_campaign"]:
                utm_campaigns.add(utm["utm_campaign"])
            clicks = [key for key in query if key in CLICK_IDS]
            prepared.append((view, utm, clicks, referral_code_normalize(query.get("ref", ""))))
        campaigns = _campaigns_by_utm(utm_campaigns)
        # The snippet sends the code it keeps in a cookie; a landing URL's own ?ref= counts too.
        referral = referral or next((page_ref for _, _, _, page_ref in prepared if page_ref), "")
        touchpoints: list[Touchpoint] = []
        for view, utm, clicks, page_ref in prepared:
            channel = channel_classify(
                utm_source=utm["utm_source"],
                utm_medium=utm["utm_medium"],
                referrer=view.referrer,
                page_url=view.url,
                click_ids=clicks,
                referral_code=page_ref,
            )
            campaign = campaigns.get(utm["utm_campaign"])
            if campaign is not None and channel in (Channel.OTHER, Channel.DIRECT):
                channel = campaign.channel
            properties: dict[str, Any] = {"title": view.title, "site": site.pk}
            if view.time_on_page_ms is not None:
                properties["time_on_page_ms"] = view.time_on_page_ms
            if referral:
                properties["ref"] = referral
            touchpoints.append(
                Touchpoint(
                    anonymous_id=anonymous_id,
                    external_id=f"t:{view.event_id}",
                    lead_id=lead_id,
                    contact_id=contact_id if lead_id else None,
                    type=TouchpointType.PAGE_VIEW,
                    occurred_at=view.occurred_at,
                    channel=channel,
                    campaign=campaign,
                    url=view.url,
                    referrer=view.referrer,
                    properties=properties,
                    created_at=now,
                    **utm,
                )
            )
        created = touchpoints_record(touchpoints=touchpoints) if touchpoints else []
        if collected.leaves:
            _time_on_page_record(collected.leaves)
        first = touchpoints[0] if touchpoints else None
        _visitor_touch(site=site, anonymous_id=anonymous_id, first=first, referral=referral, now=now)
    return len(created)


CLICK_IDS = frozenset(PAID_CLICK_IDS + PAID_SOCIAL_CLICK_IDS)


def _campaigns_by_utm(values: set[str]) -> dict[str, Campaign]:
    if not values:
        return {}
    found: dict[str, Campaign] = {}
    for campaign in Campaign.objects.filter(utm_campaign__in=values).order_by("id"):
        found.setdefault(campaign.utm_campaign, campaign)
    return found


def _time_on_page_record(leaves: Mapping[str, int]) -> None:
    """Time on page arrives after its page view (on pagehide): add it to the stored touchpoint."""
    stored = list(
        Touchpoint.objects.filter(
            external_id__in=[f"t:{event_id}" for event_id in leaves], type=TouchpointType.PAGE_VIEW
        ).only("pk", "external_id", "properties")
    )
    for touchpoint in stored:
        duration = leaves[touchpoint.external_id[2:]]
        properties = dict(touchpoint.properties or {})
        properties["time_on_page_ms"] = max(int(properties.get("time_on_page_ms") or 0), duration)
        touchpoint.properties = properties
    if stored:
        Touchpoint.objects.bulk_update(stored, ["properties"])


def _visitor_touch(
    *, site: TrackingSite | None, anonymous_id: str, first: Touchpoint | None, referral: str, now: dt.datetime
) -> None:
    """Create the visitor with its first touch, or move its last-seen time (one statement, race-safe)."""
    visitor = Visitor(anonymous_id=anonymous_id, site=site, first_seen_at=now, last_seen_at=now)
    if first is not None:
        visitor.first_seen_at = first.occurred_at
        visitor.first_channel = first.channel
        visitor.first_campaign = first.campaign
        visitor.first_url = first.url
        visitor.first_referrer = first.referrer
        for key in UTM_KEYS:
            setattr(visitor, f"first_{key}", getattr(first, key))
    visitor.referral_code = referral
    Visitor.objects.bulk_create(
        [visitor],
        update_conflicts=True,
        unique_fields=["organization", "anonymous_id"],
        update_fields=["last_seen_at"],
    )
    if first is not None:
        # Beacons arrive out of order: the view a page sent as it unloaded can land after the next page's
        # first batch. The earliest touch is the first touch, whichever request stored it first.
        Visitor.objects.filter(anonymous_id=anonymous_id, first_seen_at__gt=first.occurred_at).update(
            first_seen_at=first.occurred_at,
            first_channel=first.channel,
            first_campaign=first.campaign,
            first_url=first.url,
            first_referrer=first.referrer,
            **{f"first_{key}": getattr(first, key) for key in UTM_KEYS},
        )
    if referral:
        # A referral code seen later in the visit still counts, but never replaces the first one.
        Visitor.objects.filter(anonymous_id=anonymous_id, referral_code="").update(referral_code=referral)


# --- identity ------------------------------------------------------------------------------------


def visitor_identify(*, anonymous_id: str, lead: Lead, referral_code: str = "") -> int:
    """The visitor `anonymous_id` is `lead`'s contact: their anonymous touchpoints become the lead's
    (first touch kept, see `touchpoints_stitch`), the visitor is linked to the contact (progressive
    profiling, later page views), and a referral code is recorded. Forms call this after capturing.
    Returns how many touchpoints were stitched."""
    if not anonymous_id or not ANONYMOUS_ID_RE.match(anonymous_id):
        return 0
    now = timezone.now()
    with transaction.atomic():
        stitched = touchpoints_stitch(anonymous_id=anonymous_id, lead=lead)
        visitor = Visitor.objects.filter(anonymous_id=anonymous_id).first()
        if visitor is None:
            try:
                with transaction.atomic():
                    visitor = Visitor.objects.create(
                        anonymous_id=anonymous_id, contact_id=lead.contact_id, identified_at=now
                    )
            except IntegrityError:  # created by a concurrent page view
                visitor = Visitor.objects.get(anonymous_id=anonymous_id)
        if visitor.contact_id != lead.contact_id:
            Visitor.objects.filter(pk=visitor.pk).update(
                contact_id=lead.contact_id, identified_at=now, last_seen_at=now
            )
        code = referral_code or visitor.referral_code
        if code:
            referral_record(lead=lead, code=code)
    return stitched


def tracking_identify(
    *, anonymous_id: str, email: str, referral_code: str = "", actor: Actor
) -> tuple[Lead, bool, int]:
    """`leadhub.identify(email)` from the snippet (or an email click carrying the visitor id): upsert
    the contact, capture its lead with the visitor's first touch as source, and stitch.

    Returns (lead, created, stitched)."""
    if not ANONYMOUS_ID_RE.match(anonymous_id or ""):
        raise ValidationError({"vid": ["A visitor id is 8 to 64 letters, digits, - or _."]})
    with transaction.atomic():
        visitor = Visitor.objects.filter(anonymous_id=anonymous_id).first()
        lead_data: dict[str, Any] = {}
        if visitor is not None:
            lead_data["source_channel"] = visitor.first_channel or Channel.DIRECT
            if visitor.first_campaign_id:
                lead_data["campaign"] = visitor.first_campaign
        code = referral_code_normalize(referral_code) or (visitor.referral_code if visitor else "")
        if code:
            lead_data["source_channel"] = Channel.REFERRAL
        lead, created = lead_capture(contact_data={"email": email}, lead_data=lead_data, actor=actor)
        stitched = visitor_identify(anonymous_id=anonymous_id, lead=lead, referral_code=code)
    return lead, created, stitched


# --- referral codes ------------------------------------------------------------------------------


def referral_code_create(
    *, code: str, referrer: Contact | None = None, landing_url: str = "", actor: Actor
) -> ReferralCode:
    normalized = (code or "").strip().lower()
    if not REFERRAL_CODE_RE.match(normalized):
        raise ValidationError(
            {
                "code": [
                    "A code is 2 to 40 lower-case letters, digits, - or _, starting with a letter or digit."
                ]
            }
        )
    if landing_url:
        try:
            URLValidator(schemes=["http", "https"])(landing_url)
        except ValidationError:
            raise ValidationError({"landing_url": ["Enter an address starting with https://."]}) from None
        if not any(
            host_allowed(url_host(landing_url), s.allowed_domains) for s in TrackingSite.objects.all()
        ):
            raise ValidationError({"landing_url": ["The address must be on one of your tracked sites."]})
    if ReferralCode.objects.filter(code=normalized).exists():
        raise ValidationError({"code": ["This code is taken."]})
    with transaction.atomic():
        referral = ReferralCode.objects.create(code=normalized, referrer=referrer, landing_url=landing_url)
        referral.public_key = public_key_issue(
            organization=referral.organization_id, kind=REFERRAL_KEY_KIND, object_id=referral.pk
        ).key
        referral.save(update_fields=["public_key"])
        audit_record(actor=actor, action="referral_code.create", target=referral)
    return referral


def referral_resolve(code: str) -> ReferralCode | None:
    """The known referral code `code` (case-insensitive) of the current organization, if any."""
    normalized = referral_code_normalize(code)
    if not normalized:
        return None
    return ReferralCode.objects.select_related("referrer").filter(code=normalized).first()


def referral_record(*, lead: Lead, code: str) -> LeadReferral | None:
    """Record that `lead` came with referral code `code`: the code as received and, when it is a known
    code, its referrer; a referral touchpoint on the lead. The first code a lead came with is kept."""
    normalized = referral_code_normalize(code)
    if not normalized:
        return None
    with transaction.atomic():
        existing = LeadReferral.objects.filter(lead=lead).first()
        if existing is not None:
            return existing
        known = referral_resolve(normalized)
        referral = LeadReferral.objects.create(
            lead=lead,
            code=normalized,
            referral_code=known,
            referrer_id=known.referrer_id if known else None,
        )
        touchpoints_record(
            touchpoints=[
                Touchpoint(
                    lead=lead,
                    contact_id=lead.contact_id,
                    type=TouchpointType.REFERRAL,
                    channel=Channel.REFERRAL,
                    external_id=f"ref:{lead.pk}",
                    properties={
                        "code": normalized,
                        "referrer_contact": known.referrer_id if known else None,
                    },
                )
            ]
        )
    return referral

"""Ad lead sources: an inbound webhook per source that turns lead-ad submissions (Facebook / Instagram
lead ads, LinkedIn Lead Gen Forms, any JSON sender) into contacts and leads through a field mapping.

Deliveries are signed with a shared secret (HMAC-SHA256 over the raw body, compared in constant time).
Each lead of a delivery is recorded as an AdSourceDelivery (field names and errors, never the values)
so that the marketer sees what arrived and why something was refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leadhub.tenancy.models import PublicKeyKind
from leadhub.tenancy.public import public_key_issue, public_key_revoke
from leadhub.tenancy.services import Actor, audit_record
from leads.models import (
    AdSource,
    AdSourceDelivery,
    AdSourceKind,
    Campaign,
    Channel,
    CustomField,
    DeliveryStatus,
    Touchpoint,
    TouchpointType,
)
from leads.services import COMPANY_FIELDS, CONTACT_FIELDS, lead_capture, touchpoints_record

LEAD_FIELDS = ("budget", "authority", "need", "timing")
MAX_LEADS_PER_DELIVERY = 100
MAX_FIELD_LENGTH = 2000
GRAPH_TIMEOUT_SECONDS = 10
GRAPH_MAX_BYTES = 1 << 20
GRAPH_LEAD_FIELDS = "id,created_time,field_data,ad_id,adset_id,campaign_id,form_id"
SIGNATURE_HEADERS: dict[str, str] = {
    AdSourceKind.FACEBOOK: "X-Hub-Signature-256",
    AdSourceKind.LINKEDIN: "X-LI-Signature",
    AdSourceKind.GENERIC: "X-Signature-256",
}
# Used for source fields the marketer has not mapped: the standard question names of lead ad forms.
DEFAULT_MAPPING: dict[str, str] = {
    "email": "contact.email",
    "work_email": "contact.email",
    "emailaddress": "contact.email",
    "full_name": "contact.full_name",
    "name": "contact.full_name",
    "first_name": "contact.first_name",
    "firstname": "contact.first_name",
    "last_name": "contact.last_name",
    "lastname": "contact.last_name",
    "phone_number": "contact.phone",
    "phone": "contact.phone",
    "work_phone_number": "contact.phone",
    "job_title": "contact.job_title",
    "title": "contact.job_title",
    "company_name": "company.name",
    "company": "company.name",
    "city": "contact.city",
    "country": "contact.country",
}


def mapping_targets() -> list[tuple[str, str]]:
    """(target, label) pairs a source field may map to, custom fields of this organization included."""
    targets = [("contact.email", "Contact · email"), ("contact.full_name", "Contact · full name (split)")]
    targets += [(f"contact.{f}", f"Contact · {f.replace('_', ' ')}") for f in CONTACT_FIELDS]
    targets += [("company.domain", "Company · domain")]
    targets += [(f"company.{f}", f"Company · {f.replace('_', ' ')}") for f in COMPANY_FIELDS]
    targets += [(f"lead.{f}", f"Lead · {f}") for f in LEAD_FIELDS]
    for custom in CustomField.objects.order_by("entity", "position", "label"):
        targets.append(
            (f"{custom.entity}.custom.{custom.key}", f"{custom.get_entity_display()} · {custom.label}")
        )
    return targets


# --- parsing deliveries --------------------------------------------------------------------------


@dataclass
class AdLead:
    """One submitted lead, whatever shape it came in: flat {source field: value}, plus ad context."""

    external_id: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    ad_campaign_id: str = ""
    ad_id: str = ""
    form_id: str = ""
    occurred_at: dt.datetime | None = None


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value if _text(v))[:MAX_FIELD_LENGTH]
    return str(value).strip()[:MAX_FIELD_LENGTH]


def _urn_id(value: Any) -> str:
    """urn:li:sponsoredCampaign:123 -> 123; plain ids unchanged."""
    text = _text(value)
    return text.rsplit(":", 1)[-1] if text.startswith("urn:") else text


def _timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        seconds = value / 1000 if value > 10**11 else value  # LinkedIn sends milliseconds
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            parsed = parse_datetime(value.replace("+0000", "+00:00"))
        except ValueError:
            return None
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed
    return None


def _facebook_lead(value: Mapping[str, Any]) -> AdLead:
    """A Graph API lead ({"id", "field_data": [{"name", "values"}], "ad_id", "campaign_id", ...}) or a
    leadgen webhook change value ({"leadgen_id", "form_id", "ad_id", "adgroup_id", ...})."""
    fields: dict[str, str] = {}
    for item in value.get("field_data") or []:
        if isinstance(item, Mapping) and item.get("name"):
            fields[str(item["name"])[:100]] = _text(item.get("values"))
    return AdLead(
        external_id=_text(value.get("leadgen_id") or value.get("id"))[:100],
        fields=fields,
        ad_campaign_id=_text(value.get("campaign_id")),
        ad_id=_text(value.get("ad_id")),
        form_id=_text(value.get("form_id")),
        occurred_at=_timestamp(value.get("created_time")),
    )


def _linkedin_lead(value: Mapping[str, Any]) -> AdLead:
    """A Lead Sync form response: {"id", "submittedAt", "leadMetadata": {"sponsoredLeadMetadata":
    {"campaign": urn}}, "formResponse": {"answers": [{"questionId", "answerDetails": {...}}]}}."""
    fields: dict[str, str] = {}
    response = value.get("formResponse") or {}
    answers = response.get("answers") if isinstance(response, Mapping) else None
    for answer in answers or value.get("answers") or []:
        if not isinstance(answer, Mapping):
            continue
        name = _text(answer.get("name") or answer.get("questionId"))[:100]
        details = answer.get("answerDetails") or {}
        text = ""
        if isinstance(details, Mapping):
            text_answer = details.get("textQuestionAnswer") or {}
            choice = details.get("multipleChoiceAnswer") or {}
            text = _text(text_answer.get("answer") if isinstance(text_answer, Mapping) else "") or _text(
                choice.get("options") if isinstance(choice, Mapping) else ""
            )
        text = text or _text(answer.get("answerValue") or answer.get("answer"))
        if name:
            fields[name] = text
    metadata = value.get("leadMetadata") or {}
    sponsored = metadata.get("sponsoredLeadMetadata") if isinstance(metadata, Mapping) else None
    campaign = sponsored.get("campaign") if isinstance(sponsored, Mapping) else None
    entity = value.get("associatedEntity") or {}
    return AdLead(
        external_id=_urn_id(value.get("id") or value.get("leadGenFormResponse"))[:100],
        fields=fields,
        ad_campaign_id=_urn_id(campaign),
        ad_id=_urn_id(entity.get("associatedCreative") if isinstance(entity, Mapping) else ""),
        form_id=_urn_id(
            value.get("versionedLeadGenFormUrn") or value.get("formId") or value.get("leadGenForm")
        ),
        occurred_at=_timestamp(value.get("submittedAt")),
    )


def _flatten(value: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"[:100]
        if isinstance(item, Mapping) and depth < 3:
            flat.update(_flatten(item, f"{path}.", depth + 1))
        else:
            flat[path] = _text(item)
    return flat


def _generic_lead(value: Mapping[str, Any]) -> AdLead:
    """Any JSON object; nested objects become dotted paths ("answers.budget")."""
    fields = _flatten(value)
    return AdLead(
        external_id=(fields.pop("external_id", "") or fields.pop("lead_id", "") or fields.pop("id", ""))[
            :100
        ],
        fields=fields,
        ad_campaign_id=fields.pop("campaign_id", ""),
        ad_id=fields.pop("ad_id", ""),
        form_id=fields.pop("form_id", ""),
    )


def ad_payload_leads(kind: str, payload: Any) -> list[AdLead]:
    """The leads of one delivery. Accepts the webhook envelopes and the API shapes of each platform."""
    if isinstance(payload, list):
        items: list[Any] = payload
    elif isinstance(payload, Mapping) and isinstance(payload.get("entry"), list):
        # Facebook webhook: {"object": "page", "entry": [{"changes": [{"field": "leadgen", "value": {...}}]}]}
        items = [
            change.get("value")
            for entry in payload["entry"]
            if isinstance(entry, Mapping)
            for change in entry.get("changes") or []
            if isinstance(change, Mapping) and change.get("field", "leadgen") == "leadgen"
        ]
    elif isinstance(payload, Mapping) and isinstance(payload.get("elements") or payload.get("data"), list):
        items = payload.get("elements") or payload.get("data") or []
    elif isinstance(payload, Mapping) and isinstance(payload.get("leads"), list):
        items = payload["leads"]
    elif isinstance(payload, Mapping):
        items = [payload]
    else:
        raise ValidationError({"body": ["Expected a JSON object or a list of leads."]})
    if len(items) > MAX_LEADS_PER_DELIVERY:
        raise ValidationError({"body": [f"At most {MAX_LEADS_PER_DELIVERY} leads per delivery."]})
    leads: list[AdLead] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        if kind == AdSourceKind.FACEBOOK or "field_data" in item or "leadgen_id" in item:
            leads.append(_facebook_lead(item))
        elif kind == AdSourceKind.LINKEDIN or "formResponse" in item:
            leads.append(_linkedin_lead(item))
        else:
            leads.append(_generic_lead(item))
    return leads


# --- signatures ----------------------------------------------------------------------------------


def signature_expected(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(*, secret: str, body: bytes, header_value: str) -> bool:
    """`sha256=<hex>` (Facebook), `hmacsha256=<hex>` or a bare hex digest; constant-time compare."""
    value = (header_value or "").strip()
    for prefix in ("sha256=", "hmacsha256="):
        if value.lower().startswith(prefix):
            value = value[len(prefix) :]
            break
    if not value or not secret:
        return False
    return hmac.compare_digest(value.lower().encode(), signature_expected(secret, body).encode())


def verify_token_valid(*, source: AdSource, token: str) -> bool:
    return bool(token) and hmac.compare_digest(token.encode(), source.verify_token.encode())


def signature_failure_note(source: AdSource) -> None:
    """Refused deliveries are not stored (their request rolls back, and they may be anyone's), but the
    marketer needs to see that they happen: a count and a time in the cache."""
    key = f"adsource:{source.pk}:sigfail"
    cache.add(f"{key}:count", 0, timeout=7 * 86400)
    try:
        cache.incr(f"{key}:count")
    except ValueError:
        cache.set(f"{key}:count", 1, timeout=7 * 86400)
    cache.set(f"{key}:last", timezone.now().isoformat(), timeout=7 * 86400)


def signature_failures(source: AdSource) -> tuple[int, str]:
    key = f"adsource:{source.pk}:sigfail"
    return int(cache.get(f"{key}:count") or 0), str(cache.get(f"{key}:last") or "")


# --- managing sources ----------------------------------------------------------------------------


def _secret() -> str:
    return secrets.token_urlsafe(32)


GRAPH_API_DEFAULT = "https://graph.facebook.com/v21.0"


def _source_clean(source: AdSource) -> None:
    source.name = (source.name or "").strip()
    if not source.name:
        raise ValidationError({"name": ["Give the source a name."]})
    if source.kind not in AdSourceKind.values:
        raise ValidationError({"kind": ["Choose a kind of source."]})
    if source.channel not in Channel.values:
        raise ValidationError({"channel": ["Choose a channel."]})
    if not re.match(r"^[A-Za-z0-9-]{1,100}$", source.signature_header or ""):
        raise ValidationError({"signature_header": ["A header name: letters, digits and dashes."]})
    url = urllib.parse.urlsplit(source.graph_api_url or "")
    if url.scheme not in {"http", "https"} or not url.netloc or len(source.graph_api_url) > 200:
        raise ValidationError(
            {"graph_api_url": ["An http(s) address, like https://graph.facebook.com/v21.0."]}
        )
    if len(source.graph_token or "") > 500 or any(c.isspace() for c in source.graph_token or ""):
        raise ValidationError({"graph_token": ["A page access token: up to 500 characters, no spaces."]})
    if AdSource.objects.filter(name=source.name).exclude(pk=source.pk).exists():
        raise ValidationError({"name": ["Another source has this name."]})


def ad_source_create(
    *,
    name: str,
    kind: str,
    channel: str = Channel.PAID_SOCIAL,
    campaign: Campaign | None = None,
    signature_header: str = "",
    actor: Actor,
) -> tuple[AdSource, str]:
    """A new source with its webhook key, secret and verify token. Returns (source, secret): the
    secret is shown to the marketer once."""
    source = AdSource(
        name=name,
        kind=kind,
        channel=channel or Channel.PAID_SOCIAL,
        campaign=campaign,
        signature_header=(signature_header or SIGNATURE_HEADERS.get(kind, "X-Signature-256")).strip(),
        secret=_secret(),
        verify_token=secrets.token_urlsafe(18),
        created_by=actor.user,
    )
    _source_clean(source)
    with transaction.atomic():
        source.save()
        source.public_key = public_key_issue(
            organization=source.organization_id, kind=PublicKeyKind.AD_SOURCE, object_id=source.pk
        ).key
        source.save(update_fields=["public_key"])
        audit_record(actor=actor, action="ad_source.create", target=source, changes={"kind": source.kind})
    return source, source.secret


def ad_source_update(*, source: AdSource, data: Mapping[str, Any], actor: Actor) -> AdSource:
    before = {
        f: getattr(source, f)
        for f in ("name", "channel", "campaign_id", "signature_header", "is_active", "graph_api_url")
    }
    for name in ("name", "channel", "signature_header"):
        if name in data:
            setattr(source, name, str(data[name] or "").strip())
    if "campaign" in data:
        source.campaign = data["campaign"]
    if "is_active" in data:
        source.is_active = bool(data["is_active"])
    if "graph_api_url" in data:
        source.graph_api_url = str(data["graph_api_url"] or "").strip() or GRAPH_API_DEFAULT
    token_changed = False
    if data.get("graph_token_clear"):
        token_changed, source.graph_token = bool(source.graph_token), ""
    elif str(data.get("graph_token") or "").strip():
        token_changed, source.graph_token = True, str(data["graph_token"]).strip()
    _source_clean(source)
    with transaction.atomic():
        source.save()
        changes = {k: [str(v), str(getattr(source, k))] for k, v in before.items() if v != getattr(source, k)}
        if token_changed:
            changes["graph_token"] = ["(hidden)", "set" if source.graph_token else "removed"]
        audit_record(actor=actor, action="ad_source.update", target=source, changes=changes)
    return source


def ad_source_mapping_set(
    *, source: AdSource, field_mapping: Mapping[str, str], campaign_mapping: Mapping[str, int], actor: Actor
) -> AdSource:
    """Replace the field and campaign mappings; every target and campaign is checked first."""
    targets = {target for target, _ in mapping_targets()} | {"ignore"}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for source_field, target in field_mapping.items():
        name = str(source_field or "").strip()[:100]
        if not name:
            continue
        if target not in targets:
            errors.setdefault("field_mapping", []).append(
                f"“{name}”: “{str(target)[:60]}” is not a known field."
            )
        cleaned[name] = target
    campaigns: dict[str, int] = {}
    known = set(Campaign.objects.filter(pk__in=list(campaign_mapping.values())).values_list("pk", flat=True))
    for ad_campaign, campaign_id in campaign_mapping.items():
        name = str(ad_campaign or "").strip()[:100]
        if not name:
            continue
        if campaign_id not in known:
            errors.setdefault("campaign_mapping", []).append(f"“{name}”: no such campaign.")
        campaigns[name] = campaign_id
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        changes = {}
        if cleaned != source.field_mapping:
            changes["field_mapping"] = [source.field_mapping, cleaned]
        if campaigns != source.campaign_mapping:
            changes["campaign_mapping"] = [source.campaign_mapping, campaigns]
        source.field_mapping = cleaned
        source.campaign_mapping = campaigns
        source.save(update_fields=["field_mapping", "campaign_mapping", "updated_at"])
        audit_record(actor=actor, action="ad_source.mapping", target=source, changes=changes)
    return source


def ad_source_rotate_secret(*, source: AdSource, actor: Actor) -> str:
    """A new shared secret; deliveries signed with the old one are refused from now on."""
    with transaction.atomic():
        source.secret = _secret()
        source.secret_rotated_at = timezone.now()
        source.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
        audit_record(actor=actor, action="ad_source.rotate_secret", target=source)
    return source.secret


def ad_source_delete(*, source: AdSource, actor: Actor) -> None:
    """The webhook stops answering (its key is revoked); captured leads stay."""
    with transaction.atomic():
        if source.public_key:
            public_key_revoke(key=source.public_key)
        audit_record(actor=actor, action="ad_source.delete", target=source)
        source.delete()


# --- receiving leads -----------------------------------------------------------------------------


def _mapped(source: AdSource, ad_lead: AdLead) -> tuple[dict[str, Any], dict[str, Any]]:
    """(contact_data for lead_capture, lead fields) from the lead's fields through the mapping."""
    contact: dict[str, Any] = {}
    company: dict[str, Any] = {}
    contact_custom: dict[str, Any] = {}
    company_custom: dict[str, Any] = {}
    lead: dict[str, Any] = {}
    for name, value in ad_lead.fields.items():
        target = source.field_mapping.get(name) or DEFAULT_MAPPING.get(name.lower().replace(" ", "_"), "")
        if not target or target == "ignore" or value == "":
            continue
        entity, _, attribute = target.partition(".")
        if attribute.startswith("custom."):
            (contact_custom if entity == "contact" else company_custom)[attribute[7:]] = value
        elif target == "contact.full_name":
            first, _, last = value.partition(" ")
            contact.setdefault("first_name", first)
            if last:
                contact.setdefault("last_name", last)
        elif entity == "contact":
            contact[attribute] = value
        elif entity == "company":
            company[attribute] = value
        elif entity == "lead":
            lead[attribute] = value
    if company or company_custom:
        contact["company"] = {**company, **({"custom_fields": company_custom} if company_custom else {})}
    if contact_custom:
        contact["custom_fields"] = contact_custom
    return contact, lead


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def ad_leads_receive(
    *, source: AdSource, leads: list[AdLead], pending: AdSourceDelivery | None = None
) -> list[AdSourceDelivery]:
    """Capture each lead of a delivery: contact and lead upserted, an ad-lead touchpoint with the ad's
    campaign, a delivery record. Each lead is its own savepoint: one refused lead does not undo the
    others, and a lead the platform sends again (same id) is not captured twice. A Facebook lead named
    without its answers, on a source with a Graph API token, is recorded as fetching and read later;
    `pending` is that record, completed here once its one lead has been read."""
    actor = Actor.system(f"ad source {source.name}")
    deliveries: list[AdSourceDelivery] = []
    campaign_ids = {source.campaign_mapping.get(lead.ad_campaign_id) for lead in leads if lead.ad_campaign_id}
    campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in=[i for i in campaign_ids if i])}
    external_ids = [f"ad:{source.pk}:{lead.external_id}" for lead in leads if lead.external_id]
    seen = set(Touchpoint.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
    for ad_lead in leads:
        delivery = pending or AdSourceDelivery(source=source, external_id=ad_lead.external_id)
        delivery.fields_received = sorted(ad_lead.fields)[:100]
        external_id = f"ad:{source.pk}:{ad_lead.external_id}" if ad_lead.external_id else ""
        if external_id and external_id in seen:
            delivery.status = DeliveryStatus.DUPLICATE
            deliveries.append(delivery)
            continue
        if not ad_lead.fields and _fetchable(source, ad_lead):
            delivery.status = DeliveryStatus.FETCHING  # ad_lead_fetch reads the answers after commit
            deliveries.append(delivery)
            continue
        if not ad_lead.fields:
            delivery.status = DeliveryStatus.IGNORED
            delivery.errors = {
                "body": [
                    "The delivery names a lead but carries none of its answers; send the lead's field_data "
                    "(or formResponse) with it."
                ]
            }
            deliveries.append(delivery)
            continue
        contact_data, lead_fields = _mapped(source, ad_lead)
        if not contact_data.get("email"):
            delivery.status = DeliveryStatus.REJECTED
            delivery.errors = {
                "email": ["No field of this lead maps to the contact's email; check the mapping."]
            }
            deliveries.append(delivery)
            continue
        campaign = campaigns.get(source.campaign_mapping.get(ad_lead.ad_campaign_id, 0)) or source.campaign
        lead_data: dict[str, Any] = {**lead_fields, "source_channel": source.channel}
        if campaign is not None:
            lead_data["campaign"] = campaign
        try:
            with transaction.atomic():
                lead, _ = lead_capture(contact_data=contact_data, lead_data=lead_data, actor=actor)
                touchpoint = Touchpoint(
                    lead=lead,
                    contact_id=lead.contact_id,
                    type=TouchpointType.AD_LEAD,
                    channel=source.channel,
                    campaign=campaign,
                    external_id=external_id,
                    properties={
                        "source": source.name,
                        "ad_campaign_id": ad_lead.ad_campaign_id,
                        "ad_id": ad_lead.ad_id,
                        "form_id": ad_lead.form_id,
                    },
                )
                if ad_lead.occurred_at is not None:
                    touchpoint.occurred_at = ad_lead.occurred_at
                touchpoints_record(touchpoints=[touchpoint])
        except ValidationError as exc:
            delivery.status = DeliveryStatus.REJECTED
            delivery.errors = _errors(exc)
        else:
            delivery.status = DeliveryStatus.CAPTURED
            delivery.lead = lead
            if external_id:
                seen.add(external_id)
        deliveries.append(delivery)
    if pending is not None:
        pending.save()
        return deliveries
    AdSourceDelivery.objects.bulk_create(deliveries)
    fetching = [d.pk for d in deliveries if d.status == DeliveryStatus.FETCHING]
    if fetching:
        from leads import tasks  # the tasks module imports the services

        for pk in fetching:
            transaction.on_commit(functools.partial(tasks.ad_lead_fetch.delay, source.organization_id, pk))
    return deliveries


# --- Facebook: the answers of a lead the webhook only names ----------------------------------------


class GraphTemporaryError(Exception):
    """The Graph API could not be reached or failed on its side: worth another try later."""


def _fetchable(source: AdSource, ad_lead: AdLead) -> bool:
    return source.kind == AdSourceKind.FACEBOOK and bool(source.graph_token) and bool(ad_lead.external_id)


def _graph_get(source: AdSource, lead_id: str) -> dict[str, Any]:
    query = urllib.parse.urlencode({"access_token": source.graph_token, "fields": GRAPH_LEAD_FIELDS})
    url = f"{source.graph_api_url.rstrip('/')}/{urllib.parse.quote(lead_id, safe='')}?{query}"
    try:
        with urllib.request.urlopen(url, timeout=GRAPH_TIMEOUT_SECONDS) as response:  # noqa: S310 (http(s) only: URLField)
            body = response.read(GRAPH_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(exc.read(65536) or b"{}").get("error", {}).get("message", ""))[:300]
        if exc.code >= 500 or exc.code == 429:
            raise GraphTemporaryError(f"Graph API answered {exc.code}") from exc
        reason = f"The Graph API refused to read lead {lead_id} ({exc.code})"
        raise ValidationError({"graph": [f"{reason}: {detail}" if detail else f"{reason}."]}) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise GraphTemporaryError(f"Graph API unreachable: {exc}") from exc
    if len(body) > GRAPH_MAX_BYTES:
        raise ValidationError({"graph": ["The Graph API's answer is too large to be a lead."]})
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValidationError({"graph": ["The Graph API's answer is not JSON."]}) from exc
    if not isinstance(data, dict):
        raise ValidationError({"graph": ["The Graph API's answer is not a lead."]})
    return data


def ad_lead_fetch(*, delivery: AdSourceDelivery) -> AdSourceDelivery:
    """Read the answers of a lead that a Facebook webhook only named, then capture it. Idempotent: a
    delivery no longer fetching is left as it is. Raises GraphTemporaryError for the task to retry."""
    if delivery.status != DeliveryStatus.FETCHING:
        return delivery
    source = delivery.source
    if not source.graph_token:
        delivery.status = DeliveryStatus.IGNORED
        delivery.errors = {
            "graph": ["The source's Graph API token was removed before the answers were read."]
        }
        delivery.save(update_fields=["status", "errors"])
        return delivery
    try:
        data = _graph_get(source, delivery.external_id)
    except ValidationError as exc:
        delivery.status = DeliveryStatus.REJECTED
        delivery.errors = _errors(exc)
        delivery.save(update_fields=["status", "errors"])
        return delivery
    ad_lead = _facebook_lead({**data, "id": delivery.external_id})
    if not ad_lead.fields:
        delivery.status = DeliveryStatus.IGNORED
        delivery.errors = {"graph": ["The Graph API returned the lead without any answers."]}
        delivery.save(update_fields=["status", "errors"])
        return delivery
    with transaction.atomic():
        ad_leads_receive(source=source, leads=[ad_lead], pending=delivery)
    return delivery


def deliveries_summary(deliveries: list[AdSourceDelivery]) -> dict[str, Any]:
    return {
        "received": len(deliveries),
        "results": [
            {
                "external_id": d.external_id,
                "status": d.status,
                **({"lead": d.lead_id} if d.lead_id else {}),
                **({"errors": d.errors} if d.errors else {}),
            }
            for d in deliveries
        ],
    }

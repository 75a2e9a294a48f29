"""Server-side events in bulk (POST /api/v1/events/batch/): product sign-ups and usage, webinar
attendance, downloads, ad clicks... up to 1,000 per request, in a fixed number of statements.

Items are checked with plain Python rather than a serializer per item: at tens of thousands of events a
second, building and running DRF fields for each one would cost more than storing it. Then: one
set-based contact upsert for the emails, one capture for contacts without an open lead, one insert of
touchpoints, one upsert of visitors; identified visitors are stitched.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leadhub.events import TouchpointsRecorded, publish
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.services import Actor
from leads import selectors
from leads.models import Campaign, Channel, Contact, Touchpoint, TouchpointType, Visitor
from leads.services import (
    CONTACT_FIELDS,
    contacts_bulk_upsert,
    email_normalize,
    leads_bulk_capture,
    touchpoints_record,
)
from leads.tracking.channels import channel_classify
from leads.tracking.services import ANONYMOUS_ID_RE, UTM_KEYS, visitor_identify

# Names senders commonly use for our touchpoint types.
TYPE_ALIASES: dict[str, str] = {
    "signup": TouchpointType.PRODUCT_SIGNUP,
    "sign_up": TouchpointType.PRODUCT_SIGNUP,
    "signed_up": TouchpointType.PRODUCT_SIGNUP,
    "trial_started": TouchpointType.PRODUCT_SIGNUP,
    "usage": TouchpointType.PRODUCT_USAGE,
    "feature_used": TouchpointType.PRODUCT_USAGE,
    "webinar_attended": TouchpointType.WEBINAR,
    "webinar_attendance": TouchpointType.WEBINAR,
    "downloaded": TouchpointType.DOWNLOAD,
    "ad_clicked": TouchpointType.AD_CLICK,
    "pageview": TouchpointType.PAGE_VIEW,
}
EVENT_TYPES = frozenset(TouchpointType.values)
CHANNELS = frozenset(Channel.values)
MAX_PROPERTIES_BYTES = 4096
MAX_FUTURE = dt.timedelta(minutes=10)
TEXT_LIMITS = {"url": 2000, "referrer": 2000, **{key: 200 for key in UTM_KEYS}}
PROFILE_FIELDS = frozenset(CONTACT_FIELDS)


def _event_clean(raw: Any, now: dt.datetime) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """One event checked and normalised, or its errors by field."""
    if not isinstance(raw, Mapping):
        return None, {"non_field_errors": ["Expected an object."]}
    errors: dict[str, list[str]] = {}
    event: dict[str, Any] = {}
    kind = raw.get("type")
    kind = TYPE_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if kind not in EVENT_TYPES:
        errors["type"] = [f"Unknown type; one of: {', '.join(sorted(EVENT_TYPES))} (or a common alias)."]
    event["type"] = kind

    email = raw.get("email")
    if email not in (None, ""):
        if not isinstance(email, str) or len(email) > 254:
            errors["email"] = ["Enter a valid email address."]
        else:
            try:
                validate_email(email.strip())
                event["email"] = email.strip()
                event["email_normalized"] = email_normalize(email)
            except ValidationError:
                errors["email"] = ["Enter a valid email address."]
    anonymous_id = raw.get("anonymous_id")
    if anonymous_id not in (None, ""):
        if not isinstance(anonymous_id, str) or not ANONYMOUS_ID_RE.match(anonymous_id):
            errors["anonymous_id"] = ["An anonymous id is 8 to 64 letters, digits, - or _."]
        else:
            event["anonymous_id"] = anonymous_id
    if "email" not in event and "anonymous_id" not in event and not errors.keys() & {"email", "anonymous_id"}:
        errors["email"] = ["Say who did it: email, anonymous_id, or both."]

    external_id = raw.get("external_id")
    if external_id not in (None, ""):
        if (
            not isinstance(external_id, str | int)
            or isinstance(external_id, bool)
            or len(str(external_id)) > 100
        ):
            errors["external_id"] = ["At most 100 characters."]
        else:
            event["external_id"] = str(external_id)

    occurred = raw.get("occurred_at")
    if occurred in (None, ""):
        event["occurred_at"] = now
    else:
        parsed = parse_datetime(occurred) if isinstance(occurred, str) else None
        if parsed is None:
            errors["occurred_at"] = ["Expected an ISO 8601 date and time, e.g. 2025-01-31T14:05:00Z."]
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            if parsed > now + MAX_FUTURE:
                errors["occurred_at"] = ["This time is in the future."]
            event["occurred_at"] = parsed

    for name, limit in TEXT_LIMITS.items():
        value = raw.get(name)
        if value in (None, ""):
            event[name] = ""
        elif not isinstance(value, str):
            errors[name] = ["Expected a string."]
        elif len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        else:
            event[name] = value

    channel = raw.get("channel")
    if channel not in (None, ""):
        if channel not in CHANNELS:
            errors["channel"] = [f"Unknown channel; one of: {', '.join(sorted(CHANNELS))}."]
        event["channel"] = channel
    campaign = raw.get("campaign")
    if campaign not in (None, ""):
        if not isinstance(campaign, int) or isinstance(campaign, bool) or campaign < 1:
            errors["campaign"] = ["Expected a campaign id (a number)."]
        else:
            event["campaign"] = campaign

    properties = raw.get("properties")
    if properties not in (None, {}):
        if not isinstance(properties, dict):
            errors["properties"] = ["Expected an object."]
        elif len(json.dumps(properties, default=str)) > MAX_PROPERTIES_BYTES:
            errors["properties"] = [f"At most {MAX_PROPERTIES_BYTES} bytes of JSON."]
        else:
            event["properties"] = properties
    contact = raw.get("contact")
    if contact not in (None, {}):
        if not isinstance(contact, dict):
            errors["contact"] = ["Expected an object of contact fields."]
        elif "email" not in event:
            errors["contact"] = ["Contact fields need the event's email."]
        else:
            unknown = sorted(set(contact) - PROFILE_FIELDS - {"company", "custom_fields"})
            if unknown:
                errors["contact"] = [f"Unknown contact fields: {', '.join(unknown)}."]
            event["contact"] = contact
    return (None, errors) if errors else (event, {})


def events_ingest(
    *, items: list[Any], actor: Actor, partial: bool = False
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, list[str]]]]:
    """Store a batch of server-side events as touchpoints. Returns ({index: {index, id, created}},
    {index: errors}); with `partial` False nothing is written when any item is refused."""
    now = timezone.now()
    errors: dict[int, dict[str, list[str]]] = {}
    events: dict[int, dict[str, Any]] = {}
    for index, raw in enumerate(items):
        event, item_errors = _event_clean(raw, now)
        if event is None:
            errors[index] = item_errors
        else:
            events[index] = event
    if errors and not partial:
        return {}, errors

    with transaction.atomic():
        # Campaign ids are this organization's (the tenant manager scopes the lookup).
        campaign_ids = {e["campaign"] for e in events.values() if "campaign" in e}
        campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in=campaign_ids)} if campaign_ids else {}
        for index in [i for i, e in events.items() if "campaign" in e and e["campaign"] not in campaigns]:
            errors[index] = {"campaign": [f"No campaign with id {events.pop(index)['campaign']} exists."]}

        contacts = _with_retry(lambda: _contacts_upsert(events, errors, actor))
        if errors and not partial:
            transaction.set_rollback(True)
            return {}, errors

        # Visitors already identified: their anonymous-only events belong to their contact.
        anonymous_ids = {e["anonymous_id"] for e in events.values() if "anonymous_id" in e}
        visitor_contacts: dict[str, int] = (
            dict(
                Visitor.objects.filter(
                    anonymous_id__any_of=list(anonymous_ids), contact__isnull=False
                ).values_list("anonymous_id", "contact_id")
            )
            if anonymous_ids
            else {}
        )
        contact_of: dict[int, int] = {}
        for index, event in events.items():
            if "email" in event:
                contact_of[index] = contacts[event["email_normalized"]].pk
            elif event.get("anonymous_id") in visitor_contacts:
                contact_of[index] = visitor_contacts[event["anonymous_id"]]
        # The channel of an event that names none comes from its UTM values and referrer; new leads'
        # source and visitors' first touch read it too.
        for event in events.values():
            if not event.get("channel") and (event["utm_source"] or event["utm_medium"] or event["referrer"]):
                event["channel"] = channel_classify(
                    utm_source=event["utm_source"],
                    utm_medium=event["utm_medium"],
                    referrer=event["referrer"],
                    page_url=event["url"],
                )
        leads = _with_retry(lambda: _current_leads(events, contact_of, contacts, campaigns, actor))

        rows: dict[int, dict[str, Any]] = {}
        for index, event in events.items():
            contact_id = contact_of.get(index)
            channel = event.get("channel") or ""
            campaign = campaigns.get(event.get("campaign", 0))
            rows[index] = {
                "lead_id": leads.get(contact_id) if contact_id else None,
                "contact_id": contact_id,
                "anonymous_id": event.get("anonymous_id", ""),
                "external_id": event.get("external_id", ""),
                "type": event["type"],
                "occurred_at": event["occurred_at"],
                "channel": channel or (campaign.channel if campaign else ""),
                "campaign_id": campaign.pk if campaign else None,
                "url": event["url"],
                "referrer": event["referrer"],
                "properties": event.get("properties") or {},
                "created_at": now,
                **{key: event[key] for key in UTM_KEYS},
            }
        ids = touchpoint_rows_insert(rows)
        _visitors_touch(events, now)
        # A visitor identified by an event (email and anonymous id) gets their earlier anonymous history.
        pairs = {
            (event["anonymous_id"], leads[contact_of[index]])
            for index, event in events.items()
            if "email" in event and "anonymous_id" in event and contact_of.get(index) in leads
        }
        if pairs:
            lead_objects = selectors.leads_by_id(lead_id for _, lead_id in pairs)
            for anonymous_id, lead_id in sorted(pairs):
                if visitor_contacts.get(anonymous_id) != lead_objects[lead_id].contact_id:
                    visitor_identify(anonymous_id=anonymous_id, lead=lead_objects[lead_id])

    repeated = {rows[i]["external_id"] for i in rows if i not in ids and rows[i]["external_id"]}
    stored = dict(_by_external_id(list(repeated)).values_list("external_id", "pk")) if repeated else {}
    results = {
        index: {
            "index": index,
            "id": ids.get(index) or stored.get(row["external_id"]),
            "created": index in ids,
        }
        for index, row in rows.items()
    }
    return results, errors


def _json_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _by_external_id(external_ids: list[str]) -> Any:
    """The tenant's touchpoints with these external ids, through the partial unique index (whose
    condition the query states: an array parameter cannot prove it)."""
    return Touchpoint.objects.filter(external_id__any_of=external_ids).exclude(external_id="")


TOUCHPOINT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("lead_id", "bigint"),
    ("contact_id", "bigint"),
    ("anonymous_id", "text"),
    ("external_id", "text"),
    ("type", "text"),
    ("occurred_at", "timestamptz"),
    ("channel", "text"),
    ("campaign_id", "bigint"),
    ("url", "text"),
    ("referrer", "text"),
    *((key, "text") for key in UTM_KEYS),
    ("properties", "jsonb"),
    ("created_at", "timestamptz"),
)


def touchpoint_rows_insert(rows: dict[int, dict[str, Any]]) -> dict[int, int]:
    """Store touchpoint rows (idempotent by external_id, like `touchpoints_record`) and return {index: id}
    of the stored ones; one TouchpointsRecorded event for the batch.

    On PostgreSQL the rows go in one INSERT ... SELECT FROM jsonb_to_recordset() of one JSON document:
    building a model instance per row and a statement with 20,000 parameters cost more than the insert
    itself. Elsewhere `touchpoints_record` stores model instances."""
    if not rows:
        return {}
    external_ids = [row["external_id"] for row in rows.values() if row["external_id"]]
    seen = set(_by_external_id(external_ids).values_list("external_id", flat=True)) if external_ids else set()
    fresh: list[int] = []
    for index, row in rows.items():
        if row["external_id"]:
            if row["external_id"] in seen:
                continue
            seen.add(row["external_id"])
        fresh.append(index)
    if not fresh:
        return {}
    if connection.vendor != "postgresql":
        objects = {index: Touchpoint(**rows[index]) for index in fresh}
        touchpoints_record(touchpoints=list(objects.values()))
        return {index: t.pk for index, t in objects.items() if t.pk is not None}
    organization_id = current_organization_id()
    names = ", ".join(f'"{name}"' for name, _ in TOUCHPOINT_COLUMNS)
    columns = ", ".join(f'"{name}" {kind}' for name, kind in TOUCHPOINT_COLUMNS)
    sql = (
        f'INSERT INTO "{Touchpoint._meta.db_table}" ("organization_id", {names}) '
        f"SELECT %s, {names} FROM jsonb_to_recordset(%s::jsonb) AS r({columns}) RETURNING id"
    )
    # One JSON document for the batch: json.dumps and PostgreSQL's JSON parser are C code, where
    # dumping one array per column went value by value through the driver's Python adapters. The rows
    # go as they are (jsonb_to_recordset reads the columns by name); only their times need converting.
    document = json.dumps([rows[index] for index in fresh], default=_json_time)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [organization_id, document])
            ids = dict(zip(fresh, (row[0] for row in cursor.fetchall()), strict=True))
        lead_ids = sorted({rows[i]["lead_id"] for i in fresh if rows[i]["lead_id"]})
        publish(
            TouchpointsRecorded(
                organization_id=organization_id, lead_ids=lead_ids, touchpoint_ids=list(ids.values())[:1000]
            )
        )
    return ids


T = TypeVar("T")


def _with_retry(work: Callable[[], T], attempts: int = 3) -> T:
    """Run `work` in a savepoint and again if a concurrent batch created the same contact or lead first
    (a unique key violation): the second run finds the other batch's committed rows."""
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return work()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _contacts_upsert(
    events: dict[int, dict[str, Any]], errors: dict[int, dict[str, list[str]]], actor: Actor
) -> dict[str, Contact]:
    """One set-based upsert for the batch's emails; an email the upsert refuses refuses its events."""
    profiles: dict[str, dict[str, Any]] = {}
    for event in events.values():
        if "email" in event:
            profile = profiles.setdefault(event["email_normalized"], {"email": event["email"]})
            profile.update(event.get("contact") or {})
    if not profiles:
        return {}
    emails = list(profiles)
    result, upsert_errors = contacts_bulk_upsert(items=[profiles[e] for e in emails], actor=actor)
    refused = {
        emails[i]: {(k if k == "email" else f"contact.{k}"): v for k, v in errs.items()}
        for i, errs in upsert_errors.items()
    }
    for index in [i for i, e in events.items() if e.get("email_normalized") in refused]:
        errors[index] = refused[events.pop(index)["email_normalized"]]
    return {emails[i]: contact for i, (contact, _) in result.items()}


def _current_leads(
    events: dict[int, dict[str, Any]],
    contact_of: dict[int, int],
    contacts: dict[str, Contact],
    campaigns: dict[int, Campaign],
    actor: Actor,
) -> dict[int, int]:
    """{contact id: current lead id}; a contact without an open journey gets one (a product sign-up
    from a new email is a new lead), sourced from its first event's channel and campaign."""
    contact_ids = set(contact_of.values())
    if not contact_ids:
        return {}
    current = selectors.current_lead_ids_by_contact(contact_ids)
    by_id = {contact.pk: contact for contact in contacts.values()}
    entries: list[tuple[Contact, dict[str, Any], bool]] = []
    seen: set[int] = set()
    for index, event in sorted(events.items(), key=lambda item: item[1]["occurred_at"]):
        contact_id = contact_of.get(index)
        if contact_id is None or contact_id in current or contact_id in seen or contact_id not in by_id:
            continue
        seen.add(contact_id)
        campaign = campaigns.get(event.get("campaign", 0))
        channel = event.get("channel") or (campaign.channel if campaign else "") or Channel.DIRECT
        data: dict[str, Any] = {"source_channel": channel}
        if campaign is not None:
            data["campaign"] = campaign
        entries.append((by_id[contact_id], data, False))
    for lead, _ in leads_bulk_capture(entries=entries, actor=actor):
        current[lead.contact_id] = lead.pk
    return current


def _visitors_touch(events: dict[int, dict[str, Any]], now: dt.datetime) -> None:
    """Keep a visitor per anonymous id (first touch on creation, last seen always) in one statement."""
    firsts: dict[str, dict[str, Any]] = {}
    for event in sorted(events.values(), key=lambda e: e["occurred_at"]):
        if "anonymous_id" in event:
            firsts.setdefault(event["anonymous_id"], event)
    if not firsts:
        return
    if connection.vendor == "postgresql":
        _visitors_upsert_sql(firsts, now)
        return
    visitors = [
        Visitor(
            anonymous_id=anonymous_id,
            first_seen_at=event["occurred_at"],
            last_seen_at=now,
            first_channel=event.get("channel") or "",
            first_url=event["url"],
            first_referrer=event["referrer"],
            **{f"first_{key}": event[key] for key in UTM_KEYS},
        )
        for anonymous_id, event in sorted(firsts.items())
    ]
    Visitor.objects.bulk_create(
        visitors,
        update_conflicts=True,
        unique_fields=["organization", "anonymous_id"],
        update_fields=["last_seen_at"],
        batch_size=500,
    )


def _visitors_upsert_sql(firsts: dict[str, dict[str, Any]], now: dt.datetime) -> None:
    """One statement; a visitor seen in the last minute is not rewritten (a busy visitor would
    otherwise leave a dead row version per batch)."""
    ordered = sorted(firsts.items())
    columns: list[tuple[str, str, list[Any]]] = [
        ("anonymous_id", "text", [a for a, _ in ordered]),
        ("first_seen_at", "timestamptz", [e["occurred_at"] for _, e in ordered]),
        ("first_channel", "text", [e.get("channel") or "" for _, e in ordered]),
        ("first_url", "text", [e["url"] for _, e in ordered]),
        ("first_referrer", "text", [e["referrer"] for _, e in ordered]),
        *((f"first_{key}", "text", [e[key] for _, e in ordered]) for key in UTM_KEYS),
    ]
    table = Visitor._meta.db_table
    names = ", ".join(f'"{name}"' for name, _, _ in columns)
    definitions = ", ".join(f'"{name}" {kind}' for name, kind, _ in columns)
    # Events arrive out of order: an earlier one sent later becomes the first touch.
    earliest = ", ".join(
        f'"{name}" = CASE WHEN EXCLUDED."first_seen_at" < "{table}"."first_seen_at" '
        f'THEN EXCLUDED."{name}" ELSE "{table}"."{name}" END'
        for name, _, _ in columns
        if name.startswith("first_")
    )
    sql = (
        f'INSERT INTO "{table}" ("organization_id", "last_seen_at", "referral_code", {names}) '
        f"SELECT %s, %s, '', {names} FROM jsonb_to_recordset(%s::jsonb) AS r({definitions}) "
        'ON CONFLICT ("organization_id", "anonymous_id") '
        f'DO UPDATE SET "last_seen_at" = EXCLUDED."last_seen_at", {earliest} '
        f'WHERE "{table}"."last_seen_at" < EXCLUDED."last_seen_at" - interval \'1 minute\' '
        f'OR EXCLUDED."first_seen_at" < "{table}"."first_seen_at"'
    )
    document = json.dumps(
        [{name: values[i] for name, _, values in columns} for i in range(len(ordered))], default=_json_time
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [current_organization_id(), now, document])

"""Public endpoints of tracking: the snippet itself, its collect and identify endpoints, and referral
links. The tenant comes from the public key in the URL (leadhub.tenancy.public), never from a session.

Every input here is hostile: bodies are size-bounded, strings cut to their column, the snippet's
events counted, the caller's origin checked against the site's allowed domains (CORS), and calls
rate-limited per visitor IP and per site.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from leadhub.tenancy.errors import json_error
from leadhub.tenancy.models import PublicKeyKind
from leadhub.tenancy.public import by_public_key, public_endpoint
from leadhub.tenancy.services import Actor
from leadhub.tenancy.throttling import rate_limit_hits
from leads.models import AdSource, ReferralCode, TrackingSite
from leads.tracking.ad_sources import (
    ad_leads_receive,
    ad_payload_leads,
    deliveries_summary,
    signature_expected,
    signature_failure_note,
    signature_valid,
    verify_token_valid,
)
from leads.tracking.services import (
    ANONYMOUS_ID_RE,
    EVENT_ID_RE,
    REFERRAL_KEY_KIND,
    Collected,
    PageView,
    host_allowed,
    tracking_collect,
    tracking_identify,
    url_host,
)

SNIPPET_PATH = Path(__file__).resolve().parent / "assets" / "t.js"
MAX_BODY_BYTES = 32 * 1024
MAX_EVENTS = 50
MAX_HOOK_BYTES = 512 * 1024
MAX_TIME_ON_PAGE_MS = 24 * 3600 * 1000
MAX_EVENT_AGE = dt.timedelta(hours=24)


def _limit(name: str, default: int) -> int:
    """Rate limits per minute; settings (or the environment, for benchmarks) may raise them."""
    return int(getattr(settings, name, None) or os.environ.get(name) or default)


# --- the snippet -----------------------------------------------------------------------------------


@cache
def _snippet() -> tuple[bytes, str]:
    body = SNIPPET_PATH.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:20]}"'


@require_http_methods(["GET", "HEAD"])
def snippet(request: HttpRequest) -> HttpResponse:
    """/t.js: the same static file for every site (it reads its key from its own script tag), so it
    holds no tenant and is cached by browsers and CDNs for a day."""
    body, etag = _snippet()
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = "public, max-age=86400, stale-while-revalidate=604800"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- CORS, limits, parsing -------------------------------------------------------------------------


def _caller_host(request: HttpRequest) -> tuple[str, str]:
    """(origin, host) of the page that called: the Origin header, else the Referer's."""
    origin = request.headers.get("Origin", "")
    if origin and origin != "null":
        return origin, url_host(origin)
    referer = request.headers.get("Referer", "")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}", parts.hostname or ""
    return "", ""


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
    response["Vary"] = "Origin"
    return response


def _site_of(request: HttpRequest) -> TrackingSite | None:
    return TrackingSite.objects.filter(pk=request.public_key.object_id).first()  # type: ignore[attr-defined]


def _origin_check(request: HttpRequest, site: TrackingSite) -> tuple[str, HttpResponse | None]:
    origin, host = _caller_host(request)
    if not host_allowed(host, site.allowed_domains):
        return "", _cors(
            json_error(
                403,
                "origin_not_allowed",
                "This page's domain is not one of the tracked site's allowed domains.",
                {"origin": [f"{host or 'no origin'} is not allowed."]},
            ),
            "",
        )
    return origin, None


def _throttle(request: HttpRequest, key: str, *, per_ip: int, per_key: int) -> HttpResponse | None:
    ip = request.META.get("REMOTE_ADDR", "")
    wait = rate_limit_hits([(f"t:{key}:ip:{ip}", per_ip), (f"t:{key}", per_key)])
    if wait is None:
        return None
    response = json_error(429, "rate_limited", "Too many requests; try again later.")
    response["Retry-After"] = str(wait)
    return response


def _body_json(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise ValidationError({"body": [f"At most {MAX_BODY_BYTES // 1024} KB per request."]})
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError({"body": ["Expected a JSON object."]}) from None
    if not isinstance(data, dict):
        raise ValidationError({"body": ["Expected a JSON object."]})
    return data


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _http_url(value: Any, limit: int = 2000) -> str:
    text = _text(value, 10_000)
    if not text:
        return ""
    try:
        scheme = urlsplit(text).scheme
    except ValueError:
        return ""
    # Only web addresses are stored: a javascript: or data: "URL" is dropped, not cut.
    return text[:limit] if scheme in {"http", "https"} else ""


def collect_parse(data: dict[str, Any], *, site: TrackingSite, now: dt.datetime) -> Collected:
    """The snippet's batch: {"vid", "ref", "sent", "events": [{"type": "pv"|"leave", ...}]}.

    Page views whose URL is not on the site's allowed domains are dropped (a key copied to another
    site reports nothing); times are taken relative to the client's send time, so a wrong client
    clock does not move them."""
    anonymous_id = data.get("vid")
    if not isinstance(anonymous_id, str) or not ANONYMOUS_ID_RE.match(anonymous_id):
        raise ValidationError({"vid": ["A visitor id is 8 to 64 letters, digits, - or _."]})
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise ValidationError({"events": ["Expected a list of events."]})
    if len(events) > MAX_EVENTS:
        raise ValidationError({"events": [f"At most {MAX_EVENTS} events per batch."]})
    sent = data.get("sent")
    collected = Collected(anonymous_id=anonymous_id, referral_code=_text(data.get("ref"), 40))
    views: dict[str, PageView] = {}
    for event in events:
        if not isinstance(event, dict) or not EVENT_ID_RE.match(str(event.get("id") or "")):
            continue
        event_id = str(event["id"])
        kind = event.get("type")
        if kind == "pv":
            url = _http_url(event.get("url"))
            if not url or not host_allowed(url_host(url), site.allowed_domains):
                continue
            age_ms = 0
            if isinstance(sent, int | float) and isinstance(event.get("ts"), int | float):
                age_ms = int(sent - event["ts"])
            age = dt.timedelta(milliseconds=min(max(age_ms, 0), MAX_EVENT_AGE.total_seconds() * 1000))
            views[event_id] = PageView(
                event_id=event_id,
                url=url,
                title=_text(event.get("title"), 300),
                referrer=_http_url(event.get("referrer")),
                occurred_at=now - age,
            )
        elif kind == "leave":
            duration = event.get("ms")
            if isinstance(duration, int | float) and not isinstance(duration, bool):
                bounded = int(min(max(duration, 0), MAX_TIME_ON_PAGE_MS))
                if event_id in views:
                    views[event_id].time_on_page_ms = bounded
                else:
                    collected.leaves[event_id] = bounded
    collected.views = list(views.values())
    return collected


def _declined(request: HttpRequest) -> bool:
    """The browser says do not track (DNT or Global Privacy Control): nothing is stored."""
    return request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"


# --- collect and identify --------------------------------------------------------------------------


@public_endpoint(by_public_key(PublicKeyKind.TRACKING), reason="the key names one tracked site")
@require_http_methods(["POST", "OPTIONS"])
def collect(request: HttpRequest, key: str) -> HttpResponse:
    """POST /t/<key>/collect: the snippet's batched page views (sent with sendBeacon, text/plain)."""
    site = _site_of(request)
    if site is None:
        return json_error(404, "not_found", "No such tracked site.")
    origin, refused = _origin_check(request, site)
    if refused is not None:
        return refused
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    throttled = _throttle(
        request,
        key,
        per_ip=_limit("LEADHUB_TRACKING_RATE_PER_IP", 600),
        per_key=_limit("LEADHUB_TRACKING_RATE_PER_SITE", 60_000),
    )
    if throttled is not None:
        return _cors(throttled, origin)
    if _declined(request):
        return _cors(HttpResponse(status=204), origin)
    try:
        collected = collect_parse(_body_json(request), site=site, now=timezone.now())
    except ValidationError as exc:
        return _cors(json_error(400, "invalid", "The batch is not valid.", exc.message_dict), origin)
    if collected.views or collected.leaves:
        tracking_collect(site=site, collected=collected)
    return _cors(HttpResponse(status=204), origin)


@public_endpoint(by_public_key(PublicKeyKind.TRACKING), reason="the key names one tracked site")
@require_http_methods(["POST", "OPTIONS"])
def identify(request: HttpRequest, key: str) -> HttpResponse:
    """POST /t/<key>/identify {"vid", "email", "ref", "events"?}: `leadhub.identify(email)` from the
    snippet, with the page views it had not sent yet."""
    site = _site_of(request)
    if site is None:
        return json_error(404, "not_found", "No such tracked site.")
    origin, refused = _origin_check(request, site)
    if refused is not None:
        return refused
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    throttled = _throttle(
        request,
        f"{key}:identify",
        per_ip=_limit("LEADHUB_IDENTIFY_RATE_PER_IP", 30),
        per_key=_limit("LEADHUB_IDENTIFY_RATE_PER_SITE", 3_000),
    )
    if throttled is not None:
        return _cors(throttled, origin)
    if _declined(request):
        return _cors(HttpResponse(status=204), origin)
    try:
        data = _body_json(request)
        email = _text(data.get("email"), 254)
        if not email:
            raise ValidationError({"email": ["This field is required."]})
        # The snippet sends its pending page views along, so that they are stored before the stitch
        # (two separate requests could arrive in either order).
        if data.get("events"):
            collected = collect_parse(data, site=site, now=timezone.now())
            if collected.views or collected.leaves:
                tracking_collect(site=site, collected=collected)
        tracking_identify(
            anonymous_id=_text(data.get("vid"), 64),
            email=email,
            referral_code=_text(data.get("ref"), 40),
            actor=Actor.system(f"tracking site {site.name}"),
        )
    except ValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"body": exc.messages}
        return _cors(json_error(400, "invalid", "The identification is not valid.", fields), origin)
    return _cors(HttpResponse(status=204), origin)


# --- referral links --------------------------------------------------------------------------------


@public_endpoint(by_public_key(REFERRAL_KEY_KIND), reason="the key names one referral code")
@require_http_methods(["GET", "HEAD"])
def referral_redirect(request: HttpRequest, key: str) -> HttpResponse:
    """/r/<key>: the shareable referral link; lands on the organization's site with ?ref=<code>.

    Only addresses on a tracked site's allowed domains are targets, so the link cannot be turned into
    an open redirect."""
    referral = ReferralCode.objects.filter(pk=request.public_key.object_id).first()  # type: ignore[attr-defined]
    if referral is None:
        return json_error(404, "not_found", "No such referral link.")
    sites = list(TrackingSite.objects.order_by("created_at", "id"))
    target = referral.landing_url or next((s.site_url for s in sites if s.site_url), "")
    if not target or not any(host_allowed(url_host(target), s.allowed_domains) for s in sites):
        return json_error(404, "not_found", "This referral link has no site to land on.")
    parts = urlsplit(target)
    query = f"{parts.query}&" if parts.query else ""
    response = HttpResponseRedirect(
        urlunsplit(
            (parts.scheme, parts.netloc, parts.path or "/", query + urlencode({"ref": referral.code}), "")
        )
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


# --- ad lead webhooks ------------------------------------------------------------------------------


@public_endpoint(by_public_key(PublicKeyKind.AD_SOURCE), reason="the key names one ad lead source")
@require_http_methods(["GET", "POST"])
def ad_hook(request: HttpRequest, key: str) -> HttpResponse:
    """/hooks/<key>/: lead-ad deliveries (POST, signed) and the platforms' subscription checks (GET)."""
    source = AdSource.objects.filter(pk=request.public_key.object_id).first()  # type: ignore[attr-defined]
    if source is None or not source.is_active:
        return json_error(404, "not_found", "No such lead source.")
    if request.method == "GET":
        return _hook_verify(request, source)
    throttled = _throttle(
        request,
        f"hooks:{key}",
        per_ip=_limit("LEADHUB_HOOK_RATE_PER_IP", 600),
        per_key=_limit("LEADHUB_HOOK_RATE", 6000),
    )
    if throttled is not None:
        return throttled
    body = request.body
    if len(body) > MAX_HOOK_BYTES:
        return json_error(413, "too_large", f"At most {MAX_HOOK_BYTES // 1024} KB per delivery.")
    if not signature_valid(
        secret=source.secret, body=body, header_value=request.headers.get(source.signature_header, "")
    ):
        signature_failure_note(source)
        return json_error(
            401,
            "bad_signature",
            f"The {source.signature_header} header is missing or is not the HMAC-SHA256 of the body "
            "with this source's secret.",
        )
    try:
        payload = json.loads(body or b"null")
        leads = ad_payload_leads(source.kind, payload)
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "invalid", "The body is not JSON.", {"body": ["Expected JSON."]})
    except ValidationError as exc:
        return json_error(400, "invalid", "The delivery is not valid.", exc.message_dict)
    deliveries = ad_leads_receive(source=source, leads=leads)
    return JsonResponse(deliveries_summary(deliveries), status=200)


def _hook_verify(request: HttpRequest, source: AdSource) -> HttpResponse:
    """Facebook: ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=... echoes the challenge.
    LinkedIn: ?challengeCode=... answers the code with its HMAC under the secret."""
    if request.GET.get("hub.mode") == "subscribe":
        if not verify_token_valid(source=source, token=request.GET.get("hub.verify_token", "")):
            return json_error(403, "bad_verify_token", "The verify token does not match this source's.")
        challenge = request.GET.get("hub.challenge", "")[:200]
        return HttpResponse(challenge, content_type="text/plain; charset=utf-8")
    code = request.GET.get("challengeCode", "")[:200]
    if code:
        return JsonResponse(
            {"challengeCode": code, "challengeResponse": signature_expected(source.secret, code.encode())}
        )
    return json_error(400, "invalid", "Expected a subscription check.", {"hub.mode": ["Expected subscribe."]})

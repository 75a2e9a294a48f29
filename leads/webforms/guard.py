"""The defences of the public form endpoints: the signed render token (time trap, and which fields and
consent texts the visitor was shown), the honeypot, allowed embedding origins, rate limits that fail
open when Redis is down, and the visitor's hashed IP address."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest

from leadhub.tenancy.throttling import rate_limit_hits
from leads.webforms.schema import HONEYPOT, FormDefinition

logger = logging.getLogger(__name__)

TOKEN_SALT = "leadhub.forms.render"  # noqa: S105  (a signing salt, not a secret)


# --- the render token ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderToken:
    issued_at: float
    fields: frozenset[int]
    consents: frozenset[int]


def token_issue(*, fields: Iterable[int], consents: Iterable[int], at: float | None = None) -> str:
    """A signed note of when the form was drawn and what it showed; a visitor cannot forge it."""
    payload = {
        "t": round(at if at is not None else time.time(), 1),
        "f": sorted(fields),
        "c": sorted(consents),
    }
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


def token_read(value: Any) -> RenderToken | None:
    if not isinstance(value, str) or not value or len(value) > 2000:
        return None
    try:
        payload = signing.loads(value, salt=TOKEN_SALT)
        return RenderToken(
            issued_at=float(payload["t"]),
            fields=frozenset(int(i) for i in payload["f"]),
            consents=frozenset(int(i) for i in payload["c"]),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def spam_reason(raw: dict[str, Any], token: RenderToken | None, *, now: float | None = None) -> str:
    """Why a public post looks automated ('' when it does not)."""
    if str(raw.get(HONEYPOT) or "").strip():
        return "Honeypot field filled in (a human never sees it)."
    if token is None:
        return "Missing or forged form token (the form was not drawn by LeadHub)."
    elapsed = (now if now is not None else time.time()) - token.issued_at
    minimum = settings.LEADHUB_FORM_MIN_FILL_SECONDS
    if elapsed < minimum:
        return f"Submitted {max(elapsed, 0):.1f} s after the form was shown (faster than {minimum} s)."
    return ""


# --- origins ---------------------------------------------------------------------------------------


def domain_normalize_entry(entry: str) -> str:
    """An allowed-domain entry as a host pattern: 'https://www.Example.com/x' -> 'www.example.com';
    '*.example.com' and 'localhost:8123' stay patterns."""
    entry = entry.strip().lower()
    if "://" in entry:
        entry = entry.split("://", 1)[1]
    return entry.split("/", 1)[0].strip(".")


def host_allowed(host_port: str, allowed: Iterable[str]) -> bool:
    """Does 'host[:port]' match an allowed entry? 'example.com' allows that host and its www. twin on
    any port, 'example.com:8080' only that port, '*.example.com' the domain and every subdomain."""
    host_port = host_port.lower()
    host = host_port.rsplit(":", 1)[0] if host_port.count(":") == 1 else host_port
    for entry in allowed:
        pattern = domain_normalize_entry(entry)
        if not pattern:
            continue
        if ":" in pattern and not pattern.startswith("["):
            if host_port == pattern:
                return True
            continue
        if pattern.startswith("*."):
            base = pattern[2:]
            if host == base or host.endswith("." + base):
                return True
        elif host in (pattern, f"www.{pattern}"):
            return True
    return False


def origin_allowed(request: HttpRequest, definition: FormDefinition) -> bool:
    """A browser's cross-origin call is allowed from the form's domains and from LeadHub itself (the
    hosted page). No Origin header means no browser enforcing CORS: nothing to refuse."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False  # "null" (sandboxed frames, file://) and garbage
    if parts.netloc.lower() == request.get_host().lower():
        return True
    return host_allowed(parts.netloc, definition.allowed_domains)


def url_allowed(url: str, request: HttpRequest, definition: FormDefinition) -> bool:
    """May we redirect a visitor to `url` (back to the page the form was on)? Only to the form's
    domains or LeadHub itself: never an open redirect."""
    parts = urlsplit(url or "")
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    return parts.netloc.lower() == request.get_host().lower() or host_allowed(
        parts.netloc, definition.allowed_domains
    )


def cors_headers(request: HttpRequest, *, preflight: bool = False) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if not origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key",
                "Access-Control-Max-Age": "600",
            }
        )
    else:
        headers["Access-Control-Expose-Headers"] = "Retry-After"
    return headers


# --- rate limits -----------------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "")


def ip_hash(ip: str) -> str:
    """Enough to count and compare visitors, not to recover their address."""
    if not ip:
        return ""
    key = hashlib.sha256(f"leadhub.forms.ip:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()[:32]


def rate_limited(*, form_id: int, ip_digest: str) -> int | None:
    """Seconds to wait when the visitor or the form is over its limit, else None.

    Counted atomically in Redis (INCR). If Redis is unreachable the limit fails open, logged: refusing
    every visitor's form during an outage would lose exactly the leads this service exists to keep.
    """
    try:
        wait = rate_limit_hits(
            [
                (f"form-ip:{form_id}:{ip_digest}", settings.LEADHUB_FORM_RATE_PER_IP_PER_MINUTE),
                (f"form:{form_id}", settings.LEADHUB_FORM_RATE_PER_FORM_PER_MINUTE),
            ]
        )
    except Exception:
        logger.warning("Form rate limit skipped: the cache is unreachable", exc_info=True)
        return None
    return wait

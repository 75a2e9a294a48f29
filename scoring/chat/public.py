"""The chat's public face, reached with the flow's public key from the customer's website:

- GET  /embed/chat/<key>.js                                  the widget script (no dependencies)
- GET  /embed/chat/<key>/                                    the flow as the widget draws it
- POST /embed/chat/<key>/conversations/                      start a conversation
- GET  /embed/chat/<key>/conversations/<token>/              resume it (after a reload)
- POST /embed/chat/<key>/conversations/<token>/answers/      answer the current question
- POST /embed/chat/<key>/conversations/<token>/meeting/      a qualified visitor's meeting request
- POST /embed/chat/<key>/conversations/<token>/handoff/      a qualified visitor asks for sales

Every call is checked against the flow's allowed domains (CORS), rate limited per visitor IP and per
flow (429 with Retry-After), and carries a honeypot; POSTs honour Idempotency-Key
(leadhub.tenancy.public). Bad answers get a 400 that names the field and the reason.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.errors import json_error
from leadhub.tenancy.models import PublicKeyKind
from leadhub.tenancy.public import by_public_key, public_endpoint, public_key_resolve
from leadhub.tenancy.throttling import rate_limit_hit
from leads.tracking.services import host_allowed, url_host
from leads.webforms.guard import client_ip, ip_hash
from scoring.chat.conversations import (
    ConversationConflict,
    State,
    answer_record,
    conversation_start,
    handoff,
    meeting_request,
    state_of,
)
from scoring.models_chat import AnswerType, ChatFlow, ChatQuestion, ChatSession, MeetingSlot, SessionStatus

logger = logging.getLogger(__name__)

REASON = "a chat flow's public key reaches that one flow and its own conversations, as a visitor would"
HONEYPOT = "lh_website"
MAX_BODY_BYTES = 16 * 1024
VISITOR_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, None) or os.environ.get(name) or default)


# --- guards ---------------------------------------------------------------------------------------


def _flow(request: HttpRequest) -> ChatFlow:
    flow = ChatFlow.objects.filter(pk=request.public_key.object_id).first()  # type: ignore[attr-defined]
    if flow is None:
        raise Http404("No such chat.")
    return flow


def _origin(request: HttpRequest) -> str:
    return request.headers.get("Origin", "")


def _origin_allowed(request: HttpRequest, flow: ChatFlow) -> bool:
    """From the flow's websites, or LeadHub itself. No Origin header: no browser enforcing CORS, and
    nothing to refuse (a server-to-server call carries the key like a visitor would)."""
    origin = _origin(request)
    if not origin:
        return True
    host = url_host(origin)
    if not host or origin == "null":
        return False
    if origin.split("://", 1)[-1].lower() == request.get_host().lower():
        return True
    return host_allowed(host, flow.allowed_domains)


def _cors(request: HttpRequest, response: HttpResponse, *, preflight: bool = False) -> HttpResponse:
    origin = _origin(request)
    response["Vary"] = "Origin"
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        if preflight:
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
            response["Access-Control-Max-Age"] = "600"
        else:
            response["Access-Control-Expose-Headers"] = "Retry-After, Idempotent-Replayed"
    response["Cache-Control"] = "no-store"
    return response


def _throttled(request: HttpRequest, flow: ChatFlow) -> HttpResponse | None:
    """Counted atomically in Redis; fails open (logged) when the cache is down, as forms do: refusing
    every visitor during an outage would lose the leads the chat exists for."""
    digest = ip_hash(client_ip(request))
    try:
        wait = rate_limit_hit(
            f"chat-ip:{flow.pk}:{digest}", _limit("LEADHUB_CHAT_RATE_PER_IP_PER_MINUTE", 60)
        ) or rate_limit_hit(f"chat:{flow.pk}", _limit("LEADHUB_CHAT_RATE_PER_FLOW_PER_MINUTE", 60_000))
    except Exception:
        logger.warning("Chat rate limit skipped: the cache is unreachable", exc_info=True)
        return None
    if wait is None:
        return None
    response = json_error(
        429, "rate_limited", f"Too many messages; try again in {wait} seconds.", {"Retry-After": [str(wait)]}
    )
    response["Retry-After"] = str(wait)
    return response


Handler = Callable[[HttpRequest, ChatFlow], HttpResponse]


def _guarded(request: HttpRequest, handler: Handler, *, live: bool = True) -> HttpResponse:
    """The checks every public chat call goes through, in order: the origin, the preflight, the
    flow being live, the rate limits."""
    flow = _flow(request)
    if not _origin_allowed(request, flow):
        return json_error(403, "origin_not_allowed", "This chat may not be used on this website.")
    if request.method == "OPTIONS":
        return _cors(request, HttpResponse(status=204), preflight=True)
    if live and not flow.is_active:
        return _cors(request, json_error(403, "chat_paused", "This chat is not taking conversations now."))
    throttled = _throttled(request, flow)
    if throttled is not None:
        return _cors(request, throttled)
    try:
        response = handler(request, flow)
    except ValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"body": exc.messages}
        response = json_error(400, "invalid", "Please check: " + ", ".join(sorted(fields)) + ".", fields)
    except ConversationConflict as exc:
        response = json_error(409, exc.code, exc.message)
    return _cors(request, response)


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise ValidationError({"body": [f"At most {MAX_BODY_BYTES // 1024} KB."]})
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError({"body": ["Expected a JSON object."]}) from None
    if not isinstance(data, dict):
        raise ValidationError({"body": ["Expected a JSON object."]})
    return data


def _honeypot(data: dict[str, Any]) -> bool:
    return bool(str(data.get(HONEYPOT) or "").strip())


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _http_url(value: Any) -> str:
    text = _text(value, 2000)
    return text if text.startswith(("http://", "https://")) else ""


def _session(flow: ChatFlow, token: str) -> ChatSession:
    session = ChatSession.objects.filter(flow=flow, token=token).first() if TOKEN.match(token or "") else None
    if session is None:
        raise Http404("No such conversation.")
    return session


# --- what the widget reads ------------------------------------------------------------------------


def question_public(question: ChatQuestion, flow: ChatFlow) -> dict[str, Any]:
    body: dict[str, Any] = {"key": question.key, "prompt": question.prompt, "type": question.answer_type}
    if question.answer_type == AnswerType.CHOICE:
        body["options"] = list(question.options)
    if question.answer_type == AnswerType.NUMBER:
        body["min"] = float(question.min_value) if question.min_value is not None else None
        body["max"] = float(question.max_value) if question.max_value is not None else None
    if question.answer_type == AnswerType.EMAIL:
        body["consent"] = flow.consent_text
    return body


def state_public(state: State, flow: ChatFlow) -> dict[str, Any]:
    session = state.session
    end: dict[str, Any] | None = None
    if state.finished:
        qualified = session.status == SessionStatus.QUALIFIED
        end = {
            "qualified": qualified,
            "message": flow.qualified_message if qualified else flow.closing_message,
            "offers": {
                "meeting": qualified and flow.offer_meeting,
                "handoff": qualified and flow.offer_handoff,
            },
            "content": {"label": flow.content_offer_label, "url": flow.content_offer_url}
            if flow.content_offer_url and not qualified
            else None,
            "slots": [{"value": v, "label": label} for v, label in MeetingSlot.choices],
            "outcome": session.outcome,
            "closing": flow.closing_message,
        }
    return {
        "conversation": session.token,
        "answers": [
            {"question": a.question_key, "prompt": a.prompt, "answer": a.display} for a in state.answers
        ],
        "next": question_public(state.next_question, flow) if state.next_question else None,
        "end": end,
    }


def _replays_readable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """An Idempotency-Key replay is answered before the view runs (leadhub.tenancy.public), without the
    CORS headers the first answer had: add them, for the flow's websites only, so the widget can read
    the replay of a message whose first answer it lost."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.get("Idempotent-Replayed") != "true" or not _origin(request):
            return response
        found = public_key_resolve(PublicKeyKind.CHAT, str(kwargs.get("key") or ""))
        if found is None:
            return response
        with tenant_context(found.organization_id):
            flow = ChatFlow.objects.filter(pk=found.object_id).first()
            if flow is not None and _origin_allowed(request, flow):
                _cors(request, response)
        return response

    return wrapper


# --- views ----------------------------------------------------------------------------------------


@public_endpoint(by_public_key(PublicKeyKind.CHAT), reason=REASON)
@require_http_methods(["GET"])
def widget_script(request: HttpRequest, key: str) -> HttpResponse:
    flow = _flow(request)
    script = render_to_string(
        "scoring/chat_widget.js",
        {
            "key": flow.public_key,
            "base": request.build_absolute_uri("/"),
            "stylesheet": request.build_absolute_uri(static("css/lh-chat.css")),
        },
    )
    response = HttpResponse(script, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@public_endpoint(by_public_key(PublicKeyKind.CHAT), reason=REASON)
@require_http_methods(["GET", "OPTIONS"])
def flow_public(request: HttpRequest, key: str) -> HttpResponse:
    def handle(request: HttpRequest, flow: ChatFlow) -> HttpResponse:
        return JsonResponse(
            {
                "name": flow.name,
                "active": flow.is_active,
                "greeting": flow.greeting,
                "honeypot": HONEYPOT,
            }
        )

    return _guarded(request, handle, live=False)


@_replays_readable
@public_endpoint(by_public_key(PublicKeyKind.CHAT), reason=REASON)
@require_http_methods(["POST", "OPTIONS"])
def conversation_start_view(request: HttpRequest, key: str) -> HttpResponse:
    def handle(request: HttpRequest, flow: ChatFlow) -> HttpResponse:
        data = _body(request)
        visitor = _text(data.get("visitor_id"), 64)
        session = conversation_start(
            flow=flow,
            visitor_id=visitor if VISITOR_ID.match(visitor) else "",
            page_url=_http_url(data.get("page_url")),
            referrer=_http_url(data.get("referrer")),
            ip_hash=ip_hash(client_ip(request)),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            spam=_honeypot(data),
        )
        return JsonResponse(state_public(state_of(session), flow), status=201)

    return _guarded(request, handle)


@public_endpoint(by_public_key(PublicKeyKind.CHAT), reason=REASON)
@require_http_methods(["GET", "OPTIONS"])
def conversation_view(request: HttpRequest, key: str, token: str) -> HttpResponse:
    def handle(request: HttpRequest, flow: ChatFlow) -> HttpResponse:
        return JsonResponse(state_public(state_of(_session(flow, token)), flow))

    return _guarded(request, handle, live=False)


@_replays_readable
@public_endpoint(by_public_key(PublicKeyKind.CHAT), reason=REASON)
@require_http_methods(["POST", "OPTIONS"])
def answer_view(request: HttpRequest, key: str, token: str) -> HttpResponse:
    def handle(request: HttpRequest, flow: ChatFlow) -> HttpResponse:
        data = _body(request)
        if "value" not in data:
            raise ValidationError({"value": ["An answer is required."]})
        state = answer_record(
            session=_session(flow, token),
            question_key=_text(data.get("question"), 60),
            raw=data.get("value"),
            consent=data.get("consent") is True,
            spam=_honeypot(data),
        )
        return JsonResponse(state_public(state, flow))

    return _guarded(request, handle)


@_replays_readable
@public_endpoint(by_public_key(PublicKeyKind.CHAT), reason=REASON)
@require_http_methods(["POST", "OPTIONS"])
def meeting_view(request: HttpRequest, key: str, token: str) -> HttpResponse:
    def handle(request: HttpRequest, flow: ChatFlow) -> HttpResponse:
        data = _body(request)
        session = _session(flow, token)
        if _honeypot(data) or session.status == SessionStatus.SPAM:
            return JsonResponse({"ok": True, "message": "Thank you! We will confirm the meeting by email."})
        meeting = meeting_request(
            session=session,
            day=data.get("day"),
            slot=data.get("slot"),
            note=data.get("note", ""),
            visitor_timezone=data.get("timezone", ""),
        )
        slot = MeetingSlot(meeting.preferred_slot).label
        return JsonResponse(
            {
                "ok": True,
                "message": f"Thank you! We will confirm a meeting on {meeting.preferred_day:%A %-d %B}, "
                f"{slot.lower()}, by email.",
            },
            status=201,
        )

    return _guarded(request, handle)


@_replays_readable
@public_endpoint(by_public_key(PublicKeyKind.CHAT), reason=REASON)
@require_http_methods(["POST", "OPTIONS"])
def handoff_view(request: HttpRequest, key: str, token: str) -> HttpResponse:
    def handle(request: HttpRequest, flow: ChatFlow) -> HttpResponse:
        data = _body(request)
        session = _session(flow, token)
        if not (_honeypot(data) or session.status == SessionStatus.SPAM):
            handoff(session=session)
        return JsonResponse(
            {"ok": True, "message": "Thank you! Someone from our team will be in touch shortly."}
        )

    return _guarded(request, handle)

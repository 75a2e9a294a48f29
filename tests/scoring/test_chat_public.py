"""The chat's public endpoints as the widget calls them from a customer's site: the script, CORS limited
to the flow's websites, rate limits with Retry-After, the honeypot, Idempotency-Key replays, answers
validated against their question (400 naming the field and the reason), unknown keys and conversations,
and a whole conversation through to the meeting request and the hand-off."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.models import Lead, Stage, Touchpoint, TouchpointType
from scoring.chat import services
from scoring.models_chat import ChatAnswer, ChatSession, MeetingRequest, SessionStatus
from tests.scoring.chat_fixtures import ORIGIN, QUALIFIED_ANSWERS, answer, build_flow, post, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(org: Organization) -> Any:
    return build_flow(org)


def _weekday() -> str:
    day = timezone.localdate() + dt.timedelta(days=2)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day.isoformat()


def _conversation(
    client: Client, flow: Any, answers: list[tuple[str, Any]] = QUALIFIED_ANSWERS
) -> dict[str, Any]:
    response = start(
        client, flow, visitor_id="visitor-12345", page_url="https://www.customer.example/pricing"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    for key, value in answers:
        response = answer(client, flow, body["conversation"], key, value, consent=True)
        assert response.status_code == 200, (key, response.content)
        body = response.json()
    return body


def test_the_widget_script_is_served_for_any_site(flow: Any) -> None:
    response = Client().get(f"/embed/chat/{flow.public_key}.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    script = response.content.decode()
    stylesheet = re.search(r'var STYLESHEET = "([^"]*)"', script)
    assert stylesheet is not None and json.loads(f'"{stylesheet[1]}"').endswith("/static/css/lh-chat.css")
    key = re.search(r'var KEY = "([^"]*)"', script)
    # escapejs writes a key's dashes as \u002D: read it back as the browser would.
    assert key is not None and json.loads(f'"{key[1]}"') == flow.public_key
    assert "innerHTML" not in script and "attachShadow" in script


def test_an_unknown_or_revoked_key_is_404(flow: Any, org: Organization) -> None:
    client = Client()
    for url in ("/embed/chat/x_nope.js", "/embed/chat/x_nope/", "/embed/chat/x_nope/conversations/"):
        assert client.get(url).status_code == 404
    assert start(client, flow).status_code == 201
    with tenant_context(org):
        services.chat_flow_delete(flow=flow, actor=Actor.system("test"))
    assert client.get(f"/embed/chat/{flow.public_key}/").status_code == 404
    assert start(client, flow).status_code == 404


def test_cors_answers_only_the_flows_websites(flow: Any) -> None:
    client = Client()
    url = f"/embed/chat/{flow.public_key}/"
    allowed = client.get(url, headers={"Origin": ORIGIN})
    assert allowed.status_code == 200 and allowed["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed.json()["greeting"] == flow.greeting and allowed.json()["honeypot"] == "lh_website"
    sub = client.get(url, headers={"Origin": "https://shop.customer.example"})
    assert sub["Access-Control-Allow-Origin"] == "https://shop.customer.example"
    preflight = client.options(
        f"/embed/chat/{flow.public_key}/conversations/",
        headers={"Origin": ORIGIN, "Access-Control-Request-Headers": "content-type, idempotency-key"},
    )
    assert preflight.status_code == 204
    assert "Idempotency-Key" in preflight["Access-Control-Allow-Headers"]
    for origin in ("https://evil.example", "https://customer.example.evil.example", "null"):
        refused = post(Client(), f"/embed/chat/{flow.public_key}/conversations/", {}, origin=origin)
        assert refused.status_code == 403, origin
        assert refused.json()["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in refused
    denied = client.options(
        f"/embed/chat/{flow.public_key}/conversations/", headers={"Origin": "https://evil.example"}
    )
    assert denied.status_code == 403 and "Access-Control-Allow-Origin" not in denied


def test_a_paused_flow_takes_no_conversation(flow: Any, org: Organization) -> None:
    with tenant_context(org):
        services.chat_flow_update(flow=flow, data={"is_active": False}, actor=Actor.system("test"))
    response = start(Client(), flow)
    assert response.status_code == 403 and response.json()["error"]["code"] == "chat_paused"
    assert Client().get(f"/embed/chat/{flow.public_key}/").json()["active"] is False


@override_settings(LEADHUB_CHAT_RATE_PER_IP_PER_MINUTE=3)
def test_a_visitor_over_the_rate_limit_gets_429_with_retry_after(flow: Any) -> None:
    client = Client()
    for _ in range(3):
        assert start(client, flow).status_code == 201
    limited = start(client, flow)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited["Access-Control-Allow-Origin"] == ORIGIN  # the widget can read why
    assert limited.json()["error"]["code"] == "rate_limited"
    # Another visitor (another address) is not held back.
    assert start(Client(REMOTE_ADDR="203.0.113.9"), flow).status_code == 201


@override_settings(LEADHUB_CHAT_RATE_PER_FLOW_PER_MINUTE=2)
def test_the_flow_as_a_whole_is_rate_limited_too(flow: Any) -> None:
    assert start(Client(REMOTE_ADDR="203.0.113.1"), flow).status_code == 201
    assert start(Client(REMOTE_ADDR="203.0.113.2"), flow).status_code == 201
    assert start(Client(REMOTE_ADDR="203.0.113.3"), flow).status_code == 429


def test_bad_answers_are_400_naming_the_field_and_the_reason(flow: Any, org: Organization) -> None:
    client = Client()
    token = start(client, flow).json()["conversation"]
    cases = [
        ("budget", "a million", "value", "not one of the choices"),
        ("budget", {"$gt": ""}, "value", "single value"),
        ("budget", None, "value", "required"),
    ]
    for key, value, field, reason in cases:
        response = answer(client, flow, token, key, value)
        assert response.status_code == 400, response.content
        assert reason in response.json()["error"]["fields"][field][0]
    for key, value in QUALIFIED_ANSWERS[:2]:
        assert answer(client, flow, token, key, value).status_code == 200
    for value, reason in (
        ("lots", "not a number"),
        (0, "at least 1"),
        (10**9, "at most 100000"),
        (True, "not a"),
    ):
        response = answer(client, flow, token, "team_size", value)
        assert response.status_code == 400
        assert reason in response.json()["error"]["fields"]["value"][0], value
    for key, value in QUALIFIED_ANSWERS[2:6]:
        assert answer(client, flow, token, key, value).status_code == 200
    response = answer(client, flow, token, "email", "not-an-email", consent=True)
    assert response.json()["error"]["fields"] == {"value": ["Enter a valid email address."]}
    response = answer(client, flow, token, "email", "ada@analytical.example")
    assert response.status_code == 400 and "consent" in response.json()["error"]["fields"]
    response = answer(client, flow, token, "nope", "x")
    assert response.status_code == 400 and "question" in response.json()["error"]["fields"]
    bad_json = client.post(
        f"/embed/chat/{flow.public_key}/conversations/{token}/answers/",
        data="{not json",
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert bad_json.status_code == 400 and "body" in bad_json.json()["error"]["fields"]
    out_of_order = answer(client, flow, token, "company", "Acme")
    assert out_of_order.status_code == 409 and out_of_order.json()["error"]["code"] == "out_of_order"
    with tenant_context(org):
        assert ChatAnswer.objects.count() == 6 and not Lead.objects.exists()


def test_an_unknown_conversation_is_404_even_with_another_flows_token(
    flow: Any, other_org: Organization
) -> None:
    other = build_flow(other_org)
    theirs = start(Client(), other).json()["conversation"]
    assert answer(Client(), flow, theirs, "budget", "50k+").status_code == 404
    assert Client().get(f"/embed/chat/{flow.public_key}/conversations/{theirs}/").status_code == 404
    assert Client().get(f"/embed/chat/{flow.public_key}/conversations/short/").status_code == 404


def test_an_idempotency_key_replays_the_first_answer(flow: Any, org: Organization) -> None:
    client = Client()
    token = start(client, flow).json()["conversation"]
    url = f"/embed/chat/{flow.public_key}/conversations/{token}/answers/"
    first = post(client, url, {"question": "budget", "value": "50k+"}, **{"Idempotency-Key": "k-1"})
    replay = post(client, url, {"question": "budget", "value": "50k+"}, **{"Idempotency-Key": "k-1"})
    assert first.status_code == replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert replay["Access-Control-Allow-Origin"] == ORIGIN  # the widget can read the replay too
    reused = post(client, url, {"question": "authority", "value": "influencer"}, **{"Idempotency-Key": "k-1"})
    assert reused.status_code == 422
    with tenant_context(org):
        assert ChatAnswer.objects.count() == 1


def test_the_honeypot_gets_a_normal_answer_and_no_lead(flow: Any, org: Organization) -> None:
    client = Client()
    response = post(
        client, f"/embed/chat/{flow.public_key}/conversations/", {"lh_website": "http://spam.example"}
    )
    assert response.status_code == 201
    token = response.json()["conversation"]
    for key, value in QUALIFIED_ANSWERS:
        assert answer(client, flow, token, key, value, consent=True).status_code == 200
    with tenant_context(org):
        assert ChatSession.objects.get().status == SessionStatus.SPAM
        assert not Lead.objects.exists()
    # A bot that fills the trap only later is caught then.
    token = start(client, flow).json()["conversation"]
    answer(client, flow, token, "budget", "50k+", lh_website="gotcha")
    with tenant_context(org):
        assert ChatSession.objects.get(token=token).status == SessionStatus.SPAM


def test_a_whole_conversation_qualifies_then_requests_a_meeting_and_goes_to_sales(
    flow: Any, org: Organization
) -> None:
    client = Client()
    end = _conversation(client, flow)
    assert end["next"] is None
    assert end["end"]["qualified"] is True and end["end"]["offers"] == {"meeting": True, "handoff": True}
    assert [a["question"] for a in end["answers"]][:3] == ["budget", "authority", "team_size"]
    token = end["conversation"]
    # Resuming after a reload shows the same place.
    resumed = client.get(f"/embed/chat/{flow.public_key}/conversations/{token}/", headers={"Origin": ORIGIN})
    assert resumed.json() == end
    base = f"/embed/chat/{flow.public_key}/conversations/{token}/"
    bad = post(client, base + "meeting/", {"day": "soon", "slot": "late"})
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"day", "slot"}
    meeting = post(client, base + "meeting/", {"day": _weekday(), "slot": "morning", "note": "<b>API</b>"})
    assert meeting.status_code == 201, meeting.content
    assert "morning" in meeting.json()["message"]
    assert post(client, base + "handoff/", {}).status_code == 200
    with tenant_context(org):
        lead = Lead.objects.get()
        assert (lead.stage, lead.budget, lead.authority, lead.timing) == (
            Stage.MQL,
            "50k+",
            "decision maker",
            "this quarter",
        )
        assert MeetingRequest.objects.get().note == "<b>API</b>"
        types = set(Touchpoint.objects.filter(lead=lead).values_list("type", flat=True))
        assert {TouchpointType.CHAT, TouchpointType.MEETING} <= types


def test_not_qualified_answers_get_the_content_offer(flow: Any, org: Organization) -> None:
    answers = [(k, "Under 10k" if k == "budget" else v) for k, v in QUALIFIED_ANSWERS]
    end = _conversation(Client(), flow, answers)["end"]
    assert end["qualified"] is False and end["offers"] == {"meeting": False, "handoff": False}
    assert end["content"] == {"label": "Read the buyer's guide", "url": "https://www.customer.example/guide"}
    handoff = post(Client(), f"/embed/chat/{flow.public_key}/conversations/{_token(org)}/handoff/", {})
    assert handoff.status_code == 409
    with tenant_context(org):
        assert Lead.objects.get().stage == Stage.COLD


def _token(org: Organization) -> str:
    with tenant_context(org):
        return ChatSession.objects.get().token


def test_free_text_is_stored_and_returned_as_data(flow: Any, org: Organization) -> None:
    xss = '<img src=x onerror="alert(1)">'
    answers = [(k, xss if k == "tools" else v) for k, v in QUALIFIED_ANSWERS]
    end = _conversation(Client(), flow, answers)
    shown = next(a for a in end["answers"] if a["question"] == "tools")
    assert shown["answer"] == xss
    with tenant_context(org):
        assert Lead.objects.get().need == xss
    assert json.loads(json.dumps(end)) == end

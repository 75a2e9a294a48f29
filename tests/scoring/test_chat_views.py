"""The chat flow editor through the test client: the list with its empty state, creating a flow, the
editor (questions added, reordered and removed after confirmation, conditions, preview, embed code,
recent changes), the conversations with their answers escaped, roles, tenant isolation; and the REST
API (CRUD with validation errors that name the field, conversations read-only)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, Organization
from scoring.chat.conversations import answer_record, conversation_start
from scoring.models_chat import ChatFlow, ChatQuestion
from tests.conftest import login
from tests.scoring.chat_fixtures import QUALIFIED_ANSWERS, QUESTIONS, build_flow

pytestmark = pytest.mark.django_db


def _keys(org: Organization, flow: ChatFlow) -> list[str]:
    with tenant_context(org):
        return list(ChatQuestion.objects.filter(flow=flow).values_list("key", flat=True))


def test_the_list_starts_empty_and_is_in_the_navigation(admin_client: Client) -> None:
    response = admin_client.get("/scoring/chat-flows/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "No chat flows yet" in page and "Create your first chat flow" in page
    assert 'href="/scoring/chat-flows/"' in admin_client.get("/").content.decode()


def test_a_marketer_creates_a_flow_and_builds_it_in_the_editor(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    bad = client.post("/scoring/chat-flows/new/", {"name": "", "greeting": "Hi"})
    assert bad.status_code == 400
    response = client.post(
        "/scoring/chat-flows/new/",
        {
            "name": "Demo chat",
            "greeting": "Hello!",
            "allowed_domains": "customer.example",
            "consent_text": "You may contact me.",
            "qualified_message": "Good fit!",
            "closing_message": "Thanks!",
            "offer_meeting": "on",
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        flow = ChatFlow.objects.get()
    edit = f"/scoring/chat-flows/{flow.pk}/"
    assert response["Location"] == edit
    for question in [*QUESTIONS[:2], QUESTIONS[6]]:
        data = {k: v for k, v in question.items() if k != "options"}
        data["options"] = "\n".join(question.get("options", []))
        assert client.post(edit + "questions/add/", data).status_code == 302, question
    refused = client.post(
        edit + "questions/add/", {"prompt": "One?", "answer_type": "choice", "options": "a"}
    )
    assert refused.status_code == 400 and "at least two options" in refused.content.decode()
    assert _keys(org, flow) == ["budget", "authority", "email"]
    # Conditions: added with their words shown, a wrong value refused with the reason.
    assert (
        client.post(
            edit + "conditions/", {"question": "budget", "op": "in", "values": "50k+\n10-50k"}
        ).status_code
        == 302
    )
    wrong = client.post(edit + "conditions/", {"question": "budget", "op": "in", "values": "huge"})
    assert wrong.status_code == 400 and "is not an option of" in wrong.content.decode()
    page = client.get(edit).content.decode()
    assert "Qualified when budget is one of “50k+”, “10-50k”." in page
    assert f"/embed/chat/{flow.public_key}.js" in page and "lh-chat-preview" in page
    assert "chat_flow.question_add" in page and "marketer@acme.example" in page
    # Reorder, then remove with a confirmation page first.
    with tenant_context(org):
        authority = ChatQuestion.objects.get(flow=flow, key="authority")
        budget = ChatQuestion.objects.get(flow=flow, key="budget")
    client.post(f"{edit}questions/{authority.pk}/move/", {"direction": "up"})
    assert _keys(org, flow) == ["authority", "budget", "email"]
    confirm = client.get(f"{edit}questions/{authority.pk}/delete/")
    assert confirm.status_code == 200 and "Remove question" in confirm.content.decode()
    assert _keys(org, flow) == ["authority", "budget", "email"]
    assert client.post(f"{edit}questions/{authority.pk}/delete/").status_code == 302
    used = client.post(f"{edit}questions/{budget.pk}/delete/")
    assert used.status_code == 400 and "qualification conditions use it" in used.content.decode()
    assert client.post(edit + "conditions/remove/", {"index": "0"}).status_code == 302
    # Going live.
    settings = {
        "name": "Demo chat",
        "greeting": "Hello!",
        "allowed_domains": "customer.example",
        "consent_text": "You may contact me.",
        "qualified_message": "Good fit!",
        "closing_message": "Thanks!",
        "is_active": "on",
    }
    assert client.post(edit, settings).status_code == 302
    with tenant_context(org):
        flow.refresh_from_db()
        assert flow.is_active and flow.updated_by == marketer and flow.version > 5
        assert AuditLog.objects.filter(target_type="ChatFlow", action="chat_flow.update").exists()


def test_editing_a_question_and_deleting_the_flow_ask_first(org: Organization, admin_client: Client) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        tools = ChatQuestion.objects.get(flow=flow, key="tools")
    url = f"/scoring/chat-flows/{flow.pk}/questions/{tools.pk}/"
    page = admin_client.get(url).content.decode()
    assert "Which tools do you compare?" in page and 'value="evaluating" selected' in page
    response = admin_client.post(
        url,
        {
            "prompt": "Which tools?",
            "key": "tools",
            "answer_type": "text",
            "target": "lead.need",
            "ask_if_question": "evaluating",
            "ask_if_op": "in",
            "ask_if_values": "maybe",
        },
    )
    assert response.status_code == 400 and "yes or no" in response.content.decode()
    confirm = admin_client.get(f"/scoring/chat-flows/{flow.pk}/delete/")
    assert "Delete “Pricing chat”?" in confirm.content.decode()
    assert admin_client.post(f"/scoring/chat-flows/{flow.pk}/delete/").status_code == 302
    with tenant_context(org):
        assert not ChatFlow.objects.exists()
    assert admin_client.get(f"/embed/chat/{flow.public_key}/").status_code == 404


def test_conversations_show_answers_as_text_with_a_link_to_the_lead(
    org: Organization, admin_client: Client
) -> None:
    flow = build_flow(org)
    xss = "<script>alert(1)</script>"
    with tenant_context(org):
        session = conversation_start(flow=flow)
        for key, value in QUALIFIED_ANSWERS:
            answer_record(
                session=session, question_key=key, raw=xss if key == "tools" else value, consent=True
            )
        session.refresh_from_db()
        conversation_start(flow=flow)
    page = admin_client.get(f"/scoring/chat-flows/{flow.pk}/conversations/").content.decode()
    assert xss not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'href="/leads/{session.lead_id}/"' in page and "Qualified" in page and "In progress" in page
    only = admin_client.get(f"/scoring/chat-flows/{flow.pk}/conversations/?status=qualified").content.decode()
    assert only.count("<tr>") == 2  # the header and one conversation
    empty = admin_client.get(f"/scoring/chat-flows/{flow.pk}/conversations/?status=spam").content.decode()
    assert "No conversations with this status yet" in empty


def test_pages_are_for_marketers_and_admins_of_the_flows_organization(
    org: Organization, other_org: Organization, sales_rep: Any, other_admin_client: Client
) -> None:
    flow = build_flow(org)
    assert login(sales_rep, org).get("/scoring/chat-flows/").status_code == 403
    for url in (
        f"/scoring/chat-flows/{flow.pk}/",
        f"/scoring/chat-flows/{flow.pk}/conversations/",
        f"/scoring/chat-flows/{flow.pk}/delete/",
    ):
        assert other_admin_client.get(url).status_code == 404
    assert other_admin_client.post(f"/scoring/chat-flows/{flow.pk}/delete/").status_code == 404
    assert "Pricing chat" not in other_admin_client.get("/scoring/chat-flows/").content.decode()
    with tenant_context(org):
        assert ChatFlow.objects.filter(pk=flow.pk).exists()


# --- the API --------------------------------------------------------------------------------------------


def test_the_api_creates_a_flow_with_questions_and_qualification(api_client: Any, org: Organization) -> None:
    body = {
        "name": "API chat",
        "allowed_domains": ["customer.example"],
        "questions": [{**q, "ask_if": q.get("ask_if")} for q in QUESTIONS if q["key"] != "team_size"],
        "qualification": [{"question": "budget", "op": "in", "values": ["50k+"]}],
        "is_active": True,
    }
    response = api_client.post("/api/v1/scoring/chat-flows/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert [q["key"] for q in data["questions"]][:3] == ["budget", "authority", "evaluating"]
    assert data["is_active"] is True and data["qualification_rule"] == "Qualified when budget is “50k+”."
    assert data["embed_script"].endswith(f'/embed/chat/{data["public_key"]}.js" async></script>')
    flow_id = data["id"]
    patched = api_client.patch(
        f"/api/v1/scoring/chat-flows/{flow_id}/",
        {"qualification_match": "any", "greeting": "Yo"},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["greeting"] == "Yo"
    listed = api_client.get("/api/v1/scoring/chat-flows/").json()
    assert [f["id"] for f in listed["results"]] == [flow_id]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "X", "allowed_domains": ["bad domain!"]}, "allowed_domains"),
        (
            {
                "name": "X",
                "questions": [{"key": "a", "prompt": "A?", "answer_type": "choice", "options": ["1"]}],
            },
            "questions.0.options",
        ),
        (
            {"name": "X", "questions": [{"key": "a", "prompt": "A?", "answer_type": "dance"}]},
            "questions.0.answer_type",
        ),
        (
            {
                "name": "X",
                "questions": [{"key": "a", "prompt": "A?", "answer_type": "text"}],
                "qualification": [{"question": "b", "values": ["x"]}],
            },
            "qualification.0",
        ),
        ({"name": "X", "is_active": True}, "is_active"),
        ({"name": "X", "content_offer_url": "ftp://x"}, "content_offer_url"),
    ],
)
def test_api_validation_errors_name_the_field(
    api_client: Any, org: Organization, body: dict[str, Any], field: str
) -> None:
    response = api_client.post("/api/v1/scoring/chat-flows/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    with tenant_context(org):
        assert not ChatFlow.objects.exists()  # nothing half-written


def test_api_conversations_are_read_only_and_scoped(
    api_client: Any, other_api_client: Any, org: Organization, django_assert_max_num_queries: Any
) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        for _ in range(3):
            session = conversation_start(flow=flow)
            for key, value in QUALIFIED_ANSWERS:
                answer_record(session=session, question_key=key, raw=value, consent=True)
    url = f"/api/v1/scoring/chat-flows/{flow.pk}/conversations/"
    with django_assert_max_num_queries(12):
        response = api_client.get(url)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 3 and rows[0]["status"] == "qualified"
    assert rows[0]["answers"][0] == {
        **rows[0]["answers"][0],
        "question": "budget",
        "prompt": "What budget do you have?",
    }
    assert api_client.get(f"{url}{rows[0]['id']}/").json()["lead"] == rows[0]["lead"]
    assert api_client.post(url, {}, format="json").status_code == 405
    assert api_client.delete(f"{url}{rows[0]['id']}/").status_code == 405
    assert other_api_client.get(url).status_code == 404
    assert other_api_client.get(f"/api/v1/scoring/chat-flows/{flow.pk}/").status_code == 404
    assert other_api_client.delete(f"/api/v1/scoring/chat-flows/{flow.pk}/").status_code == 404

"""Shared set-up of the chat tests: a live flow that asks BANT, a custom field, a skip condition and the
email, with an explicit qualification rule; and helpers to talk to its public endpoints."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.models import CustomFieldEntity, CustomFieldType
from leads.services import custom_field_create
from scoring.chat import services
from scoring.models_chat import ChatFlow

ORIGIN = "https://www.customer.example"
ACTOR = Actor.system("test")

QUESTIONS: list[dict[str, Any]] = [
    {
        "key": "budget",
        "prompt": "What budget do you have?",
        "answer_type": "choice",
        "options": ["Under 10k", "10-50k", "50k+"],
        "target": "lead.budget",
    },
    {
        "key": "authority",
        "prompt": "What is your role in the decision?",
        "answer_type": "choice",
        "options": ["decision maker", "influencer", "researcher"],
        "target": "lead.authority",
    },
    {
        "key": "team_size",
        "prompt": "How many people would use it?",
        "answer_type": "number",
        "min_value": 1,
        "max_value": 100000,
        "target": "custom.contact.team_size",
    },
    {"key": "evaluating", "prompt": "Are you comparing tools?", "answer_type": "yes_no"},
    {
        "key": "tools",
        "prompt": "Which tools do you compare?",
        "answer_type": "text",
        "target": "lead.need",
        "ask_if": {"question": "evaluating", "op": "in", "values": ["yes"]},
    },
    {
        "key": "timing",
        "prompt": "When do you want to start?",
        "answer_type": "choice",
        "options": ["this quarter", "this year", "later"],
        "target": "lead.timing",
    },
    {"key": "email", "prompt": "Where can we reach you?", "answer_type": "email"},
    {
        "key": "first_name",
        "prompt": "And your first name?",
        "answer_type": "text",
        "target": "contact.first_name",
    },
    {"key": "company", "prompt": "Which company?", "answer_type": "text", "target": "company.name"},
]
QUALIFICATION: list[dict[str, Any]] = [
    {"question": "budget", "op": "in", "values": ["50k+", "10-50k"]},
    {"question": "authority", "op": "in", "values": ["decision maker"]},
    {"question": "timing", "op": "in", "values": ["this quarter"]},
]
QUALIFIED_ANSWERS: list[tuple[str, Any]] = [
    ("budget", "50k+"),
    ("authority", "decision maker"),
    ("team_size", 40),
    ("evaluating", "yes"),
    ("tools", "Spreadsheets"),
    ("timing", "this quarter"),
    ("email", "Ada@Analytical.example"),
    ("first_name", "Ada"),
    ("company", "Analytical Engines"),
]


def build_flow(organization: Organization, *, live: bool = True, **settings: Any) -> ChatFlow:
    with tenant_context(organization):
        custom_field_create(
            entity=CustomFieldEntity.CONTACT,
            key="team_size",
            label="Team size",
            field_type=CustomFieldType.NUMBER,
        )
        flow = services.chat_flow_create(
            data={
                "name": "Pricing chat",
                "allowed_domains": ["customer.example"],
                "content_offer_label": "Read the buyer's guide",
                "content_offer_url": "https://www.customer.example/guide",
                **settings,
            },
            actor=ACTOR,
        )
        for question in QUESTIONS:
            services.chat_question_add(flow=flow, data=question, actor=ACTOR)
        services.chat_qualification_set(flow=flow, conditions=QUALIFICATION, actor=ACTOR)
        if live:
            services.chat_flow_update(flow=flow, data={"is_active": True}, actor=ACTOR)
        flow.refresh_from_db()
    return flow


def post(client: Client, url: str, body: dict[str, Any], origin: str | None = ORIGIN, **headers: str) -> Any:
    if origin:
        headers["Origin"] = origin
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def start(client: Client, flow: ChatFlow, **body: Any) -> Any:
    return post(client, f"/embed/chat/{flow.public_key}/conversations/", body)


def answer(client: Client, flow: ChatFlow, token: str, question: str, value: Any, **extra: Any) -> Any:
    return post(
        client,
        f"/embed/chat/{flow.public_key}/conversations/{token}/answers/",
        {"question": question, "value": value, **extra},
    )

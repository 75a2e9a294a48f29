"""Shared set-up of the form tests: a form with a field of every kind, consent, and allowed domains."""

from __future__ import annotations

import json
import time
from typing import Any

from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.models import CustomFieldEntity, CustomFieldType
from leads.models_forms import ConsentPurpose, Form
from leads.services import custom_field_create
from leads.webforms import guard, services
from leads.webforms.schema import definition_build

ORIGIN = "https://www.customer.example"
ACTOR = Actor.system("test")


def build_form(organization: Organization, **settings: Any) -> Form:
    with tenant_context(organization):
        custom_field_create(
            entity=CustomFieldEntity.CONTACT,
            key="plan",
            label="Plan",
            field_type=CustomFieldType.CHOICE,
            choices=["free", "pro"],
        )
        form = services.form_create(
            data={
                "name": "Demo request",
                "allowed_domains": ["customer.example", "*.customer.example"],
                **settings,
            },
            actor=ACTOR,
        )
        for data in (
            {"target": "contact.first_name", "required": True},
            {"target": "contact.last_name"},
            {"target": "company.name", "label": "Company"},
            {"target": "lead.need", "max_length": 500},
            {"target": "custom.contact.plan"},
        ):
            services.form_field_add(form=form, data=data, actor=ACTOR)
        services.form_consent_set(
            form=form,
            purpose=ConsentPurpose.MARKETING_EMAIL,
            text="Send me product news by email.",
            required=False,
            actor=ACTOR,
        )
        form.refresh_from_db()
    return form


def render_token(organization: Organization, form: Form, *, age: float = 10.0) -> str:
    """The token a page drawn `age` seconds ago carries (all fields shown)."""
    with tenant_context(organization):
        form.refresh_from_db()
        definition = definition_build(form)
    return guard.token_issue(
        fields=[f.id for f in definition.fields],
        consents=[c.id for c in definition.consents],
        at=time.time() - age,
    )


def payload(organization: Organization, form: Form, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contact.email": "ada@lovelace.example",
        "contact.first_name": "Ada",
        "contact.last_name": "Lovelace",
        "company.name": "Analytical Engines",
        "lead.need": "A faster loom",
        "custom.contact.plan": "pro",
        "consent.marketing_email": True,
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "page_url": "https://www.customer.example/pricing?utm_source=google",
        "referrer": "https://www.google.com/",
        "lh_variant": "B",
        "_lh_t": render_token(organization, form),
        "_lh_vid": "visitor-123",
    }
    body.update(extra)
    return body


def post_json(
    client: Client, form: Form, body: dict[str, Any], origin: str | None = ORIGIN, **headers: str
) -> Any:
    if origin:
        headers["Origin"] = origin
    return client.post(
        f"/f/{form.public_key}/", data=json.dumps(body), content_type="application/json", headers=headers
    )

"""Progressive profiling: a known visitor (by email, or by the first-party visitor id their earlier
touchpoints carry) skips what they already answered and gets the next fields in the marketer's order,
up to the form's maximum; fields left out are not required."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leads.models import Touchpoint, TouchpointType
from leads.services import lead_capture
from leads.webforms import services
from tests.capture.forms_helpers import ACTOR, ORIGIN, build_form, payload, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(org: Organization) -> Any:
    return build_form(org, max_fields_shown=3)


def _shown(form: Any, **params: str) -> list[str]:
    response = Client().get(f"/f/{form.public_key}/fields/", params, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    return [f["name"] for f in response.json()["fields"]]


def _known(organization: Organization, **contact: Any) -> Any:
    with tenant_context(organization):
        lead, _ = lead_capture(contact_data={"email": "ada@lovelace.example", **contact}, actor=ACTOR)
        Touchpoint.objects.create(
            lead=lead, contact=lead.contact, anonymous_id="known-visitor", type=TouchpointType.PAGE_VIEW
        )
    return lead


def test_an_unknown_visitor_gets_the_first_fields_up_to_the_maximum(org: Organization, form: Any) -> None:
    assert _shown(form) == ["contact.email", "contact.first_name", "contact.last_name"]


def test_a_visitor_known_by_email_gets_the_next_unanswered_fields_in_order(
    org: Organization, form: Any
) -> None:
    _known(org, first_name="Ada", last_name="Lovelace")
    assert _shown(form, email="ADA@lovelace.example") == ["contact.email", "company.name", "lead.need"]


def test_a_visitor_known_by_the_visitor_cookie_skips_answers_of_contact_company_lead_and_custom(
    org: Organization, form: Any
) -> None:
    lead = _known(org, first_name="Ada", company={"name": "Engines"}, custom_fields={"plan": "pro"})
    with tenant_context(org):
        lead.need = "Looms"
        lead.save()
    assert _shown(form, vid="known-visitor") == ["contact.email", "contact.last_name"]
    # The marketer's order decides what comes next.
    with tenant_context(org):
        fields = {f.target: f.pk for f in form.fields.all()}
        services.form_fields_reorder(
            form=form,
            order=[fields["contact.email"], fields["lead.need"], fields["contact.last_name"]],
            actor=ACTOR,
        )
    assert _shown(form, vid="known-visitor") == ["contact.email", "contact.last_name"]


def test_the_order_follows_the_builder_after_a_reorder(org: Organization, form: Any) -> None:
    with tenant_context(org):
        fields = {f.target: f.pk for f in form.fields.all()}
        services.form_fields_reorder(
            form=form,
            order=[fields["contact.email"], fields["custom.contact.plan"], fields["company.name"]],
            actor=ACTOR,
        )
    assert _shown(form) == ["contact.email", "custom.contact.plan", "company.name"]


def test_the_hosted_page_profiles_by_the_lh_vid_cookie(org: Organization, form: Any) -> None:
    _known(org, first_name="Ada", last_name="Lovelace")
    client = Client()
    client.cookies["lh_vid"] = "known-visitor"
    html = client.get(f"/f/{form.public_key}/").content.decode()
    assert 'name="company.name"' in html and 'name="contact.first_name"' not in html


def test_a_required_field_that_was_not_shown_is_not_required(org: Organization, form: Any) -> None:
    _known(org, first_name="Ada", last_name="Lovelace")
    body = (
        Client()
        .get(f"/f/{form.public_key}/fields/", {"email": "ada@lovelace.example"}, headers={"Origin": ORIGIN})
        .json()
    )
    answer = payload(org, form, _lh_t=body["token"], **{"contact.first_name": ""})
    # The token is fresh: the time trap would reject it, so age it as a human would take.
    import time

    from leads.webforms import guard

    token = guard.token_read(body["token"])
    assert token is not None and "contact.first_name" not in {f["name"] for f in body["fields"]}
    answer["_lh_t"] = guard.token_issue(fields=token.fields, consents=token.consents, at=time.time() - 10)
    assert post_json(Client(), form, answer).status_code == 200
    # Without the profile, first name is required again.
    unknown = payload(org, form, **{"contact.first_name": "", "contact.email": "new@x.example"})
    assert post_json(Client(), form, unknown).status_code == 400

"""Consent: versioned texts (a submission records the version the visitor saw, even after an edit),
records per contact and purpose with source and time, double opt-in by email with a signed link,
withdrawal, and the consents API."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, Organization
from leads.models import Contact
from leads.models_forms import ConsentRecord, ConsentSource, ConsentStatus, ConsentText
from leads.webforms import guard, services
from leads.webforms.consent import consent_record, consent_withdraw, consents_for
from tests.capture.forms_helpers import ACTOR, build_form, payload, post_json

pytestmark = pytest.mark.django_db


def test_editing_the_text_creates_a_version_and_consent_keeps_the_one_shown(
    org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    form = build_form(org)
    old_token = Client().get(f"/f/{form.public_key}/fields/").json()["token"]
    with tenant_context(org):
        v1 = ConsentText.objects.get(form=form, is_current=True)
        same = services.form_consent_set(
            form=form, purpose="marketing_email", text=v1.text, required=False, actor=ACTOR
        )
        assert same.pk == v1.pk  # same text: no new version
        v2 = services.form_consent_set(
            form=form,
            purpose="marketing_email",
            text="Email me news and offers.",
            required=False,
            actor=ACTOR,
        )
        assert (v2.version, v2.is_current) == (2, True)
        v1.refresh_from_db()
        assert v1.is_current is False and v1.text == "Send me product news by email."
        assert AuditLog.objects.filter(action="form.consent_version").count() == 2

    # A visitor who loaded the page before the edit saw version 1; one who loads it now sees version 2.
    parsed = guard.token_read(old_token)
    assert parsed is not None
    aged = guard.token_issue(fields=parsed.fields, consents=parsed.consents, at=time.time() - 10)
    with django_capture_on_commit_callbacks(execute=True):
        post_json(Client(), form, payload(org, form, _lh_t=aged))
        post_json(Client(), form, payload(org, form, **{"contact.email": "grace@hopper.example"}))
    with tenant_context(org):
        seen = {
            r.contact.email_normalized: (r.text_version_id, r.text)
            for r in ConsentRecord.objects.select_related("contact")
        }
    assert seen["ada@lovelace.example"] == (v1.pk, "Send me product news by email.")
    assert seen["grace@hopper.example"] == (v2.pk, "Email me news and offers.")


def test_a_required_consent_box_must_be_ticked(org: Organization) -> None:
    form = build_form(org)
    with tenant_context(org):
        services.form_consent_set(
            form=form,
            purpose="sales_contact",
            text="You may call me about a demo.",
            required=True,
            actor=ACTOR,
        )
    response = post_json(Client(), form, payload(org, form))
    assert response.status_code == 400 and "consent.sales_contact" in response.json()["error"]["fields"]
    assert post_json(Client(), form, payload(org, form, **{"consent.sales_contact": True})).status_code == 200


def test_double_opt_in_sends_a_signed_link_that_confirms_on_post(
    org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    form = build_form(org, double_opt_in=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_json(Client(), form, payload(org, form)).status_code == 200
    with tenant_context(org):
        contact = Contact.objects.get()
        assert consents_for(contact)["marketing_email"].status == ConsentStatus.PENDING
    (message,) = mail.outbox
    assert message.to == ["ada@lovelace.example"] and "Send me product news by email." in message.body
    link = re.search(r"http://testserver(/f/confirm/[^/\s]+/)", message.body)
    assert link is not None
    url = link.group(1)

    client = Client(enforce_csrf_checks=True)
    page = client.get(url)  # a mail scanner opening the link confirms nothing
    assert page.status_code == 200 and "Confirm your subscription" in page.content.decode()
    with tenant_context(org):
        assert consents_for(contact)["marketing_email"].status == ConsentStatus.PENDING
    csrf = client.cookies["csrftoken"].value
    confirmed = client.post(url, {"csrfmiddlewaretoken": csrf})
    assert confirmed.status_code == 200 and "you are confirmed" in confirmed.content.decode()
    with tenant_context(org):
        state = consents_for(contact)["marketing_email"]
        assert state.status == ConsentStatus.GRANTED and state.record is not None
        assert (
            state.record.source == ConsentSource.DOUBLE_OPT_IN
            and state.record.text == "Send me product news by email."
        )
    client.post(url, {"csrfmiddlewaretoken": csrf})  # a second click adds nothing
    with tenant_context(org):
        assert ConsentRecord.objects.filter(source=ConsentSource.DOUBLE_OPT_IN).count() == 1


def test_a_forged_or_tampered_confirmation_link_is_404(org: Organization) -> None:
    assert Client().get("/f/confirm/not-a-token/").status_code == 404
    assert Client().get("/f/confirm/eyJvIjoxLCJzIjoxfQ:1abc:forged/").status_code == 404


def test_withdrawal_and_the_current_state_per_purpose(org: Organization) -> None:
    with tenant_context(org):
        contact = Contact.objects.create(email="a@x.example", email_normalized="a@x.example")
        consent_record(contact=contact, purpose="tracking", source=ConsentSource.IMPORT, actor=ACTOR)
        consent_record(contact=contact, purpose="marketing_email", source=ConsentSource.API, actor=ACTOR)
        consent_withdraw(contact=contact, purpose="marketing_email", source=ConsentSource.API, actor=ACTOR)
        state = consents_for(contact)
        assert state["tracking"].granted and not state["marketing_email"].granted
        assert state["marketing_email"].status == ConsentStatus.WITHDRAWN
        assert state["sales_contact"].status == ""
        assert ConsentRecord.objects.filter(contact=contact).count() == 3  # history kept
        assert AuditLog.objects.filter(action="consent.withdrawn").exists()


def test_the_consents_api_records_lists_and_withdraws(
    org: Organization, api_client: Any, other_org: Organization
) -> None:
    with tenant_context(org):
        contact = Contact.objects.create(email="a@x.example", email_normalized="a@x.example")
    with tenant_context(other_org):
        foreign = Contact.objects.create(email="b@x.example", email_normalized="b@x.example")
    given = api_client.post(
        "/api/v1/consents/",
        {"contact": contact.pk, "purpose": "marketing_email", "status": "granted", "text": "Yes, email me."},
        format="json",
    )
    assert given.status_code == 201 and given.json()["source"] == "api"
    withdrawn = api_client.post(
        "/api/v1/consents/",
        {"contact": contact.pk, "purpose": "marketing_email", "status": "withdrawn"},
        format="json",
    )
    assert withdrawn.status_code == 201
    listed = api_client.get(f"/api/v1/consents/?contact={contact.pk}").json()["results"]
    assert [r["status"] for r in listed] == ["withdrawn", "granted"]
    refused = api_client.post(
        "/api/v1/consents/",
        {"contact": foreign.pk, "purpose": "tracking", "status": "granted"},
        format="json",
    )
    assert refused.status_code == 400 and "contact" in refused.json()["error"]["fields"]
    bad = api_client.post(
        "/api/v1/consents/", {"contact": contact.pk, "purpose": "spam", "status": "granted"}, format="json"
    )
    assert bad.status_code == 400 and "purpose" in bad.json()["error"]["fields"]


# --- the lead page's consent panel --------------------------------------------------------------------


def test_lead_page_shows_consent_per_purpose_with_source_time_and_text(
    org: Organization, admin_client: Any
) -> None:
    from tests.factories import LeadFactory

    with tenant_context(org):
        lead = LeadFactory(contact__organization=org)
        consent_record(
            contact=lead.contact,
            purpose="marketing_email",
            source=ConsentSource.API,
            text="<b>Send me</b> the newsletter",
            actor=ACTOR,
        )
    page = admin_client.get(f"/leads/{lead.pk}/").content.decode()
    panel = page[page.index('id="consent"') :]
    assert "Granted" in panel and "API" in panel and "Never asked" in panel
    assert "&lt;b&gt;Send me&lt;/b&gt; the newsletter" in panel and "<b>Send me" not in panel


def test_dashboard_records_and_withdraws_consent_audited(
    org: Organization, sales_rep: Any, other_admin_client: Any
) -> None:
    from tests.conftest import login
    from tests.factories import LeadFactory

    with tenant_context(org):
        lead = LeadFactory(contact__organization=org)
    client = login(sales_rep, org)
    url = f"/contacts/{lead.contact_id}/consent/"
    # Consent given needs the words agreed to; nothing is stored without them.
    response = client.post(
        url, {"purpose": "sales_contact", "status": "granted", "lead": lead.pk}, follow=True
    )
    assert "Consent not recorded" in response.content.decode() and "agreed to" in response.content.decode()
    with tenant_context(org):
        assert not ConsentRecord.objects.exists()
    client.post(
        url,
        {"purpose": "sales_contact", "status": "granted", "text": "Call me about a demo.", "lead": lead.pk},
    )
    response = client.post(url, {"purpose": "sales_contact", "status": "withdrawn", "lead": lead.pk})
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    with tenant_context(org):
        records = list(ConsentRecord.objects.order_by("id").values_list("status", "source", "text"))
        assert records == [
            ("granted", "dashboard", "Call me about a demo."),
            ("withdrawn", "dashboard", ""),
        ]
        assert consents_for(lead.contact)["sales_contact"].status == ConsentStatus.WITHDRAWN
        assert AuditLog.objects.filter(action__in=["consent.granted", "consent.withdrawn"]).count() == 2
    # Bad choices are refused by name; another organization cannot reach this contact.
    response = client.post(url, {"purpose": "spam", "status": "granted", "text": "x"}, follow=True)
    assert "Purpose" in response.content.decode()
    assert other_admin_client.post(url, {"purpose": "tracking", "status": "withdrawn"}).status_code == 404
    with tenant_context(org):
        assert ConsentRecord.objects.count() == 2

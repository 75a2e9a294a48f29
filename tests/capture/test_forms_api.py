"""The forms API: CRUD of forms with fields and consent texts, and submissions from servers with an
API key (the capture scope is enough to submit, not to read)."""

from __future__ import annotations

from typing import Any

import pytest

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leads.models import Lead
from leads.models_forms import ConsentRecord, ConsentText, Form, FormSubmission
from tests.capture.forms_helpers import build_form

pytestmark = pytest.mark.django_db


def test_create_read_update_delete_a_form(api_client: Any, org: Organization) -> None:
    created = api_client.post(
        "/api/v1/forms/",
        {
            "name": "Webinar",
            "allowed_domains": ["example.com"],
            "fields": [
                {"target": "contact.first_name", "required": True},
                {"target": "company.name", "label": "Company", "max_length": 100},
            ],
            "consents": [{"purpose": "marketing_email", "text": "Email me.", "required": False}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert [f["target"] for f in body["fields"]] == ["contact.email", "contact.first_name", "company.name"]
    assert body["consents"][0]["version"] == 1 and body["public_key"].startswith("f_")
    assert body["embed"]["script"].endswith(f'/embed/forms/{body["public_key"]}.js" async></script>')

    updated = api_client.patch(
        f"/api/v1/forms/{body['id']}/",
        {
            "status": "paused",
            "fields": [{"target": "company.name"}, {"target": "contact.email"}],
            "consents": [{"purpose": "marketing_email", "text": "Email me news.", "required": True}],
        },
        format="json",
    )
    assert updated.status_code == 200, updated.json()
    assert [f["target"] for f in updated.json()["fields"]] == ["company.name", "contact.email"]
    assert updated.json()["consents"][0]["version"] == 2 and updated.json()["status"] == "paused"
    with tenant_context(org):
        assert ConsentText.objects.filter(form_id=body["id"]).count() == 2

    listed = api_client.get("/api/v1/forms/").json()["results"]
    assert [f["name"] for f in listed] == ["Webinar"]
    assert api_client.delete(f"/api/v1/forms/{body['id']}/").status_code == 204
    with tenant_context(org):
        assert not Form.objects.exists()


def test_invalid_form_input_names_the_field(api_client: Any) -> None:
    response = api_client.post(
        "/api/v1/forms/",
        {"name": "Bad", "fields": [{"target": "contact.shoe_size"}], "redirect_url": "javascript:alert(1)"},
        format="json",
    )
    assert response.status_code == 400
    response = api_client.post(
        "/api/v1/forms/", {"name": "Bad", "fields": [{"target": "contact.shoe_size"}]}, format="json"
    )
    assert response.status_code == 400 and "fields.0.target" in response.json()["error"]["fields"]
    response = api_client.post(
        "/api/v1/forms/", {"name": "Bad", "redirect_url": "javascript:alert(1)"}, format="json"
    )
    assert response.status_code == 400 and "redirect_url" in response.json()["error"]["fields"]
    assert api_client.get("/api/v1/forms/").json()["results"] == []


def test_a_capture_key_submits_and_the_lead_is_captured(
    capture_api_client: Any, org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    form = build_form(org)
    body = {
        "values": {
            "contact.email": "Ada@Lovelace.example",
            "contact.first_name": "Ada",
            "custom.contact.plan": "free",
        },
        "hidden": {"utm_source": "partner-site", "utm_medium": "referral", "lh_source": "crm"},
        "consents": {"marketing_email": True},
        "visitor_id": "v-42",
    }
    with django_capture_on_commit_callbacks(execute=True):
        first = capture_api_client.post(f"/api/v1/forms/{form.pk}/submissions/", body, format="json")
        again = capture_api_client.post(f"/api/v1/forms/{form.pk}/submissions/", body, format="json")
    assert first.status_code == 202, first.json()
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    with tenant_context(org):
        submission = FormSubmission.objects.get()
        assert submission.source == "api" and submission.api_key_id is not None
        lead = Lead.objects.select_related("contact").get()
        assert lead.contact.email_normalized == "ada@lovelace.example" and lead.source_channel == "referral"
        assert ConsentRecord.objects.get().source == "api"
    # Reading submissions needs a full key.
    assert capture_api_client.get(f"/api/v1/forms/{form.pk}/submissions/").status_code == 403
    assert capture_api_client.get("/api/v1/forms/").status_code == 403


def test_api_submission_errors_and_isolation(
    api_client: Any, org: Organization, other_org: Organization
) -> None:
    form = build_form(org)
    theirs = build_form(other_org)
    bad = api_client.post(
        f"/api/v1/forms/{form.pk}/submissions/", {"values": {"contact.email": "nope"}}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"contact.email", "contact.first_name"}
    foreign = api_client.post(
        f"/api/v1/forms/{theirs.pk}/submissions/", {"values": {"contact.email": "a@b.example"}}, format="json"
    )
    assert foreign.status_code == 404
    assert api_client.get(f"/api/v1/forms/{theirs.pk}/").status_code == 404
    ok = api_client.post(
        f"/api/v1/forms/{form.pk}/submissions/",
        {"values": {"contact.email": "a@b.example", "contact.first_name": "A"}},
        format="json",
    )
    assert ok.status_code == 202
    listed = api_client.get(f"/api/v1/forms/{form.pk}/submissions/").json()["results"]
    assert [s["email_normalized"] for s in listed] == ["a@b.example"]

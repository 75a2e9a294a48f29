"""The form builder in the dashboard and its services: list with empty state, create, settings,
fields (validation rules, order), consent texts, the embed panel, delete with confirmation, roles,
audit; and validation errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, Organization, PublicKey
from leads.models_forms import ConsentText, Form, FormField, FormSubmission, SubmissionStatus
from leads.webforms import services
from tests.capture.forms_helpers import ACTOR, build_form
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(marketer: Any, org: Organization) -> Client:
    return login(marketer, org)


def test_the_list_shows_an_empty_state_then_the_forms(client: Client, org: Organization) -> None:
    html = client.get("/forms/").content.decode()
    assert "No forms yet" in html and "Create your first form" in html
    build_form(org)
    html = client.get("/forms/").content.decode()
    assert "Demo request" in html and "No forms yet" not in html


def test_creating_a_form_gives_it_an_email_field_and_a_public_key(client: Client, org: Organization) -> None:
    response = client.post(
        "/forms/new/",
        {
            "name": "Newsletter",
            "status": "active",
            "submit_label": "Subscribe",
            "success_message": "Thanks!",
            "allowed_domains": "https://www.Example.com/path\n*.example.org",
            "hidden_values": "lh_offer=ebook",
            "max_fields_shown": "2",
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        form = Form.objects.get(name="Newsletter")
        assert form.allowed_domains == ["www.example.com", "*.example.org"]
        assert form.hidden_fields == {"lh_offer": "ebook"} and form.max_fields_shown == 2
        assert list(form.fields.values_list("target", "required")) == [("contact.email", True)]
        assert AuditLog.objects.filter(action="form.create", target_id=str(form.pk)).exists()
    assert PublicKey.objects.get(key=form.public_key).object_id == form.pk
    page = client.get(response["Location"]).content.decode()
    for snippet in (
        f"/embed/forms/{form.public_key}.js",
        f"action=&quot;http://testserver/f/{form.public_key}/&quot;",
    ):
        assert snippet in page
    assert '<form class="lh-form"' not in page  # the HTML embed code is shown as code, not drawn


def test_bad_settings_are_shown_next_to_their_field(client: Client, org: Organization) -> None:
    response = client.post(
        "/forms/new/",
        {
            "name": "",
            "status": "active",
            "submit_label": "Go",
            "success_message": "x",
            "max_fields_shown": "0",
            "allowed_domains": "not a domain!",
            "hidden_values": "offer=1",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert ("This field is required." in html and "needs the form lh_key=value" in html) or "lh_" in html
    with tenant_context(org):
        assert not Form.objects.exists()
        with pytest.raises(ValidationError) as error:
            services.form_create(data={"name": "X", "allowed_domains": ["bad domain!"]}, actor=ACTOR)
        assert "allowed_domains" in error.value.message_dict
        with pytest.raises(ValidationError) as error:
            services.form_create(data={"name": "X", "hidden_fields": {"offer": "1"}}, actor=ACTOR)
        assert "hidden_fields" in error.value.message_dict


def test_adding_editing_ordering_and_removing_fields(client: Client, org: Organization) -> None:
    form = build_form(org)
    response = client.post(
        f"/forms/{form.pk}/fields/add/", {"target": "contact.phone", "label": "Phone", "pattern": "[0-9 +]+"}
    )
    assert response.status_code == 302
    duplicate = client.post(f"/forms/{form.pk}/fields/add/", {"target": "contact.phone"})
    assert duplicate.status_code == 400 and "already asks for this" in duplicate.content.decode()
    bad = client.post(f"/forms/{form.pk}/fields/add/", {"target": "contact.job_title", "pattern": "("})
    assert bad.status_code == 400 and "Not a valid regular expression" in bad.content.decode()
    with tenant_context(org):
        phone = FormField.objects.get(form=form, target="contact.phone")
        email = FormField.objects.get(form=form, target="contact.email")
        updated_before = Form.objects.get(pk=form.pk).updated_at
    edit = client.post(
        f"/forms/{form.pk}/fields/{phone.pk}/",
        {"label": "Mobile", "required": "on", "max_length": "20", "min_length": "30"},
    )
    assert edit.status_code == 400 and "minimum length is above the maximum" in edit.content.decode()
    edit = client.post(
        f"/forms/{form.pk}/fields/{phone.pk}/", {"label": "Mobile", "required": "on", "max_length": "20"}
    )
    assert edit.status_code == 302
    assert client.post(f"/forms/{form.pk}/fields/{phone.pk}/move/", {"direction": "up"}).status_code == 302
    with tenant_context(org):
        targets = list(
            FormField.objects.filter(form=form).order_by("position").values_list("target", flat=True)
        )
        assert targets[-2:] == ["contact.phone", "custom.contact.plan"]
        phone.refresh_from_db()
        assert (phone.label, phone.required, phone.max_length) == ("Mobile", True, 20)
        assert Form.objects.get(pk=form.pk).updated_at > updated_before  # the public cache sees the change
    confirm = client.get(f"/forms/{form.pk}/fields/{phone.pk}/delete/")
    assert confirm.status_code == 200 and "Remove “Mobile”?" in confirm.content.decode()
    assert client.post(f"/forms/{form.pk}/fields/{phone.pk}/delete/").status_code == 302
    refused = client.post(f"/forms/{form.pk}/fields/{email.pk}/delete/")
    assert refused.status_code == 400 and "Every form asks for the email" in refused.content.decode()
    with tenant_context(org):
        assert not FormField.objects.filter(pk=phone.pk).exists()
        actions = set(AuditLog.objects.filter(target_id=str(form.pk)).values_list("action", flat=True))
    assert {"form.field_add", "form.field_update", "form.fields_reorder", "form.field_delete"} <= actions


def test_consent_text_edits_from_the_builder_are_versions(client: Client, org: Organization) -> None:
    form = build_form(org)
    response = client.post(
        f"/forms/{form.pk}/consents/",
        {"purpose": "marketing_email", "text": "New wording.", "required": "on"},
    )
    assert response.status_code == 302
    with tenant_context(org):
        versions = list(
            ConsentText.objects.filter(form=form).order_by("version").values_list("version", "is_current")
        )
    assert versions == [(1, False), (2, True)]
    page = client.get(f"/forms/{form.pk}/").content.decode()
    assert "New wording." in page and "Earlier versions" in page
    assert (
        client.post(f"/forms/{form.pk}/consents/", {"purpose": "marketing_email", "text": ""}).status_code
        == 400
    )
    assert client.post(f"/forms/{form.pk}/consents/marketing_email/remove/").status_code == 302
    with tenant_context(org):
        assert not ConsentText.objects.filter(form=form, is_current=True).exists()
        assert ConsentText.objects.filter(form=form).count() == 2  # the history stays


def test_deleting_asks_first_and_refuses_while_submissions_are_pending(
    client: Client, org: Organization
) -> None:
    form = build_form(org)
    confirm = client.get(f"/forms/{form.pk}/delete/")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    with tenant_context(org):
        FormSubmission.objects.create(form=form, fingerprint="x", status=SubmissionStatus.PENDING)
    refused = client.post(f"/forms/{form.pk}/delete/")
    assert refused.status_code == 400 and "still being captured" in refused.content.decode()
    with tenant_context(org):
        FormSubmission.objects.update(status=SubmissionStatus.PROCESSED)
    assert client.post(f"/forms/{form.pk}/delete/").status_code == 302
    with tenant_context(org):
        assert not Form.objects.exists()
        assert AuditLog.objects.filter(action="form.delete").exists()
    assert PublicKey.objects.get(key=form.public_key).revoked_at is not None


def test_settings_changes_are_saved_and_audited(client: Client, org: Organization) -> None:
    form = build_form(org)
    response = client.post(
        f"/forms/{form.pk}/",
        {
            "name": "Demo request",
            "status": "paused",
            "submit_label": "Book",
            "success_message": "Booked.",
            "max_fields_shown": "0",
            "allowed_domains": "customer.example",
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        form.refresh_from_db()
        entry = AuditLog.objects.filter(action="form.update").get()
    assert form.status == "paused" and form.submit_label == "Book"
    assert entry.changes["status"] == "paused" and entry.actor_user_id is not None


def test_sales_reps_cannot_build_forms(sales_rep: Any, org: Organization) -> None:
    form = build_form(org)
    client = login(sales_rep, org)
    assert client.get("/forms/").status_code == 403
    assert client.get(f"/forms/{form.pk}/").status_code == 403
    assert "/forms/" not in client.get("/").content.decode()


def test_another_organizations_form_is_404(client: Client, other_org: Organization) -> None:
    theirs = build_form(other_org)
    for url in (f"/forms/{theirs.pk}/", f"/forms/{theirs.pk}/submissions/", f"/forms/{theirs.pk}/delete/"):
        assert client.get(url).status_code == 404


def test_the_submissions_page_filters_and_pages(client: Client, org: Organization) -> None:
    form = build_form(org)
    with tenant_context(org):
        for i in range(30):
            FormSubmission.objects.create(
                form=form,
                fingerprint=f"fp{i}",
                status=SubmissionStatus.REJECTED if i % 3 == 0 else SubmissionStatus.PROCESSED,
                email_normalized=f"p{i}@x.example",
                reason="Honeypot field filled in" if i % 3 == 0 else "",
            )
    page = client.get(f"/forms/{form.pk}/submissions/").content.decode()
    assert page.count("<tr>") == 26 and 'rel="next"' in page  # header row + 25
    rejected = client.get(f"/forms/{form.pk}/submissions/?status=rejected").content.decode()
    assert rejected.count("Not spam: capture") == 10
    empty = client.get(f"/forms/{form.pk}/submissions/?status=failed").content.decode()
    assert "No submissions with this status" in empty

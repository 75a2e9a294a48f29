"""Export of everything held about a contact, and erasure that leaves no personal data in any tenant
table: checked by searching every text and JSON column of every tenant model."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, IdempotencyRecord
from leadhub.tenancy.rls import tenant_models
from leadhub.tenancy.services import Actor, audit_record
from leads.dedupe.services import contacts_merge
from leads.models import Contact, Lead, Touchpoint
from leads.models_forms import (
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Form,
    FormSubmission,
    SubmissionStatus,
)
from leads.models_imports import ImportJob, ImportRejection
from leads.models_tracking import Visitor
from leads.privacy.services import contact_erase, contact_export, email_hash
from tests.conftest import login
from tests.factories import ContactFactory, LeadFactory, TouchpointFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
EMAIL = "zebulon.quartermaine@example.org"
NAME = "Zebulon Quartermaine"


@pytest.fixture
def person(org):
    with tenant_context(org):
        contact = ContactFactory(
            email=EMAIL,
            email_normalized=EMAIL,
            first_name="Zebulon",
            last_name="Quartermaine",
            custom={"plan": "pro"},
        )
        lead = LeadFactory(contact=contact)
        TouchpointFactory(lead=lead, properties={"form": {"email": EMAIL}})
        TouchpointFactory(
            lead=None, contact=None, anonymous_id="v1", properties={"note": f"from {EMAIL.upper()}"}
        )
        twin = ContactFactory(
            email="zq@example.org",
            email_normalized="zq@example.org",
            first_name="Zebulon",
            last_name="Quartermaine",
            company=contact.company,
        )
        LeadFactory(contact=twin)
        contacts_merge(survivor=contact, others=[twin], actor=ACTOR)
        job = ImportJob.objects.create(file_name="list.csv", headers=["email", "name"])
        ImportRejection.objects.create(
            job=job,
            row_number=4,
            errors=["x"],
            values={"email": "ZQ@example.org", "name": NAME},
            email_normalized="zq@example.org",
        )
        IdempotencyRecord.objects.create(
            key="k1",
            method="POST",
            path="/api/v1/contacts/",
            request_hash="h",
            status_code=201,
            response_body=json.dumps({"email": EMAIL}).encode(),
        )
        audit_record(actor=ACTOR, action="contact.updated", target=contact)
        # What capture keeps: a spam submission that never became a contact, a processed one with its
        # consent, and the visitor the tracking snippet identified.
        form = Form.objects.create(name="Demo request", public_key="f_erasure")
        FormSubmission.objects.create(
            form=form,
            status=SubmissionStatus.REJECTED,
            reason="honeypot",
            payload={"email": EMAIL.upper(), "first_name": "Zebulon", "last_name": "Quartermaine"},
            email_normalized=EMAIL,
            fingerprint="spam",
        )
        submission = FormSubmission.objects.create(
            form=form,
            status=SubmissionStatus.PROCESSED,
            payload={"email": EMAIL, "name": NAME},
            email_normalized=EMAIL,
            fingerprint="ok",
            contact=contact,
        )
        ConsentRecord.objects.create(
            contact=contact,
            purpose=ConsentPurpose.MARKETING_EMAIL,
            status=ConsentStatus.GRANTED,
            source=ConsentSource.FORM,
            form=form,
            submission=submission,
            text="Send me product news.",
            actor_label=EMAIL,
        )
        Visitor.objects.create(
            anonymous_id="v1", contact=contact, first_url=f"https://x.example/?email={EMAIL}"
        )
        other = ContactFactory(
            email="joann.quartermaine@example.org",
            email_normalized="joann.quartermaine@example.org",
            first_name="Joann",
            last_name="Other",
        )
        contact.refresh_from_db()
    return contact, other


def tenant_text_containing(org, needle: str) -> list[str]:
    """Every (table, column) of every tenant model whose text, JSON or binary value contains `needle`."""
    found = []
    with tenant_context(org):
        for model in tenant_models():
            for field in model._meta.concrete_fields:
                if not isinstance(
                    field, models.CharField | models.TextField | models.JSONField | models.BinaryField
                ):
                    continue
                for value in model._base_manager.values_list(field.attname, flat=True):
                    if value is None:
                        continue
                    text = (
                        bytes(value).decode()
                        if isinstance(value, bytes | memoryview)
                        else (json.dumps(value) if isinstance(field, models.JSONField) else str(value))
                    )
                    if needle.lower() in text.lower():
                        found.append(f"{model._meta.label}.{field.name}")
    return found


def test_the_search_finds_the_person_before_erasure(org, person):
    assert tenant_text_containing(org, EMAIL)
    assert tenant_text_containing(org, NAME)


def test_export_holds_everything_about_the_contact(org, person):
    contact, _ = person
    with tenant_context(org):
        data = contact_export(contact=contact, actor=ACTOR)
        assert data["contact"]["email"] == EMAIL
        assert data["custom_fields"] == [{"key": "plan", "label": "plan", "value": "pro"}]
        related = data["related"]
        assert len(related["leads.Lead"]) == 2
        assert len(related["leads.Touchpoint"]) == 1
        assert len(related["leads.StageChange"]) == 2
        assert [a["email_normalized"] for a in related["leads.ContactAlias"]] == ["zq@example.org"]
        assert related["leads.ImportRejection"][0]["row_number"] == 4
        assert any(a["action"] == "contact.merged" for a in data["audit_log"])
        assert AuditLog.objects.filter(action="contact.exported", target_id=str(contact.pk)).exists()
        json.dumps(data)


def test_erasure_leaves_no_personal_data_in_any_tenant_table(org, person):
    contact, other = person
    with tenant_context(org):
        report = contact_erase(contact=contact, actor=ACTOR, confirm=EMAIL.upper())
        assert report["deleted"]["leads.Contact"] == 1
        assert report["deleted"]["leads.Lead"] == 2
        assert report["deleted"]["leads.ImportRejection"] == 1
        assert report["deleted"]["leads.FormSubmission"] == 2
        assert (
            not ConsentRecord.objects.exists() and not Visitor.objects.filter(contact__isnull=False).exists()
        )
        assert not Contact.objects.filter(pk=contact.pk).exists()
        # Another person whose address merely contains a similar string is untouched.
        other.refresh_from_db()
        assert other.email == "joann.quartermaine@example.org"
        assert Touchpoint.objects.filter(anonymous_id="v1").exists()  # kept, the address blanked
        entry = AuditLog.objects.get(action="contact.erased")
        assert entry.changes["email_sha256"] == email_hash(EMAIL)
    for needle in (EMAIL, NAME, "zq@example.org"):
        assert tenant_text_containing(org, needle) == [], needle


def test_a_row_holding_the_address_in_several_columns_is_scrubbed_in_each(org, person):
    """The sweep finds a row by any of its columns and blanks the address in all of them, leaving the
    rest of the text and another person's address as they were."""
    contact, _ = person
    with tenant_context(org):
        kept = TouchpointFactory(
            lead=None,
            contact=None,
            anonymous_id="v2",
            url=f"https://x.example/thanks?email={EMAIL}",
            referrer="https://search.example/",
            properties={"note": f"Ask {EMAIL} and joann.quartermaine@example.org"},
        )
        report = contact_erase(contact=contact, actor=ACTOR, confirm=EMAIL)
        kept.refresh_from_db()
        assert kept.url == "https://x.example/thanks?email=[erased]"
        assert kept.referrer == "https://search.example/"
        assert kept.properties == {"note": "Ask [erased] and joann.quartermaine@example.org"}
        # Rows, not columns: v1's note and this row.
        assert report["scrubbed"]["leads.Touchpoint"] == 2


def test_erasure_needs_the_email_as_confirmation(org, person):
    contact, _ = person
    with tenant_context(org):
        with pytest.raises(ValidationError) as exc:
            contact_erase(contact=contact, actor=ACTOR, confirm="yes")
        assert "confirm" in exc.value.message_dict
        assert Contact.objects.filter(pk=contact.pk).exists()


def test_export_and_erase_api(org, person, api_client, other_api_client):
    contact, _ = person
    assert other_api_client.get(f"/api/v1/contacts/{contact.pk}/export/").status_code == 404
    export = api_client.get(f"/api/v1/contacts/{contact.pk}/export/")
    assert export.status_code == 200
    assert export.json()["contact"]["email"] == EMAIL
    refused = api_client.post(f"/api/v1/contacts/{contact.pk}/erase/", {"confirm": "nope"}, format="json")
    assert refused.status_code == 400 and "confirm" in refused.json()["error"]["fields"]
    erased = api_client.post(f"/api/v1/contacts/{contact.pk}/erase/", {"confirm": EMAIL}, format="json")
    assert erased.status_code == 200
    assert erased.json()["deleted"]["leads.Contact"] == 1
    with tenant_context(org):
        assert not Lead.objects.exists() or not Lead.objects.filter(contact_id=contact.pk).exists()


def test_export_and_erase_in_the_dashboard(org, person, admin_user, marketer):
    contact, _ = person
    with tenant_context(org):
        lead = Lead.objects.filter(contact=contact).first()
    admin = login(admin_user, org)
    page = admin.get(reverse("lead-detail", args=[lead.pk]))
    assert b"Export (JSON)" in page.content
    download = admin.get(reverse("contact-export", args=[contact.pk]))
    assert download.status_code == 200 and json.loads(download.content)["contact"]["email"] == EMAIL
    assert login(marketer, org).get(reverse("contact-export", args=[contact.pk])).status_code == 403
    confirm = admin.get(reverse("contact-erase", args=[contact.pk]))
    assert b"Type the email address" in confirm.content
    wrong = admin.post(reverse("contact-erase", args=[contact.pk]), {"confirm": "x"})
    assert wrong.status_code == 400
    done = admin.post(reverse("contact-erase", args=[contact.pk]), {"confirm": EMAIL})
    assert done.status_code == 302
    with tenant_context(org):
        assert not Contact.objects.filter(pk=contact.pk).exists()

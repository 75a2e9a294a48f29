"""Duplicate detection and merge: the survivor is chosen explicitly, every row pointing at the merged
contacts moves (found generically), lead journeys are renumbered, the merge is audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from leads.dedupe.services import contacts_merge, duplicate_groups
from leads.models import Contact, Lead, Stage, StageChange, Touchpoint
from leads.models_imports import ContactAlias
from leads.privacy.registry import contact_relations
from tests.conftest import login
from tests.factories import CompanyFactory, ContactFactory, LeadFactory, TouchpointFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


@pytest.fixture
def pair(org):
    with tenant_context(org):
        company = CompanyFactory(name="Acme")
        a = ContactFactory(
            company=company,
            email="ann@acme.example",
            email_normalized="ann@acme.example",
            first_name="Ann",
            last_name="Lee",
            phone="",
            job_title="",
            custom={"plan": "pro"},
        )
        b = ContactFactory(
            company=company,
            email="ann.lee@acme.example",
            email_normalized="ann.lee@acme.example",
            first_name="ann",
            last_name="LEE",
            phone="+49 30 1234567",
            job_title="CTO",
            custom={"plan": "free", "seats": 4},
        )
        lead_a = LeadFactory(contact=a, stage=Stage.CUSTOMER)
        lead_b = LeadFactory(contact=b, stage=Stage.MQL)
        TouchpointFactory(lead=lead_a)
        TouchpointFactory(lead=lead_b)
        TouchpointFactory(lead=lead_b)
    return a, b


def test_contact_relations_are_discovered_generically():
    labels = {f"{rel.related_model._meta.label}.{rel.field.name}" for rel in contact_relations()}
    assert {"leads.Lead.contact", "leads.Touchpoint.contact", "leads.ContactAlias.contact"} <= labels


def test_same_name_at_same_company_is_a_duplicate_group(org, pair):
    with tenant_context(org):
        groups = duplicate_groups(reason="name_company")
        assert [sorted(c.pk for c in g.contacts) for g in groups] == [sorted(c.pk for c in pair)]
        assert duplicate_groups(reason="phone") == []


def test_phone_numbers_with_the_same_digits_are_grouped_largest_first(org, other_org):
    with tenant_context(org):
        three = [
            ContactFactory(phone=p) for p in ("+49 30 1234567", "+49 (30) 123-4567", "49301234567")
        ]
        two = [ContactFactory(phone=p) for p in ("555.010.9999", "555 010 9999")]
        ContactFactory(phone="555 010 9998")  # alone
        ContactFactory(phone="12-34"), ContactFactory(phone="1234")  # too short to say anything
    with tenant_context(other_org):
        ContactFactory(phone="+49 30 1234567")  # another tenant's: never in a group
    with tenant_context(org):
        groups = duplicate_groups(reason="phone")
        assert [(g.key, [c.pk for c in g.contacts]) for g in groups] == [
            ("49301234567", [c.pk for c in three]),
            ("5550109999", [c.pk for c in two]),
        ]
        assert [g.key for g in duplicate_groups(reason="phone", limit=1)] == ["49301234567"]


def test_email_variants_are_suggested(org):
    with tenant_context(org):
        ContactFactory(email="jo.doe@gmail.com", email_normalized="jo.doe@gmail.com")
        ContactFactory(email="jodoe+news@gmail.com", email_normalized="jodoe+news@gmail.com")
        ContactFactory(email="jodoe@gmail.com", email_normalized="jodoe@gmail.com")
        ContactFactory(email="jo.doe@corp.example", email_normalized="jo.doe@corp.example")
        groups = duplicate_groups(reason="email_variant")
    assert [sorted(c.email for c in g.contacts) for g in groups] == [
        ["jo.doe@gmail.com", "jodoe+news@gmail.com", "jodoe@gmail.com"]
    ]


def test_merge_keeps_everything_and_renumbers_journeys(org, pair):
    a, b = pair
    with tenant_context(org):
        survivor = contacts_merge(survivor=a, others=[b], actor=ACTOR, field_choices={"last_name": b.pk})
        assert not Contact.objects.filter(pk=b.pk).exists()
        assert (survivor.first_name, survivor.last_name) == ("Ann", "LEE")
        # Blank on the survivor, known on the other: filled in by default.
        assert (survivor.phone, survivor.job_title) == ("+49 30 1234567", "CTO")
        assert survivor.custom == {"plan": "pro", "seats": 4}
        leads = list(Lead.objects.filter(contact=survivor).order_by("journey"))
        assert [(lead.journey, lead.stage, lead.is_current) for lead in leads] == [
            (1, Stage.CUSTOMER, False),
            (2, Stage.MQL, True),
        ]
        assert Touchpoint.objects.filter(contact=survivor).count() == 3
        assert StageChange.objects.filter(lead__contact=survivor).count() == 2
        assert list(ContactAlias.objects.values_list("email_normalized", flat=True)) == [
            "ann.lee@acme.example"
        ]
        entry = AuditLog.objects.get(action="contact.merged")
        assert entry.target_id == str(a.pk)
        assert entry.changes["merged_ids"] == [b.pk]
        assert entry.changes["moved"]["leads.Lead.contact"] == 1
        assert entry.changes["moved"]["leads.Touchpoint.contact"] == 2
        assert entry.changes["fields"]["last_name"] == ["Lee", "LEE"]


def test_merge_can_take_the_other_email(org, pair):
    a, b = pair
    with tenant_context(org):
        survivor = contacts_merge(survivor=a, others=[b], actor=ACTOR, field_choices={"email": b.pk})
        assert survivor.email_normalized == "ann.lee@acme.example"
        assert set(ContactAlias.objects.values_list("email_normalized", flat=True)) == {"ann@acme.example"}


def test_merge_refuses_bad_choices(org, pair, other_org):
    a, b = pair
    with tenant_context(org):
        with pytest.raises(ValidationError) as exc:
            contacts_merge(survivor=a, others=[a], actor=ACTOR)
        assert "merge_ids" in exc.value.message_dict
        with pytest.raises(ValidationError) as exc:
            contacts_merge(survivor=a, others=[b], actor=ACTOR, field_choices={"password": a.pk})
        assert "fields.password" in exc.value.message_dict
        with pytest.raises(ValidationError) as exc:
            contacts_merge(survivor=a, others=[b], actor=ACTOR, field_choices={"phone": 999999})
        assert "fields.phone" in exc.value.message_dict
        assert Contact.objects.count() == 2  # nothing half-done


def test_merge_api(org, pair, api_client, other_api_client):
    a, b = pair
    url = f"/api/v1/contacts/{a.pk}/merge/"
    assert other_api_client.post(url, {"merge_ids": [b.pk]}, format="json").status_code == 404
    response = api_client.post(url, {"merge_ids": [b.pk], "fields": {"first_name": b.pk}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["first_name"] == "ann"
    bad = api_client.post(url, {"merge_ids": [b.pk]}, format="json")
    assert bad.status_code == 400
    assert "merge_ids" in bad.json()["error"]["fields"]


def test_merge_in_the_dashboard(org, pair, marketer, sales_rep):
    a, b = pair
    client = login(marketer, org)
    page = client.get(reverse("duplicates"))
    assert page.status_code == 200 and b"Review and merge" in page.content
    form = client.get(reverse("contact-merge") + f"?ids={a.pk},{b.pk}")
    assert form.status_code == 200 and b"Keep this contact" in form.content
    response = client.post(
        reverse("contact-merge"),
        {"ids": f"{a.pk},{b.pk}", "survivor": b.pk, "confirm": "yes", "field-first_name": a.pk},
    )
    assert response.status_code == 302
    with tenant_context(org):
        survivor = Contact.objects.get()
        assert (survivor.pk, survivor.first_name) == (b.pk, "Ann")
        assert Lead.objects.filter(contact=survivor).count() == 2
    assert login(sales_rep, org).get(reverse("duplicates")).status_code == 403

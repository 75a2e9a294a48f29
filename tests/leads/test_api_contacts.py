"""Contacts and companies through the REST API, with their custom fields."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Company, Contact, Lead
from leads.services import custom_field_create
from tests.factories import CompanyFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def fields_of(response: Any, status: int = 400) -> dict[str, list[str]]:
    assert response.status_code == status, response.content
    return response.json()["error"]["fields"]


@pytest.fixture
def contact_fields(in_org: Any) -> None:
    with in_org():
        custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
        custom_field_create(
            entity="contact", key="plan", label="Plan", field_type="choice", choices=["free", "pro"]
        )
        custom_field_create(entity="company", key="tier", label="Tier", field_type="text")


def test_create_contact_then_post_again_upserts_without_erasing(api_client, in_org, contact_fields):
    with in_org():
        company = CompanyFactory(name="Umbrella")
    payload = {
        "email": "Alice@Example.com",
        "first_name": "Alice",
        "job_title": "CMO",
        "company": company.pk,
        "custom_fields": {"seats": 12, "plan": "pro"},
    }
    created = api_client.post("/api/v1/contacts/", payload, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["company"] == {"id": company.pk, "name": "Umbrella"}
    assert body["custom_fields"] == {"seats": 12, "plan": "pro"}
    again = api_client.post(
        "/api/v1/contacts/", {"email": "alice@example.com", "first_name": "", "city": "Berlin"}, format="json"
    )
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert (again.json()["first_name"], again.json()["city"], again.json()["job_title"]) == (
        "Alice",
        "Berlin",
        "CMO",
    )


def test_contact_custom_field_errors_name_the_key(api_client, in_org, contact_fields):
    fields = fields_of(
        api_client.post(
            "/api/v1/contacts/",
            {"email": "a@example.com", "custom_fields": {"seats": "x", "plan": "gold", "color": "red"}},
            format="json",
        )
    )
    assert set(fields) == {"custom_fields.seats", "custom_fields.plan", "custom_fields.color"}
    with in_org():
        assert not Contact.objects.exists()


def test_patch_contact_edits_and_clears(api_client, in_org, contact_fields):
    with in_org():
        contact = ContactFactory(custom={"seats": 3, "plan": "free"}, city="Paris")
        other = ContactFactory()
    detail = f"/api/v1/contacts/{contact.pk}/"
    response = api_client.patch(
        detail, {"city": "", "custom_fields": {"seats": None, "plan": "pro"}, "company": None}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["city"] == ""
    assert response.json()["custom_fields"] == {"plan": "pro"}
    assert response.json()["company"] is None
    assert "email" in fields_of(api_client.patch(detail, {"email": other.email.upper()}, format="json"))
    assert "email" in fields_of(api_client.patch(detail, {"email": "nope"}, format="json"))


def test_contact_filters(api_client, in_org, contact_fields):
    with in_org():
        acme = CompanyFactory()
        first = ContactFactory(company=acme, custom={"plan": "pro"}, email="zed@acme.example")
        second = ContactFactory(custom={"plan": "free"})
        first.search_text = "zed zimmer zed@acme.example"
        first.save()

    def ids(query: str) -> set[int]:
        response = api_client.get(f"/api/v1/contacts/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(f"company={acme.pk}") == {first.pk}
    assert ids("email=ZED@acme.example") == {first.pk}
    assert ids("q=zimmer") == {first.pk}
    assert ids("cf.plan=free") == {second.pk}
    assert (
        api_client.get("/api/v1/contacts/?cf.tier=x").status_code == 400
    )  # a company field, not a contact one


def test_delete_contact_removes_its_leads(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    assert api_client.delete(f"/api/v1/contacts/{lead.contact_id}/").status_code == 204
    with in_org():
        assert not Lead.objects.filter(pk=lead.pk).exists()


def test_contact_list_query_count_does_not_grow(api_client, in_org):
    with in_org():
        ContactFactory.create_batch(2)
    api_client.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as small:
        api_client.get("/api/v1/contacts/")
    with in_org():
        ContactFactory.create_batch(28)
    with CaptureQueriesContext(connection) as large:
        assert len(api_client.get("/api/v1/contacts/").json()["results"]) == 30
    assert len(large.captured_queries) == len(small.captured_queries)


def test_company_crud_and_filters(api_client, in_org, contact_fields):
    response = api_client.post(
        "/api/v1/companies/",
        {
            "name": "Hooli",
            "domain": "https://www.Hooli.example/",
            "employee_count": 5000,
            "custom_fields": {"tier": "enterprise"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    company = response.json()
    assert (company["domain"], company["custom_fields"]) == ("hooli.example", {"tier": "enterprise"})
    duplicate = api_client.post(
        "/api/v1/companies/", {"name": "Hooli 2", "domain": "hooli.example"}, format="json"
    )
    assert "domain" in fields_of(duplicate)
    assert "name" in fields_of(api_client.post("/api/v1/companies/", {"domain": "x.example"}, format="json"))
    detail = f"/api/v1/companies/{company['id']}/"
    patched = api_client.patch(detail, {"industry": "Search", "annual_revenue": "1000000.50"}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["industry"], patched.json()["annual_revenue"]) == ("Search", "1000000.50")
    assert "employee_count" in fields_of(api_client.patch(detail, {"employee_count": -1}, format="json"))
    listed = api_client.get("/api/v1/companies/?q=hoo&cf.tier=ENTERPRISE").json()["results"]
    assert [row["id"] for row in listed] == [company["id"]]
    assert (
        api_client.get("/api/v1/companies/?domain=www.hooli.example").json()["results"][0]["id"]
        == company["id"]
    )
    assert api_client.delete(detail).status_code == 204
    with in_org():
        assert not Company.objects.exists()


def test_deleting_a_company_keeps_its_contacts(api_client, in_org):
    with in_org():
        contact = ContactFactory()
    assert api_client.delete(f"/api/v1/companies/{contact.company_id}/").status_code == 204
    with in_org():
        contact.refresh_from_db()
        assert contact.company_id is None


def test_other_organizations_contacts_and_companies_are_invisible(api_client, other_api_client, in_org):
    with in_org():
        contact = ContactFactory()
    for path in (f"/api/v1/contacts/{contact.pk}/", f"/api/v1/companies/{contact.company_id}/"):
        assert other_api_client.get(path).status_code == 404
        assert other_api_client.patch(path, {"country": "X"}, format="json").status_code == 404
        assert other_api_client.delete(path).status_code == 404
    assert other_api_client.get("/api/v1/contacts/").json()["results"] == []
    assert other_api_client.get("/api/v1/companies/").json()["results"] == []
    foreign_company = other_api_client.post(
        "/api/v1/contacts/", {"email": "x@example.com", "company": contact.company_id}, format="json"
    )
    assert "company" in fields_of(foreign_company)
    assert api_client.get(f"/api/v1/contacts/{contact.pk}/").status_code == 200

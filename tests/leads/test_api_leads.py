"""Leads through the REST API: create (by contact id or by captured contact data), read, edit, delete,
the stage action and its history."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Contact, Lead, Stage, StageChange
from leads.services import custom_field_create
from tests.factories import CampaignFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def assert_error(response: Any, status: int, *fields: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "fields"} <= set(body["error"])
    for field in fields:
        assert field in body["error"]["fields"], body
    return body["error"]


def test_create_lead_for_existing_contact(api_client, in_org, marketer):
    with in_org():
        contact = ContactFactory()
        campaign = CampaignFactory()
    response = api_client.post(
        "/api/v1/leads/",
        {"contact": contact.pk, "owner": marketer.pk, "campaign": campaign.pk, "score": 12, "grade": "B"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["contact"] == {
        "id": contact.pk,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "job_title": contact.job_title,
        "company": {"id": contact.company.pk, "name": contact.company.name},
    }
    assert body["owner"]["id"] == marketer.pk
    assert body["stage"] == Stage.COLD
    assert body["source_channel"] == campaign.channel
    with in_org():
        lead = Lead.objects.get(pk=body["id"])
        assert (lead.score, lead.grade, lead.campaign_id) == (12, "B", campaign.pk)
        assert list(lead.stage_changes.values_list("to_stage", flat=True)) == [Stage.COLD]


def test_create_lead_with_contact_data_upserts_by_email(api_client, in_org):
    with in_org():
        custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
    payload = {
        "contact_data": {
            "email": "Ada@Example.com",
            "first_name": "Ada",
            "company": {"name": "Analytical Engines", "domain": "www.engines.example"},
            "custom_fields": {"seats": "40"},
        },
        "source_channel": "paid_search",
    }
    first = api_client.post("/api/v1/leads/", payload, format="json")
    assert first.status_code == 201, first.content
    payload["contact_data"] = {"email": "ada@example.com", "first_name": "", "last_name": "Lovelace"}
    second = api_client.post("/api/v1/leads/", payload, format="json")
    assert second.status_code == 200, second.content
    assert second.json()["id"] == first.json()["id"]
    with in_org():
        contact = Contact.objects.get()
        assert (contact.first_name, contact.last_name) == ("Ada", "Lovelace")
        assert contact.custom == {"seats": 40}
        assert contact.company.domain == "engines.example"


def test_create_lead_needs_exactly_one_of_contact_and_contact_data(api_client, in_org):
    with in_org():
        contact = ContactFactory()
    assert_error(api_client.post("/api/v1/leads/", {}, format="json"), 400, "contact")
    both = {"contact": contact.pk, "contact_data": {"email": "x@example.com"}}
    assert_error(api_client.post("/api/v1/leads/", both, format="json"), 400, "contact")


def test_invalid_custom_field_in_contact_data_names_the_field(api_client, in_org):
    with in_org():
        custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
    payload = {"contact_data": {"email": "a@example.com", "custom_fields": {"seats": "many", "nope": 1}}}
    error = assert_error(
        api_client.post("/api/v1/leads/", payload, format="json"),
        400,
        "contact_data.custom_fields.seats",
        "contact_data.custom_fields.nope",
    )
    assert error["code"] == "validation_error"
    with in_org():
        assert not Contact.objects.exists()


def test_ids_of_another_organization_are_refused_like_missing_ones(
    api_client, in_org, in_other_org, other_admin
):
    with in_other_org():
        foreign_contact = ContactFactory()
        foreign_campaign = CampaignFactory()
    with in_org():
        contact = ContactFactory()
    foreign = api_client.post("/api/v1/leads/", {"contact": foreign_contact.pk}, format="json")
    missing = api_client.post("/api/v1/leads/", {"contact": 999_999}, format="json")
    assert_error(foreign, 400, "contact")
    assert_error(missing, 400, "contact")
    assert foreign.json()["error"]["fields"]["contact"][0].replace(
        str(foreign_contact.pk), "N"
    ) == missing.json()["error"]["fields"]["contact"][0].replace("999999", "N")
    response = api_client.post(
        "/api/v1/leads/", {"contact": contact.pk, "campaign": foreign_campaign.pk}, format="json"
    )
    assert_error(response, 400, "campaign")
    # The owner must be a member of this organization.
    response = api_client.post(
        "/api/v1/leads/", {"contact": contact.pk, "owner": other_admin.pk}, format="json"
    )
    assert_error(response, 400, "owner")


def test_retrieve_update_and_delete(api_client, in_org, sales_rep):
    with in_org():
        lead = LeadFactory()
    detail = f"/api/v1/leads/{lead.pk}/"
    assert api_client.get(detail).json()["id"] == lead.pk
    response = api_client.patch(
        detail, {"owner": sales_rep.pk, "need": "Attribution", "score": 70}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["owner"]["id"] == sales_rep.pk
    assert response.json()["need"] == "Attribution"
    response = api_client.patch(detail, {"owner": None}, format="json")
    assert response.json()["owner"] is None
    assert_error(api_client.patch(detail, {"grade": "Z"}, format="json"), 400, "grade")
    assert api_client.delete(detail).status_code == 204
    assert api_client.get(detail).status_code == 404


def test_stage_is_read_only_on_patch(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    error = assert_error(
        api_client.patch(f"/api/v1/leads/{lead.pk}/", {"stage": "sql"}, format="json"), 400, "stage"
    )
    assert "/stage/" in error["fields"]["stage"][0]
    with in_org():
        lead.refresh_from_db()
        assert lead.stage == Stage.COLD


def test_stage_action_moves_the_lead_and_records_history(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    response = api_client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "mql"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["stage"] == "mql"
    response = api_client.post(
        f"/api/v1/leads/{lead.pk}/stage/",
        {"stage": "recycled", "reason": "No budget this year"},
        format="json",
    )
    assert response.json()["stage"] == "recycled"
    history = api_client.get(f"/api/v1/leads/{lead.pk}/history/").json()
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [
        ("", "cold"),
        ("cold", "mql"),
        ("mql", "recycled"),
    ]
    assert history[-1]["reason"] == "No budget this year"
    assert history[-1]["changed_by"].startswith("API key")
    assert history[-1]["changed_by_api_key"] is not None


def test_stage_action_refuses_a_move_the_funnel_does_not_allow(api_client, in_org):
    with in_org():
        lead = LeadFactory(stage=Stage.COLD)
    error = assert_error(
        api_client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "customer"}, format="json"), 400, "stage"
    )
    message = error["fields"]["stage"][0]
    assert "cold" in message and "mql" in message and "sql" in message
    with in_org():
        assert StageChange.objects.filter(lead=lead).count() == 1


def test_stage_action_requires_a_reason_to_disqualify(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    assert_error(
        api_client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "disqualified"}, format="json"),
        400,
        "reason",
    )
    assert_error(
        api_client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "won"}, format="json"), 400, "stage"
    )
    response = api_client.post(
        f"/api/v1/leads/{lead.pk}/stage/", {"stage": "disqualified", "reason": "Student"}, format="json"
    )
    assert response.status_code == 200


def test_stage_change_by_a_user_names_the_user(admin_client, in_org, admin_user):
    with in_org():
        lead = LeadFactory()
    response = admin_client.post(
        f"/api/v1/leads/{lead.pk}/stage/", {"stage": "sql"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    history = admin_client.get(f"/api/v1/leads/{lead.pk}/history/").json()
    assert history[-1]["changed_by"] == admin_user.email
    assert history[-1]["changed_by_user"] == admin_user.pk


def test_another_organizations_lead_is_not_found(api_client, other_api_client, in_org):
    with in_org():
        lead = LeadFactory()
    for method, path, body in [
        ("get", f"/api/v1/leads/{lead.pk}/", None),
        ("patch", f"/api/v1/leads/{lead.pk}/", {"score": 1}),
        ("delete", f"/api/v1/leads/{lead.pk}/", None),
        ("post", f"/api/v1/leads/{lead.pk}/stage/", {"stage": "mql"}),
        ("get", f"/api/v1/leads/{lead.pk}/history/", None),
    ]:
        response = getattr(other_api_client, method)(path, body, format="json")
        assert_error(response, 404)
    assert other_api_client.get("/api/v1/leads/").json()["results"] == []
    assert [row["id"] for row in api_client.get("/api/v1/leads/").json()["results"]] == [lead.pk]
    with in_org():
        lead.refresh_from_db()
        assert lead.stage == Stage.COLD


def test_list_query_count_does_not_grow_with_the_page(api_client, in_org, marketer):
    with in_org():
        for _ in range(2):
            LeadFactory(owner=marketer)
    api_client.get("/api/v1/me/")  # the key's first use of the minute records last_used_at
    with CaptureQueriesContext(connection) as small:
        assert len(api_client.get("/api/v1/leads/").json()["results"]) == 2
    with in_org():
        for _ in range(28):
            LeadFactory(owner=marketer)
    with CaptureQueriesContext(connection) as large:
        assert len(api_client.get("/api/v1/leads/").json()["results"]) == 30
    assert len(large.captured_queries) == len(small.captured_queries)


def test_non_numeric_id_is_not_found(api_client):
    assert api_client.get("/api/v1/leads/abc/").status_code == 404

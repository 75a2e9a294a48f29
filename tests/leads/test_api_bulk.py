"""Bulk endpoints: up to 1,000 leads or touchpoints in one transaction, all or nothing by default,
per-item results and errors, partial mode."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Contact, Lead, StageChange, Touchpoint
from leads.services import custom_field_create
from tests.factories import CampaignFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def post(client: Any, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, format="json")


def test_leads_bulk_creates_every_item(api_client, in_org, marketer):
    with in_org():
        contact = ContactFactory()
        campaign = CampaignFactory()
    items = [
        {"contact": contact.pk, "owner": marketer.pk, "campaign": campaign.pk},
        {"contact_data": {"email": "new@example.com", "first_name": "New"}, "score": 30},
        {"contact_data": {"email": "NEW@example.com", "last_name": "Person"}},
    ]
    response = post(api_client, "/api/v1/leads/bulk/", {"items": items})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (3, 0)
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    # The third item's email is the second's: it reuses that contact's open journey.
    assert body["results"][2]["id"] == body["results"][1]["id"]
    assert body["results"][2]["created"] is False
    with in_org():
        assert Lead.objects.count() == 2
        new_contact = Contact.objects.get(email_normalized="new@example.com")
        assert (new_contact.first_name, new_contact.last_name) == ("New", "Person")


def test_leads_bulk_capture_reuses_open_journeys_and_reopens_ended_ones(api_client, in_org, marketer):
    with in_org():
        open_lead = LeadFactory(need="Attribution", score=0)
        ended = LeadFactory(stage="customer")
    items = [
        {
            "contact_data": {"email": open_lead.contact.email},
            "owner": marketer.pk,
            "score": 40,
            "need": "Other",
        },
        {"contact_data": {"email": ended.contact.email.upper()}, "score": 10},
    ]
    response = post(api_client, "/api/v1/leads/bulk/", {"items": items})
    assert response.status_code == 201, response.content
    reused, reopened = response.json()["results"]
    assert (reused["id"], reused["created"]) == (open_lead.pk, False)
    assert reopened["created"] is True and reopened["id"] != ended.pk
    with in_org():
        open_lead.refresh_from_db()
        # Capture fills blanks only: the known need stays.
        assert (open_lead.owner_id, open_lead.score, open_lead.need) == (marketer.pk, 40, "Attribution")
        ended.refresh_from_db()
        new = Lead.objects.get(pk=reopened["id"])
        assert (ended.is_current, new.is_current, new.journey) == (False, True, ended.journey + 1)


def test_leads_bulk_is_all_or_nothing_by_default(api_client, in_org, in_other_org):
    with in_other_org():
        foreign = ContactFactory()
    with in_org():
        contact = ContactFactory()
    items = [
        {"contact": contact.pk},
        {"contact": foreign.pk},
        {"contact_data": {"email": "not-an-email"}},
        {"contact": contact.pk, "owner": 987654},
        {"contact": contact.pk, "grade": "Q"},
    ]
    response = post(api_client, "/api/v1/leads/bulk/", {"items": items})
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {
        "items.1.contact",
        "items.2.contact_data.email",
        "items.3.owner",
        "items.4.grade",
    }
    with in_org():
        assert not Lead.objects.exists()


def test_leads_bulk_partial_writes_the_valid_items(api_client, in_org):
    with in_org():
        contact = ContactFactory()
    items = [{"contact": contact.pk}, {"contact": 123456}, {"contact_data": {"email": "ok@example.com"}}]
    response = post(api_client, "/api/v1/leads/bulk/", {"items": items, "partial": True})
    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 1)
    assert body["results"][1] == {"index": 1, "errors": {"contact": ["No contact with id 123456 exists."]}}
    with in_org():
        assert set(Lead.objects.values_list("pk", flat=True)) == {
            body["results"][0]["id"],
            body["results"][2]["id"],
        }


def test_leads_bulk_service_errors_are_reported_per_item(api_client, in_org):
    """Errors only the service can see (custom field definitions) still name the item."""
    with in_org():
        custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
    items = [
        {"contact_data": {"email": "a@example.com", "custom_fields": {"seats": 3}}},
        {"contact_data": {"email": "b@example.com", "custom_fields": {"seats": "lots"}}},
    ]
    response = post(api_client, "/api/v1/leads/bulk/", {"items": items})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"items.1.contact_data.custom_fields.seats"}
    response = post(api_client, "/api/v1/leads/bulk/", {"items": items, "partial": True})
    assert response.status_code == 207
    assert response.json()["results"][1]["errors"] == {
        "contact_data.custom_fields.seats": ["'lots' is not a number."]
    }


def test_bulk_refuses_more_than_the_limit(api_client, in_org):
    limit = settings.LEADHUB_BULK_MAX_ITEMS
    assert limit == 1000
    too_many = [{"type": "page_view", "anonymous_id": "v1"}] * (limit + 1)
    for path in ("/api/v1/leads/bulk/", "/api/v1/touchpoints/bulk/"):
        response = post(api_client, path, {"items": too_many})
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["items"]
    assert post(api_client, "/api/v1/leads/bulk/", {"items": []}).status_code == 400
    with in_org():
        assert not Touchpoint.objects.exists()


def test_leads_bulk_checks_ids_with_one_query_per_kind(api_client, in_org, marketer):
    with in_org():
        contacts = [ContactFactory() for _ in range(2)]
        campaign = CampaignFactory()
    api_client.get("/api/v1/me/")

    def run(count: int) -> int:
        items = [
            {"contact": contacts[i % 2].pk, "owner": marketer.pk, "campaign": 10**9} for i in range(count)
        ]
        with CaptureQueriesContext(connection) as queries:
            assert post(api_client, "/api/v1/leads/bulk/", {"items": items}).status_code == 400
        return len(queries.captured_queries)

    assert run(3) == run(40)
    assert campaign.pk != 10**9


def test_leads_bulk_for_known_contacts_writes_in_a_fixed_number_of_statements(api_client, in_org, marketer):
    with in_org():
        contacts = [ContactFactory() for _ in range(5)]
        campaign = CampaignFactory()
    api_client.get("/api/v1/me/")

    def run(count: int) -> int:
        items = [
            {"contact": contacts[i % 5].pk, "owner": marketer.pk, "campaign": campaign.pk, "stage": "mql"}
            for i in range(count)
        ]
        with CaptureQueriesContext(connection) as queries:
            response = post(api_client, "/api/v1/leads/bulk/", {"items": items})
            assert response.status_code == 201, response.content
        inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
        # One INSERT each for leads, their first stage change and their events (SQLite caps the
        # parameters of a statement, so it may need a second one for a large batch).
        assert 3 <= len(inserts) <= (3 if connection.vendor == "postgresql" else 6)
        return len(queries.captured_queries) - len(inserts)

    run(1)  # from here on every contact has a current journey to close
    assert run(4) == run(60)
    with in_org():
        journeys = sorted(Lead.objects.filter(contact=contacts[0]).values_list("journey", "is_current"))
        # 1 + 1 + 12 items for the first contact, in order: only the last journey is current.
        assert journeys == [(n, n == 14) for n in range(1, 15)]
        assert set(Lead.objects.values_list("stage", flat=True)) == {"mql"}
        assert StageChange.objects.filter(to_stage="mql", from_stage="").count() == 65


def test_touchpoints_bulk_resolves_lead_contact_email_and_anonymous(api_client, in_org):
    with in_org():
        lead = LeadFactory()
        other = LeadFactory()
        campaign = CampaignFactory()
    items = [
        {"type": "page_view", "lead": lead.pk, "url": "https://example.com/pricing"},
        {"type": "email_click", "contact": other.contact.pk, "campaign": campaign.pk},
        {"type": "form_submit", "email": other.contact.email.upper()},
        {"type": "page_view", "anonymous_id": "visitor-1", "occurred_at": "2025-01-05T10:00:00Z"},
    ]
    response = post(api_client, "/api/v1/touchpoints/bulk/", {"items": items})
    assert response.status_code == 201, response.content
    results = response.json()["results"]
    with in_org():
        stored = {t.pk: t for t in Touchpoint.objects.all()}
    first, second, third, fourth = (stored[r["id"]] for r in results)
    assert (first.lead_id, first.contact_id) == (lead.pk, lead.contact_id)
    assert (second.lead_id, second.contact_id, second.channel) == (
        other.pk,
        other.contact_id,
        campaign.channel,
    )
    assert (third.lead_id, third.contact_id) == (other.pk, other.contact_id)
    assert (fourth.lead_id, fourth.contact_id, fourth.anonymous_id) == (None, None, "visitor-1")
    assert fourth.occurred_at.isoformat().startswith("2025-01-05T10:00:00")


def test_touchpoints_bulk_errors_name_the_item_and_field(api_client, in_org, in_other_org):
    with in_other_org():
        foreign_lead = LeadFactory()
    with in_org():
        lead = LeadFactory()
        other_contact = ContactFactory()
    items = [
        {"type": "page_view", "lead": lead.pk},
        {"type": "page_view", "lead": foreign_lead.pk},
        {"type": "page_view", "email": "stranger@example.com"},
        {"type": "teleport", "lead": lead.pk},
        {"type": "page_view"},
        {"type": "page_view", "lead": lead.pk, "contact": other_contact.pk},
        {"type": "page_view", "anonymous_id": "v", "campaign": 555555},
    ]
    response = post(api_client, "/api/v1/touchpoints/bulk/", {"items": items})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {
        "items.1.lead",
        "items.2.email",
        "items.3.type",
        "items.4.lead",
        "items.5.contact",
        "items.6.campaign",
    }
    with in_org():
        assert not Touchpoint.objects.exists()
    response = post(api_client, "/api/v1/touchpoints/bulk/", {"items": items, "partial": True})
    assert response.status_code == 207
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (1, 6)
    with in_org():
        assert list(Touchpoint.objects.values_list("pk", flat=True)) == [body["results"][0]["id"]]


def test_touchpoints_bulk_retry_with_external_ids_writes_once(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    items = [
        {"type": "page_view", "lead": lead.pk, "external_id": "evt-1"},
        {"type": "page_view", "lead": lead.pk, "external_id": "evt-2"},
        {"type": "page_view", "lead": lead.pk, "external_id": "evt-1"},
    ]
    first = post(api_client, "/api/v1/touchpoints/bulk/", {"items": items})
    assert first.status_code == 201, first.content
    again = post(api_client, "/api/v1/touchpoints/bulk/", {"items": items})
    assert again.status_code == 201
    first_ids = [r["id"] for r in first.json()["results"]]
    assert first_ids[0] == first_ids[2]
    assert [r["id"] for r in again.json()["results"]] == first_ids
    assert [r["created"] for r in again.json()["results"]] == [False, False, False]
    with in_org():
        assert Touchpoint.objects.count() == 2


def test_touchpoints_bulk_query_count_does_not_grow_with_the_batch(api_client, in_org):
    with in_org():
        leads = [LeadFactory() for _ in range(3)]
        campaign = CampaignFactory()
    api_client.get("/api/v1/me/")

    def run(count: int) -> int:
        items = [
            {
                "type": "page_view",
                "lead": leads[i % 3].pk,
                "campaign": campaign.pk,
                "external_id": f"{count}-{i}",
            }
            for i in range(count)
        ] + [{"type": "page_view", "email": leads[0].contact.email}]
        with CaptureQueriesContext(connection) as queries:
            response = post(api_client, "/api/v1/touchpoints/bulk/", {"items": items})
            assert response.status_code == 201, response.content
        inserts = [
            q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "leads_touchpoint"')
        ]
        # One INSERT, except where the database caps the parameters of a statement (SQLite).
        fields = len(Touchpoint._meta.concrete_fields)
        per_statement = (
            connection.ops.bulk_batch_size([None] * fields, items) if connection.vendor == "sqlite" else 1000
        )
        assert len(inserts) == -(-len(items) // per_statement)
        return len(queries.captured_queries) - len(inserts)

    assert run(5) == run(200)


def test_a_full_batch_of_touchpoints_is_accepted(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    items = [{"type": "page_view", "lead": lead.pk, "url": f"https://example.com/{i}"} for i in range(1000)]
    response = post(api_client, "/api/v1/touchpoints/bulk/", {"items": items})
    assert response.status_code == 201
    assert response.json()["succeeded"] == 1000
    with in_org():
        assert Touchpoint.objects.filter(lead=lead).count() == 1000

"""POST /api/v1/events/batch/: up to 1,000 server-side events, capture keys allowed, per-item errors,
idempotent by external_id, set-based writes, identity stitching."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Channel, Contact, Lead, Touchpoint, TouchpointType, Visitor
from leads.tracking.selectors import visitor_contact
from tests.factories import CampaignFactory, ContactFactory, LeadFactory, TouchpointFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/batch/"


def post(client: Any, body: dict[str, Any]) -> Any:
    return client.post(URL, body, format="json")


def test_a_capture_key_records_events_and_creates_contacts_with_leads(capture_api_client, in_org):
    items = [
        {
            "type": "product_signup",
            "email": "dev@startup.example",
            "external_id": "su-1",
            "contact": {"first_name": "Dev", "job_title": "CTO"},
            "properties": {"plan": "trial"},
        },
        {"type": "usage", "email": "DEV@startup.example", "properties": {"feature": "export"}},
        {"type": "webinar_attended", "email": "ops@bigco.example", "occurred_at": "2025-03-01T10:00:00Z"},
    ]
    response = post(capture_api_client, {"items": items})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (3, 0)
    with in_org():
        dev = Contact.objects.get(email_normalized="dev@startup.example")
        assert (dev.first_name, dev.job_title) == ("Dev", "CTO")
        lead = Lead.objects.get(contact=dev)
        types = list(Touchpoint.objects.filter(lead=lead).order_by("id").values_list("type", flat=True))
        assert types == [TouchpointType.PRODUCT_SIGNUP, TouchpointType.PRODUCT_USAGE]
        webinar = Touchpoint.objects.get(contact__email_normalized="ops@bigco.example")
        assert webinar.type == TouchpointType.WEBINAR and webinar.occurred_at.isoformat().startswith(
            "2025-03-01"
        )
        assert Lead.objects.count() == 2


def test_events_join_the_current_lead_of_a_known_contact(api_client, in_org):
    with in_org():
        lead = LeadFactory(contact=ContactFactory(email="known@client.example"))
    response = post(api_client, {"items": [{"type": "download", "email": "known@client.example"}]})
    assert response.status_code == 201
    with in_org():
        assert Touchpoint.objects.get().lead_id == lead.pk
        assert Lead.objects.count() == 1


def test_a_repeated_external_id_is_stored_once(api_client, in_org):
    item = {"type": "ad_click", "anonymous_id": "visitor-abc-123", "external_id": "click-9"}
    first = post(api_client, {"items": [item]}).json()["results"][0]
    again = post(api_client, {"items": [item, item]}).json()["results"]
    assert first["created"] is True
    assert [r["created"] for r in again] == [False, False]
    assert {r["id"] for r in again} == {first["id"]}
    with in_org():
        assert Touchpoint.objects.count() == 1


def test_an_event_with_email_and_anonymous_id_stitches_the_visitors_history(api_client, in_org):
    with in_org():
        TouchpointFactory(
            lead=None,
            contact=None,
            anonymous_id="visitor-xyz-789",
            type=TouchpointType.PAGE_VIEW,
            channel=Channel.ORGANIC_SEARCH,
            url="https://acme.example/blog",
        )
    response = post(
        api_client,
        {
            "items": [
                {"type": "product_signup", "email": "new@user.example", "anonymous_id": "visitor-xyz-789"}
            ]
        },
    )
    assert response.status_code == 201, response.content
    with in_org():
        lead = Lead.objects.get(contact__email_normalized="new@user.example")
        assert Touchpoint.objects.filter(lead=lead).count() == 2
        lead.refresh_from_db()
        assert lead.first_touch_channel == Channel.ORGANIC_SEARCH
        assert lead.first_touch_url == "https://acme.example/blog"
        assert visitor_contact("visitor-xyz-789") == lead.contact
    # Later anonymous-only events of that visitor go to the lead directly.
    post(api_client, {"items": [{"type": "product_usage", "anonymous_id": "visitor-xyz-789"}]})
    with in_org():
        assert Touchpoint.objects.filter(lead=lead).count() == 3


def test_anonymous_events_keep_a_visitor(api_client, in_org):
    post(
        api_client,
        {
            "items": [
                {
                    "type": "ad_click",
                    "anonymous_id": "visitor-ad-0001",
                    "utm_source": "google",
                    "utm_medium": "cpc",
                    "url": "https://acme.example/lp",
                }
            ]
        },
    )
    with in_org():
        touch = Touchpoint.objects.get()
        assert touch.channel == Channel.PAID_SEARCH and touch.lead_id is None
        visitor = Visitor.objects.get(anonymous_id="visitor-ad-0001")
        assert visitor.first_url == "https://acme.example/lp"
        assert visitor.first_channel == Channel.PAID_SEARCH


def test_campaign_ids_are_checked_within_the_organization(api_client, in_org, in_other_org):
    with in_other_org():
        foreign = CampaignFactory()
    with in_org():
        ours = CampaignFactory(channel=Channel.EVENTS)
    items = [
        {"type": "webinar", "email": "a@x.example", "campaign": ours.pk},
        {"type": "webinar", "email": "b@x.example", "campaign": foreign.pk},
    ]
    response = post(api_client, {"items": items, "partial": True})
    assert response.status_code == 207
    results = response.json()["results"]
    assert "campaign" in results[1]["errors"]
    with in_org():
        touch = Touchpoint.objects.get()
        assert (touch.campaign_id, touch.channel) == (ours.pk, Channel.EVENTS)
        assert Lead.objects.get().source_channel == Channel.EVENTS


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"type": "nope", "email": "a@x.example"}, "type"),
        ({"type": "download"}, "email"),
        ({"type": "download", "email": "not-an-email"}, "email"),
        ({"type": "download", "anonymous_id": "bad id"}, "anonymous_id"),
        ({"type": "download", "email": "a@x.example", "occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "download", "email": "a@x.example", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"type": "download", "email": "a@x.example", "url": "x" * 2001}, "url"),
        ({"type": "download", "email": "a@x.example", "utm_source": 5}, "utm_source"),
        ({"type": "download", "email": "a@x.example", "channel": "tv"}, "channel"),
        ({"type": "download", "email": "a@x.example", "properties": [1]}, "properties"),
        ({"type": "download", "email": "a@x.example", "properties": {"k": "v" * 5000}}, "properties"),
        ({"type": "download", "email": "a@x.example", "contact": {"salary": 1}}, "contact"),
        (
            {"type": "download", "email": "a@x.example", "contact": {"first_name": "x" * 101}},
            "contact.first_name",
        ),
        ({"type": "download", "anonymous_id": "visitor-0000001", "contact": {"first_name": "A"}}, "contact"),
        ({"type": "download", "email": "a@x.example", "campaign": "one"}, "campaign"),
    ],
)
def test_an_invalid_item_refuses_the_batch_naming_index_and_field(api_client, in_org, item, field):
    good = {"type": "download", "email": "good@x.example"}
    response = post(api_client, {"items": [good, item]})
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert f"items.1.{field}" in fields, fields
    with in_org():
        assert not Touchpoint.objects.exists()
        assert not Contact.objects.exists()


def test_partial_mode_stores_the_valid_events_and_reports_the_others(api_client, in_org):
    items = [{"type": "download", "email": f"u{i}@x.example"} for i in range(3)]
    items.insert(1, {"type": "download", "email": "broken"})
    response = post(api_client, {"items": items, "partial": True})
    assert response.status_code == 207
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (3, 1)
    assert body["results"][1] == {"index": 1, "errors": {"email": ["Enter a valid email address."]}}
    with in_org():
        assert Touchpoint.objects.count() == 3


def test_at_most_1000_events_per_request(api_client, in_org):
    items = [{"type": "product_usage", "anonymous_id": f"visitor-{i:08}"} for i in range(1001)]
    response = post(api_client, {"items": items})
    assert response.status_code == 400
    assert "items" in response.json()["error"]["fields"]
    with in_org():
        assert not Touchpoint.objects.exists()


def test_1000_events_in_a_fixed_number_of_queries(api_client, in_org):
    def batch(offset: int) -> list[dict[str, Any]]:
        return [
            {
                "type": "product_usage",
                "email": f"user{(offset + i) % 50}@x.example",
                "anonymous_id": f"visitor-{(offset + i) % 50:08}",
                "external_id": f"e-{offset + i}",
            }
            for i in range(1000)
        ]

    with CaptureQueriesContext(connection) as small:
        assert post(api_client, {"items": batch(0)[:100]}).status_code == 201
    with CaptureQueriesContext(connection) as large:
        assert post(api_client, {"items": batch(100)}).status_code == 201
    # 50 contacts identified once each on the first batch; the second batch only records.
    assert len(large) <= 40, [q["sql"][:120] for q in large.captured_queries]
    with in_org():
        assert Touchpoint.objects.count() == 1100
        assert Lead.objects.count() == 50
    assert len(small) < 400


def test_another_organizations_key_writes_into_its_own_organization(other_api_client, in_org, in_other_org):
    post(other_api_client, {"items": [{"type": "download", "email": "a@x.example"}]})
    with in_org():
        assert not Touchpoint.objects.exists()
    with in_other_org():
        assert Touchpoint.objects.count() == 1


def test_sales_reps_cannot_send_events_but_marketers_can(sales_rep, marketer, org):
    from tests.conftest import login

    body = {"items": [{"type": "download", "email": "a@x.example"}]}
    rep = login(sales_rep, org).post(URL, body, content_type="application/json")
    assert rep.status_code == 403
    assert login(marketer, org).post(URL, body, content_type="application/json").status_code == 201


def test_an_earlier_event_sent_later_becomes_the_visitors_first_touch(api_client, in_org):
    """Systems send events out of order; the visitor's first touch is the earliest one, not the first
    to arrive (on SQLite the ORM path keeps the first to arrive, on PostgreSQL the upsert corrects it)."""
    from django.db import connection

    later = {"type": "page_view", "anonymous_id": "visitor-late-0001", "url": "https://acme.example/pricing"}
    earlier = {
        "type": "ad_click",
        "anonymous_id": "visitor-late-0001",
        "utm_source": "google",
        "utm_medium": "cpc",
        "url": "https://acme.example/lp",
        "occurred_at": "2025-03-01T10:00:00Z",
    }
    assert post(api_client, {"items": [{**later, "occurred_at": "2025-03-02T10:00:00Z"}]}).status_code == 201
    assert post(api_client, {"items": [earlier]}).status_code == 201
    with in_org():
        visitor = Visitor.objects.get(anonymous_id="visitor-late-0001")
        if connection.vendor == "postgresql":
            assert visitor.first_url == "https://acme.example/lp"
            assert visitor.first_channel == Channel.PAID_SEARCH
            assert visitor.first_seen_at.isoformat().startswith("2025-03-01")

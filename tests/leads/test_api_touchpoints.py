"""Touchpoints through the REST API: record one, read, correct, delete, filter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import Channel, Touchpoint, TouchpointType
from tests.factories import CampaignFactory, LeadFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def test_record_one_touchpoint_and_retry_it(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    payload = {
        "type": "download",
        "lead": lead.pk,
        "external_id": "dl-1",
        "properties": {"asset": "guide.pdf"},
    }
    first = api_client.post("/api/v1/touchpoints/", payload, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["lead"], body["contact"], body["properties"]) == (
        lead.pk,
        lead.contact_id,
        {"asset": "guide.pdf"},
    )
    again = api_client.post("/api/v1/touchpoints/", payload, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    with in_org():
        assert Touchpoint.objects.count() == 1


def test_record_errors_are_named_by_field(api_client, in_org):
    response = api_client.post("/api/v1/touchpoints/", {"type": "page_view", "lead": 424242}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["lead"]
    response = api_client.post("/api/v1/touchpoints/", {"anonymous_id": "v1"}, format="json")
    assert list(response.json()["error"]["fields"]) == ["type"]
    response = api_client.post("/api/v1/touchpoints/", [{"type": "page_view"}], format="json")
    assert response.status_code == 400


def test_patch_and_delete_update_the_leads_touch_times(api_client, in_org):
    now = timezone.now()
    with in_org():
        lead = LeadFactory()
        early = TouchpointFactory(lead=lead, occurred_at=now - dt.timedelta(days=3))
        late = TouchpointFactory(lead=lead, occurred_at=now - dt.timedelta(days=1))
    newer = (now - dt.timedelta(hours=1)).isoformat()
    response = api_client.patch(
        f"/api/v1/touchpoints/{early.pk}/", {"occurred_at": newer, "channel": "email"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["channel"] == Channel.EMAIL
    with in_org():
        lead.refresh_from_db()
        assert lead.last_touch_at == dt.datetime.fromisoformat(newer)
        assert lead.first_touch_at == late.occurred_at
    assert api_client.delete(f"/api/v1/touchpoints/{early.pk}/").status_code == 204
    with in_org():
        lead.refresh_from_db()
        assert lead.last_touch_at == late.occurred_at
    bad = api_client.patch(f"/api/v1/touchpoints/{late.pk}/", {"type": "telepathy"}, format="json")
    assert list(bad.json()["error"]["fields"]) == ["type"]


def test_touchpoint_filters(api_client, in_org):
    now = timezone.now()
    with in_org():
        campaign = CampaignFactory()
        lead = LeadFactory()
        clicked = TouchpointFactory(
            lead=lead,
            type=TouchpointType.AD_CLICK,
            channel=Channel.PAID_SEARCH,
            campaign=campaign,
            occurred_at=now - dt.timedelta(days=5),
        )
        viewed = TouchpointFactory(type=TouchpointType.PAGE_VIEW, occurred_at=now)
        anonymous = TouchpointFactory(lead=None, contact=None, anonymous_id="visitor-9", occurred_at=now)

    def ids(query: str) -> set[int]:
        response = api_client.get(f"/api/v1/touchpoints/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(f"lead={lead.pk}") == {clicked.pk}
    assert ids(f"contact={viewed.contact_id}") == {viewed.pk}
    assert ids("type=ad_click") == {clicked.pk}
    assert ids("type=ad_click&type=page_view") == {clicked.pk, viewed.pk, anonymous.pk}
    assert ids("channel=paid_search") == {clicked.pk}
    assert ids(f"campaign={campaign.pk}") == {clicked.pk}
    day = (now - dt.timedelta(days=2)).date().isoformat()
    assert ids(f"occurred_before={day}") == {clicked.pk}
    assert ids(f"occurred_after={day}") == {viewed.pk, anonymous.pk}
    assert ids("anonymous_id=visitor-9") == {anonymous.pk}
    assert api_client.get("/api/v1/touchpoints/?lead=abc").status_code == 400


def test_touchpoint_list_pages_by_time_and_costs_the_same(api_client, in_org):
    now = timezone.now()
    with in_org():
        lead = LeadFactory()
        for minutes in range(2):
            TouchpointFactory(lead=lead, occurred_at=now - dt.timedelta(minutes=minutes))
    api_client.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as small:
        api_client.get("/api/v1/touchpoints/")
    with in_org():
        for minutes in range(2, 30):
            TouchpointFactory(lead=lead, occurred_at=now - dt.timedelta(minutes=minutes))
    with CaptureQueriesContext(connection) as large:
        body = api_client.get("/api/v1/touchpoints/?page_size=12").json()
    assert len(large.captured_queries) == len(small.captured_queries)
    seen = [row["id"] for row in body["results"]]
    while body["next"]:
        body = api_client.get(body["next"]).json()
        seen += [row["id"] for row in body["results"]]
    with in_org():
        assert seen == list(Touchpoint.objects.order_by("-occurred_at", "-id").values_list("pk", flat=True))


def test_another_organizations_touchpoint_is_not_found(other_api_client, in_org):
    with in_org():
        touchpoint = TouchpointFactory()
    assert other_api_client.get(f"/api/v1/touchpoints/{touchpoint.pk}/").status_code == 404
    assert other_api_client.delete(f"/api/v1/touchpoints/{touchpoint.pk}/").status_code == 404
    assert other_api_client.get("/api/v1/touchpoints/").json()["results"] == []

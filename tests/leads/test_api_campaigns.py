"""Campaigns and their daily spend through the REST API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from leads.models import Campaign, CampaignSpend
from tests.conftest import login
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def test_campaign_crud(api_client, in_org):
    payload = {
        "name": "Spring webinar",
        "channel": "events",
        "utm_source": "newsletter",
        "start_date": "2025-03-01",
        "end_date": "2025-03-31",
        "budget": "5000.00",
    }
    response = api_client.post("/api/v1/campaigns/", payload, format="json")
    assert response.status_code == 201, response.content
    campaign = response.json()
    assert (campaign["channel"], campaign["currency"], campaign["budget"]) == ("events", "EUR", "5000.00")
    detail = f"/api/v1/campaigns/{campaign['id']}/"
    assert api_client.get(detail).json()["name"] == "Spring webinar"
    patched = api_client.patch(detail, {"end_date": "2025-04-15", "currency": "USD"}, format="json")
    assert (patched.json()["end_date"], patched.json()["currency"]) == ("2025-04-15", "USD")
    assert api_client.delete(detail).status_code == 204
    with in_org():
        assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "Dup"}, "name"),
        ({"name": "Backwards", "start_date": "2025-05-01", "end_date": "2025-04-01"}, "end_date"),
        ({"name": "Odd", "channel": "carrier_pigeon"}, "channel"),
        ({"name": "Cheap", "budget": "-1"}, "budget"),
        ({"name": "Money", "currency": "euro"}, "currency"),
        ({}, "name"),
    ],
)
def test_campaign_validation(api_client, in_org, payload, field):
    with in_org():
        CampaignFactory(name="Dup")
    response = api_client.post("/api/v1/campaigns/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_campaign_filters_channel_and_active_on(api_client, in_org):
    with in_org():
        march = CampaignFactory(
            channel="email", start_date=dt.date(2025, 3, 1), end_date=dt.date(2025, 3, 31)
        )
        ongoing = CampaignFactory(channel="social", start_date=dt.date(2025, 1, 1), end_date=None)
        CampaignFactory(channel="social", start_date=dt.date(2025, 6, 1), end_date=dt.date(2025, 6, 30))

    def ids(query: str) -> set[int]:
        return {row["id"] for row in api_client.get(f"/api/v1/campaigns/?{query}").json()["results"]}

    assert ids("active_on=2025-03-15") == {march.pk, ongoing.pk}
    assert ids("active_on=2025-03-15&channel=social") == {ongoing.pk}
    assert api_client.get("/api/v1/campaigns/?active_on=someday").status_code == 400


def test_sales_reps_read_campaigns_but_do_not_change_them(in_org, org, sales_rep):
    with in_org():
        campaign = CampaignFactory()
    client = login(sales_rep, org)
    assert client.get("/api/v1/campaigns/").status_code == 200
    response = client.patch(
        f"/api/v1/campaigns/{campaign.pk}/", {"name": "Mine"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_spend_is_set_per_campaign_and_day(api_client, in_org):
    with in_org():
        campaign = CampaignFactory(currency="USD")
        other = CampaignFactory()
    day = {"campaign": campaign.pk, "date": "2025-02-10", "amount": "120.50"}
    created = api_client.post("/api/v1/spend/", day, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["currency"] == "USD"
    replaced = api_client.post(
        "/api/v1/spend/", {**day, "amount": "99.00", "note": "corrected"}, format="json"
    )
    assert replaced.status_code == 200
    assert replaced.json()["id"] == created.json()["id"]
    api_client.post(
        "/api/v1/spend/", {"campaign": campaign.pk, "date": "2025-02-11", "amount": "10"}, format="json"
    )
    api_client.post(
        "/api/v1/spend/", {"campaign": other.pk, "date": "2025-02-10", "amount": "1"}, format="json"
    )
    with in_org():
        assert CampaignSpend.objects.get(campaign=campaign, date=dt.date(2025, 2, 10)).amount == Decimal(
            "99.00"
        )
    listed = api_client.get(f"/api/v1/spend/?campaign={campaign.pk}").json()["results"]
    assert [row["date"] for row in listed] == ["2025-02-11", "2025-02-10"]
    ranged = api_client.get("/api/v1/spend/?date_after=2025-02-11").json()["results"]
    assert [row["date"] for row in ranged] == ["2025-02-11"]
    detail = f"/api/v1/spend/{created.json()['id']}/"
    patched = api_client.patch(detail, {"amount": "101.00"}, format="json")
    assert (patched.json()["amount"], patched.json()["note"]) == ("101.00", "corrected")
    assert api_client.delete(detail).status_code == 204
    assert api_client.get(detail).status_code == 404


def test_spend_validation_and_isolation(api_client, other_api_client, in_org, in_other_org):
    with in_org():
        campaign = CampaignFactory()
    with in_other_org():
        foreign = CampaignFactory()
    negative = api_client.post(
        "/api/v1/spend/", {"campaign": campaign.pk, "date": "2025-01-01", "amount": "-5"}, format="json"
    )
    assert "amount" in negative.json()["error"]["fields"]
    cross = api_client.post(
        "/api/v1/spend/", {"campaign": foreign.pk, "date": "2025-01-01", "amount": "5"}, format="json"
    )
    assert cross.status_code == 400
    assert "campaign" in cross.json()["error"]["fields"]
    spend = api_client.post(
        "/api/v1/spend/", {"campaign": campaign.pk, "date": "2025-01-01", "amount": "5"}, format="json"
    ).json()
    assert other_api_client.get(f"/api/v1/spend/{spend['id']}/").status_code == 404
    assert other_api_client.get("/api/v1/spend/").json()["results"] == []
    assert other_api_client.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 404

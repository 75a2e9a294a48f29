"""Filters, ordering and cursor paging of the lead list API (and LeadFilter, which the dashboard shares)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.http import QueryDict
from django.utils import timezone

from leads.filters import LeadFilter
from leads.models import Channel, Lead, Stage
from leads.services import custom_field_create
from tests.factories import CampaignFactory, CompanyFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_filter_by_stage_accepts_several_values(api_client, in_org):
    with in_org():
        cold = LeadFactory(stage=Stage.COLD)
        mql = LeadFactory(stage=Stage.MQL)
        sql = LeadFactory(stage=Stage.SQL)
    assert ids(api_client.get("/api/v1/leads/?stage=mql")) == {mql.pk}
    assert ids(api_client.get("/api/v1/leads/?stage=mql&stage=sql")) == {mql.pk, sql.pk}
    assert cold.pk not in ids(api_client.get("/api/v1/leads/?stage=sql"))
    response = api_client.get("/api/v1/leads/?stage=won")
    assert response.status_code == 400
    assert "stage" in response.json()["error"]["fields"]


def test_filter_by_owner_id_me_and_none(admin_client, api_client, in_org, admin_user, marketer):
    with in_org():
        mine = LeadFactory(owner=admin_user)
        theirs = LeadFactory(owner=marketer)
        nobody = LeadFactory(owner=None)
    assert ids(api_client.get(f"/api/v1/leads/?owner={marketer.pk}")) == {theirs.pk}
    assert ids(api_client.get("/api/v1/leads/?owner=none")) == {nobody.pk}
    assert ids(admin_client.get("/api/v1/leads/?owner=me")) == {mine.pk}
    # An API key is nobody's "me".
    assert ids(api_client.get("/api/v1/leads/?owner=me")) == set()
    assert api_client.get("/api/v1/leads/?owner=someone").status_code == 400


def test_filter_by_score_range(api_client, in_org):
    with in_org():
        low, mid, high = (LeadFactory(score=s) for s in (5, 50, 95))
    assert ids(api_client.get("/api/v1/leads/?score_min=50")) == {mid.pk, high.pk}
    assert ids(api_client.get("/api/v1/leads/?score_max=50")) == {low.pk, mid.pk}
    assert ids(api_client.get("/api/v1/leads/?score_min=10&score_max=60")) == {mid.pk}


def test_filter_by_source_channel_and_campaign(api_client, in_org):
    with in_org():
        campaign = CampaignFactory()
        paid = LeadFactory(source_channel=Channel.PAID_SEARCH, campaign=campaign)
        organic = LeadFactory(source_channel=Channel.ORGANIC_SEARCH)
    assert ids(api_client.get("/api/v1/leads/?source_channel=paid_search")) == {paid.pk}
    assert ids(api_client.get("/api/v1/leads/?source_channel=organic_search&source_channel=paid_search")) == {
        paid.pk,
        organic.pk,
    }
    assert ids(api_client.get(f"/api/v1/leads/?campaign={campaign.pk}")) == {paid.pk}


def test_filter_by_created_and_last_touch_dates(api_client, in_org):
    now = timezone.now()
    with in_org():
        old = LeadFactory(created_at=now - dt.timedelta(days=40), last_touch_at=now - dt.timedelta(days=30))
        recent = LeadFactory(created_at=now - dt.timedelta(days=2), last_touch_at=now - dt.timedelta(hours=1))
        untouched = LeadFactory(created_at=now - dt.timedelta(days=2), last_touch_at=None)
    ten_days_ago = (now - dt.timedelta(days=10)).date().isoformat()
    assert ids(api_client.get(f"/api/v1/leads/?created_after={ten_days_ago}")) == {recent.pk, untouched.pk}
    assert ids(api_client.get(f"/api/v1/leads/?created_before={ten_days_ago}")) == {old.pk}
    assert ids(api_client.get(f"/api/v1/leads/?last_touch_after={ten_days_ago}")) == {recent.pk}
    assert ids(api_client.get(f"/api/v1/leads/?last_touch_before={ten_days_ago}")) == {old.pk}
    # A date covers its whole day; a date-time is exact.
    created_day = old.created_at.date().isoformat()
    assert ids(api_client.get(f"/api/v1/leads/?created_before={created_day}")) == {old.pk}
    moment = (old.created_at - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(api_client.get(f"/api/v1/leads/?created_before={moment}")) == set()
    response = api_client.get("/api/v1/leads/?created_after=last-week")
    assert response.status_code == 400
    assert "created_after" in response.json()["error"]["fields"]


def test_search_q_matches_name_email_and_company(api_client, in_org):
    with in_org():
        company = CompanyFactory(name="Initech")
        contact = ContactFactory(
            first_name="Peter",
            last_name="Gibbons",
            email="peter@initech.example",
            company=company,
            search_text="peter gibbons peter@initech.example initech",
        )
        match = LeadFactory(contact=contact)
        LeadFactory()
    assert ids(api_client.get("/api/v1/leads/?q=GIBBONS")) == {match.pk}
    assert ids(api_client.get("/api/v1/leads/?q=initech")) == {match.pk}
    assert ids(api_client.get("/api/v1/leads/?q=nobody-here")) == set()


def test_custom_field_filters_on_the_contact(api_client, in_org):
    with in_org():
        custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
        custom_field_create(
            entity="contact", key="plan", label="Plan", field_type="choice", choices=["free", "pro"]
        )
        custom_field_create(entity="contact", key="renewal", label="Renewal", field_type="date")
        small = LeadFactory(
            contact=ContactFactory(custom={"seats": 5, "plan": "free", "renewal": "2025-01-10"})
        )
        big = LeadFactory(
            contact=ContactFactory(custom={"seats": 250, "plan": "pro", "renewal": "2025-06-01"})
        )
        LeadFactory(contact=ContactFactory(custom={}))
    assert ids(api_client.get("/api/v1/leads/?cf.plan=pro")) == {big.pk}
    assert ids(api_client.get("/api/v1/leads/?cf.seats=5")) == {small.pk}
    assert ids(api_client.get("/api/v1/leads/?cf.seats__gte=10")) == {big.pk}
    assert ids(api_client.get("/api/v1/leads/?cf.seats__lte=10")) == {small.pk}
    assert ids(api_client.get("/api/v1/leads/?cf.renewal__gte=2025-03-01")) == {big.pk}
    assert ids(api_client.get("/api/v1/leads/?cf.renewal__lte=2025-03-01&cf.plan=free")) == {small.pk}


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("cf.unknown=1", "cf.unknown"),
        ("cf.seats=many", "cf.seats"),
        ("cf.plan__gte=pro", "cf.plan__gte"),
    ],
)
def test_bad_custom_field_filter_is_a_400_naming_the_parameter(api_client, in_org, query, parameter):
    with in_org():
        custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
        custom_field_create(entity="contact", key="plan", label="Plan", field_type="text")
    response = api_client.get(f"/api/v1/leads/?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [parameter]


def test_custom_field_filter_does_not_see_another_organizations_definitions(api_client, in_other_org):
    with in_other_org():
        custom_field_create(entity="contact", key="seats", label="Seats", field_type="number")
    assert api_client.get("/api/v1/leads/?cf.seats=1").status_code == 400


def test_lead_filter_works_for_the_dashboard_without_raising(in_org):
    with in_org():
        lead = LeadFactory(stage=Stage.MQL)
        LeadFactory(stage=Stage.SQL)
        queryset = Lead.objects.all()
        valid = LeadFilter(QueryDict("stage=mql"), queryset=queryset, request=None)
        assert valid.is_valid() and list(valid.qs) == [lead]
        invalid = LeadFilter(QueryDict("stage=mql&cf.nothing=1"), queryset=queryset, request=None)
        assert not invalid.is_valid()
        assert "cf.nothing" in invalid.errors
        assert list(invalid.qs) == [lead]


@pytest.mark.parametrize("ordering", ["id", "created_at", "score", "last_touch_at", "stage_changed_at"])
def test_ordering_with_cursor_paging_visits_every_lead_once(api_client, in_org, ordering):
    now = timezone.now()
    with in_org():
        for index in range(7):
            LeadFactory(
                score=index % 3,
                created_at=now - dt.timedelta(days=index % 4),
                last_touch_at=None if index % 2 else now - dt.timedelta(hours=index % 3),
                stage_changed_at=now - dt.timedelta(minutes=index),
            )
        expected = {lead.pk: lead for lead in Lead.objects.all()}
    for direction in ("", "-"):
        seen: list[int] = []
        url: str | None = f"/api/v1/leads/?ordering={direction}{ordering}&page_size=3"
        pages = 0
        while url:
            body = api_client.get(url).json()
            seen += [row["id"] for row in body["results"]]
            url = body["next"]
            pages += 1
        assert pages == 3
        assert sorted(seen) == sorted(expected)

        def key(pk: int) -> Any:
            value = getattr(expected[pk], ordering)
            return (value is not None, value)

        values = [key(pk) for pk in seen]
        assert values == sorted(values, reverse=direction == "-")


def test_unknown_ordering_is_ignored(api_client, in_org):
    with in_org():
        first, second = LeadFactory(), LeadFactory()
    response = api_client.get("/api/v1/leads/?ordering=contact__email")
    assert [row["id"] for row in response.json()["results"]] == [second.pk, first.pk]

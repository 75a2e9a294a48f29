"""The deals API: CRUD and won/lost actions, validation with field-named errors, pagination, roles and
isolation."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from conversion.deals import services
from conversion.models import Account, OnboardingStep, Opportunity
from leadhub.tenancy.services import Actor
from tests.conftest import login
from tests.conversion.deals.conftest import sql_lead

pytestmark = pytest.mark.django_db
BASE = "/api/v1/conversion"


def test_create_move_win_through_the_api(org: Any, api_client: APIClient, in_org: Any) -> None:
    with in_org():
        lead = sql_lead()
        stages = services.pipeline_stages_ensure()
    response = api_client.post(
        f"{BASE}/opportunities/",
        {"lead": lead.pk, "name": "API deal", "amount": "9000.50", "currency": "usd"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["currency"], body["amount"], body["probability"], body["lead"]["stage"]) == (
        "USD",
        "9000.50",
        10,
        "opportunity",
    )
    deal_id = body["id"]
    moved = api_client.patch(f"{BASE}/opportunities/{deal_id}/", {"stage": stages[2].pk}, format="json")
    assert moved.status_code == 200 and moved.json()["stage"]["name"] == "Proposal"
    assert [h["to_stage"]["name"] for h in moved.json()["history"]] == ["Qualification", "Proposal"]
    won = api_client.post(f"{BASE}/opportunities/{deal_id}/won/")
    assert won.status_code == 200 and won.json()["status"] == "won"
    assert api_client.post(f"{BASE}/opportunities/{deal_id}/won/").status_code == 200
    accounts = api_client.get(f"{BASE}/accounts/").json()
    assert [a["first_opportunity"] for a in accounts["results"]] == [deal_id]
    steps = api_client.get(f"{BASE}/onboarding-steps/", {"account": accounts["results"][0]["id"]}).json()
    assert len(steps["results"]) == 7
    step_id = steps["results"][0]["id"]
    done = api_client.post(f"{BASE}/onboarding-steps/{step_id}/complete/")
    assert done.status_code == 200 and done.json()["completed_at"]
    assert api_client.post(f"{BASE}/onboarding-steps/{step_id}/reopen/").json()["completed_at"] is None
    lost = api_client.post(f"{BASE}/opportunities/{deal_id}/lost/", {"lost_reason": "price"}, format="json")
    assert lost.status_code == 400 and "status" in lost.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"currency": "ABC"}, "currency"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"probability": 120}, "probability"),
        ({"expected_close_date": "2001-02-03"}, "expected_close_date"),
        ({"expected_close_date": "soon"}, "expected_close_date"),
        ({"stage": 999999}, "stage"),
        ({"owner": 999999}, "owner"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    org: Any, api_client: APIClient, in_org: Any, payload: dict[str, Any], field: str
) -> None:
    with in_org():
        lead = sql_lead()
    response = api_client.post(
        f"{BASE}/opportunities/", {"lead": lead.pk, "name": "Deal", **payload}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with in_org():
        assert not Opportunity.objects.exists()


def test_lost_needs_a_reason_from_the_list(org: Any, api_client: APIClient, in_org: Any) -> None:
    with in_org():
        deal = services.opportunity_create(lead=sql_lead(), name="Deal", actor=Actor.system("t"))
    bad = api_client.post(f"{BASE}/opportunities/{deal.pk}/lost/", {"lost_reason": "meh"}, format="json")
    assert bad.status_code == 400 and "lost_reason" in bad.json()["error"]["fields"]
    ok = api_client.post(
        f"{BASE}/opportunities/{deal.pk}/lost/",
        {"lost_reason": "not_a_fit", "lost_note": "B2C"},
        format="json",
    )
    assert ok.status_code == 200 and ok.json()["lead"]["stage"] == "disqualified"


def test_list_is_paginated_and_filtered(org: Any, api_client: APIClient, in_org: Any) -> None:
    with in_org():
        for i in range(3):
            services.opportunity_create(lead=sql_lead(), name=f"Deal {i}", actor=Actor.system("t"))
    first = api_client.get(f"{BASE}/opportunities/", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    assert len(api_client.get(first["next"]).json()["results"]) == 1
    assert [
        d["name"] for d in api_client.get(f"{BASE}/opportunities/", {"q": "deal 1"}).json()["results"]
    ] == ["Deal 1"]


def test_a_sales_rep_sees_and_changes_only_their_deals(
    org: Any, sales_rep: Any, admin_user: Any, in_org: Any
) -> None:
    with in_org():
        mine = services.opportunity_create(
            lead=sql_lead(), name="Mine", owner=sales_rep, actor=Actor.system("t")
        )
        theirs = services.opportunity_create(
            lead=sql_lead(), name="Theirs", owner=admin_user, actor=Actor.system("t")
        )
    client = login(sales_rep, org)
    listed = client.get(f"{BASE}/opportunities/").json()
    assert [d["name"] for d in listed["results"]] == ["Mine"]
    assert client.get(f"{BASE}/opportunities/{theirs.pk}/").status_code == 404
    assert client.post(f"{BASE}/opportunities/{theirs.pk}/won/").status_code == 404
    assert client.post(f"{BASE}/opportunities/{mine.pk}/won/").status_code == 200


def test_marketers_read_but_do_not_write_and_stages_are_for_managers(
    org: Any, marketer: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        lead = sql_lead()
    client = login(marketer, org)
    assert client.get(f"{BASE}/opportunities/").status_code == 200
    created = client.post(
        f"{BASE}/opportunities/", {"lead": lead.pk, "name": "x"}, content_type="application/json"
    )
    assert created.status_code == 403
    rep = login(sales_rep, org)
    stages = rep.get(f"{BASE}/pipeline-stages/")
    assert stages.status_code == 200 and len(stages.json()["results"]) == 4
    stage_id = stages.json()["results"][0]["id"]
    refused = rep.patch(
        f"{BASE}/pipeline-stages/{stage_id}/", {"probability": 5}, content_type="application/json"
    )
    assert refused.status_code == 403


def test_another_organization_cannot_reach_deals(
    org: Any, other_org: Any, other_api_client: APIClient, in_org: Any
) -> None:
    with in_org():
        lead = sql_lead()
        deal = services.opportunity_create(lead=lead, name="Secret deal", actor=Actor.system("t"))
        services.opportunity_win(opportunity=deal, actor=Actor.system("t"))
        step = OnboardingStep.objects.first()
        account = Account.objects.get()
    assert other_api_client.get(f"{BASE}/opportunities/{deal.pk}/").status_code == 404
    assert (
        other_api_client.post(f"{BASE}/opportunities/{deal.pk}/lost/", {"lost_reason": "price"}).status_code
        == 404
    )
    assert other_api_client.get(f"{BASE}/accounts/{account.pk}/").status_code == 404
    assert other_api_client.post(f"{BASE}/onboarding-steps/{step.pk}/complete/").status_code == 404
    assert "Secret deal" not in other_api_client.get(f"{BASE}/opportunities/").content.decode()
    # A lead id of another organization in a body is "no such lead".
    created = other_api_client.post(f"{BASE}/opportunities/", {"lead": lead.pk, "name": "x"}, format="json")
    assert created.status_code == 400 and "lead" in created.json()["error"]["fields"]


def test_plan_steps_api(org: Any, api_client: APIClient, sales_rep: Any) -> None:
    listed = api_client.get(f"{BASE}/onboarding-plan-steps/").json()
    assert len(listed["results"]) == 7
    bad = api_client.post(f"{BASE}/onboarding-plan-steps/", {"title": "", "day_offset": -1}, format="json")
    assert bad.status_code == 400 and {"title", "day_offset"} <= set(bad.json()["error"]["fields"])
    made = api_client.post(
        f"{BASE}/onboarding-plan-steps/",
        {"title": "QBR", "day_offset": 80, "owner_user": sales_rep.pk},
        format="json",
    )
    assert made.status_code == 201 and made.json()["owner_user"] == sales_rep.pk
    assert api_client.delete(f"{BASE}/onboarding-plan-steps/{made.json()['id']}/").status_code == 204
    rep = login(sales_rep, org)
    assert rep.post(f"{BASE}/onboarding-plan-steps/", {"title": "x", "day_offset": 1}).status_code == 403

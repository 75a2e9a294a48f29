"""The referral programme end to end: a customer's code, a visit with it, the captured lead credited to
the referrer, its won deal rewarded; the results against other channels; the programme's API."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from conversion.deals import services as deals
from conversion.models import ReferralAttribution, ReferralReward
from conversion.referrals import selectors, services
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from leads.models import Lead, ReferralCode
from leads.services import lead_change_stage
from leads.tracking.services import tracking_site_create
from tests.conftest import login
from tests.conversion.deals.conftest import sql_lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
ORIGIN = "https://www.acme.example"
VID = "visitor-ref-000001"
ACTOR = Actor.system("test")


def _win(lead: Lead, amount: str = "10000") -> Any:
    deal = deals.opportunity_create(lead=lead, name=f"Deal {lead.pk}", amount=amount, actor=ACTOR)
    return deals.opportunity_win(opportunity=deal, actor=ACTOR)


def test_a_customer_contact_gets_one_stable_unguessable_code_and_link(org: Any, in_org: Any) -> None:
    with in_org():
        customer = sql_lead()
        _win(customer)
        code = services.referral_code_for_contact(contact=customer.contact, actor=ACTOR)
        again = services.referral_code_for_contact(contact=customer.contact, actor=ACTOR)
        other = services.referral_code_for_contact(contact=sql_lead().contact, actor=ACTOR)
        assert code.pk == again.pk and code.code != other.code
        assert len(code.code) == 10 and code.code.isalnum() and code.public_key.startswith("r_")


def test_winning_issues_codes_to_the_customers_contacts(
    org: Any, in_org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        customer = sql_lead()
        colleague = LeadFactory(contact__company=customer.contact.company).contact
        with django_capture_on_commit_callbacks(execute=True):
            _win(customer)
        referrers = set(ReferralCode.objects.values_list("referrer_id", flat=True))
        assert referrers == {customer.contact_id, colleague.pk}
        assert services.referral_codes_issue(actor=ACTOR) == 0


def test_a_visit_with_a_code_credits_the_lead_and_its_won_deal_rewards_the_referrer(
    org: Any, in_org: Any, admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        site = tracking_site_create(
            name="Web", allowed_domains=["acme.example"], site_url=f"{ORIGIN}/", actor=ACTOR
        )
        customer = sql_lead(email="ambassador@client.example")
        _win(customer)
        code = services.referral_code_for_contact(contact=customer.contact, actor=ACTOR)
        services.referral_programme_update(
            data={"reward_kind": "percent", "reward_value": "10"}, actor=Actor(user=admin_user)
        )
    # The referral link lands on the site with ?ref=<code>; the snippet reports the visit and the email.
    landing = Client().get(f"/r/{code.public_key}")
    assert landing.status_code == 302 and f"ref={code.code}" in landing["Location"]
    body = {
        "vid": VID,
        "sent": 1000,
        "events": [
            {
                "type": "pv",
                "id": "ev-r-001",
                "url": landing["Location"],
                "title": "Home",
                "referrer": "",
                "ts": 1000,
            }
        ],
    }
    headers = {"Origin": ORIGIN}
    Client().post(
        f"/t/{site.public_key}/collect", data=json.dumps(body), content_type="text/plain", headers=headers
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            f"/t/{site.public_key}/identify",
            data=json.dumps({"vid": VID, "email": "friend@prospect.example"}),
            content_type="text/plain",
            headers=headers,
        )
    assert response.status_code < 300
    with in_org():
        lead = Lead.objects.get(contact__email_normalized="friend@prospect.example")
        assert lead.source_channel == "referral"
        attribution = ReferralAttribution.objects.get(lead=lead)
        assert (attribution.referrer_id, attribution.referral_code_id) == (customer.contact_id, code.pk)
        # Sales accepts the lead and wins a 12,000 deal: the referrer earns 10 %.
        lead_change_stage(lead=lead, to_stage="sql", actor=ACTOR, reason="accepted")
        won = _win(lead, amount="12000")
        reward = ReferralReward.objects.get()
        assert (reward.referrer_id, reward.opportunity_id, reward.amount, reward.status) == (
            customer.contact_id,
            won.pk,
            Decimal("1200.00"),
            "pending",
        )
        # Won twice: still one reward.
        deals.opportunity_win(opportunity=won, actor=ACTOR)
        assert ReferralReward.objects.count() == 1
        approved = services.referral_reward_set_status(
            reward=reward, status="approved", actor=Actor(user=admin_user)
        )
        paid = services.referral_reward_set_status(
            reward=approved, status="paid", actor=Actor(user=admin_user)
        )
        assert paid.paid_at and paid.approved_at
        with pytest.raises(Exception):
            services.referral_reward_set_status(reward=paid, status="pending", actor=Actor(user=admin_user))
        assert AuditLog.objects.filter(action__startswith="referral_reward.").count() == 3


def test_results_compare_referred_leads_with_the_other_channels(org: Any, in_org: Any) -> None:
    with in_org():
        referrer = sql_lead().contact
        code = services.referral_code_for_contact(contact=referrer, actor=ACTOR)
        referred = [sql_lead() for _ in range(4)]
        from leads.tracking.services import referral_record

        for lead in referred:
            referral_record(lead=lead, code=code.code)
        services.referral_attribute(lead_ids=[lead.pk for lead in referred])
        _win(referred[0], amount="5000")
        _win(referred[1], amount="3000")
        organic = [sql_lead() for _ in range(3)]  # factories' channel: organic search
        _win(organic[0], amount="1000")
        results = selectors.programme_results()
        programme, *others = results
        assert (programme.key, programme.leads, programme.converted, programme.rate) == (
            "referral_programme",
            4,
            2,
            50.0,
        )
        assert programme.value.items == [("EUR", Decimal("8000.00"))]
        search = next(r for r in others if r.key == "organic_search")
        # The referrer's own lead counts under its channel too.
        assert (search.leads, search.converted, search.rate) == (4, 1, 25.0)
        [row] = selectors.referrer_table()
        assert (row.contact, row.referred, row.converted) == (referrer, 4, 2)
        assert row.value.items == [("EUR", Decimal("8000.00"))]
        assert row.rewards["pending"].items == [("EUR", Decimal("200.00"))]


def test_programme_rule_is_validated(org: Any, in_org: Any) -> None:
    with in_org():
        for data, field in (
            ({"reward_kind": "percent", "reward_value": "150"}, "reward_value"),
            ({"reward_value": "-1"}, "reward_value"),
            ({"reward_currency": "EURO"}, "reward_currency"),
            ({"reward_kind": "gift"}, "reward_kind"),
        ):
            with pytest.raises(Exception) as err:
                services.referral_programme_update(data=data, actor=ACTOR)
            assert field in err.value.message_dict  # type: ignore[attr-defined]


def test_referral_api(org: Any, api_client: APIClient, other_api_client: APIClient, in_org: Any) -> None:
    with in_org():
        customer = sql_lead()
        _win(customer)
        prospect = sql_lead()
    issued = api_client.post(
        "/api/v1/conversion/referrals/codes/", {"contact": customer.contact_id}, format="json"
    )
    assert issued.status_code == 201 and issued.json()["link"].endswith(
        issued.json()["link"].rsplit("/", 1)[-1]
    )
    refused = api_client.post(
        "/api/v1/conversion/referrals/codes/", {"contact": prospect.contact_id}, format="json"
    )
    assert refused.status_code == 400 and "contact" in refused.json()["error"]["fields"]
    assert len(api_client.get("/api/v1/conversion/referrals/codes/").json()["results"]) == 1
    assert other_api_client.get("/api/v1/conversion/referrals/codes/").json()["results"] == []
    rule = api_client.patch(
        "/api/v1/conversion/referrals/programme/", {"reward_currency": "XXX"}, format="json"
    )
    assert rule.status_code == 400 and "reward_currency" in rule.json()["error"]["fields"]
    results = api_client.get("/api/v1/conversion/referrals/results/").json()
    assert results["channels"][0]["key"] == "referral_programme"


def test_programme_page_for_managers_not_reps(org: Any, admin_user: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        customer = sql_lead(first_name="<script>alert(1)</script>")
        _win(customer)
        services.referral_code_for_contact(contact=customer.contact, actor=ACTOR)
    page = login(admin_user, org).get("/conversion/referrals/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert login(sales_rep, org).get("/conversion/referrals/").status_code == 403
    with tenant_context(org):
        assert ReferralCode.objects.count() == 1

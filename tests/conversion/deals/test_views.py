"""Deals' pages: the board with its totals, a deal's moves and won/lost, accounts and onboarding, roles,
isolation, and captured text shown as text."""

from __future__ import annotations

from typing import Any

import pytest

from conversion.deals import services
from conversion.models import Account, OnboardingStep, Opportunity
from leadhub.tenancy.services import Actor
from tests.conftest import login
from tests.conversion.deals.conftest import sql_lead

pytestmark = pytest.mark.django_db
XSS = "<img src=x onerror=alert(1)>"


def test_the_board_groups_open_deals_with_totals_and_weighted_totals(
    org: Any, admin_client: Any, in_org: Any
) -> None:
    with in_org():
        stages = services.pipeline_stages_ensure()
        for amount, stage in (("1000", stages[0]), ("3000", stages[0]), ("2000", stages[2])):
            services.opportunity_create(
                lead=sql_lead(), name=f"Deal {amount}", amount=amount, stage=stage, actor=Actor.system("t")
            )
    response = admin_client.get("/conversion/pipeline/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "4,000.00 EUR" in html  # Qualification's total
    assert "400.00 EUR" in html  # its weighted total (10 %)
    assert "1,400.00 EUR" in html  # the whole board weighted: 400 + 1000
    assert html.count('class="deal-card"') == 3
    filtered = admin_client.get("/conversion/pipeline/", {"q": "Deal 2000"}).content.decode()
    assert filtered.count('class="deal-card"') == 1


def test_an_sql_lead_gets_a_deal_moved_and_won_in_pages(org: Any, sales_rep: Any, in_org: Any) -> None:
    client = login(sales_rep, org)
    with in_org():
        lead = sql_lead(company_name="Umbrella")
        stages = services.pipeline_stages_ensure()
    form = client.get(f"/conversion/opportunities/new/?lead={lead.pk}")
    assert form.status_code == 200
    bad = client.post(
        f"/conversion/opportunities/new/?lead={lead.pk}",
        {"lead": lead.pk, "name": "Umbrella", "stage": stages[0].pk, "amount": "10", "currency": "QQQ"},
    )
    assert bad.status_code == 400 and "ISO 4217" in bad.content.decode()
    created = client.post(
        f"/conversion/opportunities/new/?lead={lead.pk}",
        {"lead": lead.pk, "name": "Umbrella", "stage": stages[0].pk, "amount": "25000", "currency": "eur"},
    )
    assert created.status_code == 302
    with in_org():
        deal = Opportunity.objects.get()
    assert deal.owner == sales_rep
    assert (
        client.post(f"/conversion/opportunities/{deal.pk}/move/", {"stage": stages[1].pk}).status_code == 302
    )
    assert "Yes, mark won" in client.get(f"/conversion/opportunities/{deal.pk}/won/").content.decode()
    assert client.post(f"/conversion/opportunities/{deal.pk}/won/").status_code == 302
    page = client.get(f"/conversion/opportunities/{deal.pk}/").content.decode()
    assert "Discovery" in page and "Umbrella: onboarding" in page
    with in_org():
        account = Account.objects.get()
        step = OnboardingStep.objects.order_by("due_date", "id").first()
    checklist = client.get(f"/conversion/accounts/{account.pk}/").content.decode()
    assert "Kick-off call" in checklist and "0 of 7 done" in checklist
    assert client.post(f"/conversion/onboarding-steps/{step.pk}/", {"done": "1"}).status_code == 302
    assert "1 of 7 done" in client.get(f"/conversion/accounts/{account.pk}/").content.decode()
    assert "Umbrella" in client.get("/conversion/accounts/").content.decode()


def test_lost_asks_for_a_reason(org: Any, sales_rep: Any, in_org: Any) -> None:
    client = login(sales_rep, org)
    with in_org():
        deal = services.opportunity_create(
            lead=sql_lead(), name="Deal", owner=sales_rep, actor=Actor.system("t")
        )
    assert client.get(f"/conversion/opportunities/{deal.pk}/lost/").status_code == 200
    missing = client.post(f"/conversion/opportunities/{deal.pk}/lost/", {"lost_reason": "other"})
    assert missing.status_code == 400 and "Say why" in missing.content.decode()
    assert (
        client.post(f"/conversion/opportunities/{deal.pk}/lost/", {"lost_reason": "price"}).status_code == 302
    )
    with in_org():
        deal.refresh_from_db()
        deal.lead.refresh_from_db()
    assert (deal.status, deal.lead.stage) == ("lost", "recycled")


def test_names_are_shown_as_text(org: Any, admin_client: Any, in_org: Any) -> None:
    with in_org():
        lead = sql_lead(company_name=XSS, first_name=XSS)
        deal = services.opportunity_create(lead=lead, name=XSS, actor=Actor.system("t"))
        services.opportunity_win(opportunity=deal, actor=Actor.system("t"))
        account = Account.objects.get()
    for url in (
        "/conversion/pipeline/",
        "/conversion/opportunities/",
        f"/conversion/opportunities/{deal.pk}/",
        "/conversion/accounts/",
        f"/conversion/accounts/{account.pk}/",
    ):
        html = admin_client.get(url).content.decode()
        assert XSS not in html, url
    assert (
        "&lt;img src=x onerror=alert(1)&gt;"
        in admin_client.get(f"/conversion/opportunities/{deal.pk}/").content.decode()
    )


def test_roles_on_pages(org: Any, sales_rep: Any, marketer: Any, admin_user: Any, in_org: Any) -> None:
    with in_org():
        theirs = services.opportunity_create(
            lead=sql_lead(), name="Admin's", owner=admin_user, actor=Actor.system("t")
        )
    rep = login(sales_rep, org)
    assert rep.get(f"/conversion/opportunities/{theirs.pk}/").status_code == 404
    assert "Admin&#x27;s" not in rep.get("/conversion/pipeline/").content.decode()
    assert rep.get("/conversion/pipeline/stages/").status_code == 403
    mkt = login(marketer, org)
    assert mkt.get(f"/conversion/opportunities/{theirs.pk}/").status_code == 200
    assert mkt.post(f"/conversion/opportunities/{theirs.pk}/won/").status_code == 403
    assert mkt.get("/conversion/opportunities/new/").status_code == 403
    admin = login(admin_user, org)
    assert (
        admin.post("/conversion/pipeline/stages/", {"name": "Legal", "probability": "90"}).status_code == 302
    )
    assert "Legal" in admin.get("/conversion/pipeline/stages/").content.decode()


def test_empty_states(org: Any, admin_client: Any) -> None:
    assert "No open deal" in admin_client.get("/conversion/pipeline/").content.decode()
    assert "No account yet" in admin_client.get("/conversion/accounts/").content.decode()
    assert "No referred lead yet" in admin_client.get("/conversion/referrals/").content.decode()


def test_managers_edit_the_onboarding_plan_and_new_customers_get_it(
    org: Any, admin_user: Any, sales_rep: Any, in_org: Any
) -> None:
    admin = login(admin_user, org)
    page = admin.get("/conversion/onboarding/plan/")
    assert page.status_code == 200 and "Kick-off call" in page.content.decode()
    bad = admin.post(
        "/conversion/onboarding/plan/", {"title": "x", "day_offset": "400", "owner_role": "admin"}
    )
    assert bad.status_code == 400
    added = admin.post(
        "/conversion/onboarding/plan/",
        {"title": f"Security review {XSS}", "day_offset": "45", "owner_role": "admin"},
    )
    assert added.status_code == 302
    assert XSS not in admin.get("/conversion/onboarding/plan/").content.decode()
    with in_org():
        from conversion.models import OnboardingStepTemplate

        kickoff = OnboardingStepTemplate.objects.get(title__startswith="Kick-off")
    assert (
        "Remove step" in admin.get(f"/conversion/onboarding/plan/steps/{kickoff.pk}/delete/").content.decode()
    )
    assert admin.post(f"/conversion/onboarding/plan/steps/{kickoff.pk}/delete/").status_code == 302
    assert login(sales_rep, org).get("/conversion/onboarding/plan/").status_code == 403
    with in_org():
        deal = services.opportunity_create(lead=sql_lead(), name="Deal", actor=Actor.system("t"))
        services.opportunity_win(opportunity=deal, actor=Actor.system("t"))
        titles = list(OnboardingStep.objects.values_list("title", flat=True))
    assert len(titles) == 7 and f"Security review {XSS}" in titles
    assert not any(t.startswith("Kick-off") for t in titles)
    with in_org():
        assert OnboardingStep.objects.get(title__startswith="Security").owner == admin_user

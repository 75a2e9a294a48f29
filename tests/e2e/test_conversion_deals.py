"""Deals in a real browser: a sales manager opens a deal for an SQL lead, moves it through the pipeline's
stages, wins it, and finds the account with its onboarding checklist; the referral programme's page shows
a referred customer's reward.

Screenshots go to a temporary directory; with LEADHUB_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conversion.deals import services as deals
from conversion.models import Account, OnboardingStep, Opportunity
from conversion.referrals import services as referrals
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leads.models import Lead
from leads.tracking.services import referral_record
from tests.e2e.conftest import BrowserProblems
from tests.e2e.test_scoring import PASSWORD, _shoot
from tests.factories import (
    CompanyFactory,
    ContactFactory,
    LeadFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _lead(company: str, first: str, last: str, stage: str = "sql", channel: str = "organic_search") -> Lead:
    contact = ContactFactory.create(
        company=CompanyFactory.create(name=company), first_name=first, last_name=last
    )
    return LeadFactory.create(contact=contact, stage=stage, source_channel=channel)


@pytest.fixture
def manager_and_lead(transactional_db: Any) -> tuple[Any, Lead]:
    organization = OrganizationFactory.create(name="Northwind Sales", slug="northwind-sales")
    user = UserFactory.create(email="sam@northwind.example", first_name="Sam", last_name="Ortiz")
    MembershipFactory.create(user=user, organization=organization, role=Role.SALES_MANAGER)
    actor = Actor(user=user)
    with tenant_context(organization):
        stages = deals.pipeline_stages_ensure()
        # Deals already in the pipeline, and a customer whose referral brought a won deal.
        for company, amount, stage in (
            ("Contoso", "18000", 0),
            ("Fabrikam", "42000", 1),
            ("Tailspin Toys", "9500", 2),
            ("Wide World Importers", "64000", 3),
        ):
            deals.opportunity_create(
                lead=_lead(company, "Alex", company.split()[0]),
                name=f"{company} platform",
                amount=amount,
                stage=stages[stage],
                owner=user,
                actor=actor,
            )
        customer = _lead("Litware", "Maya", "Lind")
        deals.opportunity_win(
            opportunity=deals.opportunity_create(
                lead=customer, name="Litware licences", amount="30000", actor=actor
            ),
            actor=actor,
        )
        code = referrals.referral_code_for_contact(contact=customer.contact, actor=actor)
        referrals.referral_programme_update(
            data={"reward_kind": "percent", "reward_value": "10"}, actor=actor
        )
        friend = _lead("Proseware", "Noah", "Berg", channel="referral")
        referral_record(lead=friend, code=code.code)
        referrals.referral_attribute(lead_ids=[friend.pk])
        deals.opportunity_win(
            opportunity=deals.opportunity_create(
                lead=friend, name="Proseware rollout", amount="24000", actor=actor
            ),
            actor=actor,
        )
        for _ in range(3):
            _lead("Adventure Works", "Lee", "Park", stage="mql")
        lead = _lead("Umbrella Corp", "Ada", "Reyes")
    return user, lead


def test_a_deal_moves_through_the_pipeline_is_won_and_onboarding_starts(
    page: Any,
    live_server: Any,
    manager_and_lead: tuple[Any, Lead],
    browser_problems: BrowserProblems,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    user, lead = manager_and_lead
    base = live_server.url
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")

    page.get_by_role("link", name="Pipeline").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pipeline")
    expect(page.locator(".board-col")).to_have_count(4)

    page.goto(f"{base}/conversion/opportunities/new/?lead={lead.pk}")
    page.get_by_label("Name").fill("Umbrella Corp expansion")
    page.get_by_label("Amount").fill("36000")
    page.get_by_label("Currency").fill("usd")
    page.get_by_role("button", name="Open deal").click()
    expect(page.get_by_text("Deal “Umbrella Corp expansion” opened.")).to_be_visible()
    expect(page.locator(".page-head")).to_contain_text("36,000.00 USD")

    for stage in ("Discovery", "Proposal", "Negotiation"):
        page.get_by_role("button", name=f"{stage} · ").click()
        expect(page.get_by_text(f"Moved to {stage}.")).to_be_visible()
    expect(page.locator(".history li").last).to_contain_text("Proposal")
    expect(page.locator(".history li").last).to_contain_text("Negotiation")
    expect(page.locator(".page-head")).to_contain_text("75 %")
    _shoot(page, tmp_path, "conversion-deal.png")

    page.goto(f"{base}/conversion/pipeline/")
    negotiation = page.locator(".board-col", has_text="Negotiation")
    expect(negotiation).to_contain_text("Umbrella Corp expansion")
    expect(negotiation).to_contain_text("27,000.00 USD")  # weighted: 75 % of 36,000
    _shoot(page, tmp_path, "conversion-pipeline.png")

    negotiation.get_by_role("link", name="Umbrella Corp expansion").click()
    page.get_by_role("link", name="Mark won").click()
    page.get_by_role("button", name="Yes, mark won").click()
    expect(page.get_by_text("won: the lead is a customer and onboarding has started")).to_be_visible()
    expect(page.locator(".history li").last).to_contain_text("Won")

    page.get_by_role("link", name="Umbrella Corp: onboarding").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Umbrella Corp")
    expect(page.locator("#onboarding")).to_contain_text("0 of 7 done")
    page.locator(".checklist li", has_text="Kick-off call").get_by_role("button", name="Done").click()
    expect(page.locator("#onboarding")).to_contain_text("1 of 7 done")
    _shoot(page, tmp_path, "conversion-onboarding.png")

    page.get_by_role("link", name="Referrals").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer referrals")
    expect(page.locator("table").first).to_contain_text("Referral programme")
    expect(page.locator("#rewards")).to_contain_text("2,400.00 EUR")
    _shoot(page, tmp_path, "conversion-referrals.png")

    with tenant_context(lead.organization_id):
        lead.refresh_from_db()
        assert lead.stage == "customer"
        deal = Opportunity.objects.get(name="Umbrella Corp expansion")
        assert (deal.status, deal.currency) == ("won", "USD")
        assert Account.objects.filter(company=lead.contact.company, first_opportunity=deal).exists()
        assert (
            OnboardingStep.objects.filter(enrollment__opportunity=deal, completed_at__isnull=False).count()
            == 1
        )
    assert browser_problems.errors == []

"""The whole handoff in a real browser, each step through the product's own paths: a page view makes a
lead cross the MQL threshold (scoring's incremental rescoring, the stage change, conversion's assignment),
the lead appears in the territory rep's queue, the rep accepts it, logs a call in the lead's workspace,
opens a deal from there and wins it: the lead is a customer, its company an account with onboarding.

Screenshots go to a temporary directory; with LEADHUB_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from conversion.models import Account, Activity, Handoff, HandoffStatus, Opportunity, SalesTeam, TeamMember
from conversion.queue import services as queue_services
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leads.models import Channel, Lead, Touchpoint, TouchpointType
from leads.services import touchpoints_record
from scoring.models import LifecyclePolicy
from tests.e2e.conftest import BrowserProblems, eventually
from tests.factories import CompanyFactory, LeadFactory, MembershipFactory, OrganizationFactory, UserFactory
from tests.scoring.conftest import go_live, make_version

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RULES = [
    {"dimension": "behaviour", "name": "Pricing page", "points": 30, "url_contains": "/pricing"},
    {
        "dimension": "fit",
        "name": "Director",
        "points": 45,
        "field": "contact.job_title",
        "operator": "contains_word",
        "value": ["director"],
    },
]


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    directory = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(directory / name), full_page=True)


def _user(organization: Any, email: str, role: str, first: str, last: str) -> Any:
    user = UserFactory.create(email=email, first_name=first, last_name=last)
    MembershipFactory.create(user=user, organization=organization, role=role)
    return user


def test_mql_to_won_deal_through_queue_workspace_and_pipeline(
    page: Any, live_server: Any, browser_problems: BrowserProblems, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    organization = OrganizationFactory.create(name="Northwind Journey", slug="northwind-journey")
    manager = _user(organization, "maya@northwind.example", Role.SALES_MANAGER, "Maya", "Lindqvist")
    rita = _user(organization, "rita@northwind.example", Role.SALES_REP, "Rita", "Berger")
    with tenant_context(organization):
        team = SalesTeam.objects.create(name="DACH", timezone="Europe/Berlin", manager=manager)
        TeamMember.objects.create(team=team, user=rita)
        queue_services.rule_create(
            data={"name": "DACH", "kind": "territory", "user": rita, "conditions": {"regions": ["dach"]}},
            actor=Actor(user=manager),
        )
        LifecyclePolicy.objects.create(mql_score=50, mql_min_grade="C", pql_points=None, recycle_floor=None)
        go_live(make_version(RULES, name="Journey model"))
        lead = LeadFactory.create(
            contact__first_name="Greta",
            contact__last_name="Vogel",
            contact__job_title="Director of Operations",
            contact__country="Austria",
            contact__company=CompanyFactory.create(name="Vogel Maschinenbau", country="Austria"),
        )
        # Two visits of the pricing page: 60 points with grade B cross the MQL threshold of 50.
        for url in ("https://northwind.example/pricing", "https://northwind.example/pricing?plan=team"):
            touchpoints_record(
                touchpoints=[
                    Touchpoint(lead=lead, type=TouchpointType.PAGE_VIEW, url=url, channel=Channel.DIRECT)
                ]
            )

    def handed() -> Handoff | None:
        with tenant_context(organization):
            return Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).first()

    handoff = eventually(handed)
    with tenant_context(organization):
        assert Lead.objects.get(pk=lead.pk).stage == "mql"
        assert handoff.assigned_to_id == rita.pk and handoff.assigned_by_rule == "territory: DACH"

    base = live_server.url
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(rita.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="My queue").click()
    row = page.locator(f'tr[data-handoff-id="{handoff.pk}"]')
    expect(row).to_contain_text("Greta Vogel")
    expect(row).to_contain_text("left")  # the SLA clock started with the handoff
    row.get_by_role("button", name="Accept").click()
    expect(row).to_contain_text("Accepted")
    _shoot(page, tmp_path, "conversion-journey-queue.png")

    # The workspace: log the first call, which also stops the first-contact clock.
    page.goto(f"{base}/conversion/leads/{lead.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Greta Vogel")
    composer = page.locator(".ws-composer")
    composer.get_by_label("Type").select_option("call")
    composer.get_by_label("Outcome").fill("Connected")
    composer.get_by_label("Subject").fill("Discovery call")
    composer.get_by_role("button", name="Log activity").click()
    expect(page.locator("main")).to_contain_text("Discovery call")
    with tenant_context(organization):
        assert Activity.objects.filter(lead=lead, kind="call", outcome="Connected").exists()
        assert Handoff.objects.get(pk=handoff.pk).first_contact_at is not None

    # A deal from the workspace, won on its page.
    page.reload()
    page.locator("#deals").get_by_role("link", name="Open a deal").click()
    page.get_by_label("Name").fill("Vogel Maschinenbau rollout")
    page.get_by_label("Amount").fill("48000")
    page.get_by_label("Currency").fill("eur")
    page.get_by_role("button", name="Open deal").click()
    expect(page.get_by_text("Deal “Vogel Maschinenbau rollout” opened.")).to_be_visible()
    page.get_by_role("link", name="Mark won").click()
    page.get_by_role("button", name="Yes, mark won").click()
    expect(page.get_by_text("won: the lead is a customer and onboarding has started")).to_be_visible()
    _shoot(page, tmp_path, "conversion-journey-won.png")

    with tenant_context(organization):
        won = Lead.objects.get(pk=lead.pk)
        assert won.stage == "customer"
        assert list(won.stage_changes.order_by("changed_at", "id").values_list("to_stage", flat=True)) == [
            "cold",
            "mql",
            "sql",
            "opportunity",
            "customer",
        ]
        assert Opportunity.objects.get(lead=lead).status == "won"
        assert Account.objects.filter(company=lead.contact.company).exists()

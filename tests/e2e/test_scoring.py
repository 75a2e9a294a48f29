"""Scoring in a real browser: a marketer creates a model from the starter rules, adds a rule, backtests
the draft, publishes it, and sees the lead's score change with its breakdown and ledger.

Screenshots go to a temporary directory; with LEADHUB_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leads.models import Lead, Touchpoint
from tests.e2e.conftest import BrowserProblems
from tests.factories import LeadFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def marketer_and_lead(transactional_db: Any) -> tuple[Any, Lead]:
    organization = OrganizationFactory.create(name="Northwind Scoring", slug="northwind-scoring")
    user = UserFactory.create(email="marketer@northwind.example", first_name="Mira", last_name="Stone")
    MembershipFactory.create(user=user, organization=organization, role=Role.MARKETER)
    now = timezone.now()
    with tenant_context(organization):
        lead = LeadFactory.create(
            contact__job_title="VP Marketing", contact__first_name="Ada", contact__last_name="Reyes"
        )
        for days, kind, url, properties in (
            (9, "page_view", "https://northwind.example/blog/scoring", {}),
            (4, "page_view", "https://northwind.example/pricing", {}),
            (2, "download", "https://northwind.example/whitepaper.pdf", {"asset": "Guide"}),
            (1, "form_submit", "https://northwind.example/demo", {"form": "demo-request"}),
        ):
            Touchpoint.objects.create(
                lead=lead,
                contact=lead.contact,
                type=kind,
                url=url,
                properties=properties,
                occurred_at=now - dt.timedelta(days=days),
            )
        # An older journey that became a customer gives the backtest a history.
        won = LeadFactory.create(contact__job_title="Head of Growth")
        Touchpoint.objects.create(
            lead=won,
            contact=won.contact,
            type="page_view",
            url="https://northwind.example/pricing",
            occurred_at=now - dt.timedelta(days=40),
        )
        for stage in ("sql", "opportunity", "customer"):
            won.stage_changes.create(
                organization=organization,
                from_stage="",
                to_stage=stage,
                changed_at=now - dt.timedelta(days=30),
            )
    return user, lead


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    directory = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(directory / name), full_page=True)


def test_create_backtest_publish_and_see_the_score_change(
    page: Any,
    live_server: Any,
    marketer_and_lead: tuple[Any, Lead],
    browser_problems: BrowserProblems,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    user, lead = marketer_and_lead
    base = live_server.url
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")

    page.goto(f"{base}/leads/{lead.pk}/")
    expect(page.locator(".page-head .score")).to_contain_text("Score 0")

    page.get_by_role("link", name="Scoring").click()
    expect(page.get_by_role("heading", name="No scoring model yet")).to_be_visible()
    page.get_by_label("Name").fill("Inbound B2B")
    page.get_by_role("button", name="Create model").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Inbound B2B v1")
    expect(page.get_by_text("Decision-maker title")).to_be_visible()

    # A rule of our own: a demo in the last two weeks is worth more.
    form = page.locator("#add-rule form")
    form.get_by_label("Dimension").select_option("behaviour")
    form.get_by_label("Name").fill("Recent demo request")
    form.get_by_label("Points").fill("15")
    form.get_by_label("Property key").fill("form")
    form.get_by_label("Property value").fill("demo-request")
    form.get_by_label("Within the last days").fill("14")
    form.get_by_role("button", name="Add rule").click()
    expect(page.get_by_text("Rule “Recent demo request” added.")).to_be_visible()

    page.get_by_label("Target MQL volume").fill("1")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#backtest")).to_contain_text("Would be MQL")
    expect(page.locator("#backtest")).to_contain_text("2 leads, 1 became customers")
    _shoot(page, tmp_path, "scoring-version-backtest.png")

    page.get_by_role("link", name="Publish…").click()
    page.get_by_role("button", name="Publish and rescore every lead").click()
    expect(page.locator("#recomputes")).to_contain_text("2 of 2 leads scored (100%)")
    _shoot(page, tmp_path, "scoring-home.png")

    page.goto(f"{base}/leads/{lead.pk}/")
    score = page.locator(".page-head .score")
    expect(score).not_to_contain_text("Score 0")
    score.click()
    expect(page.get_by_role("heading", name="Why this score?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Recent demo request")
    expect(page.locator("main")).to_contain_text("It became MQL on")
    expect(page.locator("#ledger")).to_contain_text("Recompute")
    _shoot(page, tmp_path, "scoring-lead-breakdown.png")
    with tenant_context(lead.organization_id):
        stored = Lead.objects.get(pk=lead.pk)
    assert stored.stage == "mql" and re.search(rf"Score {stored.score}\b", page.content())
    assert not browser_problems.errors, browser_problems.errors

"""The browser flows users depend on, in headless Chromium under the real Content-Security-Policy:
sign in, filter the lead list (htmx), open a lead, change its stage, switch organization, read the API
docs; and full-page screenshots of the main pages.

Screenshots go to a temporary directory; with LEADHUB_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from leadhub.tenancy.context import tenant_context
from leads.models import Lead, Stage
from tests.e2e.conftest import BrowserProblems
from tests.e2e.showcase import PASSWORD, Showcase, build_showcase

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def showcase(transactional_db: Any) -> Showcase:
    return build_showcase()


def sign_in(page: Any, base_url: str, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")


def wait_for_sidebar(page: Any) -> None:
    page.locator("#funnel-nav .nav-link").first.wait_for()


def test_sign_in_filter_the_lead_list_and_open_a_lead(
    page: Any, live_server: Any, showcase: Showcase, browser_problems: BrowserProblems
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/leads/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/leads/"))
    page.get_by_label("Email").fill(showcase.admin.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))

    # The sidebar's stage counts arrive after the page (htmx), and lead to the filtered list.
    wait_for_sidebar(page)
    with tenant_context(showcase.organization):
        sql_count = Lead.objects.filter(stage=Stage.SQL).count()
    sql_entry = page.locator("#funnel-nav .nav-link", has_text="SQL")
    expect(sql_entry.locator(".nav-count")).to_have_text(str(sql_count))

    # Filtering swaps the table in place (htmx) and keeps the URL shareable.
    rows = page.locator("#lead-results tbody tr")
    expect(rows).to_have_count(len(showcase.leads))
    page.locator("#filter-stage").select_option("sql")
    expect(page).to_have_url(re.compile(r"stage=sql"))
    expect(rows).to_have_count(sql_count)
    # Empty filters stay out of the pushed URL.
    assert "owner=" not in page.url and "q=" not in page.url
    for badge in rows.locator(".badge").all():
        expect(badge).to_have_text("SQL")

    page.locator("#filter-q").fill("mosaic")
    expect(page).to_have_url(re.compile(r"q=mosaic"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Mosaic Retail Group")
    # A reload of the pushed URL renders the same filtered page without htmx.
    page.reload()
    expect(rows).to_have_count(1)
    expect(page.locator("#filter-stage")).to_have_value("sql")

    rows.first.locator("a.person-name").click()
    expect(page).to_have_url(re.compile(r"/leads/\d+/$"))
    expect(page.locator(".lead-hero h1")).to_be_visible()
    expect(page.get_by_role("heading", name="Stage history")).to_be_visible()
    expect(page.locator(".timeline-item").first).to_be_visible()

    # Move it on; the history gains the move with who and why.
    page.locator("#id_to_stage").select_option("opportunity")
    page.get_by_label("Reason").fill("Demo booked with the buying committee")
    page.get_by_role("button", name="Change stage").click()
    expect(page.locator(".alert-success")).to_contain_text("moved to Opportunity")
    expect(page.locator(".history li").first).to_contain_text("Demo booked with the buying committee")
    assert browser_problems.errors == []


def test_bulk_stage_change_in_the_browser(
    page: Any, live_server: Any, showcase: Showcase, browser_problems: BrowserProblems
) -> None:
    from playwright.sync_api import expect

    sign_in(page, live_server.url, showcase.admin.email)
    page.goto(f"{live_server.url}/leads/?stage=mql")
    submit = page.locator("[data-bulk-submit]")
    expect(submit).to_be_disabled()
    page.get_by_label("Select all leads on this page").check()
    expect(page.locator("[data-selected-count]")).to_have_text(re.compile(r"^\d+ selected$"))
    expect(submit).to_be_enabled()
    selected = page.locator("input[data-select-row]:checked").count()
    page.locator("#bulk-stage").select_option("sql")
    submit.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Move {selected} leads to SQL?")
    page.get_by_role("button", name=f"Move {selected} leads to SQL").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{selected} moved to SQL")
    with tenant_context(showcase.organization):
        assert Lead.objects.filter(stage=Stage.MQL).count() == 0
    assert browser_problems.errors == []


def test_switching_organization(
    page: Any, live_server: Any, showcase: Showcase, browser_problems: BrowserProblems
) -> None:
    from playwright.sync_api import expect

    sign_in(page, live_server.url, showcase.admin.email)
    expect(page.locator(".switcher-name")).to_have_text("Brightwave Software")
    page.get_by_label("Switch organization").click()
    page.get_by_role("button", name=re.compile("Skyline Ventures")).click()
    expect(page.locator(".alert-success")).to_contain_text("You are now working in Skyline Ventures")
    expect(page.locator(".switcher-name")).to_have_text("Skyline Ventures")
    # A marketer there: no admin settings, and only that organization's leads.
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    page.get_by_role("link", name="All leads").click()
    expect(page.locator("#lead-results tbody tr")).to_have_count(1)
    expect(page.locator("#lead-results tbody tr").first).to_contain_text(showcase.second_org_lead_name)
    assert browser_problems.errors == []


def test_sign_out(page: Any, live_server: Any, showcase: Showcase) -> None:
    from playwright.sync_api import expect

    sign_in(page, live_server.url, showcase.admin.email)
    page.get_by_label("Account menu").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_api_docs_render_under_the_content_security_policy(
    page: Any, live_server: Any, browser_problems: BrowserProblems
) -> None:
    from playwright.sync_api import expect

    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("LeadHub API", timeout=30_000)
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert browser_problems.errors == []


def test_screenshots_of_the_main_pages(
    page: Any, live_server: Any, showcase: Showcase, browser_problems: BrowserProblems, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    target = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)

    def shoot(name: str) -> None:
        page.wait_for_load_state("networkidle")
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(showcase.admin.email)
    shoot("sign-in")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    wait_for_sidebar(page)
    shoot("home")

    page.goto(f"{live_server.url}/leads/?score_min=50&ordering=-score")
    wait_for_sidebar(page)
    expect(page.locator("#lead-results tbody tr").first).to_be_visible()
    for box in page.locator("input[data-select-row]").all()[:3]:
        box.check()
    page.locator("#bulk-stage").select_option("opportunity")
    shoot("lead-list")

    with tenant_context(showcase.organization):
        rich = Lead.objects.filter(stage=Stage.OPPORTUNITY).order_by("id").first()
    assert rich is not None
    page.goto(f"{live_server.url}/leads/{rich.pk}/")
    wait_for_sidebar(page)
    shoot("lead-detail")

    for name, url in [
        ("api-keys", "/settings/api-keys/"),
        ("audit-log", "/settings/audit-log/"),
        ("members", "/settings/members/"),
        ("custom-fields", "/settings/custom-fields/"),
    ]:
        page.goto(f"{live_server.url}{url}")
        wait_for_sidebar(page)
        shoot(name)
    assert browser_problems.errors == []

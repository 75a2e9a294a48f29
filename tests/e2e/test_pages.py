"""Landing pages in a real browser, under the real Content-Security-Policy: a visitor opens a published
page, keeps their variant on reload and converts through the call-to-action; the marketer edits blocks
with htmx and reads the counts on the results page. Screenshots of the editor, a public page and the
results (LEADHUB_UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/)."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor, organization_create, user_get_or_create
from leads.landing import services
from leads.models_pages import Block, BlockType, LandingPage, PageVisitor, Variant
from tests.e2e.conftest import BrowserProblems

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "brightwave-demo-pass"
MARKETER = "leo.marsh@brightwave.example"

CONTENT: dict[str, dict[str, Any]] = {
    BlockType.HEADLINE: {
        "text": "Know which leads will buy — before your competitors do",
        "subtext": "Brightwave scores every lead from its first visit to its last email click, so sales "
        "calls the right people first.",
    },
    BlockType.TEXT: {
        "heading": "Why revenue teams switch to Brightwave",
        "body": "- **Scores that explain themselves**: every point traced to a behaviour or a fit rule\n"
        "- **Hand-offs in minutes**, not days: SQLs land in the right rep's queue with an SLA\n"
        "- **Attribution you can defend**: first touch, last touch and everything between",
    },
    BlockType.TESTIMONIALS: {
        "heading": "Teams that stopped guessing",
        "items": [
            {
                "quote": "We doubled demo bookings in one quarter without adding a single rep.",
                "author": "Maren Solberg",
                "role": "VP Marketing, Fjord Bank",
            },
            {
                "quote": "Our reps finally trust the MQL label. "
                "Follow-up time went from two days to two hours.",
                "author": "Tomás Ibarra",
                "role": "Head of Sales, Verdant Energy",
            },
            {
                "quote": "Setup took an afternoon. The attribution report paid for the year.",
                "author": "Aoife Keane",
                "role": "Growth Lead, Lumen Learning Labs",
            },
        ],
    },
    BlockType.CTA: {
        "label": "Book a 20-minute demo",
        "url": "",
        "thanks": "Thanks! Your demo request is in — we will email you a time within one business day.",
        "note": "No credit card. Cancel any time.",
    },
}


def _organization() -> tuple[Organization, Any]:
    organization = organization_create(
        name="Brightwave Software", slug="brightwave", admin_email=MARKETER, password=PASSWORD
    )
    user = user_get_or_create(email=MARKETER, password=PASSWORD, first_name="Leo", last_name="Marsh")
    return organization, user


def _page(organization: Organization, user: Any, *, variants: int = 2) -> LandingPage:
    actor = Actor(user=user)
    with tenant_context(organization):
        page = services.page_create(name="Lead scoring demo", slug="lead-scoring-demo", actor=actor)
        services.page_update(
            page=page,
            data={
                "seo_title": "Lead scoring that sales trusts | Brightwave",
                "seo_description": "Score, route and attribute every lead. Book a demo.",
            },
            actor=actor,
        )
        control = Variant.objects.get(page=page)
        Block.objects.filter(variant=control).delete()
        for block_type in (BlockType.HEADLINE, BlockType.TEXT, BlockType.TESTIMONIALS, BlockType.CTA):
            block = services.block_add(variant=control, block_type=block_type, actor=actor)
            services.block_update(block=block, content=CONTENT[block_type], actor=actor)
        for _ in range(variants - 1):
            variant = services.variant_create(page=page, actor=actor)
            headline = Block.objects.get(variant=variant, type=BlockType.HEADLINE)
            services.block_update(
                block=headline,
                content={
                    **CONTENT[BlockType.HEADLINE],
                    "text": f"Variant {variant.name}: stop chasing cold leads",
                },
                actor=actor,
            )
        page.refresh_from_db()
        services.page_publish(page=page, actor=actor)
    return page


def _sign_in(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(MARKETER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_a_visitor_keeps_their_variant_converts_and_the_marketer_sees_it(
    page: Any, live_server: Any, browser_problems: BrowserProblems
) -> None:
    from playwright.sync_api import expect

    organization, user = _organization()
    landing = _page(organization, user)
    url = f"{live_server.url}/p/brightwave/lead-scoring-demo/"

    page.goto(url)
    expect(page).to_have_title("Lead scoring that sales trusts | Brightwave")
    variant_id = page.locator("input[name=lh_variant]").first.get_attribute("value")
    headline = page.get_by_role("heading", level=1).inner_text()
    for _ in range(3):
        page.reload()
        assert page.locator("input[name=lh_variant]").first.get_attribute("value") == variant_id
        assert page.get_by_role("heading", level=1).inner_text() == headline
    cookie = next(c for c in page.context.cookies() if c["name"] == "lh_vid")
    assert cookie["sameSite"] == "Lax" and not cookie["httpOnly"]

    page.get_by_role("button", name="Book a 20-minute demo").click()
    expect(page.get_by_role("status")).to_contain_text("Your demo request is in")
    assert browser_problems.errors == []

    page.wait_for_load_state("networkidle")
    with tenant_context(organization):
        row = PageVisitor.objects.get()
    assert str(row.variant_id) == variant_id and row.converted_at is not None and row.views == 1

    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/pages/{landing.pk}/results/")
    expect(page.locator("tbody tr")).to_have_count(2)
    with tenant_context(organization):
        name = Variant.objects.get(pk=int(variant_id or 0)).name
    strong = page.locator("td:first-child strong", has_text=re.compile(rf"^{name}$"))
    row_cells = page.locator("tbody tr").filter(has=strong).locator("td")
    expect(row_cells.nth(1)).to_have_text("1")  # visitors
    expect(row_cells.nth(3)).to_have_text("1")  # conversions
    expect(page.locator("#verdict")).to_contain_text("Keep running")
    assert browser_problems.errors == []


def test_the_editor_edits_blocks_with_htmx(
    page: Any, live_server: Any, browser_problems: BrowserProblems
) -> None:
    from playwright.sync_api import expect

    organization, user = _organization()
    landing = _page(organization, user, variants=1)
    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/pages/{landing.pk}/")
    with tenant_context(organization):
        headline = Block.objects.get(type=BlockType.HEADLINE)
    card = page.locator(f"#block-{headline.pk}")
    card.get_by_label("Headline", exact=True).fill("Lead scoring your sales team will actually use")
    card.get_by_role("button", name="Save block").click()
    expect(page.locator(f"#block-{headline.pk}")).to_contain_text("Saved")
    # A validation error is shown under the field, in place.
    page.locator(f"#block-{headline.pk}").get_by_label("Headline", exact=True).fill("")
    page.locator(f"#block-{headline.pk}").get_by_role("button", name="Save block").click()
    expect(page.locator(f"#block-{headline.pk} .field-error")).to_contain_text("Headline is required")
    # Add an image block, then move it up (the list is swapped in place, no reload).
    page.get_by_role("button", name="Image").click()
    expect(page.locator(".block-card")).to_have_count(5)
    page.locator(".block-card").last.get_by_role("button", name="Move up").click()
    expect(page.locator(".block-card").nth(3)).to_contain_text("Call to action")
    page.wait_for_load_state("networkidle")  # the server is done before the test reads its database
    with tenant_context(organization):
        types = list(Block.objects.order_by("position").values_list("type", flat=True))
        assert types == ["headline", "text", "testimonials", "image", "cta"]
        assert (
            Block.objects.get(pk=headline.pk).content["text"]
            == "Lead scoring your sales team will actually use"
        )
    # Removing asks first.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".block-card").nth(3).get_by_role("button", name="Remove block").click()
    expect(page.locator(".block-card")).to_have_count(4)
    # The one 400 is the refused empty headline above; the browser logs every 4xx answer.
    assert [e for e in browser_problems.errors if "status of 400" not in e] == []


def _simulated_results(organization: Organization, landing: LandingPage) -> None:
    """Visitors and conversions of a three-week test, drawn with a fixed seed."""
    rng = random.Random(7)
    with tenant_context(organization):
        landing.refresh_from_db()
        started = timezone.now() - dt.timedelta(days=21)
        LandingPage.objects.filter(pk=landing.pk).update(experiment_started_at=started)
        rows = []
        for variant, visitors, rate in zip(
            Variant.objects.filter(page=landing).order_by("-is_control", "id"),
            (4210, 4188, 4236),
            (0.041, 0.052, 0.044),
            strict=False,
        ):
            for i in range(visitors):
                seen = started + dt.timedelta(minutes=rng.randrange(21 * 24 * 60))
                rows.append(
                    PageVisitor(
                        page=landing,
                        variant=variant,
                        visitor_id=f"sim-{variant.pk}-{i:06d}",
                        first_seen_at=seen,
                        last_view_day=seen.date(),
                        views=1 + (rng.random() < 0.3),
                        converted_at=seen if rng.random() < rate else None,
                    )
                )
        PageVisitor.objects.bulk_create(rows, batch_size=2000)


def test_screenshots_of_the_landing_pages(
    page: Any, live_server: Any, browser_problems: BrowserProblems, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    target = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)

    def shoot(name: str, full_page: bool = True) -> None:
        page.wait_for_load_state("networkidle")
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 10_000

    organization, user = _organization()
    landing = _page(organization, user, variants=3)
    _simulated_results(organization, landing)

    page.goto(f"{live_server.url}/p/brightwave/lead-scoring-demo/")
    expect(page.get_by_role("button", name="Book a 20-minute demo")).to_be_visible()
    shoot("landing-page-public")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    shoot("landing-page-public-mobile")
    page.set_viewport_size({"width": 1440, "height": 900})

    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/pages/{landing.pk}/")
    expect(page.locator(".block-card").first).to_be_visible()
    shoot("landing-page-editor")
    page.goto(f"{live_server.url}/pages/{landing.pk}/results/")
    expect(page.locator("#verdict")).to_be_visible()
    shoot("landing-page-results")
    page.goto(f"{live_server.url}/pages/")
    shoot("landing-pages")
    assert browser_problems.errors == []

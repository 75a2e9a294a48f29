"""Forms in a real browser, on a page served from ANOTHER origin (a second local HTTP server): the embed
script draws the form, the visitor submits it with UTM values in the page address, and the lead appears
with its UTM first touch, its earlier page view stitched, and its consent; the same for a plain HTML
form with JavaScript switched off. Screenshots of the builder and the embedded form."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leads.models import Channel, Lead, Touchpoint, TouchpointType
from leads.models_forms import ConsentRecord, ConsentStatus, FormSubmission, SubmissionStatus
from leads.webforms import services
from leads.webforms.public_views import form_html
from leads.webforms.schema import definition_build
from tests.capture.forms_helpers import ACTOR, build_form
from tests.conftest import PASSWORD
from tests.e2e.conftest import BrowserProblems, CustomerSite

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def other_site(customer_site: CustomerSite) -> tuple[str, Path]:
    """The customer's website on another origin: (origin, its document root)."""
    return customer_site.origin, customer_site.root


def _page(body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        "<title>Acme pricing</title></head><body><h1>Pricing</h1><p>Talk to us.</p>"
        f"{body}</body></html>"
    )


@pytest.fixture
def site_form(org: Organization, other_site: tuple[str, Path]) -> Any:
    origin, _ = other_site
    return build_form(org, allowed_domains=[origin.removeprefix("http://")])


@override_settings(LEADHUB_FORM_MIN_FILL_SECONDS=1)
def test_the_embedded_form_on_another_origin_captures_the_lead_with_utm_first_touch_and_consent(
    page: Any,
    live_server: Any,
    org: Organization,
    other_site: tuple[str, Path],
    site_form: Any,
    browser_problems: BrowserProblems,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    origin, root = other_site
    script = (
        f'<script src="{live_server.url}/embed/forms/{site_form.public_key}.js" data-lh-variant="B"></script>'
    )
    (root / "pricing.html").write_text(_page(script))
    # The visitor read the blog before (the tracking snippet's page view, under their visitor id).
    page.goto(f"{origin}/pricing.html?utm_source=newsletter&utm_medium=email&utm_campaign=launch")
    form = page.locator(".lh-embed form")
    expect(form.get_by_label("Email *")).to_be_visible()
    visitor_id = page.evaluate("document.cookie.match(/lh_vid=([^;]+)/)[1]")
    with tenant_context(org):
        Touchpoint.objects.create(
            anonymous_id=visitor_id,
            type=TouchpointType.PAGE_VIEW,
            url=f"{origin}/blog",
            channel=Channel.EMAIL,
            utm_source="newsletter",
            occurred_at=timezone.now() - dt.timedelta(hours=1),
        )

    xss = '<img src=x onerror="window.pwned=1">'
    form.get_by_label("Email *").fill("grace@hopper.example")
    form.get_by_label("First name *").fill("Grace")
    form.get_by_label("Last name").fill(xss)
    form.get_by_label("Company").fill("Navy Labs")
    form.get_by_label("Plan").select_option("pro")
    form.get_by_label("Send me product news by email.").check()
    target = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(target / "form-embedded.png"), full_page=True)
    page.wait_for_timeout(1100)  # a person takes longer than the time trap
    form.get_by_role("button", name="Submit").click()
    expect(page.locator(".lh-embed .lh-success")).to_have_text(site_form.success_message)
    assert page.evaluate("window.pwned") is None

    with tenant_context(org):
        submission = FormSubmission.objects.get()
        assert submission.status == SubmissionStatus.PROCESSED, submission.reason
        lead = Lead.objects.select_related("contact").get()
        assert lead.contact.first_name == "Grace" and lead.contact.last_name == xss
        assert lead.contact.custom == {"plan": "pro"}
        assert lead.source_channel == Channel.EMAIL
        assert lead.first_touch_channel == Channel.EMAIL and lead.first_touch_url == f"{origin}/blog"
        touch = Touchpoint.objects.get(type=TouchpointType.FORM_SUBMIT)
        assert (touch.utm_source, touch.utm_medium, touch.utm_campaign) == ("newsletter", "email", "launch")
        assert touch.url.startswith(f"{origin}/pricing.html?utm_source=newsletter")
        assert touch.properties["lh_variant"] == "B"
        assert Touchpoint.objects.filter(lead=lead).count() == 2  # the page view was stitched
        consent = ConsentRecord.objects.get()
        assert (consent.purpose, consent.status) == ("marketing_email", ConsentStatus.GRANTED)
    assert browser_problems.errors == []


def test_a_disallowed_origin_cannot_use_the_form(
    page: Any, live_server: Any, org: Organization, other_site: tuple[str, Path]
) -> None:
    from playwright.sync_api import expect

    form = build_form(org, allowed_domains=["customer.example"])
    origin, root = other_site
    (root / "evil.html").write_text(
        _page(f'<script src="{live_server.url}/embed/forms/{form.public_key}.js"></script>')
    )
    page.goto(f"{origin}/evil.html")
    expect(page.get_by_role("heading", name="Pricing")).to_be_visible()
    page.wait_for_timeout(500)
    assert page.locator(".lh-embed form").count() == 0  # the fields request was refused (403, no CORS)


@override_settings(LEADHUB_FORM_MIN_FILL_SECONDS=1)
def test_a_plain_html_form_without_javascript_posts_and_comes_back(
    live_server: Any,
    org: Organization,
    other_site: tuple[str, Path],
    site_form: Any,
    chromium_executable: str,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    origin, root = other_site
    with tenant_context(org):
        definition = definition_build(site_form)
    snippet = form_html(definition, action=f"{live_server.url}/f/{site_form.public_key}/")
    (root / "index.html").write_text(_page(snippet))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{origin}/index.html")
        page.get_by_label("Email *").fill("ada@lovelace.example")
        page.get_by_label("First name *").fill("Ada")
        page.get_by_label("What do you need?").fill("A quote")
        page.get_by_label("Send me product news by email.").check()
        page.wait_for_timeout(1100)  # a person takes longer than the time trap
        page.get_by_role("button", name="Submit").click()
        expect(page).to_have_url(re.compile(rf"^{re.escape(origin)}/.*lh_form=success"))
        browser.close()
    with tenant_context(org):
        submission = FormSubmission.objects.get()
        assert submission.status == SubmissionStatus.PROCESSED, submission.reason
        lead = Lead.objects.select_related("contact").get()
        assert lead.contact.email_normalized == "ada@lovelace.example" and lead.need == "A quote"
        assert submission.source == "html" and submission.payload["hidden"]["page_url"].startswith(origin)
        assert ConsentRecord.objects.get().status == ConsentStatus.GRANTED


def test_screenshot_of_the_builder(
    page: Any, live_server: Any, org: Organization, marketer: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    form = build_form(org)
    with tenant_context(org):
        services.form_update(form=form, data={"max_fields_shown": 4, "double_opt_in": True}, actor=ACTOR)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(marketer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/forms/{form.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Demo request")
    target = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(target / "form-builder.png"), full_page=True)
    page.goto(f"{live_server.url}/forms/")
    page.screenshot(path=str(target / "form-list.png"), full_page=True)

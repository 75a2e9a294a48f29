"""The qualification chat end to end in a real browser: a customer's website on ANOTHER origin carries
the tracking snippet and the chat widget. A visitor reads the page, opens the chat, answers the flow one
question at a time (reloading the page halfway: the conversation comes back where it was), qualifies and
requests a meeting. The lead appears with its BANT answers, the earlier page view stitched, the chat and
meeting touchpoints, and as an MQL with the qualifying answers as the reason. Free text stays text.
Also: the flow editor as a marketer sees it."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.models import Lead, Stage, StageChange, Touchpoint, TouchpointType
from leads.tracking.services import tracking_site_create
from scoring.models_chat import ChatSession, MeetingRequest, SessionStatus
from tests.conftest import PASSWORD
from tests.e2e.conftest import BrowserProblems, CustomerSite, eventually
from tests.factories import OrganizationFactory
from tests.scoring.chat_fixtures import build_flow

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    # Like the capture journey: the tracking snippet's unload beacon needs the threaded live server of
    # PostgreSQL runs (on SQLite it answers one request at a time). CI runs it on PostgreSQL.
    pytest.mark.skipif(
        "sqlite" in settings.DATABASES["default"]["ENGINE"],
        reason="the snippet's unload beacons need the threaded live server of PostgreSQL runs",
    ),
]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Pricing</title><script src="{server}/t.js" data-key="{site_key}" async></script>
<style>body{{font-family:Georgia,serif;margin:40px;background:#fffdf7}} button{{color:red}}</style></head>
<body><h1>Pricing</h1><p>Plans for every team. Questions? Our assistant is in the corner.</p>
<script src="{server}/embed/chat/{chat_key}.js" async></script></body></html>"""


def _screenshot(page: Any, name: str, tmp_path: Path, *, full_page: bool = False) -> None:
    target = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(target / name), full_page=full_page)


def _weekday() -> str:
    day = timezone.localdate() + dt.timedelta(days=3)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day.isoformat()


def test_a_visitor_answers_the_chat_on_a_customer_site_qualifies_and_requests_a_meeting(
    page: Any,
    live_server: Any,
    customer_site: CustomerSite,
    browser_problems: BrowserProblems,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    origin = customer_site.origin
    assert origin.split("/")[2] != live_server.url.split("/")[2]  # another origin
    organization: Organization = OrganizationFactory(name="Acme Analytics", slug="acme")
    with tenant_context(organization):
        site = tracking_site_create(
            name="acme.example", allowed_domains=["127.0.0.1"], actor=Actor.system("test")
        )
    flow = build_flow(organization, allowed_domains=["127.0.0.1"])
    url = customer_site.write(
        "pricing.html",
        PAGE.format(server=live_server.url, site_key=site.public_key, chat_key=flow.public_key),
    )

    # 1. An anonymous visit: the snippet records the page view.
    page.goto(f"{url}?utm_source=linkedin&utm_medium=paid_social&utm_campaign=spring")
    page.wait_for_function("window.leadhub && window.leadhub.loaded")
    visitor_id = page.evaluate("leadhub.visitorId()")

    # 2. The chat, answered with the keyboard and the mouse.
    bubble = page.get_by_role("button", name="Open the chat: Pricing chat")
    expect(bubble).to_be_visible()
    bubble.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Pricing chat")
    expect(dialog).to_be_visible()
    log = dialog.get_by_role("log")
    expect(log).to_contain_text(flow.greeting)
    expect(log).to_contain_text("What budget do you have?")
    # The page's own styles (red buttons, serif) do not reach the widget's shadow root.
    color = dialog.get_by_role("button", name="50k+").evaluate("b => getComputedStyle(b).color")
    assert color != "rgb(255, 0, 0)"
    dialog.get_by_role("button", name="50k+").click()
    dialog.get_by_role("button", name="decision maker").click()
    dialog.get_by_label("How many people would use it?").fill("40")
    page.keyboard.press("Enter")
    expect(log).to_contain_text("Are you comparing tools?")

    # 3. A reload halfway: the conversation comes back where it was.
    page.reload()
    dialog = page.get_by_role("dialog", name="Pricing chat")
    expect(dialog).to_be_visible()
    log = dialog.get_by_role("log")
    expect(log).to_contain_text("Are you comparing tools?")
    expect(log).to_contain_text("40")
    _screenshot(page, "chat-widget.png", tmp_path)

    xss = '<img src=x onerror="window.pwned=1">'
    dialog.get_by_role("button", name="Yes").click()
    dialog.get_by_label("Which tools do you compare?").fill(xss)
    dialog.get_by_role("button", name="Send").click()
    dialog.get_by_role("button", name="this quarter").click()
    email = dialog.get_by_label("Where can we reach you?")
    email.fill("not an email")
    dialog.get_by_role("checkbox").check()
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_role("alert")).to_have_text("Enter a valid email address.")
    email.fill("ada@analytical.example")
    dialog.get_by_role("button", name="Send").click()
    dialog.get_by_label("And your first name?").fill("Ada")
    page.keyboard.press("Enter")
    dialog.get_by_label("Which company?").fill("Analytical Engines")
    page.keyboard.press("Enter")

    # 4. Qualified: a meeting request.
    expect(log).to_contain_text(flow.qualified_message)
    expect(log).to_contain_text(xss)  # shown as text
    assert page.evaluate("window.pwned") is None
    dialog.get_by_role("button", name="Request a meeting").click()
    dialog.get_by_label("Preferred day").fill(_weekday())
    dialog.get_by_label("Time of day").select_option("afternoon")
    dialog.get_by_label("Anything we should know? (optional)").fill("Show us the API, please.")
    _screenshot(page, "chat-widget-meeting.png", tmp_path)
    dialog.get_by_role("button", name="Request the meeting").click()
    expect(log).to_contain_text("We will confirm a meeting on")

    def lead_ready() -> Lead | None:
        with tenant_context(organization):
            lead = Lead.objects.filter(contact__email_normalized="ada@analytical.example").first()
            stitched = lead and Touchpoint.objects.filter(lead=lead, type=TouchpointType.PAGE_VIEW).exists()
            return lead if stitched and MeetingRequest.objects.exists() else None

    page.goto("about:blank")  # pagehide flushes the snippet's queue
    lead = eventually(lead_ready)
    assert lead is not None, "the lead with its meeting request and stitched page view did not appear"
    with tenant_context(organization):
        lead.refresh_from_db()
        assert (lead.budget, lead.authority, lead.need, lead.timing) == (
            "50k+",
            "decision maker",
            xss,
            "this quarter",
        )
        assert lead.stage == Stage.MQL
        change = StageChange.objects.get(lead=lead, to_stage=Stage.MQL)
        assert change.rule == "chat" and "budget “50k+”" in change.reason
        assert lead.contact.first_name == "Ada" and lead.contact.custom == {"team_size": 40}
        view = Touchpoint.objects.filter(lead=lead, type=TouchpointType.PAGE_VIEW).first()
        assert view is not None and view.anonymous_id == visitor_id and view.utm_campaign == "spring"
        chat = Touchpoint.objects.get(lead=lead, type=TouchpointType.CHAT)
        assert chat.url.startswith(url)
        meeting = MeetingRequest.objects.get()
        assert (meeting.preferred_slot, meeting.note) == ("afternoon", "Show us the API, please.")
        assert Touchpoint.objects.filter(lead=lead, type=TouchpointType.MEETING).exists()
        session = ChatSession.objects.get()
        assert session.status == SessionStatus.QUALIFIED and session.visitor_id == visitor_id
    assert browser_problems.errors == []


def test_the_flow_editor_as_a_marketer_sees_it(
    page: Any, live_server: Any, browser_problems: BrowserProblems, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from tests.factories import MembershipFactory, UserFactory

    organization: Organization = OrganizationFactory(name="Acme Analytics", slug="acme")
    marketer = UserFactory(email="marketer@acme.example")
    MembershipFactory(user=marketer, organization=organization, role="marketer")
    flow = build_flow(organization)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(marketer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Chat flows").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat flows")
    page.get_by_role("link", name="Pricing chat", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pricing chat")
    expect(page.locator("#qualification")).to_contain_text(
        "Qualified when budget is one of “50k+”, “10-50k” AND authority is “decision maker”"
    )
    expect(page.locator("#questions tbody tr").nth(5)).to_contain_text("timing")
    page.get_by_role("button", name="Move timing up").click()
    expect(page.locator("#questions tbody tr").nth(4)).to_contain_text("timing")
    _screenshot(page, "chat-flow-editor.png", tmp_path, full_page=True)
    assert browser_problems.errors == []
    assert flow.public_key in page.locator("#chat-embed-script").inner_text()

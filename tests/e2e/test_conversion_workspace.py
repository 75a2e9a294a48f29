"""The lead workspace in a real browser: a sales rep opens a lead handed to them, logs a call with its
outcome, writes a note mentioning a colleague, adds a task and edits BANT, all without a page load; the
colleague finds the mention and the task under the bell and marks them read.

Screenshots go to a temporary directory; with LEADHUB_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from conversion.models import Activity, Handoff, Note, Notification, Task
from conversion.services.core import activity_log, handoff_open
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leads.models import Lead, Touchpoint
from scoring import services as scoring
from scoring.models import ModelVersion
from scoring.starter import STARTER_RULES
from tests.e2e.conftest import BrowserProblems
from tests.factories import LeadFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    directory = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(directory / name), full_page=True)


@pytest.fixture
def handed_lead(transactional_db: Any) -> tuple[Any, Any, Lead]:
    organization = OrganizationFactory.create(name="Northwind Sales", slug="northwind-sales")
    rep = UserFactory.create(email="sam@northwind.example", first_name="Sam", last_name="Carter")
    ada = UserFactory.create(email="ada@northwind.example", first_name="Ada", last_name="Reyes")
    MembershipFactory.create(user=rep, organization=organization, role=Role.SALES_REP)
    MembershipFactory.create(user=ada, organization=organization, role=Role.SALES_REP)
    now = timezone.now()
    with tenant_context(organization):
        model = scoring.scoring_model_create(
            name="Inbound B2B", actor=Actor.system("setup"), rules=STARTER_RULES
        )
        lead = LeadFactory.create(
            stage="mql",
            contact__first_name="Grace",
            contact__last_name="Hopper",
            contact__job_title="VP Marketing",
            contact__phone="+49 30 1234567",
            contact__email="grace@contoso.example",
            contact__email_normalized="grace@contoso.example",
            contact__company__name="Contoso Analytics",
            contact__company__employee_count=420,
        )
        for days, kind, url in (
            (9, "page_view", "https://northwind.example/blog/lead-scoring"),
            (5, "webinar", "https://northwind.example/webinars/pipeline"),
            (3, "page_view", "https://northwind.example/pricing"),
            (2, "download", "https://northwind.example/roi-guide.pdf"),
            (1, "form_submit", "https://northwind.example/demo"),
        ):
            Touchpoint.objects.create(
                lead=lead, contact=lead.contact, type=kind, url=url, occurred_at=now - dt.timedelta(days=days)
            )
        scoring.version_publish(
            version=ModelVersion.objects.get(scoring_model=model), actor=Actor.system("setup")
        )
    with tenant_context(organization):
        handoff = handoff_open(
            lead=lead,
            assigned_to=rep,
            team=None,
            rule="territory: DACH",
            priority=80,
            actor=Actor.system("assignment"),
            at=now - dt.timedelta(minutes=40),
        )
        Handoff.objects.filter(pk=handoff.pk).update(
            sla_state="on_track", sla_due_at=now + dt.timedelta(hours=3)
        )
        activity_log(
            lead=lead,
            kind="email",
            outcome="Sent",
            subject="Thanks for requesting a demo",
            actor=Actor(user=rep),
            occurred_at=now - dt.timedelta(minutes=30),
        )
    return rep, ada, lead


def _sign_in(page: Any, base: str, user: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_rep_works_a_lead_and_the_colleague_is_notified(
    page: Any,
    live_server: Any,
    handed_lead: tuple[Any, Any, Lead],
    browser_problems: BrowserProblems,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    rep, ada, lead = handed_lead
    base = live_server.url
    _sign_in(page, base, rep)
    page.goto(f"{base}/conversion/leads/{lead.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")
    expect(page.locator("#handoff")).to_contain_text("territory: DACH")
    expect(page.locator("#why")).to_contain_text("What to talk about")
    loads: list[str] = []
    page.on("framenavigated", lambda frame: loads.append(frame.url) if frame == page.main_frame else None)

    # A call with its outcome: the suggestions follow the type.
    composer = page.locator(".ws-composer")
    composer.get_by_label("Type").select_option("call")
    expect(page.locator("#outcome-suggestions option[value='Left voicemail']")).to_be_attached()
    composer.get_by_label("Outcome").fill("Meeting booked")
    composer.get_by_label("Subject").fill("Discovery call")
    composer.get_by_label("Duration").fill("25")
    composer.get_by_label("Notes").fill("Needs attribution across 4 regions; evaluating two vendors.")
    composer.get_by_role("button", name="Log activity").click()
    expect(page.locator("#workspace .alert-success")).to_contain_text("Call logged.")
    expect(page.locator("#timeline")).to_contain_text("Meeting booked")

    # A note that mentions Ada.
    page.locator("label[for='ws-tab-note']").click()
    page.get_by_role("textbox", name="Note", exact=True).fill(
        "Budget approved by the CFO. @ada can you prepare the attribution demo?"
    )
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#workspace .alert-success")).to_contain_text("Ada Reyes notified")
    expect(page.locator("#timeline")).to_contain_text("Notified: Ada Reyes")

    # A task for Ada, due tomorrow.
    page.locator("label[for='ws-tab-task']").click()
    page.get_by_label("Title").fill("Prepare the attribution demo")
    due = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    page.get_by_label("Due").fill(due)
    page.get_by_label("Assignee").select_option(label="Ada Reyes")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("#tasks")).to_contain_text("Prepare the attribution demo")
    # An overdue follow-up of the rep's own, to see how the page warns.
    with tenant_context(lead.organization_id):
        Task.objects.create(
            lead=lead, title="Send the ROI guide", due_at=timezone.now() - dt.timedelta(hours=3), assignee=rep
        )

    # BANT, inline.
    page.locator("#bant").get_by_role("link", name="Edit").click()
    page.get_by_label("Budget").fill("€60k this fiscal year")
    page.get_by_label("Authority").fill("CFO signs; VP Marketing champions")
    page.get_by_label("Need").fill("Multi-touch attribution for 4 regions")
    page.get_by_label("Timing").fill("Decision by end of quarter")
    page.get_by_role("button", name="Save BANT").click()
    expect(page.locator("#bant")).to_contain_text("€60k this fiscal year")
    assert loads == [], f"the workspace reloaded: {loads}"

    page.goto(f"{base}/conversion/leads/{lead.pk}/")
    expect(page.locator("#tasks")).to_contain_text("Overdue")
    page.evaluate("window.scrollTo(0, 0)")
    _shoot(page, tmp_path, "conversion-workspace.png")

    with tenant_context(lead.organization_id):
        stored = Lead.objects.get(pk=lead.pk)
        assert stored.budget == "€60k this fiscal year"
        assert Activity.objects.filter(lead=lead, kind="call", outcome="Meeting booked").exists()
        note = Note.objects.get(lead=lead)
        assert note.mentions.get().user == ada
        assert Task.objects.get(title="Prepare the attribution demo").assignee == ada
        assert Notification.objects.filter(user=ada).count() == 2

    # Ada's bell shows the mention and the task.
    page.context.clear_cookies()
    _sign_in(page, base, ada)
    expect(page.locator("#notification-bell .ws-bell-count")).to_have_text("2")
    page.locator("#notification-bell a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(page.locator("#notification-list")).to_contain_text("Sam Carter mentioned you on Grace Hopper")
    expect(page.locator("#notification-list")).to_contain_text("Sam Carter gave you a task on Grace Hopper")
    _shoot(page, tmp_path, "conversion-notifications.png")
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#notification-bell .ws-bell-count")).to_have_count(0)
    page.get_by_role("button", name="Sam Carter mentioned you on Grace Hopper").click()
    expect(page).to_have_url(f"{base}/conversion/leads/{lead.pk}/#note-{note.pk}")
    assert not browser_problems.errors, browser_problems.errors

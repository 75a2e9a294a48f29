"""The handoff in a real browser: a lead crosses the MQL threshold (the stage change publishes the event,
the handler enqueues the assignment, the territory rule picks the rep), appears in that rep's queue,
is accepted with the keyboard, another is rejected with a reason; a manager reads the team queues.

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

from conversion.models import Handoff, HandoffStatus, SalesTeam, TeamMember
from conversion.queue import services
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leads.models import Lead
from leads.services.leads import lead_change_stage
from tests.e2e.conftest import BrowserProblems, eventually
from tests.factories import CompanyFactory, LeadFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    directory = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(directory / name), full_page=True)


def _user(organization: Any, email: str, role: str, first: str, last: str) -> Any:
    user = UserFactory.create(email=email, first_name=first, last_name=last)
    MembershipFactory.create(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def sales_org(transactional_db: Any) -> dict[str, Any]:
    organization = OrganizationFactory.create(name="Northwind Sales", slug="northwind-sales")
    manager = _user(organization, "maya@northwind.example", Role.SALES_MANAGER, "Maya", "Lindqvist")
    rita = _user(organization, "rita@northwind.example", Role.SALES_REP, "Rita", "Berger")
    sam = _user(organization, "sam@northwind.example", Role.SALES_REP, "Sam", "Okafor")
    now = timezone.now()
    with tenant_context(organization):
        emea = SalesTeam.objects.create(name="EMEA", timezone="Europe/Berlin", manager=manager)
        # Sam is first in the round robin (Rita gets DACH by territory).
        TeamMember.objects.create(team=emea, user=sam, max_open_leads=25)
        TeamMember.objects.create(team=emea, user=rita, max_open_leads=25)
        actor = Actor(user=manager)
        services.rule_create(
            data={"name": "DACH", "kind": "territory", "user": rita, "conditions": {"regions": ["dach"]}},
            actor=actor,
        )
        services.rule_create(data={"name": "EMEA", "kind": "round_robin", "team": emea}, actor=actor)
        # Rita's queue already holds a few leads, with SLA deadlines kept by the SLA clocks.
        waiting = [
            ("Jonas", "Keller", "Keller Logistik", "A", 88, now + dt.timedelta(hours=3), "on_track"),
            ("Lea", "Brandt", "Brandt & Söhne", "C", 55, now - dt.timedelta(minutes=50), "breached"),
            ("Felix", "Huber", "Alpenwerk", "B", 40, now + dt.timedelta(minutes=25), "warning"),
        ]
        for first, last, company, grade, score, due, state in waiting:
            lead = LeadFactory.create(
                stage="mql",
                grade=grade,
                score=score,
                source_channel="paid_search",
                contact__first_name=first,
                contact__last_name=last,
                contact__country="Germany",
                contact__company=CompanyFactory.create(name=company, country="Germany"),
            )
            handoff = services.handoff_assign(lead_id=lead.pk)
            assert handoff is not None
            Handoff.objects.filter(pk=handoff.pk).update(sla_due_at=due, sla_state=state)
        crossing = LeadFactory.create(
            stage="cold",
            grade="A",
            score=72,
            source_channel="organic_search",
            contact__first_name="Greta",
            contact__last_name="Vogel",
            contact__job_title="Head of Operations",
            contact__country="Austria",
            contact__company=CompanyFactory.create(name="Vogel Maschinenbau", country="Austria"),
        )
        other = LeadFactory.create(
            stage="mql",
            grade="B",
            score=61,
            contact__country="Spain",
            contact__company=CompanyFactory.create(name="Iberia Foods", country="Spain"),
        )
        services.handoff_assign(lead_id=other.pk)
    return {"organization": organization, "manager": manager, "rita": rita, "sam": sam, "crossing": crossing}


def _sign_in(page: Any, base: str, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_mql_lands_in_the_right_queue_and_is_accepted_with_the_keyboard(
    page: Any, live_server: Any, sales_org: dict[str, Any], browser_problems: BrowserProblems, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    organization, crossing = sales_org["organization"], sales_org["crossing"]
    # The lead crosses the MQL threshold: the one stage-change path, its event, the handler's task.
    with tenant_context(organization):
        lead_change_stage(
            lead=crossing, to_stage="mql", actor=Actor.system("scoring: MQL threshold"), reason="Score 72"
        )

    def handed() -> Handoff | None:
        with tenant_context(organization):
            return (
                Handoff.objects.filter(lead=crossing, status=HandoffStatus.PENDING)
                .select_related("assigned_to")
                .first()
            )

    handoff = eventually(handed)
    assert handoff.assigned_to == sales_org["rita"] and handoff.assigned_by_rule == "territory: DACH"

    base = live_server.url
    _sign_in(page, base, "rita@northwind.example")
    page.get_by_role("link", name="My queue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My queue")
    rows = page.locator("#queue-results tr.queue-row")
    expect(rows).to_have_count(4)
    greta = page.locator(f'tr[data-handoff-id="{handoff.pk}"]')
    expect(greta).to_contain_text("Greta Vogel")
    expect(greta).to_contain_text("territory: DACH")
    expect(page.locator("#queue-results")).to_contain_text("overdue")
    expect(page.locator("#queue-results")).not_to_contain_text("Iberia Foods")  # Sam's lead
    _shoot(page, tmp_path, "conversion-queue.png")

    # Keyboard: j moves to the first lead, j again to the next; the highest priority comes first.
    page.keyboard.press("j")
    expect(rows.nth(0)).to_be_focused()
    order = [rows.nth(i).get_attribute("data-handoff-id") for i in range(4)]
    target = order.index(str(handoff.pk))
    for _ in range(target):
        page.keyboard.press("j")
    expect(greta).to_be_focused()
    page.keyboard.press("a")
    expect(greta).to_contain_text("Accepted")
    expect(greta).to_contain_text("SQL")
    expect(greta).to_be_focused()

    def accepted() -> bool:
        with tenant_context(organization):
            return Lead.objects.get(pk=crossing.pk).stage == "sql"

    assert eventually(accepted)

    # Reject the next one with r: a small reason form opens in the row, focused on the reason.
    page.keyboard.press("k" if target else "j")
    current = page.locator("#queue-results tr.queue-row.is-current")
    rejected_id = current.get_attribute("data-handoff-id")
    page.keyboard.press("r")
    reason = page.locator(f'tr[data-handoff-id="{rejected_id}"] select[name="reason"]')
    expect(reason).to_be_focused()
    reason.select_option("too_early")
    page.locator(f'tr[data-handoff-id="{rejected_id}"] input[name="note"]').fill("Budget opens in Q3")
    page.get_by_role("button", name="Reject lead").click()
    expect(page.locator(f'tr[data-handoff-id="{rejected_id}"]')).to_contain_text("Rejected: Too early")
    with tenant_context(organization):
        rejected = Handoff.objects.select_related("lead").get(pk=int(rejected_id or 0))
        assert rejected.status == HandoffStatus.REJECTED and rejected.lead.stage == "recycled"

    # Enter opens the lead's workspace link.
    page.locator(f'tr[data-handoff-id="{handoff.pk}"]').focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/conversion/leads/{crossing.pk}/")

    # The manager's view of the teams.
    page.context.clear_cookies()
    _sign_in(page, base, "maya@northwind.example")
    page.get_by_role("link", name="Team queues").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Team queues")
    expect(page.locator("main")).to_contain_text("Rita Berger")
    expect(page.locator("main")).to_contain_text("Sam Okafor")
    _shoot(page, tmp_path, "conversion-team-queues.png")
    page.get_by_role("link", name="Assignment rules").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Assignment rules")
    expect(page.locator("main")).to_contain_text("region DACH")
    _shoot(page, tmp_path, "conversion-assignment-rules.png")
    page.get_by_role("link", name="Teams & members").click()
    expect(page.locator("main")).to_contain_text("Europe/Berlin")
    _shoot(page, tmp_path, "conversion-teams.png")
    page.get_by_role("link", name="Rejection reasons").first.click()
    expect(page.locator("main")).to_contain_text("Too early")
    _shoot(page, tmp_path, "conversion-rejections.png")
    problems = [e for e in browser_problems.errors if "404" not in e]  # the workspace is another part's page
    assert not problems, problems

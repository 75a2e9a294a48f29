"""The SLA pages in a real browser: a sales manager opens SLA from the navigation, reads compliance per
team and rep with the live clocks at risk, adds a policy, sets a team's business hours with a lunch break
and adds a holiday.

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

from conversion.models import BusinessHours, HandoffStatus, SalesTeam, TeamMember
from conversion.services.core import activity_log, handoff_close, handoff_open
from conversion.sla.sweep import sla_sweep_organization
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from tests.e2e.conftest import BrowserProblems
from tests.factories import LeadFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PEOPLE = [("Ada", "Reyes"), ("Bo", "Lindqvist"), ("Chen", "Wu"), ("Dana", "Okafor"), ("Eli", "Moreau")]


@pytest.fixture
def manager(transactional_db: Any) -> Any:
    organization = OrganizationFactory.create(name="Northwind Sales", slug="northwind-sales")
    manager = UserFactory.create(email="manager@northwind.example", first_name="Mia", last_name="Keller")
    MembershipFactory.create(user=manager, organization=organization, role=Role.SALES_MANAGER)
    reps = []
    for first, last in (("Sam", "Ortiz"), ("Priya", "Nair")):
        rep = UserFactory.create(email=f"{first.lower()}@northwind.example", first_name=first, last_name=last)
        MembershipFactory.create(user=rep, organization=organization, role=Role.SALES_REP)
        reps.append(rep)
    now = timezone.now()
    with tenant_context(organization):
        emea = SalesTeam.objects.create(name="EMEA", timezone="Europe/Berlin", manager=manager)
        americas = SalesTeam.objects.create(name="Americas", timezone="America/Chicago", manager=manager)
        for team, rep in ((emea, reps[0]), (americas, reps[1])):
            TeamMember.objects.create(team=team, user=rep)
            BusinessHours.objects.create(team=team, week=[[["00:00", "24:00"]]] * 7)
        for index, (first, last) in enumerate(PEOPLE * 2):
            team, rep = (emea, reps[0]) if index % 2 == 0 else (americas, reps[1])
            lead = LeadFactory.create(
                stage="mql", contact__first_name=first, contact__last_name=last, grade="B"
            )
            handed = now - dt.timedelta(hours=2 + index * 3)
            handoff = handoff_open(
                lead=lead,
                assigned_to=rep,
                team=team,
                rule="round robin",
                priority=40,
                actor=Actor.system("demo"),
                at=handed,
            )
            if index < 6:
                # Some decisions and first contacts come late, as in any real week.
                accepted = handed + dt.timedelta(minutes=35 + index * 55)
                handoff_close(
                    handoff=handoff, status=HandoffStatus.ACCEPTED, actor=Actor(user=rep), at=accepted
                )
                if index < 4:
                    contact = accepted + dt.timedelta(minutes=400 if index == 3 else 50)
                    activity_log(lead=lead, kind="call", actor=Actor(user=rep), occurred_at=contact)
    sla_sweep_organization(organization_id=organization.pk)
    return manager


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    directory = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(directory / name), full_page=True)


def test_manager_reads_compliance_and_edits_policies_hours_and_holidays(
    page: Any, live_server: Any, manager: Any, browser_problems: BrowserProblems, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")

    page.locator(".sidebar").get_by_role("link", name="SLA").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SLA")
    expect(page.locator("#at-risk")).to_contain_text("overdue")
    expect(page.locator(".stat").first).to_contain_text("%")
    expect(page.locator("#by-rep").get_by_role("cell", name="Sam Ortiz")).to_be_visible()
    _shoot(page, tmp_path, "conversion-sla.png")

    page.get_by_label("Team").select_option(label="EMEA")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#by-rep").get_by_role("cell", name="Sam Ortiz")).to_be_visible()
    expect(page.locator("#by-rep").get_by_role("cell", name="Priya Nair")).to_have_count(0)

    page.get_by_role("link", name="Policies").click()
    expect(page.get_by_role("heading", name="No policy yet")).to_be_visible()
    form = page.locator("form", has=page.get_by_role("button", name="Add policy"))
    form.get_by_label("Name").fill("Hot leads")
    form.get_by_label("Grades").fill("A")
    form.get_by_label("Time to accept").fill("30")
    form.get_by_label("Time to first contact").fill("90")
    form.get_by_label("At breach").select_option("fallback_queue")
    form.get_by_role("button", name="Add policy").click()
    expect(page.get_by_text("Policy “Hot leads” created")).to_be_visible()
    expect(page.get_by_role("cell", name="grade A", exact=True)).to_be_visible()
    _shoot(page, tmp_path, "conversion-sla-policies.png")

    page.get_by_role("link", name="Business hours").click()
    page.locator("section", has_text="EMEA").get_by_role("link", name="Edit").click()
    page.get_by_label("Monday").fill("09:00-12:30, 13:30-18:00")
    page.get_by_label("Tuesday").fill("18:00-09:00")
    page.get_by_role("button", name="Save hours").click()
    expect(page.get_by_text("Tuesday: 18:00-09:00 ends before it starts.")).to_be_visible()
    page.get_by_label("Tuesday").fill("09:00-17:00")
    page.get_by_role("button", name="Save hours").click()
    expect(page.get_by_text("Business hours saved")).to_be_visible()
    expect(page.locator("section", has_text="EMEA")).to_contain_text("09:00-12:30, 13:30-18:00")
    _shoot(page, tmp_path, "conversion-sla-hours.png")

    page.get_by_role("link", name="Holidays").click()
    page.get_by_label("Date", exact=True).fill("2026-12-25")
    page.get_by_label("Name").fill("Christmas Day")
    page.get_by_label("Every year on this date").check()
    page.get_by_role("button", name="Add holiday").click()
    expect(page.get_by_role("cell", name="Christmas Day", exact=True)).to_be_visible()
    page.get_by_role("link", name="Remove Christmas Day").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Remove “Christmas Day”?")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("cell", name="Christmas Day", exact=True)).to_be_visible()
    # The invalid hours answered 400 on purpose (a form with errors); nothing else may go wrong.
    assert [e for e in browser_problems.errors if "status of 400" not in e] == []

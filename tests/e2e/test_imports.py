"""The dashboard import in a real browser: upload -> map -> preview -> start -> progress -> result, with
the refused rows listed; a screenshot of the mapping preview and of the result (docs/screenshots/ with
LEADHUB_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor, membership_set, organization_create, user_get_or_create
from leads.models import Contact, CustomField, Lead
from tests.e2e.conftest import BrowserProblems

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "import-e2e-password"
CSV = (
    "Email;First name;Last name;Company;plan;seats;signed up;newsletter;outcome\n"
    "ada@northwind.example;Ada;Ng;Northwind;pro;12;2024-03-02;yes;won\n"
    "ben@contoso.example;Ben;Okafor;Contoso;starter;3;2024-04-11;no;lost\n"
    'cleo@fabrikam.example;"<img src=x onerror=alert(1)>";Rossi;Fabrikam;pro;40;2024-05-20;yes;\n'
    "not-an-email;Dev;Khan;Initech;starter;1;2024-06-01;no;lost\n"
    "eva@northwind.example;Eva;Berg;Northwind;enterprise;250;2024-07-15;yes;won\n"
    "finn@contoso.example;Finn;Walsh;Contoso;pro;seven;2024-08-09;no;\n"
)


def test_import_a_csv_from_the_dashboard(
    page: Any, live_server: Any, browser_problems: BrowserProblems, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    organization = organization_create(name="Northwind Marketing", slug="northwind")
    user = user_get_or_create(email="marketer@northwind.example", password=PASSWORD, first_name="Mia")
    with tenant_context(organization):
        membership_set(organization=organization, user=user, role=Role.MARKETER, actor=Actor.system("test"))
    target = SCREENSHOT_DIR if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    csv_path = tmp_path / "trade-show-leads.csv"
    csv_path.write_text(CSV)

    page.goto(f"{live_server.url}/imports/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Imports")
    expect(page.get_by_text("No imports yet")).to_be_visible()

    # Upload: the delimiter is detected.
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page).to_have_url(re.compile(r"/imports/\d+/map/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("trade-show-leads.csv")

    # Map: known headers are pre-mapped; the outcome column becomes the stage.
    expect(page.get_by_label("Field for Email")).to_have_value("email")
    expect(page.get_by_label("Field for plan")).to_have_value("__new__")
    expect(page.get_by_label("Type for plan")).to_have_value("choice")
    # One value of "seats" is a word, so it was read as text; the marketer wants a number field.
    expect(page.get_by_label("Type for seats")).to_have_value("text")
    page.get_by_label("Type for seats").select_option("number")
    page.get_by_label("Field for outcome").select_option("stage")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#import-preview")).to_be_visible()
    expect(page.get_by_text("“won”")).to_be_visible()
    page.get_by_label("“won”").select_option("customer")
    page.get_by_label("“lost”").select_option("disqualified")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#import-preview tbody tr")
    expect(preview).to_have_count(6)
    expect(preview.nth(3)).to_contain_text("Refused")
    expect(preview.nth(5)).to_contain_text("'seven' is not a number")
    expect(preview.nth(2)).to_contain_text("<img src=x onerror=alert(1)>")  # text, not markup
    page.locator("#import-preview").scroll_into_view_if_needed()
    page.screenshot(path=str(target / "import-mapping.png"))

    # Run: a background task (in-process without a broker); the page shows progress, then the result.
    page.get_by_role("button", name="Start import").click()
    expect(page).to_have_url(re.compile(r"/imports/\d+/$"))
    expect(page.locator("#import-status")).to_have_text("Done", timeout=30_000)
    expect(page.locator("#import-bar")).to_have_attribute("value", "100")
    expect(page.locator("#stat-created")).to_have_text("4")
    expect(page.locator("#stat-rejected")).to_have_text("2")
    expect(page.locator("#rejections tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name="Download rejected rows (CSV)")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(target / "import-result.png"), full_page=True)

    page.get_by_role("link", name="Imports").first.click()
    expect(page.locator("#import-history")).to_contain_text("trade-show-leads.csv")
    with tenant_context(organization):
        assert Contact.objects.count() == 4
        assert sorted(Lead.objects.values_list("stage", flat=True)) == [
            "cold",
            "customer",
            "customer",
            "disqualified",
        ]
        assert CustomField.objects.get(key="plan").choices == ["enterprise", "pro", "starter"]
    assert browser_problems.errors == []

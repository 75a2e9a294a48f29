# ruff: noqa: F811  (the browser fixtures of tests/e2e are imported, then named as parameters)
"""The snippet in a real browser, on a customer's page served from another origin (a second local HTTP
server on another host and port): two page views, then leadhub.identify() -> the lead has both page
views stitched with its UTM first touch. Do Not Track and a withheld consent send nothing. Then
screenshots of the tracking and ad source pages.

Screenshots go to a temporary directory; with LEADHUB_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.models import Channel, Lead, Touchpoint, TrackingSite
from leads.tracking.ad_sources import ad_source_create
from leads.tracking.services import referral_code_create, tracking_site_create
from tests.conftest import login
from tests.e2e.conftest import (  # noqa: F401  (the browser fixtures of tests/e2e)
    BrowserProblems,
    CustomerSite,
    _orm_beside_playwright,
    browser_problems,
    chromium_executable,
    customer_site,
    eventually,
    page,
)
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>{title}</title>{before}
<script src="{server}/t.js" data-key="{key}"{attrs} async></script></head>
<body><h1>{title}</h1><a id="next" href="{next}">Next page</a></body></html>"""


def _site(organization: Organization, **kwargs: Any) -> TrackingSite:
    with tenant_context(organization):
        return tracking_site_create(
            name=kwargs.pop("name", "Customer site"),
            allowed_domains=["127.0.0.1"],
            actor=Actor.system("test"),
            **kwargs,
        )


def _page_html(
    server: str, key: str, title: str, next_url: str = "#", *, before: str = "", attrs: str = ""
) -> str:
    return PAGE.format(server=server, key=key, title=title, next=next_url, before=before, attrs=attrs)


def test_browse_two_pages_from_another_origin_then_identify(
    page: Any,
    live_server: Any,
    customer_site: CustomerSite,
    browser_problems: BrowserProblems,
) -> None:
    organization = OrganizationFactory(name="Acme Analytics", slug="acme")
    site = _site(organization)
    second = customer_site.write("pricing.html", _page_html(live_server.url, site.public_key, "Pricing"))
    first = customer_site.write("index.html", _page_html(live_server.url, site.public_key, "Home", second))
    assert first.split("/")[2] != live_server.url.split("/")[2]  # another origin

    page.goto(f"{first}?utm_source=newsletter&utm_medium=email&utm_campaign=launch")
    page.wait_for_function("window.leadhub && window.leadhub.loaded")
    visitor_id = page.evaluate("leadhub.visitorId()")
    assert visitor_id and len(visitor_id) >= 16
    cookies = {c["name"]: c["value"] for c in page.context.cookies(first)}
    assert cookies["lh_vid"] == visitor_id
    page.wait_for_timeout(300)
    page.click("#next")  # pagehide sends the first page view with its time on page
    page.wait_for_function("window.leadhub && window.leadhub.loaded")
    assert page.evaluate("leadhub.visitorId()") == visitor_id

    def home_view_stored() -> bool:
        # The home page's view left with the pagehide beacon; the pricing page's is still in the
        # snippet's queue and goes with identify().
        with tenant_context(organization):
            return Touchpoint.objects.filter(
                anonymous_id=visitor_id, lead__isnull=True, properties__title="Home"
            ).exists()

    assert eventually(home_view_stored)
    assert page.evaluate("leadhub.identify('browser.user@client.example')") is True

    def stitched() -> list[Touchpoint]:
        with tenant_context(organization):
            return list(
                Touchpoint.objects.filter(lead__contact__email_normalized="browser.user@client.example")
            )

    touches = eventually(lambda: len(stitched()) == 2 and stitched())
    assert len(touches) == 2, touches

    def lead_of() -> Lead | None:
        with tenant_context(organization):
            return Lead.objects.filter(contact__email_normalized="browser.user@client.example").first()

    # Read through _wait_for: SQLite's shared test database may still be locked by the server's write.
    lead = eventually(lead_of)
    with tenant_context(organization):
        assert lead.first_touch_channel == Channel.EMAIL
        assert lead.source_channel == Channel.EMAIL
        assert "utm_campaign=launch" in lead.first_touch_url
        titles = sorted(t.properties.get("title") for t in touches)
        assert titles == ["Home", "Pricing"]
        home = next(t for t in touches if t.properties.get("title") == "Home")
        assert home.utm_campaign == "launch" and home.properties.get("time_on_page_ms", 0) > 0
    assert browser_problems.errors == []


def test_do_not_track_sends_nothing(
    page: Any,
    live_server: Any,
    customer_site: CustomerSite,
) -> None:
    organization = OrganizationFactory(name="Acme Analytics", slug="acme")
    site = _site(organization)
    url = customer_site.write("dnt.html", _page_html(live_server.url, site.public_key, "DNT"))
    page.context.add_init_script("Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})")
    page.goto(url)
    page.wait_for_function("window.leadhub && window.leadhub.loaded")
    assert page.evaluate("leadhub.visitorId()") is None
    assert page.evaluate("leadhub.identify('dnt@client.example')") is False
    page.goto("about:blank")
    time.sleep(1)
    with tenant_context(organization):
        assert not Touchpoint.objects.exists() and not Lead.objects.exists()
    assert "lh_vid" not in {c["name"] for c in page.context.cookies(url)}


def test_consent_withheld_sends_nothing_until_granted(
    page: Any,
    live_server: Any,
    customer_site: CustomerSite,
) -> None:
    organization = OrganizationFactory(name="Acme Analytics", slug="acme")
    site = _site(organization)
    url = customer_site.write(
        "consent.html",
        _page_html(live_server.url, site.public_key, "Consent", attrs=" data-require-consent"),
    )
    page.goto(url)
    page.wait_for_function("window.leadhub && window.leadhub.loaded")
    page.wait_for_timeout(2500)
    assert page.evaluate("leadhub.visitorId()") is None

    def stored() -> int:
        with tenant_context(organization):
            return Touchpoint.objects.count()

    assert eventually(lambda: stored() == 0)
    page.evaluate("leadhub.consent(true)")
    assert page.evaluate("leadhub.visitorId()")
    # The batch leaves within two seconds, without any navigation.
    assert eventually(lambda: stored() == 1)


def test_screenshots_of_the_tracking_and_ad_source_pages(
    page: Any,
    live_server: Any,
    tmp_path: Path,
    browser_problems: BrowserProblems,
) -> None:
    organization = OrganizationFactory(name="Acme Analytics", slug="acme")
    user = UserFactory(email="maya@acme.example", first_name="Maya", last_name="Marketer")
    MembershipFactory(user=user, organization=organization, role="marketer")
    actor = Actor.system("showcase")
    with tenant_context(organization):
        site = tracking_site_create(
            name="acme.example marketing site",
            allowed_domains=["acme.example", "docs.acme.example"],
            site_url="https://www.acme.example/",
            actor=actor,
        )
        tracking_site_create(
            name="Customer portal", allowed_domains=["app.acme.example"], require_consent=True, actor=actor
        )
        ambassador = ContactFactory(
            email="lena.ambassador@client.example", first_name="Lena", last_name="Fischer"
        )
        referral_code_create(code="lena-fischer", referrer=ambassador, actor=actor)
        campaign = CampaignFactory(name="Q2 Meta lead ads", channel=Channel.PAID_SOCIAL)
        source, secret = ad_source_create(
            name="Meta lead ads", kind="facebook", campaign=campaign, actor=actor
        )
        ad_source_create(name="LinkedIn ABM forms", kind="linkedin", actor=actor)
    # A few real deliveries and page views, through the public endpoints.
    import hashlib
    import hmac
    import json

    from django.test import Client

    from tests.capture.test_tracking_ad_sources import FACEBOOK_WEBHOOK

    body = json.dumps(FACEBOOK_WEBHOOK).encode()
    Client().post(
        f"/hooks/{source.public_key}/",
        data=body,
        content_type="application/json",
        headers={
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        },
    )
    unmapped = json.dumps(
        {"data": [{"id": "55", "field_data": [{"name": "work_phone", "values": ["1"]}]}]}
    ).encode()
    Client().post(
        f"/hooks/{source.public_key}/",
        data=unmapped,
        content_type="application/json",
        headers={
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), unmapped, hashlib.sha256).hexdigest()
        },
    )
    for i, path in enumerate(["/", "/pricing?utm_source=google&utm_medium=cpc", "/blog/lead-scoring"]):
        Client().post(
            f"/t/{site.public_key}/collect",
            data=json.dumps(
                {
                    "vid": f"visitor-shot-{i:04}",
                    "events": [
                        {
                            "type": "pv",
                            "id": f"shot-{i:04}",
                            "url": f"https://www.acme.example{path}",
                            "title": path,
                            "referrer": "https://www.google.com/",
                        }
                    ],
                }
            ),
            content_type="text/plain",
            headers={"Origin": "https://www.acme.example"},
        )

    session = login(user, organization).cookies["sessionid"].value
    host = live_server.url.split("//")[1].split(":")[0]
    page.context.add_cookies([{"name": "sessionid", "value": session, "domain": host, "path": "/"}])
    shots = tmp_path / "shots"
    shots.mkdir()
    pages = {
        "tracking.png": "/tracking/",
        "tracking-site.png": f"/tracking/sites/{site.pk}/",
        "ad-sources.png": "/ad-sources/",
        "ad-source.png": f"/ad-sources/{source.pk}/",
    }
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        page.get_by_role("heading", level=1).wait_for()
        page.screenshot(path=str(shots / name), full_page=True)
    assert browser_problems.errors == []
    if os.environ.get("LEADHUB_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, SCREENSHOT_DIR / shot.name)

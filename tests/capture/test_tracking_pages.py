"""Tracking pages (sites, snippet, referral codes), the /r/ referral link, and captured values that
carry markup rendering as text on the lead's page."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from leads.models import Lead, ReferralCode, TrackingSite
from leads.tracking.services import referral_code_create, referral_resolve
from tests.capture.test_tracking_collect import ORIGIN, VID, collect, identify, make_site, pv
from tests.conftest import login
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def test_a_marketer_adds_a_site_and_gets_its_snippet(org, marketer):
    client = login(marketer, org)
    assert "No tracked site yet" in client.get("/tracking/").content.decode()
    response = client.post(
        "/tracking/",
        {
            "name": "Website",
            "allowed_domains": "https://www.Acme.example/\nshop.acme.example",
            "site_url": "",
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        site = TrackingSite.objects.get()
        assert AuditLog.objects.filter(action="tracking_site.create").exists()
    assert site.allowed_domains == ["acme.example", "shop.acme.example"]
    page = client.get(response["Location"]).content.decode()
    assert f'/t.js" data-key="{site.public_key}" async&gt;' in page


def test_site_validation_names_the_field(org, marketer):
    client = login(marketer, org)
    response = client.post("/tracking/", {"name": "", "allowed_domains": "not a domain!"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "not a domain name" in body or "This field is required" in body
    response = client.post(
        "/tracking/",
        {"name": "W", "allowed_domains": "acme.example", "site_url": "https://elsewhere.example/"},
    )
    assert response.status_code == 400 and "allowed domains" in response.content.decode()
    with tenant_context(org):
        assert not TrackingSite.objects.exists()


def test_consent_setting_adds_the_attribute_to_the_snippet(org, marketer):
    site = make_site(org)
    client = login(marketer, org)
    client.post(
        f"/tracking/sites/{site.pk}/",
        {"name": "Website", "allowed_domains": "acme.example", "site_url": "", "require_consent": "on"},
    )
    assert "data-require-consent" in client.get(f"/tracking/sites/{site.pk}/").content.decode()


def test_deleting_a_site_asks_first_and_revokes_its_key(org, marketer):
    site = make_site(org)
    client = login(marketer, org)
    assert "stops recording at once" in client.get(f"/tracking/sites/{site.pk}/delete/").content.decode()
    assert client.post(f"/tracking/sites/{site.pk}/delete/").status_code == 302
    assert collect(site, [pv("ev-d001", "https://www.acme.example/")]).status_code == 404


def test_sales_reps_and_other_organizations_cannot_see_sites(org, other_org, sales_rep, other_admin):
    site = make_site(org)
    assert login(sales_rep, org).get("/tracking/").status_code == 403
    assert login(other_admin, other_org).get(f"/tracking/sites/{site.pk}/").status_code == 404


def test_referral_codes_from_the_page_and_their_link(org, marketer):
    make_site(org, site_url="https://www.acme.example/welcome?lang=en")
    with tenant_context(org):
        ContactFactory(email="amb@client.example")
    client = login(marketer, org)
    response = client.post(
        "/tracking/referrals/",
        {"code": "Jane-2025", "referrer_email": "amb@client.example", "landing_url": ""},
    )
    assert response.status_code == 302
    with tenant_context(org):
        referral = ReferralCode.objects.get()
        assert referral.code == "jane-2025" and referral.referrer.email == "amb@client.example"
        assert referral_resolve("JANE-2025") == referral
        assert referral_resolve("unknown") is None
    redirect = Client().get(f"/r/{referral.public_key}")
    assert redirect.status_code == 302
    assert redirect["Location"] == "https://www.acme.example/welcome?lang=en&ref=jane-2025"
    bad = client.post("/tracking/referrals/", {"code": "jane-2025", "referrer_email": "nobody@x.example"})
    assert bad.status_code == 400 and "No contact has this email" in bad.content.decode()


def test_a_referral_link_only_lands_on_a_tracked_domain(org):
    make_site(org, site_url="")
    with tenant_context(org):
        referral = referral_code_create(code="solo", actor=Actor.system("test"))
    assert Client().get(f"/r/{referral.public_key}").status_code == 404
    assert Client().get("/r/x_unknown").status_code == 404
    from django.core.exceptions import ValidationError

    with tenant_context(org), pytest.raises(ValidationError):
        referral_code_create(code="evil", landing_url="https://evil.example/", actor=Actor.system("test"))


def test_captured_markup_renders_as_text_on_the_lead_page(org, admin_user):
    site = make_site(org)
    url = (
        "https://www.acme.example/p?utm_source=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        "&utm_medium=%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E&utm_campaign=%3Cb%3Ebold%3C%2Fb%3E"
    )
    collect(site, [pv("ev-x001", url, title=XSS, referrer="https://evil.example/" + XSS)])
    identify(site, "xss@client.example")
    with tenant_context(org):
        lead = Lead.objects.get()
    page = login(admin_user, org).get(f"/leads/{lead.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x onerror=alert(2)>" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    site_page = login(admin_user, org).get(f"/tracking/sites/{site.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in site_page


def test_identify_payload_with_origin_header_json(org):
    site = make_site(org)
    response = Client().post(
        f"/t/{site.public_key}/identify",
        data=json.dumps({"vid": VID, "email": "json@client.example"}),
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 204

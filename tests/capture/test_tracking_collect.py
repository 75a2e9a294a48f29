"""The snippet's endpoints: /t.js, POST /t/<key>/collect and /t/<key>/identify. CORS limited to the
site's domains, Do Not Track respected, input bounded, page views stored as anonymous touchpoints and
stitched to the lead (first touch kept) when the visitor identifies."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client, override_settings

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.models import (
    Channel,
    Contact,
    Lead,
    LeadReferral,
    Touchpoint,
    TouchpointType,
    TrackingSite,
    Visitor,
)
from leads.tracking.selectors import visitor_contact
from leads.tracking.services import referral_code_create, tracking_site_create, visitor_identify
from tests.factories import CampaignFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.acme.example"
VID = "visitor-0001-abcdef"


def make_site(organization: Organization, **kwargs: Any) -> TrackingSite:
    with tenant_context(organization):
        return tracking_site_create(
            name=kwargs.pop("name", "Website"),
            allowed_domains=kwargs.pop("allowed_domains", ["acme.example"]),
            site_url=kwargs.pop("site_url", "https://www.acme.example/"),
            actor=Actor.system("test"),
            **kwargs,
        )


@pytest.fixture
def site(org: Organization) -> TrackingSite:
    return make_site(org)


def pv(event_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "pv", "id": event_id, "url": url, "title": "Page", "referrer": "", "ts": 1000, **extra}


def collect(
    site: TrackingSite, events: list[dict[str, Any]], *, vid: str = VID, origin: str = ORIGIN, **extra: Any
) -> Any:
    body = {"vid": vid, "sent": 1000, "events": events, **extra.pop("body", {})}
    headers = {"Origin": origin} if origin else {}
    headers.update(extra.pop("headers", {}))
    return Client().post(
        f"/t/{site.public_key}/collect", data=json.dumps(body), content_type="text/plain", headers=headers
    )


def identify(site: TrackingSite, email: str, *, vid: str = VID, ref: str = "", origin: str = ORIGIN) -> Any:
    return Client().post(
        f"/t/{site.public_key}/identify",
        data=json.dumps({"vid": vid, "email": email, "ref": ref}),
        content_type="text/plain",
        headers={"Origin": origin},
    )


def touchpoints(organization: Organization, **filters: Any) -> list[Touchpoint]:
    with tenant_context(organization):
        return list(Touchpoint.objects.filter(**filters).order_by("occurred_at", "id"))


# --- the snippet ---------------------------------------------------------------------------------


def test_the_snippet_is_a_static_script_with_long_cache_headers(db):
    response = Client().get("/t.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "max-age=86400" in response["Cache-Control"] and response["ETag"]
    body = response.content.decode()
    for needle in ("sendBeacon", "lh_vid", "doNotTrack", "data-require-consent", "identify", "visitorId"):
        assert needle in body
    assert len(response.content) < 8 * 1024
    assert Client().get("/t.js", headers={"If-None-Match": response["ETag"]}).status_code == 304


# --- collect: CORS, consent, bounds ----------------------------------------------------------------


def test_page_views_from_an_allowed_origin_are_stored_anonymously(org, site):
    response = collect(
        site,
        [
            pv(
                "ev-0001",
                "https://www.acme.example/pricing?utm_source=google&utm_medium=cpc&utm_campaign=spring",
            ),
            {"type": "leave", "id": "ev-0001", "ms": 4200},
        ],
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    [touch] = touchpoints(org)
    assert (touch.type, touch.anonymous_id, touch.lead_id) == (TouchpointType.PAGE_VIEW, VID, None)
    assert (touch.utm_source, touch.utm_medium, touch.utm_campaign) == ("google", "cpc", "spring")
    assert touch.channel == Channel.PAID_SEARCH
    assert touch.properties == {"title": "Page", "site": site.pk, "time_on_page_ms": 4200}
    with tenant_context(org):
        visitor = Visitor.objects.get(anonymous_id=VID)
    assert (visitor.first_channel, visitor.first_utm_campaign) == (Channel.PAID_SEARCH, "spring")


def test_a_subdomain_of_an_allowed_domain_is_allowed(org, site):
    response = collect(
        site, [pv("ev-0002", "https://blog.acme.example/post")], origin="https://blog.acme.example"
    )
    assert response.status_code == 204
    assert len(touchpoints(org)) == 1


def test_another_origin_is_refused_without_cors_headers_and_nothing_is_stored(org, site):
    response = collect(site, [pv("ev-0003", "https://www.acme.example/")], origin="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert touchpoints(org) == []


def test_a_lookalike_domain_is_refused(org, site):
    response = collect(site, [pv("ev-0004", "https://www.acme.example/")], origin="https://notacme.example")
    assert response.status_code == 403


def test_no_origin_and_no_referer_is_refused(org, site):
    assert collect(site, [pv("ev-0005", "https://www.acme.example/")], origin="").status_code == 403


def test_the_preflight_answers_the_allowed_origin_only(site):
    client = Client()
    allowed = client.options(f"/t/{site.public_key}/collect", headers={"Origin": ORIGIN})
    assert allowed.status_code == 204 and allowed["Access-Control-Allow-Origin"] == ORIGIN
    refused = client.options(f"/t/{site.public_key}/collect", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused


@pytest.mark.parametrize("header", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_do_not_track_and_global_privacy_control_store_nothing(org, site, header):
    response = collect(site, [pv("ev-0006", "https://www.acme.example/")], headers=header)
    assert response.status_code == 204
    assert touchpoints(org) == []
    with tenant_context(org):
        assert not Visitor.objects.exists()


def test_page_views_of_urls_outside_the_allowed_domains_or_not_web_urls_are_dropped(org, site):
    response = collect(
        site,
        [
            pv("ev-0007", "https://other.example/"),
            pv("ev-0008", "javascript:alert(1)"),
            pv("ev-0009", "https://www.acme.example/ok", referrer="javascript:alert(1)"),
        ],
    )
    assert response.status_code == 204
    [touch] = touchpoints(org)
    assert (touch.url, touch.referrer) == ("https://www.acme.example/ok", "")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vid": "short"}, "vid"),
        ({"vid": "bad id with spaces!"}, "vid"),
        ({"events": "nope"}, "events"),
        ({"events": []}, "events"),
        (
            {
                "events": [
                    {"type": "pv", "id": f"id-{i:06}", "url": "https://acme.example/"} for i in range(51)
                ]
            },
            "events",
        ),
    ],
)
def test_invalid_batches_are_400_naming_the_field(org, site, body, field):
    payload = {"vid": VID, "events": [pv("ev-0010", "https://acme.example/")], **body}
    response = Client().post(
        f"/t/{site.public_key}/collect",
        data=json.dumps(payload),
        content_type="text/plain",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert touchpoints(org) == []


def test_not_json_and_oversized_bodies_are_400(site):
    client = Client()
    url = f"/t/{site.public_key}/collect"
    assert (
        client.post(url, data="{oops", content_type="text/plain", headers={"Origin": ORIGIN}).status_code
        == 400
    )
    big = json.dumps({"vid": VID, "events": [pv("ev-0011", "https://acme.example/", title="x" * 40_000)]})
    assert (
        client.post(url, data=big, content_type="text/plain", headers={"Origin": ORIGIN}).status_code == 400
    )


def test_long_values_are_cut_to_their_columns(org, site):
    long_url = "https://www.acme.example/?" + "a=1&" * 700
    collect(site, [pv("ev-0012", long_url, title="T" * 1000)])
    [touch] = touchpoints(org)
    assert len(touch.url) == 2000 and len(touch.properties["title"]) == 300


def test_a_retried_beacon_is_stored_once_and_time_on_page_arrives_later(org, site):
    collect(site, [pv("ev-0013", "https://www.acme.example/a")])
    collect(site, [pv("ev-0013", "https://www.acme.example/a")])
    collect(site, [{"type": "leave", "id": "ev-0013", "ms": 9000}])
    collect(site, [{"type": "leave", "id": "ev-0013", "ms": 5000}])
    [touch] = touchpoints(org)
    assert touch.properties["time_on_page_ms"] == 9000


def test_an_unknown_or_revoked_key_is_404(org, site):
    with tenant_context(org):
        from leads.tracking.services import tracking_site_delete

        tracking_site_delete(site=TrackingSite.objects.get(pk=site.pk), actor=Actor.system("test"))
    assert collect(site, [pv("ev-0014", "https://www.acme.example/")]).status_code == 404
    assert Client().post("/t/t_nope/collect", data="{}", content_type="text/plain").status_code == 404


def test_the_key_decides_the_organization_even_for_a_signed_in_member_of_another(
    org, other_org, other_admin, site
):
    from tests.conftest import login

    client = login(other_admin, other_org)
    client.post(
        f"/t/{site.public_key}/collect",
        data=json.dumps({"vid": VID, "events": [pv("ev-0015", "https://www.acme.example/")]}),
        content_type="text/plain",
        headers={"Origin": ORIGIN},
    )
    assert len(touchpoints(org)) == 1
    assert touchpoints(other_org) == []


@override_settings(LEADHUB_TRACKING_RATE_PER_IP=2)
def test_collect_is_rate_limited_per_ip_with_retry_after(site):
    for i in range(2):
        assert collect(site, [pv(f"ev-r{i:04}", "https://www.acme.example/")]).status_code == 204
    response = collect(site, [pv("ev-r9999", "https://www.acme.example/")])
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


def test_page_views_of_an_identified_visitor_go_straight_to_their_lead(org, site):
    assert identify(site, "jane@client.example").status_code == 204
    collect(site, [pv("ev-0016", "https://www.acme.example/after")])
    with tenant_context(org):
        lead = Lead.objects.get(contact__email_normalized="jane@client.example")
        assert list(Touchpoint.objects.filter(lead=lead).values_list("url", flat=True)) == [
            "https://www.acme.example/after"
        ]


def test_utm_campaign_maps_to_the_campaign(org, site):
    with tenant_context(org):
        campaign = CampaignFactory(name="Spring", utm_campaign="spring", channel=Channel.PAID_SOCIAL)
    collect(site, [pv("ev-0017", "https://www.acme.example/?utm_campaign=spring")])
    [touch] = touchpoints(org)
    assert touch.campaign_id == campaign.pk
    assert touch.channel == Channel.PAID_SOCIAL


# --- identify and stitching ------------------------------------------------------------------------


def test_identify_stitches_earlier_page_views_and_keeps_the_first_touch(org, site):
    collect(
        site,
        [
            pv(
                "ev-0101",
                "https://www.acme.example/?utm_source=linkedin&utm_medium=paid_social&utm_campaign=q1",
            )
        ],
    )
    collect(site, [pv("ev-0102", "https://www.acme.example/pricing", referrer="https://www.acme.example/")])
    response = identify(site, "Jane@Client.example")
    assert response.status_code == 204
    with tenant_context(org):
        lead = Lead.objects.select_related("contact").get()
        assert lead.contact.email_normalized == "jane@client.example"
        assert lead.source_channel == Channel.PAID_SOCIAL
        assert lead.first_touch_channel == Channel.PAID_SOCIAL
        assert "utm_campaign=q1" in lead.first_touch_url
        assert Touchpoint.objects.filter(lead=lead, anonymous_id=VID).count() == 2
        assert visitor_contact(VID) == lead.contact


def test_a_first_page_view_arriving_after_the_next_pages_is_still_the_first_touch(org, site):
    """The landing page's view leaves as the page unloads and may arrive after the next page's batch."""
    collect(
        site,
        [pv("ev-0202", "https://www.acme.example/pricing", referrer="https://www.acme.example/", ts=5000)],
        body={"sent": 5000},
    )
    collect(
        site,
        [pv("ev-0201", "https://www.acme.example/?utm_source=linkedin&utm_medium=paid_social", ts=1000)],
        body={"sent": 6000},
    )
    assert identify(site, "late@client.example").status_code == 204
    with tenant_context(org):
        lead = Lead.objects.get()
        assert lead.source_channel == Channel.PAID_SOCIAL
        assert lead.first_touch_channel == Channel.PAID_SOCIAL
        assert "utm_source=linkedin" in lead.first_touch_url


def test_identify_keeps_the_first_touch_of_a_lead_that_already_had_touchpoints(org, site):
    with tenant_context(org):
        contact = ContactFactory(email="old@client.example")
        lead = LeadFactory(contact=contact)
    collect(site, [pv("ev-0201", "https://www.acme.example/?utm_source=google&utm_medium=cpc")])
    identify(site, "old@client.example")
    with tenant_context(org):
        lead.refresh_from_db()
        assert lead.first_touch_channel == Channel.PAID_SEARCH
        assert Lead.objects.count() == 1


def test_a_shared_device_does_not_take_another_contacts_history(org, site):
    collect(site, [pv("ev-0301", "https://www.acme.example/one")])
    identify(site, "first@client.example")
    collect(site, [pv("ev-0302", "https://www.acme.example/two")])
    identify(site, "second@client.example")
    with tenant_context(org):
        first = Lead.objects.get(contact__email_normalized="first@client.example")
        urls = sorted(Touchpoint.objects.filter(lead=first).values_list("url", flat=True))
        assert urls == ["https://www.acme.example/one", "https://www.acme.example/two"]
        assert visitor_contact(VID).email_normalized == "second@client.example"


@pytest.mark.parametrize(
    ("body", "field"), [({"email": "not-an-email"}, "email"), ({"email": ""}, "email"), ({"vid": "x"}, "vid")]
)
def test_identify_refuses_bad_input_naming_the_field(org, site, body, field):
    payload = {"vid": VID, "email": "a@b.example", **body}
    response = Client().post(
        f"/t/{site.public_key}/identify",
        data=json.dumps(payload),
        content_type="text/plain",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    with tenant_context(org):
        assert not Contact.objects.exists()


def test_identify_from_another_origin_is_refused(org, site):
    assert identify(site, "x@client.example", origin="https://evil.example").status_code == 403
    with tenant_context(org):
        assert not Contact.objects.exists()


def test_visitor_contact_is_none_for_unknown_or_malformed_ids(org, site):
    with tenant_context(org):
        assert visitor_contact("") is None
        assert visitor_contact("nope nope") is None
        assert visitor_contact("unknown-visitor-1") is None


def test_visitor_identify_is_what_forms_call_after_capture(org, site):
    collect(site, [pv("ev-0401", "https://www.acme.example/landing?ref=friend-1")])
    with tenant_context(org):
        lead = LeadFactory(contact=ContactFactory(email="form@client.example"))
        assert visitor_identify(anonymous_id=VID, lead=lead) == 1
        assert visitor_contact(VID) == lead.contact
        # The referral code seen in the visit is recorded on the lead (unknown code: no referrer).
        referral = LeadReferral.objects.get(lead=lead)
        assert (referral.code, referral.referrer_id) == ("friend-1", None)


def test_a_referral_code_sent_with_page_views_credits_the_referrer_on_identify(org, site):
    with tenant_context(org):
        referrer = ContactFactory(email="ambassador@client.example")
        referral_code_create(code="AMB-1", referrer=referrer, actor=Actor.system("test"))
    collect(site, [pv("ev-0501", "https://www.acme.example/")], body={"ref": "amb-1"})
    identify(site, "friend@client.example")
    with tenant_context(org):
        lead = Lead.objects.get(contact__email_normalized="friend@client.example")
        assert lead.source_channel == Channel.REFERRAL
        referral = LeadReferral.objects.get(lead=lead)
        assert (referral.code, referral.referrer_id) == ("amb-1", referrer.pk)
        assert Touchpoint.objects.filter(
            lead=lead, type=TouchpointType.REFERRAL, channel=Channel.REFERRAL
        ).exists()


def test_stitching_in_one_organization_leaves_the_other_alone(org, other_org, site):
    other_site = make_site(other_org, allowed_domains=["acme.example"])
    collect(site, [pv("ev-0601", "https://www.acme.example/")])
    collect(other_site, [pv("ev-0602", "https://www.acme.example/")])
    identify(site, "jane@client.example")
    [other] = touchpoints(other_org)
    assert other.lead_id is None and other.anonymous_id == VID


def test_time_relative_to_the_client_send_time(org, site):
    now_ms = int(time.time() * 1000)
    collect(site, [pv("ev-0701", "https://www.acme.example/", ts=now_ms - 60_000)], body={"sent": now_ms})
    [touch] = touchpoints(org)
    assert 50 <= (touch.created_at - touch.occurred_at).total_seconds() <= 70


def test_identify_stores_the_page_views_sent_along_before_stitching(org, site):
    response = Client().post(
        f"/t/{site.public_key}/identify",
        data=json.dumps(
            {
                "vid": VID,
                "email": "along@client.example",
                "events": [pv("ev-0801", "https://www.acme.example/x")],
            }
        ),
        content_type="text/plain",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 204
    with tenant_context(org):
        lead = Lead.objects.get()
        assert list(Touchpoint.objects.filter(lead=lead).values_list("url", flat=True)) == [
            "https://www.acme.example/x"
        ]

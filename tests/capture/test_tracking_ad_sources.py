"""Ad lead sources: the signed webhook, Facebook's verification handshake, the payload shapes of
Facebook and LinkedIn lead ads, the field and campaign mapping, and the dashboard pages."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, Organization
from leadhub.tenancy.services import Actor
from leads.models import (
    AdSource,
    AdSourceDelivery,
    Channel,
    Contact,
    DeliveryStatus,
    Lead,
    Touchpoint,
    TouchpointType,
)
from leads.tracking.ad_sources import ad_source_create, ad_source_mapping_set, signature_failures
from tests.conftest import login
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def make_source(organization: Organization, kind: str = "facebook", **kwargs: Any) -> tuple[AdSource, str]:
    with tenant_context(organization):
        return ad_source_create(
            name=kwargs.pop("name", f"{kind} ads"), kind=kind, actor=Actor.system("test"), **kwargs
        )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    source: AdSource, secret: str, payload: Any, *, header: str | None = None, signature: str | None = None
) -> Any:
    body = json.dumps(payload).encode()
    return Client().post(
        f"/hooks/{source.public_key}/",
        data=body,
        content_type="application/json",
        headers={
            header or source.signature_header: signature if signature is not None else sign(secret, body)
        },
    )


FACEBOOK_WEBHOOK = {
    "object": "page",
    "entry": [
        {
            "id": "1029384756",
            "time": 1735725600,
            "changes": [
                {
                    "field": "leadgen",
                    "value": {
                        "leadgen_id": "444555666777888",
                        "page_id": "1029384756",
                        "form_id": "998877",
                        "ad_id": "2385001",
                        "adgroup_id": "2385000",
                        "campaign_id": "2384999",
                        "created_time": 1735725600,
                        "field_data": [
                            {"name": "email", "values": ["Maria.Lopez@Client.example"]},
                            {"name": "full_name", "values": ["Maria Lopez"]},
                            {"name": "phone_number", "values": ["+34 600 000 000"]},
                            {"name": "company_name", "values": ["Client SL"]},
                            {"name": "what_is_your_budget?", "values": ["50k-100k"]},
                        ],
                    },
                }
            ],
        }
    ],
}

FACEBOOK_GRAPH_LEAD = {
    "id": "111222333",
    "created_time": "2025-01-01T10:00:00+0000",
    "ad_id": "2385001",
    "campaign_id": "2384999",
    "form_id": "998877",
    "field_data": [
        {"name": "email", "values": ["graph@client.example"]},
        {"name": "first_name", "values": ["Gra"]},
    ],
}

LINKEDIN_RESPONSE = {
    "id": "urn:li:leadGenFormResponse:7d9e-1",
    "submittedAt": 1735725600000,
    "leadType": "SPONSORED",
    "versionedLeadGenFormUrn": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:555,1)",
    "leadMetadata": {"sponsoredLeadMetadata": {"campaign": "urn:li:sponsoredCampaign:777"}},
    "associatedEntity": {"associatedCreative": "urn:li:sponsoredCreative:888"},
    "formResponse": {
        "answers": [
            {
                "questionId": 101,
                "answerDetails": {"textQuestionAnswer": {"answer": "li.user@client.example"}},
            },
            {"questionId": 102, "answerDetails": {"textQuestionAnswer": {"answer": "Lin"}}},
            {"questionId": 103, "answerDetails": {"multipleChoiceAnswer": {"options": [2]}}},
        ]
    },
}


# --- signatures and handshake --------------------------------------------------------------------


def test_a_signed_facebook_delivery_captures_the_lead_with_paid_social_and_an_ad_lead_touchpoint(org):
    source, secret = make_source(org)
    with tenant_context(org):
        campaign = CampaignFactory(name="FB spring", channel=Channel.PAID_SOCIAL)
        ad_source_mapping_set(
            source=source,
            field_mapping={"what_is_your_budget?": "lead.budget"},
            campaign_mapping={"2384999": campaign.pk},
            actor=Actor.system("test"),
        )
    response = deliver(source, secret, FACEBOOK_WEBHOOK)
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["status"] == "captured"
    with tenant_context(org):
        contact = Contact.objects.select_related("company").get()
        assert (contact.email_normalized, contact.first_name, contact.last_name) == (
            "maria.lopez@client.example",
            "Maria",
            "Lopez",
        )
        assert contact.phone == "+34 600 000 000" and contact.company.name == "Client SL"
        lead = Lead.objects.get()
        assert (lead.source_channel, lead.campaign_id, lead.budget) == (
            Channel.PAID_SOCIAL,
            campaign.pk,
            "50k-100k",
        )
        touch = Touchpoint.objects.get()
        assert (touch.type, touch.channel, touch.campaign_id) == (
            TouchpointType.AD_LEAD,
            Channel.PAID_SOCIAL,
            campaign.pk,
        )
        assert touch.properties["ad_id"] == "2385001" and touch.occurred_at.year == 2025
        delivery = AdSourceDelivery.objects.get()
        assert delivery.status == DeliveryStatus.CAPTURED and delivery.lead_id == lead.pk
        assert "email" in delivery.fields_received
        # No submitted value is kept in the delivery log.
        assert "maria" not in json.dumps([delivery.fields_received, delivery.errors]).lower()


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=", "sha256=" + "0" * 64, "deadbeef", "sha1=abc"],
)
def test_a_bad_or_missing_signature_is_401_and_nothing_is_stored(org, signature):
    source, secret = make_source(org)
    response = deliver(source, secret, FACEBOOK_WEBHOOK, signature=signature)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    with tenant_context(org):
        assert not Contact.objects.exists() and not AdSourceDelivery.objects.exists()
        assert signature_failures(AdSource.objects.get())[0] == 1


def test_a_body_changed_after_signing_is_refused(org):
    source, secret = make_source(org)
    body = json.dumps(FACEBOOK_GRAPH_LEAD).encode()
    signature = sign(secret, body)
    tampered = body.replace(b"graph@", b"evil@")
    response = Client().post(
        f"/hooks/{source.public_key}/",
        data=tampered,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )
    assert response.status_code == 401


def test_a_rotated_secret_refuses_the_old_one(org):
    from leads.tracking.ad_sources import ad_source_rotate_secret

    source, old = make_source(org)
    with tenant_context(org):
        new = ad_source_rotate_secret(source=AdSource.objects.get(), actor=Actor.system("test"))
    assert new != old
    assert deliver(source, old, FACEBOOK_GRAPH_LEAD).status_code == 401
    assert deliver(source, new, FACEBOOK_GRAPH_LEAD).status_code == 200


def test_a_configurable_header_and_a_bare_hex_signature(org):
    source, secret = make_source(org, kind="generic", signature_header="X-Acme-Signature")
    body = json.dumps({"email": "gen@client.example", "answers": {"budget": "10k"}}).encode()
    bare = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    response = Client().post(
        f"/hooks/{source.public_key}/",
        data=body,
        content_type="application/json",
        headers={"X-Acme-Signature": bare},
    )
    assert response.status_code == 200, response.content
    with tenant_context(org):
        assert Contact.objects.get().email_normalized == "gen@client.example"
        assert AdSourceDelivery.objects.get().fields_received == ["answers.budget", "email"]


def test_the_facebook_verification_handshake(org):
    source, _ = make_source(org)
    url = f"/hooks/{source.public_key}/"
    ok = Client().get(
        url, {"hub.mode": "subscribe", "hub.verify_token": source.verify_token, "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200 and ok.content == b"1158201444"
    bad = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert bad.status_code == 403
    assert Client().get(url).status_code == 400


def test_the_linkedin_challenge_is_answered_with_the_hmac_of_the_code(org):
    source, secret = make_source(org, kind="linkedin")
    response = Client().get(f"/hooks/{source.public_key}/", {"challengeCode": "abc-123"})
    expected = hmac.new(secret.encode(), b"abc-123", hashlib.sha256).hexdigest()
    assert response.json() == {"challengeCode": "abc-123", "challengeResponse": expected}


def test_an_unknown_key_or_a_paused_source_is_404(org):
    assert Client().post("/hooks/h_nope/", data="{}", content_type="application/json").status_code == 404
    source, secret = make_source(org)
    with tenant_context(org):
        AdSource.objects.filter(pk=source.pk).update(is_active=False)
    assert deliver(source, secret, FACEBOOK_GRAPH_LEAD).status_code == 404


# --- payload shapes and mapping ------------------------------------------------------------------


def test_a_graph_api_lead_and_a_list_of_them(org):
    source, secret = make_source(org)
    second = {
        **FACEBOOK_GRAPH_LEAD,
        "id": "999",
        "field_data": [{"name": "email", "values": ["two@client.example"]}],
    }
    response = deliver(source, secret, {"data": [FACEBOOK_GRAPH_LEAD, second]})
    assert [r["status"] for r in response.json()["results"]] == ["captured", "captured"]
    with tenant_context(org):
        assert set(Contact.objects.values_list("email_normalized", flat=True)) == {
            "graph@client.example",
            "two@client.example",
        }


def test_a_linkedin_response_maps_question_ids_and_the_sponsored_campaign(org):
    source, secret = make_source(org, kind="linkedin")
    with tenant_context(org):
        campaign = CampaignFactory(name="LI ABM")
        ad_source_mapping_set(
            source=source,
            field_mapping={"101": "contact.email", "102": "contact.first_name", "103": "ignore"},
            campaign_mapping={"777": campaign.pk},
            actor=Actor.system("test"),
        )
    response = deliver(source, secret, LINKEDIN_RESPONSE)
    assert response.status_code == 200
    with tenant_context(org):
        contact = Contact.objects.get()
        assert (contact.email_normalized, contact.first_name) == ("li.user@client.example", "Lin")
        touch = Touchpoint.objects.get()
        assert touch.campaign_id == campaign.pk and touch.properties["ad_campaign_id"] == "777"
        assert AdSourceDelivery.objects.get().external_id == "7d9e-1"


def test_a_redelivered_lead_is_not_captured_twice(org):
    source, secret = make_source(org)
    deliver(source, secret, FACEBOOK_WEBHOOK)
    response = deliver(source, secret, FACEBOOK_WEBHOOK)
    assert response.json()["results"][0]["status"] == "duplicate"
    with tenant_context(org):
        assert Touchpoint.objects.count() == 1 and Lead.objects.count() == 1


def test_a_lead_without_an_email_is_recorded_as_refused_with_the_reason(org):
    source, secret = make_source(org, kind="linkedin")
    response = deliver(source, secret, LINKEDIN_RESPONSE)  # question ids not mapped yet
    result = response.json()["results"][0]
    assert result["status"] == "rejected" and "email" in result["errors"]
    with tenant_context(org):
        delivery = AdSourceDelivery.objects.get()
        assert delivery.status == DeliveryStatus.REJECTED
        assert delivery.fields_received == ["101", "102", "103"]
        assert not Contact.objects.exists()


def test_a_webhook_without_answers_is_recorded_as_ignored(org):
    source, secret = make_source(org)
    payload = json.loads(json.dumps(FACEBOOK_WEBHOOK))
    del payload["entry"][0]["changes"][0]["value"]["field_data"]
    assert deliver(source, secret, payload).json()["results"][0]["status"] == "ignored"


def test_one_bad_lead_does_not_undo_the_others(org):
    source, secret = make_source(org)
    bad = {**FACEBOOK_GRAPH_LEAD, "id": "bad", "field_data": [{"name": "email", "values": ["not-an-email"]}]}
    response = deliver(source, secret, {"data": [bad, FACEBOOK_GRAPH_LEAD]})
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "captured"]
    with tenant_context(org):
        assert Contact.objects.count() == 1


def test_custom_field_targets(org):
    from leads.services import custom_field_create

    source, secret = make_source(org)
    with tenant_context(org):
        custom_field_create(entity="contact", key="budget_band", label="Budget band", field_type="text")
        ad_source_mapping_set(
            source=source,
            field_mapping={"what_is_your_budget?": "contact.custom.budget_band"},
            campaign_mapping={},
            actor=Actor.system("test"),
        )
    deliver(source, secret, FACEBOOK_WEBHOOK)
    with tenant_context(org):
        assert Contact.objects.get().custom == {"budget_band": "50k-100k"}


def test_the_mapping_refuses_unknown_targets_and_foreign_campaigns(org, other_org):
    from django.core.exceptions import ValidationError

    source, _ = make_source(org)
    with tenant_context(other_org):
        foreign = CampaignFactory()
    with tenant_context(org), pytest.raises(ValidationError) as exc:
        ad_source_mapping_set(
            source=source,
            field_mapping={"x": "contact.password"},
            campaign_mapping={"1": foreign.pk},
            actor=Actor.system("test"),
        )
    assert set(exc.value.message_dict) == {"field_mapping", "campaign_mapping"}


@pytest.mark.parametrize("payload", ["[1, 2", "42", '"text"'])
def test_malformed_bodies_are_400(org, payload):
    source, secret = make_source(org)
    body = payload.encode()
    response = Client().post(
        f"/hooks/{source.public_key}/",
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": sign(secret, body)},
    )
    assert response.status_code == 400


# --- dashboard -----------------------------------------------------------------------------------


def test_a_marketer_creates_a_source_and_sees_the_secret_once(org, marketer):
    client = login(marketer, org)
    response = client.post(
        "/ad-sources/", {"name": "Meta lead ads", "kind": "facebook", "channel": "paid_social"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    with tenant_context(org):
        source = AdSource.objects.get()
        assert AuditLog.objects.filter(action="ad_source.create").exists()
    assert source.secret in response.content.decode()
    page = client.get(f"/ad-sources/{source.pk}/")
    assert page.status_code == 200
    assert source.secret not in page.content.decode()
    assert f"/hooks/{source.public_key}/" in page.content.decode()


def test_the_mapping_editor_saves_rows_and_shows_errors(org, marketer):
    source, _ = make_source(org)
    client = login(marketer, org)
    with tenant_context(org):
        campaign = CampaignFactory(name="Spring")
    response = client.post(
        f"/ad-sources/{source.pk}/",
        {
            "action": "mapping",
            "source_field": ["budget_q", "", "x"],
            "target": ["lead.budget", "", ""],
            "ad_campaign": ["123", ""],
            "campaign_id": [str(campaign.pk), ""],
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        source.refresh_from_db()
        assert source.field_mapping == {"budget_q": "lead.budget"}
        assert source.campaign_mapping == {"123": campaign.pk}
    bad = client.post(
        f"/ad-sources/{source.pk}/",
        {"action": "mapping", "source_field": ["a"], "target": ["contact.secret"]},
    )
    assert bad.status_code == 400 and "is not a known field" in bad.content.decode()


def test_rotate_and_delete_ask_for_confirmation(org, marketer):
    source, old = make_source(org)
    client = login(marketer, org)
    assert "Rotate secret" in client.get(f"/ad-sources/{source.pk}/rotate/").content.decode()
    rotated = client.post(f"/ad-sources/{source.pk}/rotate/")
    with tenant_context(org):
        new = AdSource.objects.get().secret
    assert new != old and new in rotated.content.decode()
    assert "Delete source" in client.get(f"/ad-sources/{source.pk}/delete/").content.decode()
    assert client.post(f"/ad-sources/{source.pk}/delete/").status_code == 302
    with tenant_context(org):
        assert not AdSource.objects.exists()
    assert deliver(source, new, FACEBOOK_GRAPH_LEAD).status_code == 404


def test_deliveries_are_listed_with_errors_escaped(org, marketer):
    source, secret = make_source(org, kind="generic")
    deliver(source, secret, {"<script>alert(1)</script>": "x", "id": "1"})
    page = login(marketer, org).get(f"/ad-sources/{source.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Refused" in page


def test_sales_reps_cannot_manage_sources(org, sales_rep):
    source, _ = make_source(org)
    client = login(sales_rep, org)
    assert client.get("/ad-sources/").status_code == 403
    assert client.get(f"/ad-sources/{source.pk}/").status_code == 403


def test_another_organizations_source_is_404(org, other_org, other_admin):
    source, _ = make_source(org)
    assert login(other_admin, other_org).get(f"/ad-sources/{source.pk}/").status_code == 404


def test_the_source_keeps_its_name_unique(org):
    from django.core.exceptions import ValidationError

    make_source(org, name="Meta")
    with pytest.raises(ValidationError):
        make_source(org, name="Meta")


# --- Facebook webhooks that only name the lead: answers read from the Graph API ---------------------


class GraphServer:
    """A real HTTP server standing in for graph.facebook.com: GET /v21.0/<lead id>?access_token=..."""

    def __init__(self, leads: dict[str, tuple[int, dict[str, Any]]]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                outer.requests.append({"path": url.path, **{k: v[0] for k, v in query.items()}})
                status, body = leads.get(
                    url.path.rsplit("/", 1)[-1], (404, {"error": {"message": "Unknown"}})
                )
                if query.get("access_token") != ["page-token-1"]:
                    status, body = 400, {"error": {"message": "Invalid OAuth access token."}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v21.0"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def graph() -> Any:
    server = GraphServer(
        {
            "444555666777888": (200, {**FACEBOOK_GRAPH_LEAD, "id": "444555666777888"}),
            "500": (500, {"error": {"message": "Temporarily unavailable"}}),
        }
    )
    yield server
    server.close()


def _ids_only(lead_id: str = "444555666777888") -> dict[str, Any]:
    payload = json.loads(json.dumps(FACEBOOK_WEBHOOK))
    value = payload["entry"][0]["changes"][0]["value"]
    del value["field_data"]
    value["leadgen_id"] = lead_id
    return payload


def test_a_webhook_naming_a_lead_reads_its_answers_from_the_graph_api(
    org, graph, django_capture_on_commit_callbacks
):
    source, secret = make_source(org)
    with tenant_context(org):
        from leads.tracking.ad_sources import ad_source_update

        ad_source_update(
            source=source,
            data={"graph_token": "page-token-1", "graph_api_url": graph.url},
            actor=Actor.system("test"),
        )
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(source, secret, _ids_only())
    assert response.json()["results"][0]["status"] == "fetching"
    assert graph.requests == [
        {
            "path": "/v21.0/444555666777888",
            "access_token": "page-token-1",
            "fields": "id,created_time,field_data,ad_id,adset_id,campaign_id,form_id",
        }
    ]
    with tenant_context(org):
        delivery = AdSourceDelivery.objects.get()
        assert delivery.status == DeliveryStatus.CAPTURED and delivery.external_id == "444555666777888"
        lead = Lead.objects.select_related("contact").get()
        assert delivery.lead_id == lead.pk and lead.contact.email_normalized == "graph@client.example"
        assert Touchpoint.objects.get().external_id == f"ad:{source.pk}:444555666777888"
        assert AuditLog.objects.filter(action="ad_source.update", changes__graph_token__1="set").exists()
    # The same lead named again is a duplicate, without another Graph API call.
    with django_capture_on_commit_callbacks(execute=True):
        again = deliver(source, secret, _ids_only())
    assert again.json()["results"][0]["status"] == "duplicate"
    with tenant_context(org):
        assert len(graph.requests) == 1
        assert Lead.objects.count() == 1


def test_graph_api_refusals_are_recorded_and_outages_retried(org, graph, django_capture_on_commit_callbacks):
    from leads.tracking.ad_sources import GraphTemporaryError, ad_lead_fetch, ad_source_update

    source, secret = make_source(org)
    with tenant_context(org):
        ad_source_update(
            source=source,
            data={"graph_token": "page-token-1", "graph_api_url": graph.url},
            actor=Actor.system("t"),
        )
    with django_capture_on_commit_callbacks(execute=True):
        deliver(source, secret, _ids_only("999"))
    with tenant_context(org):
        delivery = AdSourceDelivery.objects.get()
        assert delivery.status == DeliveryStatus.REJECTED
        assert delivery.errors == {"graph": ["The Graph API refused to read lead 999 (404): Unknown"]}
    # A server error leaves the delivery fetching and raises for the task's retry.
    with django_capture_on_commit_callbacks(execute=False):
        deliver(source, secret, _ids_only("500"))
    with tenant_context(org):
        pending = AdSourceDelivery.objects.get(external_id="500")
        assert pending.status == DeliveryStatus.FETCHING
        with pytest.raises(GraphTemporaryError):
            ad_lead_fetch(delivery=pending)
        assert AdSourceDelivery.objects.get(pk=pending.pk).status == DeliveryStatus.FETCHING
        assert not Lead.objects.exists()


def test_without_a_token_a_named_lead_is_ignored_and_bad_settings_are_refused(org):
    from django.core.exceptions import ValidationError

    from leads.tracking.ad_sources import ad_source_update

    source, secret = make_source(org)
    assert deliver(source, secret, _ids_only()).json()["results"][0]["status"] == "ignored"
    with tenant_context(org):
        for data, field in (
            ({"graph_api_url": "ftp://graph.example"}, "graph_api_url"),
            ({"graph_token": "has spaces in it"}, "graph_token"),
        ):
            with pytest.raises(ValidationError) as info:
                ad_source_update(
                    source=AdSource.objects.get(pk=source.pk), data=data, actor=Actor.system("t")
                )
            assert field in info.value.message_dict

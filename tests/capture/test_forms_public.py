"""Public submission of a form, the three ways: a plain HTML post with no JavaScript (redirected back),
JSON from the embed script (CORS limited to the form's domains), and the hosted page; with the spam
defences (honeypot, time trap, forged token), rate limits, duplicates, Idempotency-Key, and the
capture that follows: contact, lead, form_submit touchpoint with UTM and hidden values, stitching,
consent."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from leadhub.events import FormSubmitted
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization, OutboxEvent
from leads.models import Campaign, Channel, Contact, Lead, Touchpoint, TouchpointType
from leads.models_forms import ConsentRecord, ConsentStatus, FormStatus, FormSubmission, SubmissionStatus
from leads.webforms import services
from tests.capture.forms_helpers import ACTOR, ORIGIN, build_form, payload, post_json, render_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(org: Organization) -> Any:
    return build_form(org)


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    """Run the after-commit work (the capture task, eager in tests) of the requests in the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _submissions(organization: Organization) -> list[FormSubmission]:
    with tenant_context(organization):
        return list(FormSubmission.objects.order_by("id"))


def test_embed_json_post_captures_the_lead_with_touchpoint_consent_and_stitching(
    org: Organization, form: Any, capture: Any
) -> None:
    with tenant_context(org):
        campaign = Campaign.objects.create(name="Spring", channel=Channel.PAID_SEARCH, utm_campaign="spring")
        earlier = Touchpoint.objects.create(
            anonymous_id="visitor-123",
            type=TouchpointType.PAGE_VIEW,
            url="https://www.customer.example/blog",
            channel=Channel.ORGANIC_SEARCH,
            occurred_at=timezone.now() - dt.timedelta(days=3),
        )
    with capture():
        response = post_json(Client(), form, payload(org, form))
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "message": form.success_message, "redirect_url": None}
    assert response["Access-Control-Allow-Origin"] == ORIGIN

    with tenant_context(org):
        submission = FormSubmission.objects.get()
        assert submission.status == SubmissionStatus.PROCESSED
        assert submission.source == "embed" and submission.visitor_id == "visitor-123"
        assert submission.ip_hash and "127.0.0.1" not in submission.ip_hash
        lead = Lead.objects.select_related("contact", "contact__company").get()
        assert submission.lead_id == lead.pk
        contact = lead.contact
        assert (contact.email_normalized, contact.first_name, contact.last_name) == (
            "ada@lovelace.example",
            "Ada",
            "Lovelace",
        )
        assert contact.company is not None and contact.company.name == "Analytical Engines"
        assert contact.custom == {"plan": "pro"}
        assert lead.need == "A faster loom"
        assert (lead.source_channel, lead.campaign_id) == (Channel.PAID_SEARCH, campaign.pk)
        touch = Touchpoint.objects.get(type=TouchpointType.FORM_SUBMIT)
        assert (touch.lead_id, touch.utm_source, touch.utm_medium, touch.utm_campaign) == (
            lead.pk,
            "google",
            "cpc",
            "spring",
        )
        assert touch.url == "https://www.customer.example/pricing?utm_source=google"
        assert touch.referrer == "https://www.google.com/"
        assert touch.properties["lh_variant"] == "B" and touch.properties["form_id"] == form.pk
        # Identity stitching: the visitor's earlier anonymous page view is the lead's first touch.
        earlier.refresh_from_db()
        assert earlier.lead_id == lead.pk
        lead.refresh_from_db()
        assert lead.first_touch_url == "https://www.customer.example/blog"
        assert lead.first_touch_channel == Channel.ORGANIC_SEARCH
        consent = ConsentRecord.objects.get()
        assert (consent.contact_id, consent.purpose, consent.status, consent.source) == (
            contact.pk,
            "marketing_email",
            ConsentStatus.GRANTED,
            "form",
        )
        assert consent.text == "Send me product news by email." and consent.text_version_id is not None
        assert OutboxEvent.objects.filter(name=FormSubmitted.name).exists()


def test_a_plain_html_post_redirects_back_to_the_page_with_a_success_marker(
    org: Organization, form: Any, capture: Any
) -> None:
    body = payload(org, form)
    body.pop("consent.marketing_email")  # an unticked box is absent from a real form post
    body.pop("page_url")
    with capture():
        response = Client().post(
            f"/f/{form.public_key}/",
            data=body,
            headers={"Origin": ORIGIN, "Referer": "https://www.customer.example/contact?x=1"},
        )
    assert response.status_code == 303
    assert response["Location"] == "https://www.customer.example/contact?x=1&lh_form=success"
    with tenant_context(org):
        submission = FormSubmission.objects.get()
        assert submission.source == "html" and submission.status == SubmissionStatus.PROCESSED
        assert submission.payload["hidden"]["page_url"] == "https://www.customer.example/contact?x=1"
        assert not ConsentRecord.objects.exists()  # no box ticked, no consent


def test_a_plain_html_post_goes_to_the_forms_redirect_or_the_hosted_thank_you(
    org: Organization, form: Any, capture: Any
) -> None:
    with capture():
        response = Client().post(
            f"/f/{form.public_key}/", data=payload(org, form), headers={"Origin": ORIGIN}
        )
    assert response.status_code == 303 and response["Location"] == f"/f/{form.public_key}/?lh_form=success"
    thanks = Client().get(response["Location"])
    assert form.success_message in thanks.content.decode()

    with tenant_context(org):
        services.form_update(
            form=form, data={"redirect_url": "https://www.customer.example/thanks"}, actor=ACTOR
        )
    response = Client().post(
        f"/f/{form.public_key}/",
        data=payload(org, form, **{"contact.email": "b@x.example"}),
        headers={"Origin": ORIGIN},
    )
    assert response["Location"] == "https://www.customer.example/thanks"


def test_a_referer_on_another_site_is_not_an_open_redirect(org: Organization, form: Any) -> None:
    response = Client().post(
        f"/f/{form.public_key}/", data=payload(org, form), headers={"Referer": "https://evil.example/phish"}
    )
    assert response.status_code == 303
    assert response["Location"] == f"/f/{form.public_key}/?lh_form=success"


def test_the_hosted_page_renders_and_submits_without_javascript(
    org: Organization, form: Any, capture: Any
) -> None:
    client = Client()
    page = client.get(f"/f/{form.public_key}/?utm_source=newsletter&utm_medium=email&lh_variant=A")
    html = page.content.decode()
    assert page.status_code == 200
    for name in (
        "contact.email",
        "contact.first_name",
        "company.name",
        "lead.need",
        "consent.marketing_email",
    ):
        assert f'name="{name}"' in html
    assert 'name="utm_source" value="newsletter"' in html and 'name="lh_variant" value="A"' in html
    assert "<script" not in html
    assert "Send me product news by email." in html


def test_invalid_answers_are_a_400_naming_each_field_and_nothing_is_stored(
    org: Organization, form: Any
) -> None:
    body = payload(
        org,
        form,
        **{"contact.email": "not-an-email", "contact.first_name": "", "custom.contact.plan": "gold"},
    )
    response = post_json(Client(), form, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"contact.email", "contact.first_name", "custom.contact.plan"}
    assert response["Access-Control-Allow-Origin"] == ORIGIN  # the script can read the reasons
    assert _submissions(org) == []

    html = Client().post(f"/f/{form.public_key}/", data=body, headers={"Origin": ORIGIN})
    assert html.status_code == 400
    text = html.content.decode()
    assert "Enter a valid email address." in text and "This field is required." in text
    assert 'value="not-an-email"' in text  # the visitor's answers are kept
    assert _submissions(org) == []


def test_field_rules_min_max_pattern_and_choices(org: Organization, form: Any) -> None:
    with tenant_context(org):
        field = form.fields.get(target="contact.last_name")
        services.form_field_update(
            field=field, data={"min_length": 2, "max_length": 5, "pattern": "[A-Z][a-z]+"}, actor=ACTOR
        )
    for value, message in (("X", "At least 2"), ("Lovelace", "At most 5"), ("lower", "expected format")):
        response = post_json(Client(), form, payload(org, form, **{"contact.last_name": value}))
        assert response.status_code == 400
        assert message in response.json()["error"]["fields"]["contact.last_name"][0]
    assert post_json(Client(), form, payload(org, form, **{"contact.last_name": "Byron"})).status_code == 200


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"website": "http://spam.example"}, "Honeypot"),
        ({"_lh_t": None}, "token"),
        ({"_lh_t": "forged.token"}, "token"),
    ],
)
def test_spam_is_stored_rejected_with_its_reason_and_answered_like_success(
    org: Organization, form: Any, capture: Any, change: dict[str, Any], reason: str
) -> None:
    body = {k: v for k, v in {**payload(org, form), **change}.items() if v is not None}
    with capture():
        response = post_json(Client(), form, body)
    assert response.status_code == 200 and response.json()["ok"] is True
    (submission,) = _submissions(org)
    assert submission.status == SubmissionStatus.REJECTED and reason in submission.reason
    assert submission.payload["raw"]["contact.email"] == "ada@lovelace.example"  # kept for review
    with tenant_context(org):
        assert not Lead.objects.exists()


def test_a_form_sent_faster_than_a_human_can_is_rejected(org: Organization, form: Any, capture: Any) -> None:
    with capture():
        post_json(Client(), form, payload(org, form, _lh_t=render_token(org, form, age=0.3)))
    (submission,) = _submissions(org)
    assert submission.status == SubmissionStatus.REJECTED and "faster than" in submission.reason


def test_a_marketer_releases_rejected_spam_and_the_lead_is_captured(
    org: Organization, form: Any, capture: Any, marketer: Any
) -> None:
    with capture():
        post_json(Client(), form, payload(org, form, website="oops, autofill"))
    (submission,) = _submissions(org)
    assert submission.status == SubmissionStatus.REJECTED
    from tests.conftest import login

    with capture():
        response = login(marketer, org).post(f"/forms/{form.pk}/submissions/{submission.pk}/release/")
    assert response.status_code == 302
    (submission,) = _submissions(org)
    assert submission.status == SubmissionStatus.PROCESSED
    with tenant_context(org):
        assert Lead.objects.get().contact.email_normalized == "ada@lovelace.example"
        from leadhub.tenancy.models import AuditLog

        assert AuditLog.objects.filter(action="form.submission_release").exists()


def test_the_same_payload_twice_is_one_submission_with_the_same_answer(
    org: Organization, form: Any, capture: Any
) -> None:
    body = payload(org, form)
    with capture():
        first = post_json(Client(), form, body)
        second = post_json(Client(), form, {**body, "_lh_t": render_token(org, form, age=20)})
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    assert len(_submissions(org)) == 1
    with tenant_context(org):
        assert Lead.objects.count() == 1 and Touchpoint.objects.count() == 1
    different = post_json(Client(), form, payload(org, form, **{"lead.need": "Something else"}))
    assert different.status_code == 200
    assert len(_submissions(org)) == 2


def test_an_idempotency_key_replays_the_first_answer(org: Organization, form: Any) -> None:
    body = payload(org, form)
    first = post_json(Client(), form, body, **{"Idempotency-Key": "k-1"})
    replay = post_json(Client(), form, body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true" and replay.content == first.content
    assert len(_submissions(org)) == 1


@override_settings(LEADHUB_FORM_RATE_PER_IP_PER_MINUTE=3)
def test_too_many_posts_from_one_address_get_429_with_retry_after(org: Organization, form: Any) -> None:
    answers = [
        post_json(Client(), form, payload(org, form, **{"contact.email": f"p{i}@x.example"})).status_code
        for i in range(4)
    ]
    assert answers == [200, 200, 200, 429]
    limited = post_json(Client(), form, payload(org, form, **{"contact.email": "p9@x.example"}))
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 61
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited["Access-Control-Allow-Origin"] == ORIGIN
    assert len(_submissions(org)) == 3
    # Another visitor is not limited by the first one.
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert post_json(other, form, payload(org, form, **{"contact.email": "q@x.example"})).status_code == 200


@override_settings(LEADHUB_FORM_RATE_PER_FORM_PER_MINUTE=2)
def test_a_form_has_its_own_limit_across_visitors(org: Organization, form: Any) -> None:
    answers = [
        post_json(
            Client(REMOTE_ADDR=f"198.51.100.{i}"),
            form,
            payload(org, form, **{"contact.email": f"{i}@x.example"}),
        )
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429] and answers[2]["Retry-After"]


def test_cors_allows_the_forms_domains_and_refuses_others(org: Organization, form: Any) -> None:
    client = Client()
    url = f"/f/{form.public_key}/"
    allowed = client.options(
        url, headers={"Origin": "https://shop.customer.example", "Access-Control-Request-Method": "POST"}
    )
    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.customer.example"
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    assert "Content-Type" in allowed["Access-Control-Allow-Headers"]

    for origin in ("https://evil.example", "https://customer.example.evil.example", "null"):
        refused = client.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused
        posted = post_json(client, form, payload(org, form), origin=origin)
        assert posted.status_code == 403 and "Access-Control-Allow-Origin" not in posted
        assert posted.json()["error"]["code"] == "origin_not_allowed"
        fields = client.get(f"{url}fields/", headers={"Origin": origin})
        assert fields.status_code == 403
    assert _submissions(org) == []


def test_a_paused_form_refuses_submissions(org: Organization, form: Any) -> None:
    with tenant_context(org):
        services.form_update(form=form, data={"status": FormStatus.PAUSED}, actor=ACTOR)
    response = post_json(Client(), form, payload(org, form))
    assert response.status_code == 403 and response.json()["error"]["code"] == "form_paused"
    assert "not accepting submissions" in Client().get(f"/f/{form.public_key}/").content.decode()
    assert _submissions(org) == []


def test_an_unknown_or_revoked_key_is_404(org: Organization, form: Any) -> None:
    assert Client().get("/f/f_nosuchkey/").status_code == 404
    assert Client().get("/embed/forms/f_nosuchkey.js").status_code == 404
    with tenant_context(org):
        services.form_delete(form=form, actor=ACTOR)
    assert Client().get(f"/f/{form.public_key}/").status_code == 404


def test_the_embed_script_is_small_plain_javascript_with_the_key(org: Organization, form: Any) -> None:
    response = Client().get(f"/embed/forms/{form.public_key}.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    script = response.content.decode()
    escaped = form.public_key.replace("-", "\\u002D")  # escapejs
    assert f'var KEY = "{escaped}"' in script and 'var BASE = "http://testserver/"' in script
    assert "innerHTML" not in script and "import " not in script
    assert len(script.encode()) < 12_000


def test_the_fields_endpoint_gives_the_embed_script_what_to_draw(org: Organization, form: Any) -> None:
    response = Client().get(f"/f/{form.public_key}/fields/", headers={"Origin": ORIGIN})
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == ORIGIN
    body = response.json()
    assert [f["name"] for f in body["fields"]] == [
        "contact.email",
        "contact.first_name",
        "contact.last_name",
        "company.name",
        "lead.need",
        "custom.contact.plan",
    ]
    plan = body["fields"][-1]
    assert plan["type"] == "select" and plan["choices"] == ["free", "pro"]
    assert body["consents"][0]["text"] == "Send me product news by email."
    assert body["token"] and body["honeypot"] == "website"


def test_xss_payloads_are_stored_as_data_and_rendered_as_text(
    org: Organization, form: Any, capture: Any, marketer: Any
) -> None:
    xss = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    body = payload(
        org,
        form,
        **{
            "contact.first_name": xss,
            "company.name": xss,
            "utm_source": xss,
            "referrer": f"https://r.example/{xss}",
        },
    )
    with capture():
        assert post_json(Client(), form, body).status_code == 200
        post_json(Client(), form, payload(org, form, website=xss, **{"contact.email": "spam@x.example"}))
    with tenant_context(org):
        lead = Lead.objects.get()
        assert lead.contact.first_name == xss  # stored as given
    from tests.conftest import login

    client = login(marketer, org)
    for url in (f"/forms/{form.pk}/submissions/", f"/leads/{lead.pk}/"):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert" in html, url


def test_a_visitor_signed_in_to_leadhub_still_submits_into_the_forms_organization(
    org: Organization, other_org: Organization, other_admin: Any, form: Any
) -> None:
    from tests.conftest import login

    response = post_json(login(other_admin, other_org), form, payload(org, form))
    assert response.status_code == 200
    assert len(_submissions(org)) == 1
    assert _submissions(other_org) == []


def test_json_that_is_not_an_object_is_a_400(org: Organization, form: Any) -> None:
    response = Client().post(
        f"/f/{form.public_key}/",
        data=json.dumps(["a"]),
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    with tenant_context(org):
        assert not Contact.objects.exists()

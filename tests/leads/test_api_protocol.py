"""What every API call shares: authentication and scopes, the error shape, Idempotency-Key replays and
per-key rate limits."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from leadhub.tenancy.models import ApiKey
from leadhub.tenancy.services import Actor, api_key_revoke
from leads.models import Contact, Lead
from tests.factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_idempotency_key_replays_the_first_answer_and_writes_once(api_client, in_org):
    payload = {"contact_data": {"email": "once@example.com"}, "score": 5}
    first = api_client.post("/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == 201, first.content
    replay = api_client.post("/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    with in_org():
        assert Lead.objects.count() == 1
    other_body = api_client.post(
        "/api/v1/leads/", {**payload, "score": 6}, format="json", HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    with in_org():
        assert Lead.objects.get().score == 5


def test_idempotency_covers_bulk_requests(api_client, in_org):
    body = {"items": [{"contact_data": {"email": f"b{i}@example.com"}} for i in range(3)]}
    first = api_client.post("/api/v1/leads/bulk/", body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-7")
    again = api_client.post("/api/v1/leads/bulk/", body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-7")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    with in_org():
        assert Contact.objects.count() == 3


def test_a_refused_request_is_not_stored_so_the_corrected_retry_goes_through(api_client, in_org):
    bad = api_client.post("/api/v1/contacts/", {"email": "nope"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert bad.status_code == 400
    fixed = api_client.post(
        "/api/v1/contacts/", {"email": "a@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert fixed.status_code == 201
    replay = api_client.post(
        "/api/v1/contacts/", {"email": "a@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert replay.json() == fixed.json()
    with in_org():
        assert Contact.objects.count() == 1


@override_settings(LEADHUB_API_RATE_PER_MINUTE=3)
def test_rate_limit_answers_429_with_retry_after(api_client, other_api_client):
    for _ in range(3):
        assert api_client.get("/api/v1/leads/").status_code == 200
    limited = api_client.get("/api/v1/leads/")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert limited.json()["error"]["code"] == "throttled"
    # Limits are per key: another organization's key is unaffected.
    assert other_api_client.get("/api/v1/leads/").status_code == 200


def test_capture_scope_key_is_refused_on_full_endpoints(capture_api_client, in_org):
    with in_org():
        lead = LeadFactory()
    for method, path in [
        ("get", "/api/v1/leads/"),
        ("get", f"/api/v1/leads/{lead.pk}/"),
        ("post", "/api/v1/touchpoints/bulk/"),
        ("get", "/api/v1/contacts/"),
        ("get", "/api/v1/api-keys/"),
    ]:
        response = getattr(capture_api_client, method)(path, {}, format="json")
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "permission_denied"
        assert "capture" in response.json()["error"]["message"]


def test_revoked_key_is_refused(api_client, org, in_org):
    assert api_client.get("/api/v1/leads/").status_code == 200
    with in_org():
        key = ApiKey.objects.get(organization=org, name="test full")
        api_key_revoke(key=key, actor=Actor.system("test"))
    response = api_client.get("/api/v1/leads/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_missing_or_malformed_credentials(db):
    anonymous = APIClient()
    response = anonymous.get("/api/v1/leads/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")
    assert anonymous.get("/api/v1/leads/").status_code == 401


def test_malformed_bodies_are_400_never_500(api_client, in_org):
    with in_org():
        lead = LeadFactory()
        contact = ContactFactory()
    broken_json = api_client.generic("POST", "/api/v1/leads/", "{not json", content_type="application/json")
    assert broken_json.status_code == 400
    assert broken_json.json()["error"]["code"] == "parse_error"
    cases = [
        ("post", "/api/v1/leads/", {"contact": "abc"}, "contact"),
        ("post", "/api/v1/leads/", {"contact": contact.pk, "score": "high"}, "score"),
        ("post", "/api/v1/leads/", {"contact": contact.pk, "source_channel": "telepathy"}, "source_channel"),
        ("post", "/api/v1/leads/", {"contact_data": "x@example.com"}, "contact_data.non_field_errors"),
        (
            "post",
            "/api/v1/leads/",
            {"contact_data": {"email": "x@example.com", "custom_fields": [1]}},
            "contact_data.custom_fields",
        ),
        ("patch", f"/api/v1/leads/{lead.pk}/", {"owner": "me"}, "owner"),
        ("post", f"/api/v1/leads/{lead.pk}/stage/", {}, "stage"),
        ("post", "/api/v1/leads/bulk/", {"items": "all"}, "items"),
        ("post", "/api/v1/leads/bulk/", {"items": [1, 2]}, "items.0"),
        (
            "post",
            "/api/v1/touchpoints/",
            {"type": "page_view", "anonymous_id": "v", "occurred_at": "soon"},
            "occurred_at",
        ),
        ("post", "/api/v1/contacts/", {"email": "a@example.com", "first_name": "x" * 300}, "first_name"),
    ]
    for method, path, body, field in cases:
        response = getattr(api_client, method)(path, body, format="json")
        assert response.status_code == 400, (path, body, response.content)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert field in error["fields"], (body, error)
        assert field.split(".")[0] in error["message"]


def test_put_is_not_offered(api_client, in_org):
    with in_org():
        lead = LeadFactory()
    assert api_client.put(f"/api/v1/leads/{lead.pk}/", {}, format="json").status_code == 405


def test_unknown_api_route_is_a_json_404(api_client):
    response = api_client.get("/api/v1/opportunities/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"

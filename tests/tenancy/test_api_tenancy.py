"""The tenancy API: who is calling, API keys, members and roles, and the audit log."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from leadhub.tenancy.models import ApiKey, AuditLog, Membership, Role
from leadhub.tenancy.services import Actor, audit_record
from tests.conftest import login

pytestmark = pytest.mark.django_db
JSON = "application/json"


def test_me_for_a_key_and_for_a_user(api_client, capture_api_client, admin_client, org, admin_user):
    by_key = api_client.get("/api/v1/me/").json()
    assert by_key["kind"] == "api_key"
    assert by_key["user"] is None and by_key["role"] is None
    assert by_key["api_key"]["scope"] == "full"
    assert by_key["organization"] == {"id": org.pk, "name": org.name, "slug": org.slug}
    assert capture_api_client.get("/api/v1/me/").json()["api_key"]["scope"] == "capture"
    by_user = admin_client.get("/api/v1/me/").json()
    assert (by_user["kind"], by_user["role"], by_user["api_key"]) == ("user", "admin", None)
    assert by_user["user"]["email"] == admin_user.email


def test_create_key_shows_it_once_and_it_works(admin_client, in_org, org):
    response = admin_client.post(
        "/api/v1/api-keys/", {"name": "Website forms", "scope": "capture"}, content_type=JSON
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["key"].startswith(f"lh_{created['prefix']}_")
    assert created["scope"] == "capture"
    listed = admin_client.get("/api/v1/api-keys/").json()["results"]
    assert "key" not in listed[0]
    assert [row["name"] for row in listed] == ["Website forms"]
    assert created["key"] not in admin_client.get(f"/api/v1/api-keys/{created['id']}/").content.decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    assert client.get("/api/v1/me/").json()["api_key"]["id"] == created["id"]
    with in_org():
        stored = ApiKey.objects.get(pk=created["id"])
        assert created["key"].split("_", 2)[2] not in stored.hashed_secret
        assert AuditLog.objects.filter(action="api_key.created", target_id=str(stored.pk)).exists()


def test_revoke_by_delete_or_action(admin_client, in_org):
    first = admin_client.post("/api/v1/api-keys/", {"name": "One"}, content_type=JSON).json()
    second = admin_client.post("/api/v1/api-keys/", {"name": "Two"}, content_type=JSON).json()
    assert admin_client.delete(f"/api/v1/api-keys/{first['id']}/").status_code == 204
    revoked = admin_client.post(f"/api/v1/api-keys/{second['id']}/revoke/", content_type=JSON)
    assert revoked.status_code == 200
    assert revoked.json()["is_active"] is False and revoked.json()["revoked_at"]
    for raw in (first["key"], second["key"]):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert client.get("/api/v1/leads/").status_code == 401
    listed = admin_client.get("/api/v1/api-keys/").json()["results"]
    assert all(row["revoked_at"] for row in listed)
    with in_org():
        assert AuditLog.objects.filter(action="api_key.revoked").count() == 2


def test_key_validation(admin_client):
    response = admin_client.post("/api/v1/api-keys/", {"name": "", "scope": "everything"}, content_type=JSON)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "scope"}


def test_only_admins_and_full_keys_manage_keys_members_and_audit(
    org, marketer, api_client, capture_api_client
):
    client = login(marketer, org)
    for path in ("/api/v1/api-keys/", "/api/v1/members/", "/api/v1/audit-log/"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "permission_denied"
        assert api_client.get(path).status_code == 200
        assert capture_api_client.get(path).status_code == 403
    assert client.post("/api/v1/api-keys/", {"name": "Mine"}, content_type=JSON).status_code == 403


def test_members_list_role_change_and_removal(admin_client, in_org, org, admin_user, marketer, sales_rep):
    members = admin_client.get("/api/v1/members/").json()["results"]
    assert {row["user"]["email"]: row["role"] for row in members} == {
        admin_user.email: "admin",
        marketer.email: "marketer",
        sales_rep.email: "sales_rep",
    }
    rep = Membership.objects.get(organization=org, user=sales_rep)
    response = admin_client.patch(f"/api/v1/members/{rep.pk}/", {"role": "sales_manager"}, content_type=JSON)
    assert response.status_code == 200, response.content
    assert response.json()["role"] == Role.SALES_MANAGER
    bad = admin_client.patch(f"/api/v1/members/{rep.pk}/", {"role": "owner"}, content_type=JSON)
    assert list(bad.json()["error"]["fields"]) == ["role"]
    assert admin_client.delete(f"/api/v1/members/{rep.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=rep.pk).exists()
    with in_org():
        actions = list(AuditLog.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["membership.role_changed", "membership.removed"]


def test_the_last_admin_stays(admin_client, org, admin_user):
    mine = Membership.objects.get(organization=org, user=admin_user)
    demote = admin_client.patch(f"/api/v1/members/{mine.pk}/", {"role": "marketer"}, content_type=JSON)
    assert demote.status_code == 400
    assert "role" in demote.json()["error"]["fields"]
    assert admin_client.delete(f"/api/v1/members/{mine.pk}/").status_code == 400
    mine.refresh_from_db()
    assert mine.role == Role.ADMIN


def test_audit_log_filters_by_action_and_dates(admin_client, in_org):
    now = timezone.now()
    with in_org():
        old = audit_record(actor=Actor.system("test"), action="export.created", target_label="leads.csv")
        AuditLog.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=10))
        recent = audit_record(actor=Actor.system("test"), action="erasure.done", target_label="x@example.com")

    def ids(query: str) -> set[int]:
        response = admin_client.get(f"/api/v1/audit-log/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("action=export.created") == {old.pk}
    assert ids("action=export.created,erasure.done") == {old.pk, recent.pk}
    since = (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(f"action=export.created,erasure.done&created_after={since}") == {recent.pk}
    assert ids(f"action=export.created,erasure.done&created_before={since}") == {old.pk}
    entry = admin_client.get(f"/api/v1/audit-log/{recent.pk}/").json()
    assert (entry["action"], entry["actor"], entry["target_label"]) == (
        "erasure.done",
        "test",
        "x@example.com",
    )
    assert admin_client.post("/api/v1/audit-log/", {}, content_type=JSON).status_code == 405
    assert admin_client.get("/api/v1/audit-log/?created_after=yesterday").status_code == 400


def test_another_organizations_keys_members_and_entries_are_not_found(
    admin_client, other_admin_client, org, other_org, other_admin
):
    key = admin_client.post("/api/v1/api-keys/", {"name": "Ours"}, content_type=JSON).json()
    theirs = Membership.objects.get(organization=other_org, user=other_admin)
    assert admin_client.get(f"/api/v1/members/{theirs.pk}/").status_code == 404
    assert (
        admin_client.patch(
            f"/api/v1/members/{theirs.pk}/", {"role": "marketer"}, content_type=JSON
        ).status_code
        == 404
    )
    assert other_admin_client.get(f"/api/v1/api-keys/{key['id']}/").status_code == 404
    assert other_admin_client.delete(f"/api/v1/api-keys/{key['id']}/").status_code == 404
    assert other_admin_client.post(f"/api/v1/api-keys/{key['id']}/revoke/").status_code == 404
    assert other_admin_client.get("/api/v1/api-keys/").json()["results"] == []
    entries = other_admin_client.get("/api/v1/audit-log/").json()["results"]
    assert all(row["action"] != "api_key.created" for row in entries)
    assert [row["user"]["id"] for row in other_admin_client.get("/api/v1/members/").json()["results"]] == [
        other_admin.pk
    ]

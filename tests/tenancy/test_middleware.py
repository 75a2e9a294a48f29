"""TenantMiddleware's mechanics, through probe views: the tenant is resolved once per request (API key or
membership), the whole view runs inside it, an error answer rolls the request's writes back, and a POST
carrying an Idempotency-Key is answered once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path

from leadhub.tenancy.context import NoTenantError, current_organization_id_or_none, tenant_context
from leadhub.tenancy.models import ApiKey, IdempotencyRecord, Membership, Organization, Role
from leadhub.tenancy.services import Actor, api_key_create, api_key_revoke
from leads.models import Company
from tests.conftest import login, make_api_client
from tests.factories import OrganizationFactory

calls: list[str] = []


def _database_tenant() -> str | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('leadhub.organization_id', true)")
        return str(cursor.fetchone()[0])


def _whoami(request: HttpRequest) -> JsonResponse:
    calls.append(request.path)
    organization = request.organization  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    api_key = request.api_key  # type: ignore[attr-defined]
    try:
        companies: int | str = Company.objects.count()
    except NoTenantError:
        companies = "no tenant"
    return JsonResponse(
        {
            "organization": organization.slug if organization else None,
            "role": membership.role if membership else None,
            "api_key": api_key.name if api_key else None,
            "tenant": current_organization_id_or_none(),
            "database_tenant": _database_tenant(),
            "companies": companies,
        }
    )


def _company_create(request: HttpRequest) -> JsonResponse:
    """Stores a company, then answers with the status the test asks for."""
    payload = json.loads(request.body or b"{}")
    company = Company.objects.create(name=payload["name"])
    return JsonResponse({"id": company.pk, "name": company.name}, status=int(payload.get("status", 201)))


class ProbeUrls:
    urlpatterns = [
        path("probe/whoami/", _whoami),
        path("api/probe/whoami/", _whoami),
        path("api/probe/companies/", _company_create),
        path("probe/companies/", _company_create),
    ]


pytestmark = pytest.mark.usefixtures("probe_urls")


@pytest.fixture
def probe_urls() -> Any:
    calls.clear()
    with override_settings(ROOT_URLCONF=ProbeUrls):
        yield


def _companies(organization: Organization) -> list[str]:
    with tenant_context(organization):
        return list(Company.objects.order_by("id").values_list("name", flat=True))


# --- resolving the tenant --------------------------------------------------------------------


def test_an_api_key_resolves_its_organization(org: Organization) -> None:
    client = make_api_client(org)
    answer = client.get("/api/probe/whoami/").json()
    assert answer["organization"] == "acme" and answer["api_key"] == "test full" and answer["role"] is None
    assert answer["tenant"] == org.pk
    assert answer["companies"] == 0  # the view runs inside the tenant: tenant models are usable
    if connection.vendor == "postgresql":
        assert answer["database_tenant"] == str(org.pk)  # row-level security sees the same tenant


def test_a_signed_in_member_gets_the_organization_of_their_membership(
    org: Organization, marketer: Any
) -> None:
    answer = login(marketer).get("/probe/whoami/").json()
    assert (answer["organization"], answer["role"], answer["api_key"]) == ("acme", Role.MARKETER, None)
    assert answer["tenant"] == org.pk


def test_a_member_of_several_organizations_works_in_the_one_they_switched_to(
    org: Organization, admin_user: Any
) -> None:
    zeta = OrganizationFactory.create(name="Zeta Labs", slug="zeta")
    Membership.objects.create(user=admin_user, organization=zeta, role=Role.SALES_REP)
    client = login(admin_user)
    assert client.get("/probe/whoami/").json()["organization"] == "acme"

    session = client.session
    session["organization_id"] = zeta.pk
    session.save()
    answer = client.get("/probe/whoami/").json()
    assert (answer["organization"], answer["role"], answer["tenant"]) == ("zeta", Role.SALES_REP, zeta.pk)


def test_a_session_naming_a_foreign_organization_falls_back_to_the_users_own(
    org: Organization, other_org: Organization, admin_user: Any
) -> None:
    answer = login(admin_user, other_org).get("/probe/whoami/").json()
    assert answer["organization"] == "acme" and answer["tenant"] == org.pk


def test_the_api_key_wins_over_the_session(
    org: Organization, other_org: Organization, admin_user: Any
) -> None:
    theirs = make_api_client(other_org)
    client = login(admin_user, org)
    answer = client.get("/api/probe/whoami/", HTTP_AUTHORIZATION=f"Bearer {theirs.raw_key}").json()  # type: ignore[attr-defined]
    assert answer["organization"] == "globex" and answer["role"] is None


def test_without_credentials_there_is_no_tenant_and_tenant_tables_fail_closed(db: Any) -> None:
    answer = Client().get("/probe/whoami/").json()
    assert (answer["organization"], answer["tenant"]) == (None, None)
    assert answer["companies"] == "no tenant"


@pytest.mark.parametrize(
    "bearer", ["Bearer lh_nope_nope", "Bearer ", "bearer garbage", "Bearer lh_{prefix}_wrong"]
)
def test_an_invalid_api_key_is_answered_401_in_json_before_any_view_runs(
    org: Organization, bearer: str
) -> None:
    with tenant_context(org):
        key, _ = api_key_create(organization=org, name="Real", actor=Actor.system("test"))
    response = Client().get("/api/probe/whoami/", HTTP_AUTHORIZATION=bearer.format(prefix=key.prefix))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert calls == []


def test_a_revoked_key_is_answered_401(org: Organization) -> None:
    client = make_api_client(org)
    with tenant_context(org):
        api_key_revoke(key=ApiKey.objects.get(organization=org), actor=Actor.system("test"))
    assert client.get("/api/probe/whoami/").status_code == 401


# --- one transaction per request -------------------------------------------------------------


def test_a_successful_answer_commits_the_requests_writes(org: Organization, admin_user: Any) -> None:
    response = login(admin_user).post("/probe/companies/", {"name": "Kept"}, content_type="application/json")
    assert response.status_code == 201
    assert _companies(org) == ["Kept"]


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_an_error_answer_rolls_the_requests_writes_back(
    org: Organization, admin_user: Any, status: int
) -> None:
    response = login(admin_user).post(
        "/probe/companies/", {"name": "Half-done", "status": status}, content_type="application/json"
    )
    assert response.status_code == status
    assert _companies(org) == []


# --- Idempotency-Key -------------------------------------------------------------------------


def _post(client: Any, body: dict[str, Any], key: str | None, path_: str = "/api/probe/companies/") -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path_, json.dumps(body), content_type="application/json", **headers)


def test_a_replayed_post_returns_the_first_answer_without_writing_again(org: Organization) -> None:
    client = make_api_client(org)
    first = _post(client, {"name": "Once"}, "order-42")
    replay = _post(client, {"name": "Once"}, "order-42")

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert _companies(org) == ["Once"]


def test_the_same_key_with_a_different_request_is_refused(org: Organization) -> None:
    client = make_api_client(org)
    _post(client, {"name": "First"}, "order-43")
    reused = _post(client, {"name": "Second"}, "order-43")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert _companies(org) == ["First"]


def test_a_failed_post_is_not_remembered_so_a_retry_runs(org: Organization) -> None:
    client = make_api_client(org)
    assert _post(client, {"name": "Retry", "status": 400}, "order-44").status_code == 400
    assert _post(client, {"name": "Retry"}, "order-44").status_code == 201
    assert _companies(org) == ["Retry"]


def test_idempotency_keys_are_per_organization(org: Organization, other_org: Organization) -> None:
    assert _post(make_api_client(org), {"name": "Ours"}, "shared-key").status_code == 201
    assert _post(make_api_client(other_org), {"name": "Theirs"}, "shared-key").status_code == 201
    assert (_companies(org), _companies(other_org)) == (["Ours"], ["Theirs"])
    with tenant_context(other_org):
        assert IdempotencyRecord.objects.get().key == "shared-key"


def test_an_overlong_key_is_refused_with_the_field_named(org: Organization) -> None:
    response = _post(make_api_client(org), {"name": "X"}, "k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert _companies(org) == []


def test_only_api_posts_with_a_key_are_deduplicated(org: Organization, admin_user: Any) -> None:
    client = make_api_client(org)
    _post(client, {"name": "No key"}, None)
    _post(client, {"name": "No key"}, None)
    page = login(admin_user)
    _post(page, {"name": "Page"}, "page-key", "/probe/companies/")
    _post(page, {"name": "Page"}, "page-key", "/probe/companies/")
    assert _companies(org) == ["No key", "No key", "Page", "Page"]
    with tenant_context(org):
        assert not IdempotencyRecord.objects.exists()

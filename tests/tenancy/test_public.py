"""Public endpoints take their tenant from a public key (or slug) in the URL, never from the visitor's
own LeadHub session, and roll back a failed request's writes like every other request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path

from leadhub.tenancy.context import current_organization_id_or_none, tenant_context
from leadhub.tenancy.models import Organization, PublicKeyKind
from leadhub.tenancy.public import (
    by_organization_slug,
    by_public_key,
    is_public_path,
    public_endpoint,
    public_key_issue,
    public_key_revoke,
)
from leads.models import Company
from tests.conftest import login


@public_endpoint(by_public_key(PublicKeyKind.FORM), reason="probe: the key names one form")
def _submit(request: HttpRequest, key: str) -> JsonResponse:
    payload = json.loads(request.body or b"{}")
    company = Company.objects.create(name=payload.get("name", "Probe"))
    return JsonResponse(
        {
            "tenant": current_organization_id_or_none(),
            "object_id": request.public_key.object_id,
            "id": company.pk,
        },
        status=int(payload.get("status", 201)),
    )


@public_endpoint(by_organization_slug(), reason="probe: a published page of the organization")
def _page(request: HttpRequest, org: str) -> JsonResponse:
    return JsonResponse({"tenant": current_organization_id_or_none()})


class PublicUrls:
    urlpatterns = [path("f/<str:key>/", _submit), path("p/<slug:org>/", _page)]


pytestmark = pytest.mark.usefixtures("public_urls")


@pytest.fixture
def public_urls() -> Any:
    with override_settings(ROOT_URLCONF=PublicUrls):
        yield


def _post(client: Client, url: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def _companies(organization: Organization) -> list[str]:
    with tenant_context(organization):
        return list(Company.objects.values_list("name", flat=True))


def test_the_key_resolves_its_organization_and_object(org: Organization) -> None:
    key = public_key_issue(organization=org, kind=PublicKeyKind.FORM, object_id=42)
    response = _post(Client(), f"/f/{key.key}/", {"name": "Initech"})
    assert response.status_code == 201
    assert response.json()["tenant"] == org.pk and response.json()["object_id"] == 42
    assert _companies(org) == ["Initech"]


def test_a_signed_in_member_of_another_organization_still_writes_into_the_keys_organization(
    org: Organization, other_org: Organization, other_admin: Any
) -> None:
    key = public_key_issue(organization=org, kind=PublicKeyKind.FORM, object_id=1)
    response = _post(login(other_admin, other_org), f"/f/{key.key}/", {"name": "Visitor Co"})
    assert response.json()["tenant"] == org.pk
    assert _companies(org) == ["Visitor Co"] and _companies(other_org) == []


@pytest.mark.parametrize("key", ["nope", "f_" + "x" * 60])
def test_an_unknown_key_is_404(org: Organization, key: str) -> None:
    assert _post(Client(), f"/f/{key}/", {}).status_code == 404


def test_a_key_of_another_kind_or_revoked_is_404(org: Organization) -> None:
    tracking = public_key_issue(organization=org, kind=PublicKeyKind.TRACKING, object_id=1)
    assert _post(Client(), f"/f/{tracking.key}/", {}).status_code == 404
    form = public_key_issue(organization=org, kind=PublicKeyKind.FORM, object_id=1)
    public_key_revoke(key=form.key)
    assert _post(Client(), f"/f/{form.key}/", {}).status_code == 404


def test_an_error_answer_rolls_back_the_writes(org: Organization) -> None:
    key = public_key_issue(organization=org, kind=PublicKeyKind.FORM, object_id=1)
    assert _post(Client(), f"/f/{key.key}/", {"name": "Half", "status": 422}).status_code == 422
    assert _companies(org) == []


def test_a_replayed_idempotency_key_answers_the_first_result_without_writing_twice(org: Organization) -> None:
    key = public_key_issue(organization=org, kind=PublicKeyKind.FORM, object_id=1)
    first = _post(Client(), f"/f/{key.key}/", {"name": "Once"}, **{"Idempotency-Key": "abc"})
    again = _post(Client(), f"/f/{key.key}/", {"name": "Once"}, **{"Idempotency-Key": "abc"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _companies(org) == ["Once"]


def test_a_slug_resolver_serves_the_organizations_page(org: Organization) -> None:
    assert Client().get(f"/p/{org.slug}/").json() == {"tenant": org.pk}
    assert Client().get("/p/no-such-org/").status_code == 404


def test_public_paths_are_only_the_declared_prefixes() -> None:
    assert is_public_path("/embed/forms/f_x.js") and is_public_path("/t.js") and is_public_path("/hooks/h_x/")
    assert (
        not is_public_path("/api/v1/leads/")
        and not is_public_path("/leads/")
        and not is_public_path("/tenant/")
    )


def test_the_views_are_marked_for_the_isolation_sweep() -> None:
    assert "key names one form" in _submit.isolation_exempt
    assert _submit.csrf_exempt is True

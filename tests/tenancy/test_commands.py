"""The operations commands of DESIGN.md: create_organization and create_api_key, exactly as documented."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from leadhub.tenancy.models import ApiKey, ApiKeyScope, Membership, Organization, Role
from leadhub.tenancy.services import api_key_authenticate


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_organization_creates_the_tenant_and_its_admin(db: Any) -> None:
    output = _run(
        "create_organization",
        "--name",
        "Initech",
        "--slug",
        "initech",
        "--admin-email",
        "bill@initech.example",
        "--password",
        "tps-reports-2024",
    )

    organization = Organization.objects.get(slug="initech")
    membership = Membership.objects.get(organization=organization)
    assert organization.name == "Initech"
    assert (membership.user.email, membership.role) == ("bill@initech.example", Role.ADMIN)
    assert membership.user.check_password("tps-reports-2024")
    assert "initech" in output and "bill@initech.example" in output


def test_create_organization_without_a_password_leaves_sign_in_closed(db: Any) -> None:
    _run("create_organization", "--name", "Hooli", "--slug", "hooli", "--admin-email", "gavin@hooli.example")
    assert not Membership.objects.get(organization__slug="hooli").user.has_usable_password()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "Again", "--slug", "acme", "--admin-email", "x@acme.example"], "already exists"),
        (["--name", "  ", "--slug", "blank", "--admin-email", "x@blank.example"], "name"),
        (["--name", "Bad mail", "--slug", "badmail", "--admin-email", "not-an-email"], "email"),
        (["--name", "No admin", "--slug", "noadmin"], "--admin-email"),
    ],
)
def test_create_organization_refuses_bad_input(org: Organization, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run("create_organization", *args)
    assert list(Organization.objects.values_list("slug", flat=True)) == ["acme"]


@pytest.mark.parametrize("scope", [ApiKeyScope.FULL, ApiKeyScope.CAPTURE])
def test_create_api_key_prints_the_key_alone_on_the_last_line(org: Organization, scope: str) -> None:
    output = _run("create_api_key", "--organization", "acme", "--name", "Website", "--scope", scope)

    last_line = output.rstrip("\n").splitlines()[-1]
    assert last_line == last_line.strip() and " " not in last_line
    key = api_key_authenticate(last_line)
    assert key is not None
    assert (key.organization, key.name, key.scope) == (org, "Website", scope)


def test_the_printed_key_authenticates_api_requests(org: Organization) -> None:
    raw = _run("create_api_key", "--organization", "acme", "--name", "CRM").splitlines()[-1]

    accepted = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    refused = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw[:-2]}")
    assert accepted.status_code == 200
    assert accepted.json()["kind"] == "api_key" and "acme" in accepted.content.decode()
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organization", "nowhere", "--name", "CRM"], "No organization with slug 'nowhere'"),
        (["--organization", "acme", "--name", "   "], "name"),
        (["--organization", "acme", "--name", "CRM", "--scope", "root"], "scope"),
        (["--name", "CRM"], "--organization"),
    ],
)
def test_create_api_key_refuses_bad_input(org: Organization, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run("create_api_key", *args)
    assert not ApiKey.objects.exists()

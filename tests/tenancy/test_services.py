"""The tenant core's services and selectors: organizations, users, memberships, API keys, the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import ApiKey, ApiKeyScope, AuditLog, Membership, Organization, Role
from leadhub.tenancy.selectors import membership_for_request, memberships_for_user, organization_members
from leadhub.tenancy.services import (
    Actor,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    audit_record,
    membership_remove,
    membership_set,
    organization_create,
    user_get_or_create,
)
from tests.factories import OrganizationFactory, UserFactory


def _audit(organization: Organization) -> list[tuple[str, str, dict[str, Any]]]:
    with tenant_context(organization):
        return list(AuditLog.objects.order_by("id").values_list("action", "actor_label", "changes"))


# --- organizations and users -----------------------------------------------------------------


def test_an_organization_is_created_with_its_first_admin_and_an_audit_entry(db: Any) -> None:
    organization = organization_create(
        name="  Initech  ", slug="", admin_email="Peter@Initech.example", password="tps-reports-2024"
    )

    assert (organization.name, organization.slug) == ("Initech", "initech")
    membership = Membership.objects.get(organization=organization)
    assert membership.role == Role.ADMIN
    assert membership.user.email == "peter@initech.example"
    assert membership.user.check_password("tps-reports-2024")
    assert _audit(organization) == [
        ("organization.created", "create_organization", {"admin_email": "Peter@Initech.example"})
    ]


@pytest.mark.parametrize(
    ("name", "slug", "field"),
    [("", "blank", "name"), ("   ", "", "name"), ("Acme again", "acme", "slug"), ("Symbols", "!!!", "slug")],
)
def test_an_organization_needs_a_name_and_a_free_slug(
    org: Organization, name: str, slug: str, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        organization_create(name=name, slug=slug)
    assert field in refused.value.message_dict
    assert Organization.objects.count() == 1


def test_users_are_found_by_their_normalised_email(db: Any) -> None:
    first = user_get_or_create(email=" Ada@Example.com ", first_name="Ada")
    again = user_get_or_create(email="ada@example.com", password="a-new-long-password")

    assert again.pk == first.pk
    assert get_user_model().objects.filter(username="ada@example.com").count() == 1
    assert again.check_password("a-new-long-password")
    assert not user_get_or_create(email="nopassword@example.com").has_usable_password()
    with pytest.raises(ValidationError):
        user_get_or_create(email="not an email")


# --- memberships -----------------------------------------------------------------------------


def test_adding_and_changing_a_member_is_audited(org: Organization, admin_user: Any) -> None:
    actor = Actor(user=admin_user)
    user = UserFactory.create(email="new@acme.example")
    with tenant_context(org):
        membership = membership_set(organization=org, user=user, role=Role.MARKETER, actor=actor)
        same = membership_set(organization=org, user=user, role=Role.MARKETER, actor=actor)
        membership_set(organization=org, user=user, role=Role.SALES_MANAGER, actor=actor)

    assert same.pk == membership.pk
    assert Membership.objects.get(pk=membership.pk).role == Role.SALES_MANAGER
    assert [(action, changes) for action, _, changes in _audit(org)] == [
        ("membership.created", {"role": [None, Role.MARKETER]}),
        ("membership.role_changed", {"role": [Role.MARKETER, Role.SALES_MANAGER]}),
    ]


def test_an_unknown_role_is_refused(org: Organization, admin_user: Any) -> None:
    with tenant_context(org), pytest.raises(ValidationError) as refused:
        membership_set(organization=org, user=admin_user, role="owner", actor=Actor(user=admin_user))
    assert "role" in refused.value.message_dict


def test_the_last_admin_can_be_neither_demoted_nor_removed(org: Organization, admin_user: Any) -> None:
    membership = Membership.objects.get(user=admin_user, organization=org)
    with tenant_context(org):
        with pytest.raises(ValidationError, match="at least one admin"):
            membership_set(
                organization=org, user=admin_user, role=Role.MARKETER, actor=Actor(user=admin_user)
            )
        with pytest.raises(ValidationError, match="at least one admin"):
            membership_remove(membership=membership, actor=Actor(user=admin_user))
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN


def test_an_admin_can_step_down_once_another_admin_exists(org: Organization, admin_user: Any) -> None:
    deputy = UserFactory.create(email="deputy@acme.example")
    actor = Actor(user=admin_user)
    with tenant_context(org):
        membership_set(organization=org, user=deputy, role=Role.ADMIN, actor=actor)
        membership_set(organization=org, user=admin_user, role=Role.SALES_REP, actor=actor)
        membership_remove(membership=Membership.objects.get(user=admin_user, organization=org), actor=actor)
    assert list(organization_members(organization=org).values_list("user__email", flat=True)) == [
        "deputy@acme.example"
    ]
    assert _audit(org)[-1][0] == "membership.removed"


def test_membership_for_request_honours_the_chosen_organization_only_if_the_user_belongs_to_it(
    org: Organization, other_org: Organization, admin_user: Any
) -> None:
    third = OrganizationFactory.create(name="Zeta Labs", slug="zeta")
    Membership.objects.create(user=admin_user, organization=third, role=Role.MARKETER)

    def chosen(organization_id: int | None) -> Organization:
        membership = membership_for_request(user=admin_user, organization_id=organization_id)
        assert membership is not None
        return membership.organization

    assert chosen(third.pk) == third
    assert chosen(None) == org  # the first by name
    # An organization the user does not belong to is never chosen, whatever the session says.
    assert chosen(other_org.pk) == org
    assert [m.organization for m in memberships_for_user(user=admin_user)] == [org, third]
    assert not memberships_for_user(user=AnonymousUser()).exists()


# --- API keys --------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_and_stored_hashed(org: Organization, admin_user: Any) -> None:
    with tenant_context(org):
        key, raw = api_key_create(
            organization=org, name=" Website forms ", scope=ApiKeyScope.CAPTURE, actor=Actor(user=admin_user)
        )

    prefix, secret = raw.split("_")[1], raw.split("_", 2)[2]
    assert raw.startswith(f"lh_{key.prefix}_") and prefix == key.prefix
    assert (key.name, key.scope, key.created_by) == ("Website forms", ApiKeyScope.CAPTURE, admin_user)
    stored = ApiKey.objects.get(pk=key.pk)
    assert secret not in stored.hashed_secret and len(stored.hashed_secret) == 64
    assert _audit(org)[-1] == ("api_key.created", "admin@acme.example", {"scope": ApiKeyScope.CAPTURE})


@pytest.mark.parametrize(
    ("name", "scope", "field"), [("  ", ApiKeyScope.FULL, "name"), ("CRM", "admin", "scope")]
)
def test_an_api_key_needs_a_name_and_a_known_scope(
    org: Organization, name: str, scope: str, field: str
) -> None:
    with tenant_context(org), pytest.raises(ValidationError) as refused:
        api_key_create(organization=org, name=name, scope=scope, actor=Actor.system("test"))
    assert field in refused.value.message_dict
    assert not ApiKey.objects.exists()


def test_a_key_authenticates_only_with_its_exact_secret(org: Organization) -> None:
    with tenant_context(org):
        key, raw = api_key_create(organization=org, name="CRM", actor=Actor.system("test"))

    found = api_key_authenticate(raw)
    assert found is not None and found.pk == key.pk and found.organization == org
    for wrong in (
        raw[:-1] + ("A" if raw[-1] != "A" else "B"),
        raw.replace("lh_", "xx_"),
        "lh_only",
        "",
        "lh__x",
    ):
        assert api_key_authenticate(wrong) is None, wrong


def test_a_revoked_key_no_longer_authenticates_and_revoking_twice_is_harmless(
    org: Organization, admin_user: Any
) -> None:
    with tenant_context(org):
        key, raw = api_key_create(organization=org, name="Old", actor=Actor.system("test"))
        api_key_revoke(key=key, actor=Actor(user=admin_user))
        first_revocation = ApiKey.objects.get(pk=key.pk).revoked_at
        api_key_revoke(key=key, actor=Actor(user=admin_user))

    assert api_key_authenticate(raw) is None
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first_revocation
    assert ApiKey.objects.get(pk=key.pk).revoked_by == admin_user
    assert [action for action, _, _ in _audit(org)].count("api_key.revoked") == 1


def test_last_use_is_recorded_at_most_once_a_minute(org: Organization) -> None:
    with tenant_context(org):
        key, raw = api_key_create(organization=org, name="Busy", actor=Actor.system("test"))
    api_key_authenticate(raw)
    first_use = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first_use is not None
    api_key_authenticate(raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first_use

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    api_key_authenticate(raw)
    last_used_at = ApiKey.objects.get(pk=key.pk).last_used_at
    assert last_used_at is not None and last_used_at > first_use - timedelta(seconds=1)


# --- actors and the audit log ----------------------------------------------------------------


def test_the_actor_of_a_request_is_its_api_key_else_its_user(org: Organization, admin_user: Any) -> None:
    with tenant_context(org):
        key, _ = api_key_create(organization=org, name="Zapier", actor=Actor.system("test"))
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
    request.user = admin_user
    request.api_key = key  # type: ignore[attr-defined]
    assert Actor.from_request(request).label == f"API key Zapier ({key.prefix})"
    request.api_key = None  # type: ignore[attr-defined]
    assert Actor.from_request(request) == Actor(user=admin_user, ip_address="203.0.113.9")
    request.user = AnonymousUser()
    assert Actor.from_request(request).label == "anonymous"
    assert Actor.system("decay rule").label == "decay rule"


def test_audit_entries_belong_to_their_organization(
    org: Organization, other_org: Organization, admin_user: Any
) -> None:
    with tenant_context(org):
        entry = audit_record(
            actor=Actor(user=admin_user, ip_address="198.51.100.4"),
            action="export.created",
            target=org,
            changes={"rows": 10},
        )
    assert (entry.target_type, entry.target_id, entry.target_label) == ("Organization", str(org.pk), org.name)
    assert entry.ip_address == "198.51.100.4"
    with tenant_context(other_org):
        assert not AuditLog.objects.exists()

"""Dashboard pages of the tenant core: sign-in and lockout, sign-out, the organization switcher, the
settings pages (members, API keys, audit log) with their role gates, and the error pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import ApiKey, AuditLog, Membership, Organization, Role
from leadhub.tenancy.services import Actor, api_key_create, audit_record
from leadhub.tenancy.views import server_error
from tests.conftest import PASSWORD, login
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SETTINGS_PAGES = ["settings-members", "settings-api-keys", "settings-audit-log"]


# --- sign-in, lockout, sign-out -----------------------------------------------------------------------


def test_sign_in_page_renders_a_form(client: Client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="email"' in body and 'name="password"' in body
    assert "csrfmiddlewaretoken" in body


def test_sign_in_with_the_right_password_opens_the_dashboard(
    client: Client, admin_user: Any, org: Organization
) -> None:
    response = client.post(reverse("login"), {"email": "ADMIN@acme.example", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert org.name in home.content.decode()


def test_sign_in_follows_a_local_next_but_not_another_site(client: Client, admin_user: Any) -> None:
    response = client.post(
        reverse("login") + "?next=/leads/",
        {"email": admin_user.email, "password": PASSWORD, "next": "/leads/"},
    )
    assert response["Location"] == "/leads/"
    client.logout()
    response = client.post(
        reverse("login"), {"email": admin_user.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_a_wrong_password_is_refused_with_a_message(client: Client, admin_user: Any) -> None:
    response = client.post(reverse("login"), {"email": admin_user.email, "password": "not-the-password"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_form_names_missing_fields(client: Client) -> None:
    response = client.post(reverse("login"), {"email": "", "password": ""})
    body = response.content.decode()
    assert body.count("This field is required.") == 2
    assert 'aria-invalid="true"' in body


def test_too_many_wrong_passwords_lock_the_account_out(client: Client, admin_user: Any) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"email": admin_user.email, "password": "guess"})
    # Even the right password is refused while the lockout lasts.
    response = client.post(reverse("login"), {"email": admin_user.email, "password": PASSWORD})
    assert response.status_code == 429
    body = response.content.decode()
    assert "Sign-in is paused" in body
    assert "15 minutes" in body
    assert "_auth_user_id" not in client.session


def test_sign_out_needs_a_post(admin_client: Client) -> None:
    assert admin_client.get(reverse("logout")).status_code == 405
    response = admin_client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert admin_client.get(reverse("home")).status_code == 302


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    for name in ["home", "lead-list", *SETTINGS_PAGES]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_htmx_requests_of_a_signed_out_user_redirect_the_whole_page(client: Client) -> None:
    response = client.get(reverse("lead-list"), headers={"HX-Request": "true", "HX-Target": "lead-results"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))


# --- organizations ------------------------------------------------------------------------------------


def test_user_without_organization_sees_a_friendly_page(db: Any) -> None:
    loner = UserFactory(email="loner@example.com")
    client = login(loner)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("no-organization")
    page = client.get(reverse("no-organization"))
    assert page.status_code == 200
    assert "not part of an organization yet" in page.content.decode()


def test_members_are_sent_home_from_the_no_organization_page(admin_client: Client) -> None:
    assert admin_client.get(reverse("no-organization"))["Location"] == reverse("home")


def test_switching_organization_changes_the_tenant_of_every_page(
    admin_user: Any, org: Organization, other_org: Organization
) -> None:
    MembershipFactory(user=admin_user, organization=other_org, role=Role.MARKETER)
    client = login(admin_user, org)
    home = client.get(reverse("home")).content.decode()
    assert "Globex Corp" in home  # listed in the switcher
    response = client.post(reverse("organization-switch"), {"organization_id": other_org.pk})
    assert response.status_code == 302
    assert client.session["organization_id"] == other_org.pk
    page = client.get(reverse("home"))
    assert page.context["organization"] == other_org
    assert page.context["membership"].role == Role.MARKETER
    # As a marketer in Globex, the admin pages are closed.
    assert client.get(reverse("settings-members")).status_code == 403


def test_switching_to_an_organization_the_user_is_not_in_is_a_404(
    admin_client: Client, org: Organization, other_org: Organization
) -> None:
    assert (
        admin_client.post(reverse("organization-switch"), {"organization_id": other_org.pk}).status_code
        == 404
    )
    assert admin_client.post(reverse("organization-switch"), {"organization_id": "x"}).status_code == 404
    assert admin_client.post(reverse("organization-switch"), {"organization_id": 999999}).status_code == 404
    assert admin_client.session["organization_id"] == org.pk
    assert admin_client.get(reverse("organization-switch")).status_code == 405


# --- role gates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", SETTINGS_PAGES)
def test_admin_settings_pages_render_for_admins(admin_client: Client, page: str) -> None:
    response = admin_client.get(reverse(page))
    assert response.status_code == 200


@pytest.mark.parametrize("page", SETTINGS_PAGES)
@pytest.mark.parametrize("role", [Role.MARKETER, Role.SALES_MANAGER, Role.SALES_REP])
def test_admin_settings_pages_are_forbidden_to_other_roles(org: Organization, page: str, role: str) -> None:
    user = UserFactory(email=f"{role}@acme.example")
    MembershipFactory(user=user, organization=org, role=role)
    response = login(user, org).get(reverse(page))
    assert response.status_code == 403
    assert "doesn't include this page" in response.content.decode()


def test_menus_follow_the_role(
    org: Organization, admin_client: Client, marketer: Any, sales_rep: Any
) -> None:
    admin_page = admin_client.get(reverse("home")).content.decode()
    for label in ["Members &amp; roles", "API keys", "Audit log", "Custom fields"]:
        assert label in admin_page
    assert "My leads" not in admin_page

    marketer_page = login(marketer, org).get(reverse("home")).content.decode()
    assert "Custom fields" in marketer_page
    assert "API keys" not in marketer_page and "Audit log" not in marketer_page

    rep_page = login(sales_rep, org).get(reverse("home")).content.decode()
    assert "My leads" in rep_page and f"{reverse('lead-list')}?owner=me" in rep_page
    assert "Custom fields" not in rep_page and "Members &amp; roles" not in rep_page


# --- members and roles --------------------------------------------------------------------------------


def test_members_page_lists_the_team(admin_client: Client, marketer: Any) -> None:
    body = admin_client.get(reverse("settings-members")).content.decode()
    assert "admin@acme.example" in body and "marketer@acme.example" in body
    assert "admin@globex.example" not in body


def test_adding_a_new_person_creates_their_account_and_membership(
    admin_client: Client, org: Organization, in_org: Any
) -> None:
    response = admin_client.post(
        reverse("settings-members"),
        {
            "email": "New.Person@Acme.example",
            "role": Role.SALES_REP,
            "first_name": "New",
            "last_name": "Person",
            "password": "a-long-first-password",
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.get(organization=org, user__email="new.person@acme.example")
    assert membership.role == Role.SALES_REP
    assert membership.user.check_password("a-long-first-password")
    with in_org():
        assert AuditLog.objects.filter(
            action="membership.created", target_label="new.person@acme.example"
        ).exists()


def test_adding_an_existing_user_keeps_their_password(
    admin_client: Client, org: Organization, other_admin: Any
) -> None:
    response = admin_client.post(
        reverse("settings-members"),
        {"email": other_admin.email, "role": Role.MARKETER, "password": "an-attempted-takeover"},
    )
    assert response.status_code == 302
    other_admin.refresh_from_db()
    assert other_admin.check_password(PASSWORD)
    assert Membership.objects.filter(organization=org, user=other_admin, role=Role.MARKETER).exists()


def test_add_member_form_shows_field_errors(admin_client: Client, marketer: Any) -> None:
    response = admin_client.post(reverse("settings-members"), {"email": "not-an-email", "role": "boss"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a valid email address." in body
    assert "Select a valid choice." in body
    duplicate = admin_client.post(reverse("settings-members"), {"email": marketer.email, "role": Role.ADMIN})
    assert duplicate.status_code == 400
    assert "already a member" in duplicate.content.decode()


def test_changing_a_role_is_audited(
    admin_client: Client, org: Organization, marketer: Any, in_org: Any
) -> None:
    membership = Membership.objects.get(organization=org, user=marketer)
    response = admin_client.post(
        reverse("settings-member-role", args=[membership.pk]), {"role": Role.SALES_MANAGER}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.SALES_MANAGER
    with in_org():
        entry = AuditLog.objects.get(action="membership.role_changed")
    assert entry.changes == {"role": [Role.MARKETER, Role.SALES_MANAGER]}


def test_the_last_admin_cannot_be_demoted(admin_client: Client, org: Organization, admin_user: Any) -> None:
    membership = Membership.objects.get(organization=org, user=admin_user)
    response = admin_client.post(
        reverse("settings-member-role", args=[membership.pk]), {"role": Role.MARKETER}, follow=True
    )
    assert "must keep at least one admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_removing_a_member_asks_first(admin_client: Client, org: Organization, marketer: Any) -> None:
    membership = Membership.objects.get(organization=org, user=marketer)
    url = reverse("settings-member-remove", args=[membership.pk])
    confirm = admin_client.get(url)
    assert confirm.status_code == 200
    assert "will lose access" in confirm.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert admin_client.post(url).status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_the_last_admin_cannot_be_removed(admin_client: Client, org: Organization, admin_user: Any) -> None:
    membership = Membership.objects.get(organization=org, user=admin_user)
    response = admin_client.post(reverse("settings-member-remove", args=[membership.pk]))
    assert response.status_code == 400
    assert "must keep at least one admin" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_another_organizations_membership_is_not_found(
    admin_client: Client, other_admin: Any, other_org: Any
) -> None:
    foreign = Membership.objects.get(organization=other_org, user=other_admin)
    assert admin_client.get(reverse("settings-member-remove", args=[foreign.pk])).status_code == 404
    assert admin_client.post(reverse("settings-member-remove", args=[foreign.pk])).status_code == 404
    assert (
        admin_client.post(
            reverse("settings-member-role", args=[foreign.pk]), {"role": "marketer"}
        ).status_code
        == 404
    )
    foreign.refresh_from_db()
    assert foreign.role == Role.ADMIN


# --- API keys -----------------------------------------------------------------------------------------


def test_a_new_api_key_is_shown_once(admin_client: Client, org: Organization) -> None:
    response = admin_client.post(reverse("settings-api-keys"), {"name": "Website forms", "scope": "capture"})
    assert response.status_code == 200
    body = response.content.decode()
    raw = re.search(r'<code id="raw-key">(lh_[^<]+)</code>', body)
    assert raw is not None
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(organization=org, name="Website forms")
    assert key.scope == "capture"
    assert raw.group(1) not in key.hashed_secret
    listing = admin_client.get(reverse("settings-api-keys")).content.decode()
    assert raw.group(1) not in listing
    assert f"lh_{key.prefix}_" in listing
    # The key works against the API.
    api = Client(headers={"Authorization": f"Bearer {raw.group(1)}"})
    assert api.get("/api/v1/leads/").status_code != 401


def test_api_key_form_shows_field_errors(admin_client: Client) -> None:
    response = admin_client.post(reverse("settings-api-keys"), {"name": "", "scope": "everything"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required." in body
    assert "Select a valid choice." in body


def test_revoking_a_key_asks_first_and_is_audited(
    admin_client: Client, org: Organization, in_org: Any
) -> None:
    with in_org():
        key, _ = api_key_create(organization=org, name="CRM sync", actor=Actor.system("test"))
    url = reverse("settings-api-key-revoke", args=[key.pk])
    assert "401 Unauthorized" in admin_client.get(url).content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    assert admin_client.post(url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "Revoked" in admin_client.get(reverse("settings-api-keys")).content.decode()
    with in_org():
        assert AuditLog.objects.filter(action="api_key.revoked", target_id=str(key.pk)).exists()


def test_another_organizations_key_cannot_be_revoked(admin_client: Client, other_org: Organization) -> None:
    with tenant_context(other_org):
        key, _ = api_key_create(organization=other_org, name="Globex key", actor=Actor.system("test"))
    assert admin_client.get(reverse("settings-api-key-revoke", args=[key.pk])).status_code == 404
    assert admin_client.post(reverse("settings-api-key-revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert "Globex key" not in admin_client.get(reverse("settings-api-keys")).content.decode()


# --- audit log ----------------------------------------------------------------------------------------


def test_audit_log_pages_without_overlap_and_filters_by_action(
    admin_client: Client, org: Organization, in_org: Any
) -> None:
    with in_org():
        for n in range(55):
            audit_record(actor=Actor.system("test"), action="export.created", target_label=f"export {n}")
        audit_record(actor=Actor.system("test"), action="erasure.done", target_label="erased contact")
    first = admin_client.get(reverse("settings-audit-log"))
    assert first.status_code == 200
    page = first.context["page"]
    assert len(page.rows) == 50
    second = admin_client.get(reverse("settings-audit-log"), {"cursor": page.next_cursor})
    rest = second.context["page"]
    assert len(rest.rows) == 6
    assert not {e.pk for e in page.rows} & {e.pk for e in rest.rows}
    back = admin_client.get(reverse("settings-audit-log"), {"cursor": rest.previous_cursor}).context["page"]
    assert [e.pk for e in back.rows] == [e.pk for e in page.rows]

    filtered = admin_client.get(reverse("settings-audit-log"), {"action": "erasure.done"})
    assert [e.action for e in filtered.context["page"].rows] == ["erasure.done"]
    assert "erased contact" in filtered.content.decode()


def test_audit_log_shows_only_this_organization(admin_client: Client, other_org: Organization) -> None:
    with tenant_context(other_org):
        audit_record(actor=Actor.system("test"), action="export.created", target_label="globex secret export")
    assert "globex secret export" not in admin_client.get(reverse("settings-audit-log")).content.decode()


def test_a_malformed_cursor_shows_the_first_page(admin_client: Client) -> None:
    response = admin_client.get(reverse("settings-audit-log"), {"cursor": "%%%not-base64"})
    assert response.status_code == 200


# --- error pages and the content security policy ------------------------------------------------------


def test_missing_pages_use_the_product_404(admin_client: Client) -> None:
    response = admin_client.get("/no-such-page/")
    assert response.status_code == 404
    assert "We can't find that page" in response.content.decode()


def test_the_500_page_renders_without_a_database(rf: Any) -> None:
    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.I)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def test_pages_keep_to_the_content_security_policy(
    admin_client: Client, client: Client, marketer: Any
) -> None:
    pages = [
        client.get(reverse("login")),
        admin_client.get(reverse("home")),
        admin_client.get(reverse("lead-list")),
        admin_client.get(reverse("settings-members")),
        admin_client.get(reverse("settings-api-keys")),
        admin_client.get(reverse("settings-audit-log")),
        admin_client.get(reverse("settings-custom-fields")),
        admin_client.get("/missing/"),
        Client().get(reverse("api-docs")),
    ]
    for response in pages:
        body = response.content.decode()
        assert not INLINE_SCRIPT.search(body), response.request["PATH_INFO"]
        assert not INLINE_STYLE.search(body), response.request["PATH_INFO"]
        assert not EVENT_HANDLER.search(body), response.request["PATH_INFO"]
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy

"""What every dashboard page knows: the organization, the member's role, the organizations they can
switch to, and the menus their role may use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from leadhub.tenancy.models import Role
from leadhub.tenancy.selectors import memberships_for_user


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    icon: str
    active: bool = False


def _item(request: HttpRequest, label: str, url_name: str, icon: str, query: str = "") -> NavItem:
    path = reverse(url_name)
    if query:
        key, _, value = query.partition("=")
        active = request.path == path and request.GET.get(key) == value
    elif url_name == "home":
        active = request.path == path
    else:
        # "All leads" stays lit on a lead's page, but not on the filtered "My leads".
        active = request.path.startswith(path) and request.GET.get("owner") != "me"
    return NavItem(label=label, url=f"{path}?{query}" if query else path, icon=icon, active=active)


def navigation(request: HttpRequest) -> dict[str, Any]:
    organization = getattr(request, "organization", None)
    membership = getattr(request, "membership", None)
    context: dict[str, Any] = {"organization": organization, "membership": membership}
    if membership is None:
        return context
    role = membership.role
    main = [_item(request, "Home", "home", "home"), _item(request, "All leads", "lead-list", "users")]
    if role in {Role.ADMIN, Role.MARKETER}:
        main += [
            _item(request, "Forms", "form-list", "form"),
            _item(request, "Landing pages", "landing-pages", "globe"),
            _item(request, "Chat flows", "chat-flow-list", "chat"),
            _item(request, "Scoring", "scoring-home", "sliders"),
        ]
    if role in {Role.ADMIN, Role.MARKETER, Role.SALES_MANAGER}:
        main.append(_item(request, "Predictive model", "predictive-model", "target"))
    if role in {Role.ADMIN, Role.SALES_MANAGER}:
        main.append(_item(request, "SLA", "sla-home", "clock"))
    if role == Role.SALES_REP:
        main.append(_item(request, "My leads", "lead-list", "user", query="owner=me"))
    main.append(_item(request, "My queue", "queue-mine", "clock"))
    if role in {Role.ADMIN, Role.SALES_MANAGER}:
        main.append(_item(request, "Team queues", "queue-team-queues", "team"))
    if role in {Role.ADMIN, Role.MARKETER, Role.SALES_MANAGER}:
        main.append(_item(request, "Rejection reasons", "queue-rejections", "trend"))
    main.append(_item(request, "Pipeline", "conversion-pipeline", "trend"))
    if role in {Role.ADMIN, Role.MARKETER, Role.SALES_MANAGER}:
        main.append(_item(request, "Referrals", "conversion-referrals", "referral"))
    settings: list[NavItem] = []
    if role == Role.ADMIN:
        settings += [
            _item(request, "Members & roles", "settings-members", "team"),
            _item(request, "API keys", "settings-api-keys", "key"),
            _item(request, "Audit log", "settings-audit-log", "log"),
        ]
    if role in {Role.ADMIN, Role.SALES_MANAGER}:
        settings.append(_item(request, "Sales teams", "queue-teams", "team"))
        settings.append(_item(request, "Assignment rules", "queue-rules", "switch"))
    if role in {Role.ADMIN, Role.MARKETER}:
        settings.append(_item(request, "Custom fields", "settings-custom-fields", "sliders"))
        settings.append(_item(request, "Tracking", "tracking", "globe"))
        settings.append(_item(request, "Ad lead sources", "ad-sources", "zap"))
        main.append(_item(request, "Imports", "import-list", "download"))
        main.append(_item(request, "Duplicates", "duplicates", "copy"))
    context.update(
        nav_main=main,
        nav_settings=settings,
        role_label=Role(role).label,
        # Only pages that draw the switcher pay for this query.
        switchable_memberships=SimpleLazyObject(lambda: list(memberships_for_user(user=request.user))),
    )
    return context

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from leadhub.tenancy.models import Membership, Organization


def memberships_for_user(*, user: Any) -> QuerySet[Membership]:
    if not getattr(user, "is_authenticated", False):
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def membership_for_request(*, user: Any, organization_id: int | None) -> Membership | None:
    """The user's membership in the organization they chose, else their first one."""
    memberships = memberships_for_user(user=user)
    if organization_id is not None:
        chosen = memberships.filter(organization_id=organization_id).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def organization_members(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user").order_by("user__email")

"""Django admin for platform staff. Tenant tables are shown for the organization the staff member is
working in (their session's organization), like every other page: the admin is no back door."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from leadhub.tenancy.models import ApiKey, AuditLog, Membership, Organization


class TenantAdmin(admin.ModelAdmin):
    # The organization comes from the staff member's current one, never from a form field.
    exclude = ("organization",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        organization = getattr(request, "organization", None)
        if organization is None:
            return self.model.unscoped.none()  # type: ignore[attr-defined]
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "organization", None) is not None and super().has_add_permission(request)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope"]
    search_fields = ["name", "prefix", "organization__slug"]
    readonly_fields = ["prefix", "hashed_secret", "created_at", "last_used_at", "created_by", "revoked_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Keys are created through the dashboard, the API or `create_api_key`, which show the secret once.
        return False


@admin.register(AuditLog)
class AuditLogAdmin(TenantAdmin):
    list_display = ["created_at", "actor_label", "action", "target_type", "target_label"]
    list_filter = ["action"]
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

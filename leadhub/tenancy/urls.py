from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from leadhub.tenancy import apis, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("organizations/switch/", views.organization_switch, name="organization-switch"),
    path("welcome/", views.no_organization, name="no-organization"),
    path("settings/members/", views.members, name="settings-members"),
    path("settings/members/<int:pk>/role/", views.member_role, name="settings-member-role"),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="settings-member-remove"),
    path("settings/api-keys/", views.api_keys, name="settings-api-keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke_view, name="settings-api-key-revoke"),
    path("settings/audit-log/", views.audit_log, name="settings-audit-log"),
]
_api_router = SimpleRouter()
_api_router.register("api-keys", apis.ApiKeyViewSet, basename="api-api-key")
_api_router.register("members", apis.MemberViewSet, basename="api-member")
_api_router.register("audit-log", apis.AuditLogViewSet, basename="api-audit-log")
api_urlpatterns: list[URLPattern | URLResolver] = [
    path("me/", apis.MeApi.as_view(), name="api-me"),
    *_api_router.urls,
]

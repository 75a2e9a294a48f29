"""Routes of the SLA part: pages under /conversion/sla/ and the API under /api/v1/conversion/sla/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from conversion.sla import apis, views

_api_router = SimpleRouter()
_api_router.register("conversion/sla/policies", apis.PolicyViewSet, basename="api-sla-policy")
_api_router.register("conversion/sla/business-hours", apis.BusinessHoursViewSet, basename="api-sla-hours")
_api_router.register("conversion/sla/holidays", apis.HolidayViewSet, basename="api-sla-holiday")

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("conversion/sla/compliance/", apis.ComplianceView.as_view(), name="api-sla-compliance"),
    *_api_router.urls,
]
urlpatterns: list[URLPattern | URLResolver] = [
    path("conversion/sla/", views.sla_home, name="sla-home"),
    path("conversion/sla/policies/", views.policy_list, name="sla-policies"),
    path("conversion/sla/policies/<int:pk>/", views.policy_edit, name="sla-policy-edit"),
    path("conversion/sla/policies/<int:pk>/delete/", views.policy_delete, name="sla-policy-delete"),
    path("conversion/sla/hours/", views.hours_list, name="sla-hours"),
    path("conversion/sla/hours/default/", views.hours_default_edit, name="sla-hours-default"),
    path("conversion/sla/hours/teams/<int:pk>/", views.hours_team_edit, name="sla-hours-team"),
    path(
        "conversion/sla/hours/teams/<int:pk>/delete/", views.hours_team_delete, name="sla-hours-team-delete"
    ),
    path("conversion/sla/holidays/", views.holiday_list, name="sla-holidays"),
    path("conversion/sla/holidays/<int:pk>/delete/", views.holiday_delete, name="sla-holiday-delete"),
]

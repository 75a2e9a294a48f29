from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from leads import apis, views
from leads.imports import urls as import_urls
from leads.tracking import urls as tracking_urls
from leads.webforms import urls as webforms_urls

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("funnel/", views.funnel_nav, name="funnel-nav"),
    path("leads/", views.lead_list, name="lead-list"),
    path("leads/bulk-stage/", views.lead_bulk_stage, name="lead-bulk-stage"),
    path("leads/<int:pk>/", views.lead_detail, name="lead-detail"),
    path("leads/<int:pk>/stage/", views.lead_stage, name="lead-stage"),
    path("settings/custom-fields/", views.custom_fields, name="settings-custom-fields"),
    path(
        "settings/custom-fields/<int:pk>/delete/",
        views.custom_field_delete_view,
        name="settings-custom-field-delete",
    ),
    *webforms_urls.urlpatterns,
    path("", include("leads.landing.urls")),
    *tracking_urls.urlpatterns,
    *import_urls.urlpatterns,
]
_api_router = SimpleRouter()
_api_router.register("contacts", apis.ContactViewSet, basename="api-contact")
_api_router.register("companies", apis.CompanyViewSet, basename="api-company")
_api_router.register("leads", apis.LeadViewSet, basename="api-lead")
_api_router.register("touchpoints", apis.TouchpointViewSet, basename="api-touchpoint")
_api_router.register("campaigns", apis.CampaignViewSet, basename="api-campaign")
_api_router.register("spend", apis.CampaignSpendViewSet, basename="api-spend")
_api_router.register("custom-fields", apis.CustomFieldViewSet, basename="api-custom-field")
api_urlpatterns: list[URLPattern | URLResolver] = [
    *_api_router.urls,
    *webforms_urls.api_urlpatterns,
    *tracking_urls.api_urlpatterns,
    *import_urls.api_urlpatterns,
]

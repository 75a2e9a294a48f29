"""Routes of imports, duplicates and a contact's data rights (dashboard and API)."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from leads.imports import views
from leads.privacy.apis import ContactRightsViewSet

urlpatterns: list[URLPattern | URLResolver] = [
    path("imports/", views.import_list, name="import-list"),
    path("imports/<int:pk>/map/", views.import_map, name="import-map"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/rejected.csv", views.import_rejections, name="import-rejections"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("duplicates/merge/", views.contact_merge, name="contact-merge"),
    path("contacts/<int:pk>/export/", views.contact_export_view, name="contact-export"),
    path("contacts/<int:pk>/erase/", views.contact_erase_view, name="contact-erase"),
]
_router = SimpleRouter()
_router.register("contacts", ContactRightsViewSet, basename="api-contact-rights")
api_urlpatterns: list[URLPattern | URLResolver] = [*_router.urls]

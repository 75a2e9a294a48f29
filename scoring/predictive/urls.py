"""Routes of predictive scoring: the dashboard page and the API under /api/v1/scoring/predictive/."""

from django.urls import URLPattern, URLResolver, path, re_path
from rest_framework.routers import SimpleRouter

from scoring.predictive import apis, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("scoring/predictive/", views.predictive_model, name="predictive-model"),
    path("scoring/predictive/train/", views.predictive_train, name="predictive-train"),
    path("scoring/predictive/progress/", views.predictive_progress, name="predictive-progress"),
    path("scoring/predictive/settings/", views.predictive_settings, name="predictive-settings"),
    path("scoring/predictive/versions/<int:pk>/", views.predictive_version, name="predictive-version"),
]

_router = SimpleRouter()
_router.register(
    "scoring/predictive/versions", apis.PredictiveVersionViewSet, basename="api-predictive-version"
)
_router.register("scoring/predictive/runs", apis.PredictiveRunViewSet, basename="api-predictive-run")
api_urlpatterns: list[URLPattern | URLResolver] = [
    path("scoring/predictive/model/", apis.PredictiveModelView.as_view(), name="api-predictive-model"),
    path(
        "scoring/predictive/settings/", apis.PredictiveSettingsView.as_view(), name="api-predictive-settings"
    ),
    # A regex route like the routers' ones (the schema and the isolation sweep read them alike).
    re_path(
        r"^scoring/predictive/leads/(?P<pk>\d+)/$",
        apis.PredictiveLeadViewSet.as_view({"get": "retrieve"}),
        name="api-predictive-lead",
    ),
    *_router.urls,
]

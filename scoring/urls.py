"""Routes of the qualification app (dashboard pages and API), gathered for leadhub/urls.py: the scoring
engine's, the chat's and predictive scoring's."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from scoring import apis, views
from scoring.chat import urls as chat_urls
from scoring.predictive import urls as predictive_urls

_api_router = SimpleRouter()
_api_router.register("scoring/models", apis.ScoringModelViewSet, basename="api-scoring-model")
_api_router.register("scoring/versions", apis.VersionViewSet, basename="api-scoring-version")
_api_router.register("scoring/rules", apis.RuleViewSet, basename="api-scoring-rule")
_api_router.register("scoring/backtests", apis.BacktestViewSet, basename="api-scoring-backtest")
_api_router.register("scoring/recomputes", apis.RecomputeJobViewSet, basename="api-scoring-recompute")
_api_router.register("scoring/leads", apis.LeadScoringViewSet, basename="api-scoring-lead")

api_urlpatterns: list[URLPattern | URLResolver] = [
    *_api_router.urls,
    path("scoring/thresholds/", apis.ThresholdsView.as_view(), name="api-scoring-thresholds"),
    path("scoring/", include(chat_urls.api_urlpatterns)),
    *predictive_urls.api_urlpatterns,
]
urlpatterns: list[URLPattern | URLResolver] = [
    path("scoring/", views.scoring_home, name="scoring-home"),
    path("scoring/recomputes/<int:pk>/", views.recompute_progress, name="scoring-recompute"),
    path("scoring/versions/<int:pk>/", views.version_detail, name="scoring-version"),
    path("scoring/versions/<int:pk>/rules/", views.version_rule_add, name="scoring-rule-add"),
    path("scoring/versions/<int:pk>/grades/", views.version_grades, name="scoring-grades"),
    path("scoring/versions/<int:pk>/draft/", views.version_draft, name="scoring-draft"),
    path("scoring/versions/<int:pk>/publish/", views.version_publish, name="scoring-publish"),
    path("scoring/versions/<int:pk>/backtest/", views.version_backtest, name="scoring-backtest"),
    path("scoring/rules/<int:pk>/delete/", views.rule_delete, name="scoring-rule-delete"),
    path("scoring/leads/<int:pk>/", views.lead_score, name="scoring-lead"),
    path("scoring/leads/<int:pk>/adjust/", views.lead_adjust, name="scoring-lead-adjust"),
    path("scoring/leads/<int:pk>/bant/", views.lead_bant, name="scoring-lead-bant"),
    *chat_urls.urlpatterns,
    *predictive_urls.urlpatterns,
]

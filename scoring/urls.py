from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from scoring import apis

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
]
urlpatterns: list[URLPattern | URLResolver] = []

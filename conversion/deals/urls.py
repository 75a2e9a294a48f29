"""Routes of deals and the referral programme (pages and API), included by conversion/urls.py."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from conversion.deals import apis, views
from conversion.referrals import apis as referral_apis
from conversion.referrals import views as referral_views

_router = SimpleRouter()
_router.register("conversion/pipeline-stages", apis.PipelineStageViewSet, basename="api-conversion-stage")
_router.register("conversion/opportunities", apis.OpportunityViewSet, basename="api-conversion-opportunity")
_router.register("conversion/accounts", apis.AccountViewSet, basename="api-conversion-account")
_router.register(
    "conversion/onboarding-steps", apis.OnboardingStepViewSet, basename="api-conversion-onboarding"
)
_router.register(
    "conversion/onboarding-plan-steps", apis.OnboardingPlanStepViewSet, basename="api-conversion-plan-step"
)
_router.register(
    "conversion/referrals/codes", referral_apis.ReferralCodeViewSet, basename="api-referral-code"
)
_router.register("conversion/referrals/rewards", referral_apis.RewardViewSet, basename="api-referral-reward")

api_urlpatterns: list[URLPattern | URLResolver] = [
    *_router.urls,
    path(
        "conversion/referrals/programme/",
        referral_apis.ProgrammeView.as_view(),
        name="api-referral-programme",
    ),
    path("conversion/referrals/results/", referral_apis.ResultsView.as_view(), name="api-referral-results"),
]
urlpatterns: list[URLPattern | URLResolver] = [
    path("conversion/pipeline/", views.pipeline, name="conversion-pipeline"),
    path("conversion/pipeline/stages/", views.stages, name="conversion-stages"),
    path("conversion/pipeline/stages/<int:pk>/", views.stage_edit, name="conversion-stage-edit"),
    path("conversion/opportunities/", views.opportunity_list, name="conversion-opportunities"),
    path("conversion/opportunities/new/", views.opportunity_new, name="conversion-opportunity-new"),
    path("conversion/opportunities/<int:pk>/", views.opportunity_detail, name="conversion-opportunity"),
    path(
        "conversion/opportunities/<int:pk>/move/", views.opportunity_move, name="conversion-opportunity-move"
    ),
    path("conversion/opportunities/<int:pk>/won/", views.opportunity_won, name="conversion-opportunity-won"),
    path(
        "conversion/opportunities/<int:pk>/lost/", views.opportunity_lost, name="conversion-opportunity-lost"
    ),
    path("conversion/accounts/", views.account_list, name="conversion-accounts"),
    path("conversion/accounts/<int:pk>/", views.account_detail, name="conversion-account"),
    path("conversion/onboarding-steps/<int:pk>/", views.step_toggle, name="conversion-step-toggle"),
    path("conversion/onboarding/plan/", views.onboarding_plan, name="conversion-onboarding-plan"),
    path(
        "conversion/onboarding/plan/steps/<int:pk>/delete/",
        views.onboarding_plan_step_delete,
        name="conversion-plan-step-delete",
    ),
    path("conversion/referrals/", referral_views.programme, name="conversion-referrals"),
    path(
        "conversion/referrals/rewards/<int:pk>/",
        referral_views.reward_status,
        name="conversion-reward-status",
    ),
]

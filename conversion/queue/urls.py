"""Routes of the handoff queue: the rep's queue and decisions, the managers' pages, and the API."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from conversion.queue import apis, manage_views, views

_router = SimpleRouter()
_router.register("conversion/handoffs", apis.HandoffViewSet, basename="api-queue-handoff")
_router.register("conversion/teams", apis.TeamViewSet, basename="api-queue-team")
_router.register("conversion/team-members", apis.TeamMemberViewSet, basename="api-queue-team-member")
_router.register("conversion/assignment-rules", apis.AssignmentRuleViewSet, basename="api-queue-rule")

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("conversion/queue/", apis.QueueView.as_view(), name="api-queue"),
    path("conversion/rejections/", apis.RejectionReportView.as_view(), name="api-queue-rejections"),
    *_router.urls,
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("conversion/queue/", views.queue_mine, name="queue-mine"),
    path("conversion/handoffs/<int:pk>/row/", views.handoff_row, name="queue-handoff-row"),
    path("conversion/handoffs/<int:pk>/accept/", views.handoff_accept, name="queue-handoff-accept"),
    path("conversion/handoffs/<int:pk>/reject/", views.handoff_reject, name="queue-handoff-reject"),
    path(
        "conversion/handoffs/<int:pk>/reassign/", manage_views.handoff_reassign, name="queue-handoff-reassign"
    ),
    path("conversion/team-queues/", manage_views.team_queues, name="queue-team-queues"),
    path("conversion/fallback/", manage_views.fallback_queue, name="queue-fallback"),
    path("conversion/breaches/", manage_views.breaches, name="queue-breaches"),
    path("conversion/teams/", manage_views.teams, name="queue-teams"),
    path("conversion/teams/<int:pk>/", manage_views.team_detail, name="queue-team"),
    path("conversion/teams/<int:pk>/delete/", manage_views.team_delete, name="queue-team-delete"),
    path("conversion/team-members/<int:pk>/", manage_views.member_update, name="queue-member-update"),
    path("conversion/team-members/<int:pk>/remove/", manage_views.member_remove, name="queue-member-remove"),
    path("conversion/rules/", manage_views.rules, name="queue-rules"),
    path("conversion/rules/<int:pk>/", manage_views.rule_edit, name="queue-rule-edit"),
    path("conversion/rules/<int:pk>/delete/", manage_views.rule_delete, name="queue-rule-delete"),
    path("conversion/rules/<int:pk>/move/", manage_views.rule_move, name="queue-rule-move"),
    path("conversion/rejections/", manage_views.rejections, name="queue-rejections"),
]

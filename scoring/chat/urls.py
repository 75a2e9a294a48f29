from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from scoring.chat import apis, public, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("scoring/chat-flows/", views.chat_flow_list, name="chat-flow-list"),
    path("scoring/chat-flows/new/", views.chat_flow_create_view, name="chat-flow-create"),
    path("scoring/chat-flows/<int:pk>/", views.chat_flow_edit, name="chat-flow-edit"),
    path("scoring/chat-flows/<int:pk>/delete/", views.chat_flow_delete_view, name="chat-flow-delete"),
    path(
        "scoring/chat-flows/<int:pk>/questions/add/", views.chat_question_add_view, name="chat-question-add"
    ),
    path(
        "scoring/chat-flows/<int:pk>/questions/<int:chat_question_pk>/",
        views.chat_question_edit,
        name="chat-question-edit",
    ),
    path(
        "scoring/chat-flows/<int:pk>/questions/<int:chat_question_pk>/move/",
        views.chat_question_move_view,
        name="chat-question-move",
    ),
    path(
        "scoring/chat-flows/<int:pk>/questions/<int:chat_question_pk>/delete/",
        views.chat_question_delete_view,
        name="chat-question-delete",
    ),
    path("scoring/chat-flows/<int:pk>/conditions/", views.chat_condition_add_view, name="chat-condition-add"),
    path(
        "scoring/chat-flows/<int:pk>/conditions/remove/",
        views.chat_condition_remove_view,
        name="chat-condition-remove",
    ),
    path(
        "scoring/chat-flows/<int:pk>/conditions/match/",
        views.chat_condition_match_view,
        name="chat-condition-match",
    ),
    path("scoring/chat-flows/<int:pk>/conversations/", views.chat_conversations, name="chat-conversations"),
    # Public: reached with the flow's key from the customer's website (leadhub.tenancy.public).
    path("embed/chat/<str:key>.js", public.widget_script, name="chat-widget-script"),
    path("embed/chat/<str:key>/", public.flow_public, name="chat-public"),
    path("embed/chat/<str:key>/conversations/", public.conversation_start_view, name="chat-public-start"),
    path(
        "embed/chat/<str:key>/conversations/<str:token>/",
        public.conversation_view,
        name="chat-public-conversation",
    ),
    path(
        "embed/chat/<str:key>/conversations/<str:token>/answers/",
        public.answer_view,
        name="chat-public-answer",
    ),
    path(
        "embed/chat/<str:key>/conversations/<str:token>/meeting/",
        public.meeting_view,
        name="chat-public-meeting",
    ),
    path(
        "embed/chat/<str:key>/conversations/<str:token>/handoff/",
        public.handoff_view,
        name="chat-public-handoff",
    ),
]

_api_router = SimpleRouter()
_api_router.register("chat-flows", apis.ChatFlowViewSet, basename="api-chat-flow")
_api_router.register(
    r"chat-flows/(?P<chat_flow_pk>\d+)/conversations",
    apis.ChatConversationViewSet,
    basename="api-chat-conversation",
)
api_urlpatterns: list[URLPattern | URLResolver] = [*_api_router.urls]

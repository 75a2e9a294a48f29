"""Reads of the chat: flows with their conversation counts, a flow's conversations with answers and
leads, and who changed a flow."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from leadhub.tenancy.models import AuditLog
from scoring.models_chat import ChatAnswer, ChatFlow, ChatQuestion, ChatSession, SessionStatus


def chat_flow_list() -> QuerySet[ChatFlow]:
    return (
        ChatFlow.objects.select_related("updated_by")
        .annotate(
            conversations=Count("sessions", filter=~Q(sessions__status=SessionStatus.SPAM)),
            qualified=Count("sessions", filter=Q(sessions__status=SessionStatus.QUALIFIED)),
            question_count=Count("questions", distinct=True),
        )
        .order_by("name")
    )


def chat_questions(flow: ChatFlow) -> list[ChatQuestion]:
    return list(
        ChatQuestion.objects.filter(flow=flow).select_related("custom_field").order_by("position", "id")
    )


def chat_conversations(flow: ChatFlow, status: str = "") -> QuerySet[ChatSession]:
    sessions = (
        ChatSession.objects.filter(flow=flow)
        .select_related("lead", "lead__contact")
        .prefetch_related(Prefetch("answers", queryset=ChatAnswer.objects.order_by("answered_at", "id")))
        .prefetch_related("meeting_requests")
    )
    return sessions.filter(status=status) if status else sessions


def chat_flow_changes(flow: ChatFlow, limit: int = 10) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(target_type="ChatFlow", target_id=str(flow.pk))
        .select_related("actor_user", "actor_api_key")
        .order_by("-created_at", "-id")[:limit]
    )

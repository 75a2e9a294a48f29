"""Chat flow API: CRUD of flows with their questions (in order) and qualification conditions, and each
flow's conversations, read-only."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.tenancy.models import Organization
from leads.apis.base import MARKETING_ROLES, ApiViewSet
from scoring.chat import services
from scoring.chat.serializers import (
    ChatConversationSerializer,
    ChatFlowOutputSerializer,
    ChatFlowWriteSerializer,
)
from scoring.models_chat import ChatAnswer, ChatFlow, ChatSession


def _flow_write(flow: ChatFlow | None, data: dict[str, Any], viewset: ApiViewSet) -> ChatFlow:
    questions = data.pop("questions", None)
    conditions = data.pop("qualification", None)
    match = data.pop("qualification_match", None)
    # Going live is checked last, against the questions sent in the same request.
    live = data.pop("is_active", None)
    actor = viewset.actor
    with transaction.atomic():
        if flow is None:
            flow = services.chat_flow_create(data=data, actor=actor)
        elif data:
            services.chat_flow_update(flow=flow, data=data, actor=actor)
        if questions is not None:
            items = [{**dict(q), "ask_if": dict(q["ask_if"]) if q.get("ask_if") else {}} for q in questions]
            services.chat_questions_set(flow=flow, questions=items, actor=actor)
        if conditions is not None or match is not None:
            services.chat_qualification_set(
                flow=flow,
                conditions=[dict(c) for c in conditions] if conditions is not None else flow.qualification,
                match=match,
                actor=actor,
            )
        if live is not None:
            services.chat_flow_update(flow=flow, data={"is_active": live}, actor=actor)
    flow.refresh_from_db()
    return flow


class ChatFlowViewSet(ApiViewSet):
    """Chat flows with their questions and qualification conditions. PATCH with `questions` or
    `qualification` replaces that whole list; a flow goes live (`is_active`) only with an email
    question and its allowed domains."""

    model = ChatFlow
    output_serializer = ChatFlowOutputSerializer
    ordering_fields = ["id", "name", "updated_at"]
    ordering = "id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[ChatFlow]:
        return ChatFlow.objects.select_related("updated_by").prefetch_related("questions")

    @extend_schema(request=ChatFlowWriteSerializer, responses={201: ChatFlowOutputSerializer})
    def create(self, request: Request) -> Response:
        return self.render(
            _flow_write(None, self.parse(ChatFlowWriteSerializer), self), status.HTTP_201_CREATED
        )

    @extend_schema(request=ChatFlowWriteSerializer, responses=ChatFlowOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        flow = self.get_object()
        return self.render(_flow_write(flow, self.parse(ChatFlowWriteSerializer, partial=True), self))

    def destroy(self, request: Request, pk: str) -> Response:
        services.chat_flow_delete(flow=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatConversationViewSet(ApiViewSet):
    """A flow's conversations, newest first, with their answers (each with the question text it
    answered), the lead they filled and any meeting request. Filter with `?status=`."""

    model = ChatSession
    output_serializer = ChatConversationSerializer
    http_method_names = ["get", "head", "options"]
    ordering_fields = ["id", "started_at"]
    ordering = "-id"

    def scoped_queryset(self, organization: Organization) -> QuerySet[ChatSession]:
        flow = get_object_or_404(ChatFlow, pk=self.kwargs["chat_flow_pk"])
        sessions = ChatSession.objects.filter(flow=flow).prefetch_related(
            Prefetch("answers", queryset=ChatAnswer.objects.order_by("answered_at", "id")), "meeting_requests"
        )
        wanted = self.request.query_params.get("status", "")
        return sessions.filter(status=wanted) if wanted else sessions

    def list(self, request: Request, chat_flow_pk: str = "") -> Response:
        return super().list(request)

    def retrieve(self, request: Request, pk: str, chat_flow_pk: str = "") -> Response:
        return super().retrieve(request, pk)

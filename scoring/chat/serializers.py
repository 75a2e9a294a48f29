"""Input and output serializers of the chat flow API. Inputs check shapes; the services check meaning
(and name the field that is wrong)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scoring.chat.rules import rule_words
from scoring.models_chat import (
    AnswerType,
    ChatAnswer,
    ChatFlow,
    ChatQuestion,
    ChatSession,
    ConditionOp,
    MeetingRequest,
    QualificationMatch,
)


class ConditionSerializer(serializers.Serializer):
    question = serializers.CharField(
        max_length=60, help_text="The key of the question whose answer is compared."
    )
    op = serializers.ChoiceField(choices=ConditionOp.choices, default=ConditionOp.IN)
    values = serializers.ListField(
        child=serializers.JSONField(), required=False, max_length=50, help_text="Options, numbers, or yes/no."
    )

    def to_representation(self, instance: Any) -> Any:
        # A question asked always stores {} as its condition: shown as null.
        return super().to_representation(instance) if instance else None


class ChatQuestionSerializer(serializers.ModelSerializer):
    key = serializers.CharField(max_length=60)
    answer_type = serializers.ChoiceField(choices=AnswerType.choices)
    options = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=30
    )
    target = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="lead.budget|authority|need|timing, contact.first_name|last_name|job_title|phone, "
        "company.name, custom.<contact|company>.<key>, or empty; an email question fills contact.email.",
    )
    ask_if = ConditionSerializer(
        required=False, allow_null=True, help_text="Ask only if an earlier answer matches."
    )

    class Meta:
        model = ChatQuestion
        fields = [
            "id",
            "key",
            "prompt",
            "answer_type",
            "options",
            "min_value",
            "max_value",
            "target",
            "ask_if",
            "position",
        ]
        read_only_fields = ["id", "position"]


class ChatFlowOutputSerializer(serializers.ModelSerializer):
    questions = serializers.SerializerMethodField()
    qualification = ConditionSerializer(many=True, read_only=True)
    qualification_rule = serializers.SerializerMethodField()
    embed_script = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()

    class Meta:
        model = ChatFlow
        fields = [
            "id",
            "name",
            "greeting",
            "allowed_domains",
            "is_active",
            "consent_text",
            "questions",
            "qualification",
            "qualification_match",
            "qualification_rule",
            "offer_meeting",
            "offer_handoff",
            "qualified_message",
            "closing_message",
            "content_offer_label",
            "content_offer_url",
            "public_key",
            "embed_script",
            "version",
            "created_at",
            "updated_at",
            "updated_by",
        ]

    @extend_schema_field(ChatQuestionSerializer(many=True))
    def get_questions(self, flow: ChatFlow) -> list[dict[str, Any]]:
        return list(ChatQuestionSerializer(flow.questions.order_by("position", "id"), many=True).data)

    def get_qualification_rule(self, flow: ChatFlow) -> str:
        return rule_words(flow.qualification, flow.qualification_match)

    def get_embed_script(self, flow: ChatFlow) -> str:
        request = self.context.get("request")
        base = request.build_absolute_uri("/").rstrip("/") if request is not None else ""
        return f'<script src="{base}/embed/chat/{flow.public_key}.js" async></script>'

    @extend_schema_field(serializers.EmailField(allow_null=True))
    def get_updated_by(self, flow: ChatFlow) -> str | None:
        return getattr(flow.updated_by, "email", None) if flow.updated_by_id else None


class ChatFlowWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    greeting = serializers.CharField(max_length=1000, required=False)
    allowed_domains = serializers.ListField(
        child=serializers.CharField(max_length=260), required=False, max_length=20
    )
    is_active = serializers.BooleanField(required=False)
    consent_text = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    questions = ChatQuestionSerializer(
        many=True, required=False, help_text="The whole list, in order, matched by key."
    )
    qualification = ConditionSerializer(many=True, required=False, help_text="The whole list of conditions.")
    qualification_match = serializers.ChoiceField(choices=QualificationMatch.choices, required=False)
    offer_meeting = serializers.BooleanField(required=False)
    offer_handoff = serializers.BooleanField(required=False)
    qualified_message = serializers.CharField(max_length=1000, required=False)
    closing_message = serializers.CharField(max_length=1000, required=False)
    content_offer_label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    content_offer_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ChatAnswerSerializer(serializers.ModelSerializer):
    question = serializers.CharField(source="question_key")
    value = serializers.JSONField()

    class Meta:
        model = ChatAnswer
        fields = ["question", "prompt", "answer_type", "value", "display", "flow_version", "answered_at"]


class MeetingRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = MeetingRequest
        fields = ["id", "preferred_day", "preferred_slot", "visitor_timezone", "note", "created_at"]


class ChatConversationSerializer(serializers.ModelSerializer):
    answers = ChatAnswerSerializer(many=True, read_only=True)
    meeting_requests = MeetingRequestSerializer(many=True, read_only=True)

    class Meta:
        model = ChatSession
        fields = [
            "id",
            "flow",
            "flow_version",
            "status",
            "outcome",
            "reason",
            "lead",
            "email_normalized",
            "visitor_id",
            "page_url",
            "consent_text",
            "consent_at",
            "answers",
            "meeting_requests",
            "started_at",
            "updated_at",
            "finished_at",
        ]

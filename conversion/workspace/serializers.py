"""API shapes of the workspace: input serializers parse and check types, output ones render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversion.models import Activity, ActivityKind, Note, Notification, NotificationKind, Task
from conversion.workspace.services import NOTE_MAX_CHARS, TASK_TITLE_MAX
from leads.serializers import MemberField, UserRefSerializer


class NoteInputSerializer(serializers.Serializer):
    body = serializers.CharField(
        max_length=NOTE_MAX_CHARS,
        help_text="Plain text. `@email` or `@name` of a member of the organization notifies them.",
    )


class NoteOutputSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True, allow_null=True)
    mentions = serializers.SerializerMethodField()

    class Meta:
        model = Note
        fields = ["id", "lead", "author", "body", "mentions", "created_at", "updated_at"]

    @extend_schema_field(UserRefSerializer(many=True))
    def get_mentions(self, note: Note) -> list[dict[str, Any]]:
        return list(UserRefSerializer([m.user for m in note.mentions.all()], many=True).data)


class ActivityInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ActivityKind.choices)
    outcome = serializers.CharField(
        max_length=60,
        required=False,
        allow_blank=True,
        help_text="Connected, left voicemail, meeting booked…",
    )
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False, help_text="Default: now. Not in the future.")
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=1440)


class ActivityOutputSerializer(serializers.ModelSerializer):
    user = UserRefSerializer(read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=ActivityKind.choices)

    class Meta:
        model = Activity
        fields = [
            "id",
            "lead",
            "user",
            "kind",
            "outcome",
            "subject",
            "notes",
            "occurred_at",
            "duration_minutes",
            "created_at",
        ]


class TaskInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=TASK_TITLE_MAX)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    assignee = MemberField(
        required=False, allow_null=True, help_text="User id of a member of the organization."
    )


class TaskOutputSerializer(serializers.ModelSerializer):
    assignee = UserRefSerializer(read_only=True, allow_null=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    done_by = UserRefSerializer(read_only=True, allow_null=True)
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "lead",
            "title",
            "due_at",
            "assignee",
            "is_overdue",
            "done_at",
            "done_by",
            "created_by",
            "created_at",
        ]


class NotificationOutputSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=NotificationKind.choices)

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "lead", "created_at", "read_at"]


class NotificationReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=500,
        help_text="The notifications to mark read; leave out to mark all of them.",
    )


class NotificationReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()

"""Input and output shapes of the SLA API. Inputs parse; the services validate the rules (and name the
field in their errors)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversion.models import BusinessHours, Escalation, Holiday, SalesTeam, SlaPolicy
from leads.serializers import TenantRelatedField


class PolicyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    position = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    is_active = serializers.BooleanField(required=False, default=True)
    grades = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    min_score = serializers.IntegerField(required=False, allow_null=True, default=None)
    max_score = serializers.IntegerField(required=False, allow_null=True, default=None)
    min_priority = serializers.IntegerField(required=False, allow_null=True, default=None)
    max_priority = serializers.IntegerField(required=False, allow_null=True, default=None)
    accept_minutes = serializers.IntegerField(help_text="Business minutes to accept or reject.")
    contact_minutes = serializers.IntegerField(help_text="Business minutes to first contact.")
    warn_percent = serializers.IntegerField(required=False, allow_null=True, default=75)
    warn_minutes_before = serializers.IntegerField(required=False, allow_null=True, default=None)
    escalation = serializers.ChoiceField(
        choices=Escalation.choices, required=False, default=Escalation.NOTIFY
    )


class PolicyOutputSerializer(serializers.ModelSerializer):
    tier = serializers.CharField(read_only=True)

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "position",
            "is_active",
            "grades",
            "min_score",
            "max_score",
            "min_priority",
            "max_priority",
            "accept_minutes",
            "contact_minutes",
            "warn_percent",
            "warn_minutes_before",
            "escalation",
            "tier",
            "created_at",
            "updated_at",
        ]


class BusinessHoursInputSerializer(serializers.Serializer):
    team = TenantRelatedField(SalesTeam, required=False, allow_null=True, default=None)
    week = serializers.JSONField(
        help_text=(
            'Seven lists (Monday first) of [start, end] local times: [[["09:00", "17:00"]], ..., [], []].'
        )
    )
    timezone = serializers.CharField(
        max_length=64, required=False, help_text="IANA zone of the organization default; teams use their own."
    )


class BusinessHoursUpdateSerializer(serializers.Serializer):
    week = serializers.JSONField()
    timezone = serializers.CharField(max_length=64, required=False)


class BusinessHoursOutputSerializer(serializers.ModelSerializer):
    team_name = serializers.SerializerMethodField()
    timezone = serializers.SerializerMethodField()

    class Meta:
        model = BusinessHours
        fields = ["id", "team", "team_name", "timezone", "week", "updated_at"]

    def get_team_name(self, hours: BusinessHours) -> str | None:
        return hours.team.name if hours.team_id and hours.team else None

    def get_timezone(self, hours: BusinessHours) -> str:
        """The zone the hours run in: the team's, or the default's own."""
        return hours.team.timezone if hours.team_id and hours.team else hours.timezone


class HolidayInputSerializer(serializers.Serializer):
    date = serializers.DateField()
    name = serializers.CharField(max_length=100)
    team = TenantRelatedField(SalesTeam, required=False, allow_null=True, default=None)
    yearly = serializers.BooleanField(required=False, default=False)


class HolidayOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Holiday
        fields = ["id", "date", "name", "team", "yearly", "created_at"]


class FiguresSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="key", allow_null=True)
    name = serializers.CharField(source="label")
    accept_total = serializers.IntegerField(help_text="Handoffs decided (accepted or rejected).")
    accept_met = serializers.IntegerField()
    accept_rate = serializers.FloatField(allow_null=True, help_text="% decided within the SLA.")
    contact_total = serializers.IntegerField()
    contact_met = serializers.IntegerField()
    contact_rate = serializers.FloatField(allow_null=True, help_text="% first contacted within the SLA.")
    median_accept_minutes = serializers.FloatField(allow_null=True, help_text="In business minutes.")
    median_contact_minutes = serializers.FloatField(allow_null=True, help_text="In business minutes.")
    breaches = serializers.IntegerField()
    running = serializers.IntegerField()


class ComplianceSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    team = serializers.SerializerMethodField()
    overall = FiguresSerializer()
    teams = FiguresSerializer(many=True)
    reps = FiguresSerializer(many=True)

    def get_team(self, report: Any) -> int | None:
        return report.team.pk if report.team is not None else None


class ComplianceQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (default: 30 days ago).")
    end = serializers.DateField(required=False, help_text="Last day, included (default: today).")
    team = TenantRelatedField(SalesTeam, required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and start > end:
            raise serializers.ValidationError({"end": ["The period ends before it starts."]})
        if start and end and (end - start).days > 366:
            raise serializers.ValidationError({"start": ["Ask for at most a year at a time."]})
        return attrs

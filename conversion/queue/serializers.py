"""Input and output shapes of the queue API. Inputs check types; the services check meaning (rule
conditions, time zones, who may decide) and name the field in their errors."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversion.models import AssignmentRule, Handoff, RejectionReason, RuleKind, SalesTeam, TeamMember
from conversion.queue.services import workspace_path_maker
from leads.models import Stage
from leads.serializers import MemberField, TenantRelatedField


class HandoffLeadSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()
    email = serializers.EmailField(source="contact.email", read_only=True)
    company = serializers.SerializerMethodField()
    stage = serializers.CharField(read_only=True)
    score = serializers.IntegerField(read_only=True)
    grade = serializers.CharField(read_only=True)
    source_channel = serializers.CharField(read_only=True)
    campaign = serializers.SerializerMethodField()

    def get_name(self, lead: Any) -> str:
        return str(lead.contact)

    def get_company(self, lead: Any) -> str | None:
        company = lead.contact.company
        return company.name if company else None

    def get_campaign(self, lead: Any) -> str | None:
        return lead.campaign.name if lead.campaign_id else None


class HandoffOutputSerializer(serializers.ModelSerializer):
    lead = HandoffLeadSerializer(read_only=True)
    assigned_to = serializers.IntegerField(source="assigned_to_id", read_only=True, allow_null=True)
    team = serializers.IntegerField(source="team_id", read_only=True, allow_null=True)
    decided_by = serializers.IntegerField(source="decided_by_id", read_only=True, allow_null=True)
    previous = serializers.IntegerField(source="previous_id", read_only=True, allow_null=True)
    workspace_url = serializers.SerializerMethodField()

    class Meta:
        model = Handoff
        ref_name = "Handoff"
        fields = [
            "id",
            "lead",
            "from_stage",
            "team",
            "assigned_to",
            "assigned_by_rule",
            "status",
            "priority",
            "handed_at",
            "decided_at",
            "decided_by",
            "rejection_reason",
            "rejection_note",
            "first_contact_at",
            "sla_due_at",
            "sla_state",
            "previous",
            "workspace_url",
        ]

    def get_workspace_url(self, handoff: Handoff) -> str:
        # Reversed once per response (kept on the list serializer), not once per row.
        root = self.root
        make = getattr(root, "_workspace_path", None)
        if make is None:
            make = workspace_path_maker()
            root._workspace_path = make  # type: ignore[attr-defined]
        return make(handoff.lead_id)


class RejectInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=RejectionReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    outcome = serializers.ChoiceField(
        choices=[Stage.RECYCLED, Stage.DISQUALIFIED],
        required=False,
        allow_blank=True,
        default="",
        help_text="recycled (back to nurturing) or disqualified; empty: as the reason suggests.",
    )


class ReassignInputSerializer(serializers.Serializer):
    assigned_to = MemberField(allow_null=True, help_text="The new rep's user id; null: the fallback queue.")
    reason = serializers.CharField(max_length=200)


class TeamOutputSerializer(serializers.ModelSerializer):
    manager = serializers.IntegerField(source="manager_id", read_only=True, allow_null=True)

    class Meta:
        model = SalesTeam
        ref_name = "SalesTeam"
        fields = ["id", "name", "timezone", "manager", "created_at"]


class TeamInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    timezone = serializers.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    manager = MemberField(required=False, allow_null=True, default=None)


class TeamUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    manager = MemberField(required=False, allow_null=True)


class TeamMemberOutputSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id", read_only=True)
    user = serializers.IntegerField(source="user_id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = TeamMember
        ref_name = "SalesTeamMember"
        fields = [
            "id",
            "team",
            "user",
            "email",
            "is_active",
            "max_open_leads",
            "last_assigned_at",
            "joined_at",
        ]


class TeamMemberInputSerializer(serializers.Serializer):
    team = TenantRelatedField(SalesTeam)
    user = serializers.IntegerField()
    max_open_leads = serializers.IntegerField(required=False, allow_null=True, default=None)
    is_active = serializers.BooleanField(required=False, default=True)


class TeamMemberUpdateSerializer(serializers.Serializer):
    max_open_leads = serializers.IntegerField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)


class ConditionsSerializer(serializers.Serializer):
    countries = serializers.ListField(child=serializers.CharField(), required=False)
    regions = serializers.ListField(child=serializers.CharField(), required=False)
    industries = serializers.ListField(child=serializers.CharField(), required=False)
    size_min = serializers.IntegerField(required=False, allow_null=True)
    size_max = serializers.IntegerField(required=False, allow_null=True)
    grades = serializers.ListField(child=serializers.CharField(), required=False)
    stages = serializers.ListField(child=serializers.CharField(), required=False)


class AssignmentRuleOutputSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id", read_only=True, allow_null=True)
    user = serializers.IntegerField(source="user_id", read_only=True, allow_null=True)
    conditions = ConditionsSerializer(read_only=True)

    class Meta:
        model = AssignmentRule
        ref_name = "AssignmentRule"
        fields = [
            "id",
            "name",
            "position",
            "is_active",
            "kind",
            "conditions",
            "team",
            "user",
            "created_at",
            "updated_at",
        ]


class AssignmentRuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    is_active = serializers.BooleanField(required=False, default=True)
    # Passed through as given: the service validates each condition and names it (conditions.grades).
    conditions = serializers.JSONField(
        required=False, default=dict, help_text="See AssignmentRule.conditions."
    )
    team = TenantRelatedField(SalesTeam, required=False, allow_null=True, default=None)
    user = serializers.IntegerField(required=False, allow_null=True, default=None)


class AssignmentRuleUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=RuleKind.choices, required=False)
    is_active = serializers.BooleanField(required=False)
    conditions = serializers.JSONField(required=False)
    team = TenantRelatedField(SalesTeam, required=False, allow_null=True)
    user = serializers.IntegerField(required=False, allow_null=True)


class ReorderInputSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="Every rule id, in the new order."
    )


def _with_label(fields: dict[str, serializers.Field]) -> dict[str, serializers.Field]:
    # `label` is also an attribute of every serializer field, so the field is added here, not declared.
    return {**fields, "label": serializers.CharField(help_text="In words, for people.")}


class RejectionRowSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True)
    rejected = serializers.IntegerField()
    decided = serializers.IntegerField()
    rate = serializers.IntegerField(help_text="Rejected as a percentage of decided handoffs.")
    reasons = serializers.DictField(child=serializers.IntegerField())

    def get_fields(self) -> dict[str, serializers.Field]:
        return _with_label(super().get_fields())


class RejectionReasonRowSerializer(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()

    def get_fields(self) -> dict[str, serializers.Field]:
        return _with_label(super().get_fields())


class RejectionReportSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    total = serializers.IntegerField(help_text="Rejections decided in the period.")
    decided = serializers.IntegerField(help_text="Handoffs accepted or rejected in the period.")
    by_reason = RejectionReasonRowSerializer(many=True)
    by_channel = RejectionRowSerializer(many=True)
    by_campaign = RejectionRowSerializer(many=True)


class QueuePageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = HandoffOutputSerializer(many=True)

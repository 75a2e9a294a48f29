"""Input and output shapes of the deals API. Inputs only parse; the services validate what needs the
tenant's data (stages, members, leads) and name the field in their errors."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversion.models import (
    Account,
    LostReason,
    OnboardingOwnerRole,
    OnboardingStep,
    OnboardingStepTemplate,
    Opportunity,
    OpportunityHistory,
    PipelineStage,
)
from leads.models import Company, Lead
from leads.serializers import CompanyRefSerializer, MemberField, TenantRelatedField, UserRefSerializer


class PipelineStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineStage
        fields = ["id", "name", "position", "probability", "is_active"]
        read_only_fields = ["id"]
        extra_kwargs = {
            "name": {"validators": []},
            "probability": {"min_value": 0, "max_value": 100},
            "position": {"required": False},
        }


class StageRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class LeadRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    stage = serializers.CharField(read_only=True)
    email = serializers.EmailField(source="contact.email", read_only=True)
    name = serializers.CharField(source="contact.full_name", read_only=True)


class HistorySerializer(serializers.ModelSerializer):
    from_stage = StageRefSerializer(read_only=True, allow_null=True)
    to_stage = StageRefSerializer(read_only=True, allow_null=True)
    changed_by = serializers.CharField(source="changed_by_label", read_only=True)

    class Meta:
        model = OpportunityHistory
        fields = ["from_stage", "to_stage", "from_status", "to_status", "changed_by", "changed_at", "note"]
        read_only_fields = fields


class OpportunityOutputSerializer(serializers.ModelSerializer):
    lead = LeadRefSerializer(read_only=True)
    company = CompanyRefSerializer(read_only=True, allow_null=True)
    owner = UserRefSerializer(read_only=True, allow_null=True)
    stage = StageRefSerializer(read_only=True)
    weighted_amount = serializers.SerializerMethodField()

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "name",
            "lead",
            "company",
            "owner",
            "stage",
            "amount",
            "currency",
            "weighted_amount",
            "expected_close_date",
            "probability",
            "status",
            "lost_reason",
            "lost_note",
            "won_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_weighted_amount(self, opportunity: Opportunity) -> str:
        return f"{opportunity.amount * opportunity.probability / 100:.2f}"


class OpportunityDetailSerializer(OpportunityOutputSerializer):
    history = HistorySerializer(many=True, read_only=True)

    class Meta(OpportunityOutputSerializer.Meta):
        fields = [*OpportunityOutputSerializer.Meta.fields, "history"]
        read_only_fields = fields


class OpportunityFieldsSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    stage = TenantRelatedField(PipelineStage, required=False)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.CharField(max_length=3, required=False, help_text="ISO 4217, e.g. EUR.")
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    probability = serializers.IntegerField(
        min_value=0, max_value=100, required=False, help_text="Defaults to the stage's probability."
    )
    owner = MemberField(required=False, allow_null=True)
    company = TenantRelatedField(Company, required=False, allow_null=True)


class OpportunityCreateSerializer(OpportunityFieldsSerializer):
    lead = TenantRelatedField(Lead, help_text="An SQL lead (it moves to opportunity), or one already there.")


class OpportunityLostSerializer(serializers.Serializer):
    lost_reason = serializers.ChoiceField(choices=LostReason.choices)
    lost_note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class AccountSerializer(serializers.ModelSerializer):
    company = CompanyRefSerializer(read_only=True)
    owner = UserRefSerializer(read_only=True, allow_null=True)
    first_opportunity: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Account
        fields = ["id", "company", "owner", "became_customer_at", "first_opportunity", "created_at"]
        read_only_fields = fields


class OnboardingStepSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(read_only=True, allow_null=True)
    account = serializers.SerializerMethodField()
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = OnboardingStep
        fields = [
            "id",
            "account",
            "title",
            "position",
            "owner",
            "due_date",
            "is_overdue",
            "completed_at",
            "sequence_key",
        ]
        read_only_fields = fields

    def get_account(self, step: OnboardingStep) -> int | None:
        return step.enrollment.account_id


class EmptySerializer(serializers.Serializer):
    """No body."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {}


class PlanStepSerializer(serializers.ModelSerializer):
    owner_role = serializers.ChoiceField(choices=OnboardingOwnerRole.choices, required=False)
    owner_user = MemberField(required=False, allow_null=True, help_text="A named owner; overrides the role.")
    day_offset = serializers.IntegerField(min_value=0, max_value=365, help_text="Days after the deal is won.")

    class Meta:
        model = OnboardingStepTemplate
        fields = ["id", "title", "day_offset", "owner_role", "owner_user", "position", "sequence_key"]
        read_only_fields = ["id", "position", "sequence_key"]

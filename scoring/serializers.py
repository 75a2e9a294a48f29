"""Input and output shapes of the scoring API. Inputs check types only; the services check meaning
(rule_clean, grade thresholds, lifecycle thresholds) and name the field in their errors."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from leads.models import TouchpointType
from leads.serializers import TenantRelatedField
from scoring.models import (
    GRADE_CHOICES,
    BacktestRun,
    BantAnswer,
    BantField,
    BantSource,
    BuyingStage,
    Dimension,
    EngagementKind,
    FitOperator,
    LifecyclePolicy,
    ModelVersion,
    RecomputeJob,
    Rule,
    ScoreChange,
    ScoringModel,
)

# --- models and versions ------------------------------------------------------------------------


class ScoringModelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    starter = serializers.BooleanField(
        required=False, default=False, help_text="Begin the first draft with the starter rules."
    )


class ScoringModelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class ScoringModelOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringModel
        ref_name = "ScoringModel"
        fields = ["id", "name", "description", "created_at"]


class VersionOutputSerializer(serializers.ModelSerializer):
    scoring_model = serializers.IntegerField(source="scoring_model_id", read_only=True)
    based_on = serializers.IntegerField(source="based_on_id", read_only=True, allow_null=True)
    rules = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        ref_name = "ScoringModelVersion"
        fields = [
            "id",
            "scoring_model",
            "number",
            "status",
            "note",
            "grade_thresholds",
            "based_on",
            "created_at",
            "published_at",
            "rules",
        ]

    def get_rules(self, version: ModelVersion) -> list[dict[str, Any]]:
        rules = getattr(version, "prefetched_rules", None)
        if rules is None:
            rules = list(version.rules.order_by("dimension", "position", "id"))
        return RuleOutputSerializer(rules, many=True).data  # type: ignore[return-value]


class VersionUpdateSerializer(serializers.Serializer):
    grade_thresholds = serializers.DictField(child=serializers.IntegerField(), required=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class DraftCreateSerializer(serializers.Serializer):
    scoring_model = TenantRelatedField(ScoringModel)
    based_on = TenantRelatedField(ModelVersion, required=False, allow_null=True)


class BacktestInputSerializer(serializers.Serializer):
    target_mql = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The MQL volume you want: its threshold is found.",
    )


class BacktestOutputSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version_id", read_only=True)

    class Meta:
        model = BacktestRun
        ref_name = "ScoringBacktest"
        fields = ["id", "version", "status", "target_mql", "results", "error", "created_at", "finished_at"]


class RecomputeJobOutputSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version_id", read_only=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = RecomputeJob
        ref_name = "ScoringRecomputeJob"
        fields = [
            "id",
            "version",
            "kind",
            "status",
            "total",
            "processed",
            "percent",
            "changed",
            "transitions",
            "evaluated_at",
            "created_at",
            "started_at",
            "scored_at",
            "finished_at",
            "error",
        ]


# --- rules --------------------------------------------------------------------------------------


class RuleFieldsSerializer(serializers.Serializer):
    """A rule's settings (which apply depends on its dimension: see scoring.models.Rule)."""

    dimension = serializers.ChoiceField(choices=Dimension.choices)
    name = serializers.CharField(max_length=120)
    position = serializers.IntegerField(min_value=0, required=False)
    points = serializers.IntegerField()
    field = serializers.CharField(max_length=100, required=False, allow_blank=True)
    operator = serializers.ChoiceField(choices=FitOperator.choices, required=False, allow_blank=True)
    value = serializers.JSONField(required=False, allow_null=True)
    negate = serializers.BooleanField(required=False)
    touchpoint_types = serializers.ListField(
        child=serializers.ChoiceField(choices=TouchpointType.choices), required=False
    )
    url_contains = serializers.CharField(max_length=200, required=False, allow_blank=True)
    property_key = serializers.CharField(max_length=100, required=False, allow_blank=True)
    property_value = serializers.CharField(max_length=200, required=False, allow_blank=True)
    cap = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    repeat_limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    repeat_window_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    product_usage = serializers.BooleanField(required=False)
    window_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    engagement_kind = serializers.ChoiceField(
        choices=EngagementKind.choices, required=False, allow_blank=True
    )
    half_life_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    min_count = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    buying_stage = serializers.ChoiceField(choices=BuyingStage.choices, required=False, allow_blank=True)


class RuleInputSerializer(RuleFieldsSerializer):
    version = TenantRelatedField(ModelVersion, help_text="The draft version the rule belongs to.")


class RuleUpdateSerializer(RuleFieldsSerializer):
    """Any of a rule's settings (sent with partial=True); those left out keep their values."""


RULE_FIELDS = list(RuleFieldsSerializer().fields)


class RuleOutputSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version_id", read_only=True)

    class Meta:
        model = Rule
        ref_name = "ScoringRule"
        fields = ["id", "version", *RULE_FIELDS]


# --- thresholds ---------------------------------------------------------------------------------


class LifecyclePolicySerializer(serializers.ModelSerializer):
    mql_min_grade = serializers.ChoiceField(choices=GRADE_CHOICES, required=False)

    class Meta:
        model = LifecyclePolicy
        ref_name = "ScoringThresholds"
        fields = ["mql_score", "mql_min_grade", "pql_points", "recycle_floor", "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs = {
            "mql_score": {"required": False},
            "pql_points": {"required": False},
            "recycle_floor": {"required": False},
        }


# --- a lead's scores ----------------------------------------------------------------------------


class ScoreChangeOutputSerializer(serializers.ModelSerializer):
    author = serializers.IntegerField(source="author_id", read_only=True, allow_null=True)
    score = serializers.IntegerField(source="score_delta", read_only=True)
    rules = serializers.SerializerMethodField(
        help_text="Each rule's change: {rule, name, dimension, points}."
    )

    class Meta:
        model = ScoreChange
        ref_name = "ScoreChange"
        fields = [
            "id",
            "created_at",
            "cause",
            "touchpoint_id",
            "changed_fields",
            "author",
            "author_label",
            "note",
            "version_id",
            "score",
            "fit",
            "behaviour",
            "engagement",
            "maturity",
            "manual",
            "product",
            "rules",
        ]

    def get_rules(self, row: ScoreChange) -> list[dict[str, Any]]:
        described = self.context.get("row_rules", {}).get(row.pk, [])
        return [
            {
                "rule": rule.pk if rule else None,
                "name": rule.name if rule else "",
                "dimension": rule.dimension if rule else "",
                "points": points,
            }
            for rule, points in described
        ]


class AdjustmentInputSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    note = serializers.CharField(max_length=300, allow_blank=True)


class BantInputSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=BantField.choices)
    value = serializers.CharField(max_length=500, allow_blank=True)
    source = serializers.ChoiceField(choices=BantSource.choices, required=False, default=BantSource.SALES)  # type: ignore[assignment]


class BantOutputSerializer(serializers.ModelSerializer):
    lead = serializers.IntegerField(source="lead_id", read_only=True)
    answered_by = serializers.IntegerField(source="answered_by_id", read_only=True, allow_null=True)

    class Meta:
        model = BantAnswer
        ref_name = "BantAnswer"
        fields = ["id", "lead", "field", "value", "source", "answered_by", "answered_at"]


class ContributionSerializer(serializers.Serializer):
    rule = serializers.IntegerField(source="rule_id")
    name = serializers.CharField()
    dimension = serializers.CharField()
    points = serializers.IntegerField()


class ExplanationSerializer(serializers.Serializer):
    lead = serializers.IntegerField(source="lead_id")
    stage = serializers.CharField()
    score = serializers.IntegerField()
    grade = serializers.CharField()
    priority = serializers.IntegerField()
    dimensions = serializers.DictField(child=serializers.IntegerField())
    maturity_stage = serializers.CharField()
    contributions = ContributionSerializer(many=True)
    sentences = serializers.ListField(child=serializers.CharField())
    crossed_at = serializers.DateTimeField(allow_null=True)
    qualified_at = serializers.DateTimeField(allow_null=True)

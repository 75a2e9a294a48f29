"""REST API of predictive scoring, under /api/v1/scoring/predictive/:

- `model/` (GET): the current model: its held-out metrics, fields, excluded fields with reasons, factors;
- `versions/`, `versions/{id}/` (GET): the version history;
- `runs/` (GET: history; POST: train now, 202), `runs/{id}/` (GET: status and progress);
- `settings/` (GET, PATCH): excluded fields, when a quiet lead counts as lost, the retraining interval;
- `leads/{id}/` (GET): a lead's probability and its top positive and negative factors.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.errors import error_body
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.apis.base import MARKETING_ROLES, ApiViewSet
from leads.models import Lead
from scoring.models_predictive import (
    PredictiveConfig,
    PredictiveModelVersion,
    PredictiveTrainingRun,
    RunTrigger,
)
from scoring.predictive import selectors
from scoring.predictive.services import TrainingAlreadyRunning, predictive_config_update, training_run_request


class VersionSerializer(serializers.ModelSerializer):
    trained_by = serializers.SerializerMethodField()

    class Meta:
        model = PredictiveModelVersion
        fields = [
            "id",
            "number",
            "is_current",
            "algorithm",
            "created_at",
            "trigger",
            "trained_by",
            "training_seconds",
            "n_labelled",
            "n_positive",
            "n_train",
            "n_test",
            "positive_rate",
            "leads_scored",
            "metrics",
            "features",
            "excluded",
            "global_factors",
            "settings_used",
            "library_version",
        ]
        read_only_fields = fields

    def get_trained_by(self, version: PredictiveModelVersion) -> str | None:
        user = version.trained_by
        return getattr(user, "email", None) if user is not None else None


class RunSerializer(serializers.ModelSerializer):
    version_number = serializers.SerializerMethodField()

    class Meta:
        model = PredictiveTrainingRun
        fields = [
            "id",
            "status",
            "trigger",
            "progress",
            "step",
            "message",
            "version",
            "version_number",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_version_number(self, run: PredictiveTrainingRun) -> int | None:
        return run.version.number if run.version_id and run.version else None


class ExcludedFieldSerializer(serializers.Serializer):
    field = serializers.CharField(
        max_length=100, help_text="A field key, e.g. `cf.duration` or `contact.country`."
    )
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class SettingsSerializer(serializers.Serializer):
    excluded_fields = ExcludedFieldSerializer(
        many=True, required=False, help_text="The whole list of fields the model must not use, with why."
    )
    inactive_days = serializers.IntegerField(
        min_value=0,
        max_value=3650,
        required=False,
        help_text="Days without activity after which an open lead counts as lost (0: never).",
    )
    retrain_every_days = serializers.IntegerField(
        min_value=0, max_value=365, required=False, help_text="Scheduled retraining interval (0: off)."
    )


class FieldOptionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    kind = serializers.CharField()
    group = serializers.CharField()


class SettingsOutputSerializer(serializers.Serializer):
    excluded_fields = serializers.ListField(child=serializers.DictField())
    inactive_days = serializers.IntegerField()
    retrain_every_days = serializers.IntegerField()
    available_fields = FieldOptionSerializer(many=True, help_text="Every field the model could use.")


def _settings_body(config: PredictiveConfig) -> dict[str, Any]:
    return {
        "excluded_fields": [item for item in config.excluded_fields if isinstance(item, dict)],
        "inactive_days": config.inactive_days,
        "retrain_every_days": config.retrain_every_days,
        "available_fields": [
            {"key": c.spec.key, "label": c.spec.label, "kind": c.spec.kind, "group": c.spec.group}
            for c in selectors.excluded_field_choices(config)
        ],
    }


class FactorSerializer(serializers.Serializer):
    text = serializers.CharField()
    points = serializers.FloatField(
        help_text="Percentage points this factor adds to (or takes from) the probability."
    )
    field = serializers.CharField()  # type: ignore[assignment]


class LeadPredictionSerializer(serializers.Serializer):
    lead = serializers.IntegerField()
    probability = serializers.FloatField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    model_version = serializers.IntegerField(allow_null=True)
    model_is_current = serializers.BooleanField(allow_null=True)
    scored_at = serializers.DateTimeField(allow_null=True)
    positive_factors = FactorSerializer(many=True)
    negative_factors = FactorSerializer(many=True)
    message = serializers.CharField(required=False)


class PredictiveVersionViewSet(ApiViewSet):
    """The organization's predictive model versions, newest first."""

    model = PredictiveModelVersion
    output_serializer = VersionSerializer
    http_method_names = ["get", "head", "options"]
    ordering_fields = ["number"]
    ordering = "-number"

    def scoped_queryset(self, organization: Organization) -> QuerySet[PredictiveModelVersion]:
        return selectors.version_list()


class PredictiveRunViewSet(ApiViewSet):
    """Training runs: POST starts one (202) unless one is under way (409); GET follows its progress."""

    model = PredictiveTrainingRun
    output_serializer = RunSerializer
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["created_at"]
    ordering = "-created_at"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[PredictiveTrainingRun]:
        return PredictiveTrainingRun.objects.select_related("version").defer("version__estimator")

    @extend_schema(
        request=None,
        responses={
            202: RunSerializer,
            409: OpenApiResponse(description="A training run is already queued or running."),
        },
    )
    def create(self, request: Request) -> Response:
        try:
            run = training_run_request(actor=self.actor, trigger=RunTrigger.API)
        except TrainingAlreadyRunning as exc:
            body = error_body("training_running", f"{exc} Follow it at runs/{exc.run.pk}/.")
            return Response(body, status=status.HTTP_409_CONFLICT)
        return self.render(run, status.HTTP_202_ACCEPTED)


class PredictiveLeadViewSet(ApiViewSet):
    """A lead's probability of becoming a customer under the latest model that scored it, with its top
    factors in words."""

    model = Lead
    output_serializer = LeadPredictionSerializer
    http_method_names = ["get", "head", "options"]

    def scoped_queryset(self, organization: Organization) -> QuerySet[Lead]:
        return Lead.objects.all()

    def retrieve(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        prediction = selectors.lead_prediction(lead)
        if prediction is None:
            body: dict[str, Any] = {
                "lead": lead.pk,
                "probability": None,
                "percent": None,
                "model_version": None,
                "model_is_current": None,
                "scored_at": None,
                "positive_factors": [],
                "negative_factors": [],
                "message": "No predictive model has scored this lead yet; train one on the model page.",
            }
            return Response(body)
        return Response(prediction.as_json())


class PredictiveModelView(APIView):
    """The current predictive model with its held-out evaluation; 404 `no_model` before the first training."""

    schema = LeadHubAutoSchema()

    @extend_schema(responses={200: VersionSerializer}, operation_id="scoring_predictive_model_retrieve")
    def get(self, request: Request) -> Response:
        version = selectors.current_version()
        if version is None:
            run = selectors.latest_run()
            message = "No predictive model has been trained yet."
            if run is not None and run.message:
                message = f"{message} The last run said: {run.message}"
            return Response(error_body("no_model", message), status=status.HTTP_404_NOT_FOUND)
        return Response(VersionSerializer(version).data)


class PredictiveSettingsView(APIView):
    """Fields excluded from the model (with the reasons users see), when a quiet lead counts as lost, and the
    retraining interval. PATCH replaces what it names; changes apply from the next training run."""

    schema = LeadHubAutoSchema()

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        return None if self.request.method in {"GET", "HEAD", "OPTIONS"} else MARKETING_ROLES

    @extend_schema(
        responses={200: SettingsOutputSerializer}, operation_id="scoring_predictive_settings_retrieve"
    )
    def get(self, request: Request) -> Response:
        return Response(_settings_body(selectors.predictive_config()))

    @extend_schema(
        request=SettingsSerializer,
        responses={200: SettingsOutputSerializer},
        operation_id="scoring_predictive_settings_partial_update",
    )
    def patch(self, request: Request) -> Response:
        serializer = SettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        config = predictive_config_update(
            actor=Actor.from_request(request._request),
            excluded_fields=[dict(item) for item in data["excluded_fields"]]
            if "excluded_fields" in data
            else None,
            inactive_days=data.get("inactive_days"),
            retrain_every_days=data.get("retrain_every_days"),
        )
        return Response(_settings_body(config))

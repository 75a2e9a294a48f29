"""Reads of predictive scoring: a lead's prediction (for any page that wants to show it), the model page's
data, the leads the current model rates highest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from leads.models import OPEN_STAGES, Lead
from scoring.models_predictive import (
    LeadPrediction,
    PredictiveConfig,
    PredictiveModelVersion,
    PredictiveTrainingRun,
)
from scoring.predictive.features import FieldSpec, field_catalogue
from scoring.predictive.services import predictive_config_get


@dataclass(frozen=True)
class Factor:
    text: str
    points: float
    field: str

    @property
    def label(self) -> str:
        """ "job is 'retired' (+12 pts)"."""
        points = f"{self.points:+.0f}" if abs(self.points) >= 1 else f"{self.points:+.1f}"
        return f"{self.text} ({points} pts)"


@dataclass(frozen=True)
class LeadPredictionView:
    """A lead's probability of becoming a customer under the model that scored it, and why."""

    lead_id: int
    probability: float
    version_number: int
    version_is_current: bool
    scored_at: dt.datetime
    positive: list[Factor] = field(default_factory=list)
    negative: list[Factor] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return round(100 * self.probability)

    def as_json(self) -> dict[str, Any]:
        return {
            "lead": self.lead_id,
            "probability": round(self.probability, 4),
            "percent": self.percent,
            "model_version": self.version_number,
            "model_is_current": self.version_is_current,
            "scored_at": self.scored_at.isoformat(),
            "positive_factors": [
                {"text": f.text, "points": f.points, "field": f.field} for f in self.positive
            ],
            "negative_factors": [
                {"text": f.text, "points": f.points, "field": f.field} for f in self.negative
            ],
        }


def _factors(items: Any) -> list[Factor]:
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "text" in item:
            try:
                out.append(
                    Factor(str(item["text"]), float(item.get("points", 0)), str(item.get("field", "")))
                )
            except (TypeError, ValueError):
                continue
    return out


def lead_prediction(lead: Lead) -> LeadPredictionView | None:
    """The lead's latest prediction, or None when no model has scored it. For the lead page and others:
    the capture layer must not import scoring, so a higher layer (or a template tag here) calls this."""
    row = LeadPrediction.objects.select_related("version").filter(lead_id=lead.pk).defer("version__estimator")
    prediction = row.first()
    if prediction is None:
        return None
    factors = prediction.factors if isinstance(prediction.factors, dict) else {}
    return LeadPredictionView(
        lead_id=lead.pk,
        probability=prediction.probability,
        version_number=prediction.version.number,
        version_is_current=prediction.version.is_current,
        scored_at=prediction.scored_at,
        positive=_factors(factors.get("positive")),
        negative=_factors(factors.get("negative")),
    )


def version_list() -> QuerySet[PredictiveModelVersion]:
    return PredictiveModelVersion.objects.defer("estimator").select_related("trained_by").order_by("-number")


def current_version() -> PredictiveModelVersion | None:
    return version_list().filter(is_current=True).first()


def latest_run() -> PredictiveTrainingRun | None:
    return PredictiveTrainingRun.objects.select_related("version").order_by("-created_at", "-id").first()


def top_open_leads(*, limit: int = 10) -> list[LeadPrediction]:
    """Open leads the current model rates most likely to become customers."""
    return list(
        LeadPrediction.objects.filter(version__is_current=True, lead__stage__in=OPEN_STAGES)
        .select_related("lead__contact__company")
        .order_by("-probability", "-id")[:limit]
    )


@dataclass(frozen=True)
class FieldChoice:
    spec: FieldSpec
    excluded: bool
    reason: str


def excluded_field_choices(config: PredictiveConfig) -> list[FieldChoice]:
    """Every candidate field with whether the organization excluded it (for the settings form)."""
    reasons = {
        str(item.get("field")): str(item.get("reason", ""))
        for item in config.excluded_fields
        if isinstance(item, dict)
    }
    catalogue = field_catalogue()
    known = {spec.key for spec in catalogue}
    # A field excluded earlier whose definition is gone stays listed, so it can be released.
    catalogue += [FieldSpec(key, key, "", "Removed") for key in reasons if key not in known]
    return [FieldChoice(spec, spec.key in reasons, reasons.get(spec.key, "")) for spec in catalogue]


def predictive_config() -> PredictiveConfig:
    return predictive_config_get()

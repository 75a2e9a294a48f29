"""Forms of the scoring pages. They parse what a person types; the services check what it means."""

from __future__ import annotations

from typing import Any

from django import forms

from leads.models import TouchpointType
from scoring.models import GRADES, BantField, BuyingStage, Dimension, EngagementKind, FitOperator


class ModelCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    starter = forms.BooleanField(
        required=False,
        initial=True,
        label="Start from the starter rules (fit, behaviour, engagement, maturity)",
    )


class RuleForm(forms.Form):
    dimension = forms.ChoiceField(choices=Dimension.choices)
    name = forms.CharField(max_length=120)
    points = forms.IntegerField()
    field = forms.CharField(
        max_length=100, required=False, help_text="e.g. contact.job_title, company.custom.plan"
    )
    operator = forms.ChoiceField(choices=[("", "—"), *FitOperator.choices], required=False)
    value = forms.CharField(
        max_length=2000, required=False, help_text="Text, or a comma-separated list for lists and words."
    )
    minimum = forms.DecimalField(required=False, label="Between: min")
    maximum = forms.DecimalField(required=False, label="Between: max")
    negate = forms.BooleanField(required=False, label="Turn the condition around")
    touchpoint_types = forms.MultipleChoiceField(choices=TouchpointType.choices, required=False)
    url_contains = forms.CharField(max_length=200, required=False)
    property_key = forms.CharField(max_length=100, required=False)
    property_value = forms.CharField(max_length=200, required=False)
    cap = forms.IntegerField(min_value=1, required=False, label="Cap on the total")
    repeat_limit = forms.IntegerField(min_value=1, required=False, label="At most N occurrences per period")
    repeat_window_days = forms.IntegerField(min_value=1, required=False, label="Period (days)")
    window_days = forms.IntegerField(
        min_value=1,
        required=False,
        label="Within the last days",
        help_text="Behaviour look-back, recency window",
    )
    product_usage = forms.BooleanField(required=False, label="Counts toward PQL (product usage)")
    engagement_kind = forms.ChoiceField(choices=[("", "—"), *EngagementKind.choices], required=False)
    half_life_days = forms.IntegerField(min_value=1, required=False, label="Half-life (days)")
    min_count = forms.IntegerField(min_value=1, required=False, label="At least N activities")
    buying_stage = forms.ChoiceField(choices=[("", "—"), *BuyingStage.choices], required=False)

    def rule_data(self) -> dict[str, Any]:
        """The cleaned form in the shape `rule_create` takes."""
        data = dict(self.cleaned_data)
        low, high = data.pop("minimum"), data.pop("maximum")
        if data.get("operator") == FitOperator.BETWEEN:
            data["value"] = {
                k: (int(v) if v == int(v) else float(v))
                for k, v in (("min", low), ("max", high))
                if v is not None
            }
        return {k: v for k, v in data.items() if v not in (None, "")}


class GradeThresholdsForm(forms.Form):
    A = forms.IntegerField()
    B = forms.IntegerField()
    C = forms.IntegerField()
    D = forms.IntegerField()
    E = forms.IntegerField()
    note = forms.CharField(max_length=300, required=False)


class BacktestForm(forms.Form):
    target_mql = forms.IntegerField(min_value=1, required=False, label="Target MQL volume")


class ThresholdsForm(forms.Form):
    mql_score = forms.IntegerField(label="MQL at score")
    mql_min_grade = forms.ChoiceField(choices=[(g, g) for g in GRADES], label="with grade at least")
    pql_points = forms.IntegerField(required=False, label="PQL at product-usage points (empty: no PQL)")
    recycle_floor = forms.IntegerField(required=False, label="Recycle MQL/PQL below score (empty: never)")


class AdjustmentForm(forms.Form):
    points = forms.IntegerField()
    note = forms.CharField(max_length=300, label="Why")


class BantForm(forms.Form):
    field = forms.ChoiceField(choices=BantField.choices)
    value = forms.CharField(max_length=500, required=False, label="Answer")

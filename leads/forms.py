"""Forms of the lead pages. They parse what the browser sent; the services in leads.services validate
the business rules and write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import slugify

from leads.models import CustomFieldEntity, CustomFieldType, Stage

BULK_MAX_LEADS = 500
STAGES_NEEDING_REASON = frozenset({Stage.DISQUALIFIED, Stage.RECYCLED})


class IdListField(forms.Field):
    """Repeated `name=<id>` values, as sent by a column of checkboxes."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one lead.",
        "invalid": "'%(value)s' is not a lead id.",
        "too_many": "Change at most %(limit)s leads at a time.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        ids: list[int] = []
        for item in values:
            text = str(item).strip()
            if not text.isdigit():
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid", params={"value": text[:20]}
                )
            ids.append(int(text))
        return list(dict.fromkeys(ids))

    def validate(self, value: list[int]) -> None:
        super().validate(value)
        if len(value) > BULK_MAX_LEADS:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"limit": BULK_MAX_LEADS}
            )


class StageChangeForm(forms.Form):
    # Every stage is accepted here: the service decides which moves are allowed and says why not.
    to_stage = forms.ChoiceField(choices=Stage.choices, label="Move to")
    reason = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Why? Required for disqualified and recycled."}
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("to_stage") in STAGES_NEEDING_REASON and not cleaned.get("reason", "").strip():
            self.add_error("reason", f"Say why the lead is {Stage(cleaned['to_stage']).label.lower()}.")
        return cleaned


class BulkStageForm(StageChangeForm):
    lead = IdListField()
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class CustomFieldForm(forms.Form):
    entity = forms.ChoiceField(
        choices=CustomFieldEntity.choices, initial=CustomFieldEntity.CONTACT, label="Applies to"
    )
    label = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. Preferred language"})
    )
    key = forms.SlugField(
        max_length=60,
        required=False,
        help_text="Used in the API and in filters as cf.<key>. Leave empty to derive it from the label.",
    )
    field_type = forms.ChoiceField(
        choices=CustomFieldType.choices, initial=CustomFieldType.TEXT, label="Type"
    )
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "One choice per line"}),
        help_text="For choice fields only: one choice per line.",
    )
    help_text = forms.CharField(max_length=200, required=False, label="Help text")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("key") and cleaned.get("label"):
            cleaned["key"] = slugify(cleaned["label"]).replace("-", "_")[:60]
        raw = cleaned.get("choices") or ""
        cleaned["choice_list"] = [line.strip() for line in raw.splitlines() if line.strip()]
        return cleaned

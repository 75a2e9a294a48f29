"""Dashboard forms of deals. They parse; the services validate against the tenant's data."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from conversion.models import LostReason, OnboardingOwnerRole, PipelineStage
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import Membership, Role
from leads.models import Lead, Stage

SALES_MEMBER_ROLES = (Role.ADMIN, Role.SALES_MANAGER, Role.SALES_REP)


def _member_choices() -> list[tuple[str, str]]:
    users = (
        get_user_model()
        ._default_manager.filter(
            pk__in=Membership.objects.filter(
                organization_id=current_organization_id(), role__in=SALES_MEMBER_ROLES
            ).values("user_id")
        )
        .order_by("email")
    )
    return [("", "Nobody")] + [(str(u.pk), u.get_full_name() or u.email) for u in users]


class OpportunityForm(forms.Form):
    name = forms.CharField(max_length=200)
    stage = forms.ModelChoiceField(queryset=PipelineStage._base_manager.none(), empty_label=None)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, initial=0)
    currency = forms.CharField(max_length=3, initial="EUR", help_text="ISO 4217, e.g. EUR, USD, GBP.")
    expected_close_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    probability = forms.IntegerField(
        min_value=0, max_value=100, required=False, help_text="Percent; empty takes the stage's."
    )
    owner = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, can_assign: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stage_field = self.fields["stage"]
        assert isinstance(stage_field, forms.ModelChoiceField)
        stage_field.queryset = PipelineStage.objects.filter(is_active=True).order_by("position", "id")
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        if can_assign:
            owner.choices = _member_choices()
        else:
            del self.fields["owner"]

    def owner_user(self) -> Any:
        value = self.cleaned_data.get("owner")
        if not value:
            return None
        return get_user_model()._default_manager.filter(pk=int(value)).first()


class OpportunityCreateForm(OpportunityForm):
    lead = forms.TypedChoiceField(coerce=int, label="Lead (SQL)")

    field_order = [
        "lead",
        "name",
        "stage",
        "amount",
        "currency",
        "expected_close_date",
        "probability",
        "owner",
    ]

    def __init__(self, *args: Any, lead: Lead | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["lead"]
        assert isinstance(field, forms.TypedChoiceField)
        if lead is not None:
            field.choices = [(lead.pk, str(lead.contact))]
            field.initial = lead.pk
        else:
            candidates = (
                Lead.objects.filter(stage__in=[Stage.SQL, Stage.OPPORTUNITY], is_current=True)
                .select_related("contact")
                .order_by("-stage_changed_at", "-id")[:200]
            )
            field.choices = [(c.pk, f"{c.contact} ({c.get_stage_display()})") for c in candidates]


class LostForm(forms.Form):
    lost_reason = forms.ChoiceField(choices=LostReason.choices, label="Why was it lost?")
    lost_note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Note",
        help_text="Needed for “Other”.",
    )


class StageForm(forms.Form):
    name = forms.CharField(max_length=60)
    probability = forms.IntegerField(min_value=0, max_value=100, help_text="Percent.")
    position = forms.IntegerField(min_value=0, required=False)
    is_active = forms.BooleanField(required=False, initial=True, label="Active")


class PlanStepForm(forms.Form):
    title = forms.CharField(max_length=200)
    day_offset = forms.IntegerField(min_value=0, max_value=365, label="Days after the deal is won")
    owner_role = forms.ChoiceField(choices=OnboardingOwnerRole.choices, label="Owner")
    owner_user = forms.ChoiceField(required=False, label="Or a named person", help_text="Overrides the role.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["owner_user"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _member_choices()

    def owner(self) -> Any:
        value = self.cleaned_data.get("owner_user")
        return get_user_model()._default_manager.filter(pk=int(value)).first() if value else None

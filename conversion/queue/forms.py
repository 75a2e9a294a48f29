"""Forms of the queue's pages. They parse and show errors; conversion.queue.services writes and decides
what is valid (a form's choices only make the page convenient)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from conversion.models import REGIONS, RejectionReason, RuleKind, SalesTeam
from conversion.queue.services import SALES_ROLES
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import Membership
from leads.models import Stage

OUTCOME_CHOICES = [
    ("", "As the reason suggests"),
    (Stage.RECYCLED, "Recycle: back to nurturing"),
    (Stage.DISQUALIFIED, "Disqualify"),
]


def sales_user_choices(blank: str = "") -> list[tuple[str, str]]:
    memberships = (
        Membership.objects.filter(
            organization_id=current_organization_id(), role__in=SALES_ROLES, user__is_active=True
        )
        .select_related("user")
        .order_by("user__first_name", "user__email")
    )
    choices = [(str(m.user_id), m.user.get_full_name() or m.user.email) for m in memberships]
    return [("", blank), *choices] if blank else choices


class RejectForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *RejectionReason.choices])
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, required=False, label="What happens to the lead")
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.TextInput(attrs={"placeholder": "Note for marketing"})
    )


class ReassignForm(forms.Form):
    assigned_to = forms.ChoiceField(label="Assign to")
    reason = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"placeholder": "Why"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["assigned_to"]).choices = [
            ("", "Choose a rep…"),
            ("fallback", "Fallback queue (nobody)"),
            *sales_user_choices(),
        ]


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    timezone = forms.CharField(
        label="Time zone",
        max_length=64,
        initial="UTC",
        help_text="IANA name such as Europe/Berlin: business hours and SLA clocks run in it.",
    )
    manager = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["manager"]).choices = sales_user_choices("No manager")

    def data_for_service(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["manager"] = data["manager"] or None
        return data


class MemberAddForm(forms.Form):
    user = forms.ChoiceField(label="Member")
    max_open_leads = forms.IntegerField(
        required=False,
        min_value=1,
        label="Capacity",
        help_text="Most open leads at once; empty means no limit.",
    )

    def __init__(self, *args: Any, team: SalesTeam | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        taken = {str(pk) for pk in team.members.values_list("user_id", flat=True)} if team else set()
        choices = [c for c in sales_user_choices("Choose a person…") if c[0] not in taken]
        cast(forms.ChoiceField, self.fields["user"]).choices = choices


class MemberUpdateForm(forms.Form):
    max_open_leads = forms.IntegerField(required=False, min_value=1, label="Capacity")
    is_active = forms.BooleanField(required=False, label="Gets new leads")


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=RuleKind.choices, label="How it picks the rep")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    team = forms.ChoiceField(required=False, label="Team")
    user = forms.ChoiceField(required=False, label="Or one user (territory only)")
    countries = forms.CharField(required=False, help_text="Comma-separated, e.g. Germany, Austria")
    regions = forms.MultipleChoiceField(
        required=False,
        choices=[(key, label) for key, (label, _) in REGIONS.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    industries = forms.CharField(required=False, help_text="Comma-separated, e.g. Software, Finance")
    size_min = forms.IntegerField(required=False, min_value=0, label="Company size from")
    size_max = forms.IntegerField(required=False, min_value=0, label="Company size to")
    grades = forms.MultipleChoiceField(
        required=False, choices=[(g, g) for g in "ABCDEF"], widget=forms.CheckboxSelectMultiple
    )
    stages = forms.MultipleChoiceField(
        required=False,
        choices=[(Stage.MQL, "MQL"), (Stage.PQL, "PQL")],
        widget=forms.CheckboxSelectMultiple,
        label="Source stage",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = [(str(t.pk), t.name) for t in SalesTeam.objects.order_by("name")]
        cast(forms.ChoiceField, self.fields["team"]).choices = [("", "No team"), *teams]
        cast(forms.ChoiceField, self.fields["user"]).choices = sales_user_choices("No single user")

    @staticmethod
    def initial_for(rule: Any) -> dict[str, Any]:
        c = rule.conditions or {}
        return {
            "name": rule.name,
            "kind": rule.kind,
            "is_active": rule.is_active,
            "team": str(rule.team_id or ""),
            "user": str(rule.user_id or ""),
            "countries": ", ".join(c.get("countries", [])),
            "regions": c.get("regions", []),
            "industries": ", ".join(c.get("industries", [])),
            "size_min": c.get("size_min"),
            "size_max": c.get("size_max"),
            "grades": c.get("grades", []),
            "stages": c.get("stages", []),
        }

    def data_for_service(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "kind": d["kind"],
            "is_active": d["is_active"],
            "team": int(d["team"]) if d["team"] else None,
            "user": int(d["user"]) if d["user"] else None,
            "conditions": {
                "countries": _split(d["countries"]),
                "regions": d["regions"],
                "industries": _split(d["industries"]),
                "size_min": d["size_min"],
                "size_max": d["size_max"],
                "grades": d["grades"],
                "stages": d["stages"],
            },
        }


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end of the period must not be before its start.")
        if start and end and (end - start).days > 731:
            self.add_error("start", "Choose a period of at most two years.")
        return data

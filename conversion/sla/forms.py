"""Forms of the SLA pages. They parse and show errors; conversion.sla.services validates and writes."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from conversion.models import Escalation, SalesTeam
from conversion.sla.hours import WEEKDAYS, CalendarError, format_time, parse_day

_INTERVAL_SPLIT = re.compile("\\s*[-\u2013\u2014]\\s*")


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    position = forms.IntegerField(min_value=0, max_value=10_000, help_text="Policies are tried from 0 up.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    grades = forms.CharField(max_length=20, required=False, help_text="Letters, e.g. AB. Empty: any grade.")
    min_score = forms.IntegerField(required=False, label="Lowest score")
    max_score = forms.IntegerField(required=False, label="Highest score")
    min_priority = forms.IntegerField(required=False, label="Lowest priority")
    max_priority = forms.IntegerField(required=False, label="Highest priority")
    accept_minutes = forms.IntegerField(label="Time to accept", help_text="Business minutes.")
    contact_minutes = forms.IntegerField(label="Time to first contact", help_text="Business minutes.")
    warn_percent = forms.IntegerField(
        required=False,
        label="Warn at (% of the time)",
        help_text="e.g. 75; or leave empty and use the next field.",
    )
    warn_minutes_before = forms.IntegerField(
        required=False, label="Or warn minutes before", help_text="Business minutes before the deadline."
    )
    escalation = forms.ChoiceField(
        choices=Escalation.choices,
        label="At breach",
        help_text="The rep and the team manager are always notified.",
    )


def day_text(intervals: list[list[str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals)


class BusinessHoursForm(forms.Form):
    """Seven text fields, one per weekday: "09:00-12:30, 13:30-18:00", empty when closed."""

    timezone = forms.CharField(
        max_length=64, required=False, help_text="IANA name, e.g. Europe/Berlin (the default's own zone)."
    )

    def __init__(self, *args: Any, with_timezone: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_timezone:
            del self.fields["timezone"]
        else:
            self.fields["timezone"].required = True
        for index, day in enumerate(WEEKDAYS):
            self.fields[f"day{index}"] = forms.CharField(
                label=day,
                required=False,
                max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "closed"}),
                help_text="Intervals like 09:00-12:30, 13:30-18:00" if index == 0 else "",
            )

    @staticmethod
    def initial_for(week: list[list[list[str]]], timezone: str = "") -> dict[str, str]:
        initial = {f"day{index}": day_text(day) for index, day in enumerate(week)}
        return {**initial, "timezone": timezone}

    def day_fields(self) -> list[forms.BoundField]:
        return [self[f"day{index}"] for index in range(7)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        week: list[list[list[str]]] = []
        for index, day in enumerate(WEEKDAYS):
            text = (cleaned.get(f"day{index}") or "").strip()
            pairs = [_INTERVAL_SPLIT.split(part.strip()) for part in text.split(",") if part.strip()]
            try:
                parsed = parse_day(pairs, day=day)
            except CalendarError as exc:
                self.add_error(f"day{index}", str(exc))
                week.append([])
                continue
            week.append([[format_time(s), format_time(e)] for s, e in parsed])
        cleaned["week"] = week
        return cleaned


class HolidayForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(max_length=100)
    team = forms.ModelChoiceField(
        queryset=SalesTeam.unscoped.none(), required=False, empty_label="Whole organization"
    )
    yearly = forms.BooleanField(required=False, label="Every year on this date")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Looked up within the request's tenant (the manager scopes it).
        self.fields["team"].queryset = SalesTeam.objects.order_by("name")  # type: ignore[attr-defined]


class ComplianceFilterForm(forms.Form):
    team = forms.ModelChoiceField(queryset=SalesTeam.unscoped.none(), required=False, empty_label="All teams")
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = SalesTeam.objects.order_by("name")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", "The period ends before it starts.")
        elif start and end and (end - start).days > 366:
            self.add_error("start", "Ask for at most a year at a time.")
        return cleaned

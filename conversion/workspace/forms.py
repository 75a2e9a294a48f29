"""Forms of the workspace. They parse what a rep types; the services check what it means."""

from __future__ import annotations

from typing import Any

from django import forms

from conversion.models import ActivityKind
from conversion.workspace.services import NOTE_MAX_CHARS, TASK_TITLE_MAX

LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=LOCAL_INPUT)


def _when(label: str, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        required=False,
        label=label,
        help_text=help_text,
        input_formats=[LOCAL_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=LocalDateTimeInput(),
    )


class _Prefixed(forms.Form):
    """Ids prefixed with the form's name: the workspace shows four forms on one page."""

    id_prefix = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class NoteForm(_Prefixed):
    id_prefix = "note"
    body = forms.CharField(
        max_length=NOTE_MAX_CHARS,
        label="Note",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "What did you learn? Mention a colleague with @name or @email."}
        ),
    )


class ActivityForm(_Prefixed):
    id_prefix = "activity"
    kind = forms.ChoiceField(choices=ActivityKind.choices, initial=ActivityKind.CALL, label="Type")
    outcome = forms.CharField(
        max_length=60, required=False, widget=forms.TextInput(attrs={"list": "outcome-suggestions"})
    )
    subject = forms.CharField(max_length=200, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    occurred_at = _when("When", "Empty: now (UTC).")
    duration_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=24 * 60, label="Duration (min)"
    )


class TaskForm(_Prefixed):
    id_prefix = "task"
    title = forms.CharField(
        max_length=TASK_TITLE_MAX, widget=forms.TextInput(attrs={"placeholder": "Send the proposal"})
    )
    due_at = _when("Due")
    assignee = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Assignee")

    def __init__(self, *args: Any, members: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.TypedChoiceField)
        assignee.choices = [("", "Nobody"), *members]


class BantForm(_Prefixed):
    id_prefix = "bant"
    budget = forms.CharField(max_length=200, required=False)
    authority = forms.CharField(max_length=200, required=False)
    need = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    timing = forms.CharField(max_length=200, required=False)

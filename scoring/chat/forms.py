"""Forms of the chat flow editor. They parse and show errors; scoring.chat.services writes."""

from __future__ import annotations

from typing import Any

from django import forms

from leads.models import CustomField
from scoring.chat.answers import target_choices
from scoring.models_chat import AnswerType, ChatFlow, ChatQuestion, ConditionOp, QualificationMatch


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


class ChatFlowForm(forms.Form):
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"placeholder": "Pricing page chat"}))
    greeting = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="Hi! A few quick questions so we can help you best.",
    )
    allowed_domains = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "example.com\n*.example.org"}),
        label="Allowed websites",
        help_text="One domain per line; subdomains are included. The widget answers nowhere else.",
    )
    consent_text = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Consent with the email question",
        help_text="The visitor ticks this before sending their email; the text is kept with the "
        "conversation.",
        initial="I agree to be contacted about my request. My email is used for nothing else.",
    )
    qualified_message = forms.CharField(
        max_length=1000, widget=forms.Textarea(attrs={"rows": 2}), label="Message when the answers qualify"
    )
    offer_meeting = forms.BooleanField(required=False, label="Offer a meeting request when qualified")
    offer_handoff = forms.BooleanField(required=False, label="Offer a hand-off to sales when qualified")
    closing_message = forms.CharField(
        max_length=1000, widget=forms.Textarea(attrs={"rows": 2}), label="Closing message"
    )
    content_offer_label = forms.CharField(
        max_length=200,
        required=False,
        label="Content offer when not qualified",
        widget=forms.TextInput(attrs={"placeholder": "Read the buyer's guide"}),
    )
    content_offer_url = forms.URLField(
        required=False, max_length=2000, assume_scheme="https", label="Content offer address"
    )
    is_active = forms.BooleanField(required=False, label="Live: the widget takes conversations")

    @classmethod
    def for_flow(cls, flow: ChatFlow | None, data: Any = None) -> ChatFlowForm:
        if flow is None:
            initial: dict[str, Any] = {
                "offer_meeting": True,
                "offer_handoff": True,
                "qualified_message": "Great, you look like a good fit. How would you like to go on?",
                "closing_message": "Thank you for your answers! We will keep in touch.",
            }
        else:
            initial = {name: getattr(flow, name) for name in cls.base_fields if name != "allowed_domains"}
            initial["allowed_domains"] = "\n".join(flow.allowed_domains or [])
        return cls(data, initial=initial)

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["allowed_domains"] = _lines(data.get("allowed_domains", ""))
        return data


class ChatQuestionForm(forms.Form):
    prompt = forms.CharField(
        max_length=500,
        label="Question",
        widget=forms.TextInput(attrs={"placeholder": "What is your budget?"}),
    )
    key = forms.CharField(
        max_length=60,
        required=False,
        help_text="Names the answer in conditions and the API; taken from the question if empty.",
    )
    answer_type = forms.ChoiceField(choices=AnswerType.choices, label="Answer")
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Under 10k\n10-50k\n50k+"}),
        help_text="For single choice: one option per line.",
    )
    min_value = forms.DecimalField(required=False, label="Lowest number")
    max_value = forms.DecimalField(required=False, label="Highest number")
    target = forms.ChoiceField(required=False, label="Fill the answer into")
    ask_if_question = forms.ChoiceField(required=False, label="Ask only if")
    ask_if_op = forms.ChoiceField(choices=ConditionOp.choices, required=False, label="Comparison")
    ask_if_values = forms.CharField(
        required=False,
        label="Values",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line (yes or no for a yes/no question).",
    )

    def __init__(
        self, *args: Any, earlier: list[ChatQuestion], custom_fields: list[CustomField], **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = target_choices(custom_fields)  # type: ignore[attr-defined]
        self.fields["ask_if_question"].choices = [  # type: ignore[attr-defined]
            ("", "Always ask"),
            *[(q.key, f"{q.key}: {q.prompt[:60]}") for q in earlier],
        ]

    @classmethod
    def for_question(
        cls,
        question: ChatQuestion,
        data: Any,
        *,
        earlier: list[ChatQuestion],
        custom_fields: list[CustomField],
    ) -> ChatQuestionForm:
        condition = question.ask_if or {}
        initial = {
            "prompt": question.prompt,
            "key": question.key,
            "answer_type": question.answer_type,
            "options": "\n".join(question.options or []),
            "min_value": question.min_value,
            "max_value": question.max_value,
            "target": question.target,
            "ask_if_question": condition.get("question", ""),
            "ask_if_op": condition.get("op", ConditionOp.IN),
            "ask_if_values": "\n".join(_value_text(v) for v in condition.get("values", [])),
        }
        return cls(data, initial=initial, earlier=earlier, custom_fields=custom_fields)

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        ask_if: dict[str, Any] = {}
        if data.get("ask_if_question"):
            ask_if = {
                "question": data["ask_if_question"],
                "op": data.get("ask_if_op") or ConditionOp.IN,
                "values": _lines(data.get("ask_if_values", "")),
            }
        return {
            "prompt": data["prompt"],
            "key": data.get("key") or data["prompt"],
            "answer_type": data["answer_type"],
            "options": _lines(data.get("options", "")),
            "min_value": data.get("min_value"),
            "max_value": data.get("max_value"),
            "target": data.get("target", ""),
            "ask_if": ask_if,
        }


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class ConditionForm(forms.Form):
    question = forms.ChoiceField(label="Answer to")
    op = forms.ChoiceField(choices=ConditionOp.choices, label="Comparison", initial=ConditionOp.IN)
    values = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "50k+\n10-50k"}),
        help_text="One per line; for a single choice, the options exactly as written.",
    )

    def __init__(self, *args: Any, questions: list[ChatQuestion], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["question"].choices = [  # type: ignore[attr-defined]
            (q.key, f"{q.key}: {q.prompt[:60]}") for q in questions
        ]

    def condition(self) -> dict[str, Any]:
        return {
            "question": self.cleaned_data["question"],
            "op": self.cleaned_data["op"],
            "values": _lines(self.cleaned_data.get("values", "")),
        }


class QualificationMatchForm(forms.Form):
    match = forms.ChoiceField(choices=QualificationMatch.choices, label="Qualified when the answers meet")

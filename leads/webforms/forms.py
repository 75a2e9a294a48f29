"""Forms of the form builder pages. They parse and show errors; leads.webforms.services writes."""

from __future__ import annotations

from typing import Any

from django import forms

from leads.models import CustomField
from leads.models_forms import ConsentChange, ConsentPurpose, Form, FormField, FormStatus, SubmissionStatus
from leads.webforms.schema import target_choices


class FormSettingsForm(forms.Form):
    name = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={"placeholder": "Newsletter sign-up"})
    )
    status = forms.ChoiceField(choices=FormStatus.choices, initial=FormStatus.ACTIVE)
    submit_label = forms.CharField(max_length=60, initial="Submit", label="Button label")
    success_message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="Thank you! We will be in touch shortly.",
        label="Thank-you message",
    )
    redirect_url = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        label="Redirect after submitting",
        help_text="Instead of the thank-you message, send visitors to this page.",
    )
    allowed_domains = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "example.com\n*.example.org"}),
        label="Allowed websites",
        help_text="One domain per line. The embed script and HTML form work only on these sites "
        "(*.example.com covers subdomains). Empty: only the hosted page.",
    )
    hidden_values = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "lh_offer=whitepaper"}),
        label="Extra hidden values",
        help_text="lh_key=value per line, stored with every submission. UTM values, referrer and page "
        "address are captured automatically.",
    )
    max_fields_shown = forms.IntegerField(
        min_value=0,
        max_value=50,
        initial=0,
        label="Progressive profiling: fields shown at most",
        help_text="Known visitors skip what they already answered and get the next questions. 0 shows all.",
    )
    double_opt_in = forms.BooleanField(
        required=False, label="Double opt-in: confirm consent by email before it counts"
    )

    @classmethod
    def for_form(cls, form: Form, data: Any = None) -> FormSettingsForm:
        initial = {
            "name": form.name,
            "status": form.status,
            "submit_label": form.submit_label,
            "success_message": form.success_message,
            "redirect_url": form.redirect_url,
            "allowed_domains": "\n".join(form.allowed_domains or []),
            "hidden_values": "\n".join(f"{k}={v}" for k, v in (form.hidden_fields or {}).items()),
            "max_fields_shown": form.max_fields_shown,
            "double_opt_in": form.double_opt_in,
        }
        return cls(data, initial=initial)

    def clean_hidden_values(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for line in (self.cleaned_data.get("hidden_values") or "").splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise forms.ValidationError(f"“{line.strip()}” needs the form lh_key=value.")
            pairs[key.strip()] = value.strip()
        return pairs

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["hidden_fields"] = data.pop("hidden_values", {})
        return data

    def clean_allowed_domains(self) -> list[str]:
        return (self.cleaned_data.get("allowed_domains") or "").split()


class FormFieldForm(forms.Form):
    target = forms.ChoiceField(label="Asks for", help_text="Where the answer is stored.")
    label = forms.CharField(
        max_length=200, required=False, help_text="Leave empty for the field's usual name."
    )
    required = forms.BooleanField(required=False)
    placeholder = forms.CharField(max_length=200, required=False)
    help_text = forms.CharField(max_length=300, required=False, label="Help text")
    min_length = forms.IntegerField(required=False, min_value=1, max_value=2000, label="Minimum length")
    max_length = forms.IntegerField(required=False, min_value=1, max_value=2000, label="Maximum length")
    pattern = forms.CharField(
        max_length=200, required=False, help_text="A regular expression the whole answer must match."
    )
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Allowed answers",
        help_text="One per line: the field becomes a drop-down.",
    )

    def __init__(self, *args: Any, field: FormField | None = None, **kwargs: Any) -> None:
        if field is not None:
            kwargs.setdefault(
                "initial",
                {
                    "target": field.target,
                    "label": field.label,
                    "required": field.required,
                    "placeholder": field.placeholder,
                    "help_text": field.help_text,
                    "min_length": field.min_length,
                    "max_length": field.max_length,
                    "pattern": field.pattern,
                    "choices": "\n".join(field.choices or []),
                },
            )
        super().__init__(*args, **kwargs)
        target = self.fields["target"]
        assert isinstance(target, forms.ChoiceField)
        target.choices = target_choices(list(CustomField.objects.all()))
        if field is not None:
            target.disabled = True
            target.help_text = "A field's target cannot change; add another field instead."

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["choices"] = data.get("choices") or ""
        return data


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(choices=ConsentPurpose.choices)
    text = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Consent text",
        help_text="Exactly what the visitor agrees to. Changing it creates a new version; consent already "
        "given keeps the version that was shown.",
    )
    required = forms.BooleanField(required=False, label="Required to submit")


class ContactConsentForm(forms.Form):
    """Consent a contact gave or withdrew outside a form (on the phone, by email, in person)."""

    purpose = forms.ChoiceField(choices=ConsentPurpose.choices)
    status = forms.ChoiceField(choices=ConsentChange.choices, label="Consent")
    text = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="What they agreed to",
        help_text="The exact wording the person agreed to; required when consent is given.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("status") == ConsentChange.GRANTED and not (data.get("text") or "").strip():
            self.add_error("text", "Say what the person agreed to: the consent text is the proof.")
        return data


class SubmissionFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All statuses"), *SubmissionStatus.choices], required=False)

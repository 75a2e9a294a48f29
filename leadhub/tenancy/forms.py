"""Forms of the dashboard's sign-in and settings pages. They parse and show errors; services write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from leadhub.tenancy.models import ApiKeyScope, Role


def service_errors_to_form(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: under the field it names, else at the top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class LoginForm(forms.Form):
    email = forms.EmailField(
        widget=forms.EmailInput(
            attrs={"autocomplete": "username", "autofocus": True, "placeholder": "you@company.com"}
        )
    )
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class MemberAddForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"placeholder": "colleague@company.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MARKETER)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Only for people new to LeadHub: their first password. Existing accounts keep theirs.",
    )

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. Website forms, CRM sync"})
    )
    scope = forms.ChoiceField(
        choices=ApiKeyScope.choices,
        initial=ApiKeyScope.FULL,
        widget=forms.RadioSelect,
        help_text="A capture-only key may sit in public pages: it can only submit leads and touchpoints.",
    )


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)
        action.choices = [("", "All actions"), *[(a, a) for a in actions]]

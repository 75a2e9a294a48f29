"""Forms of the tracking and ad source pages: they parse; leads.tracking services validate and write."""

from __future__ import annotations

from typing import Any

from django import forms

from leads.models import AdSourceKind, Campaign, Channel


def _lines(value: str) -> list[str]:
    return [part.strip() for line in (value or "").splitlines() for part in line.split(",") if part.strip()]


class TrackingSiteForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "Marketing website"}))
    allowed_domains = forms.CharField(
        label="Allowed domains",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "example.com\nshop.example.com"}),
        help_text="One per line. A domain also allows its subdomains; other domains are refused.",
    )
    site_url = forms.URLField(
        label="Home page",
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://www.example.com/"}),
        help_text="Where referral links land.",
    )
    require_consent = forms.BooleanField(
        label="Wait for consent",
        required=False,
        help_text="Track nothing until your cookie banner calls leadhub.consent(true).",
    )

    def clean_allowed_domains(self) -> list[str]:
        return _lines(self.cleaned_data["allowed_domains"])


class ReferralCodeForm(forms.Form):
    code = forms.CharField(max_length=40, widget=forms.TextInput(attrs={"placeholder": "jane-doe"}))
    referrer_email = forms.EmailField(
        label="Referrer's email",
        required=False,
        help_text="A known contact; leads who arrive with this code are credited to them.",
    )
    landing_url = forms.URLField(
        label="Landing page",
        required=False,
        assume_scheme="https",
        help_text="Defaults to the site's home page.",
    )


class AdSourceForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "Facebook lead ads"}))
    kind = forms.ChoiceField(label="Platform", choices=AdSourceKind.choices)
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PAID_SOCIAL)
    campaign = forms.ModelChoiceField(
        queryset=Campaign.unscoped.none(),
        required=False,
        empty_label="No campaign",
        help_text="For leads whose ad campaign is not mapped below.",
    )
    signature_header = forms.CharField(
        label="Signature header",
        max_length=100,
        required=False,
        help_text="Header carrying the HMAC-SHA256 of the body; the platform's usual one if empty.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The tenant manager scopes this to the current organization.
        self.fields["campaign"].queryset = Campaign.objects.order_by("name")  # type: ignore[attr-defined]


class AdSourceSettingsForm(AdSourceForm):
    is_active = forms.BooleanField(label="Accept deliveries", required=False)
    graph_token = forms.CharField(
        label="Graph API page access token",
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Facebook's webhook names a lead without its answers: with a token, LeadHub reads them "
        "from the Graph API. Leave empty to keep the current token.",
    )
    graph_token_clear = forms.BooleanField(label="Remove the token", required=False)
    graph_api_url = forms.URLField(
        label="Graph API address",
        max_length=200,
        required=False,
        assume_scheme="https",
        help_text="The Graph API version to read leads from.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["kind"]

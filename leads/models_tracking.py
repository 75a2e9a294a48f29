"""Tracking and identity, ad lead sources and referral codes: where anonymous visitors and other
channels enter the funnel.

- TrackingSite: a customer's website carrying the tracking snippet; its public key is in the snippet.
- Visitor: one first-party visitor id (the `lh_vid` cookie) with its first touch, linked to a contact
  once the visitor identifies. Forms use it for progressive profiling (`visitor_contact`).
- AdSource / AdSourceDelivery: an inbound lead-ad webhook (Facebook, LinkedIn, other) with its field
  mapping and shared secret, and what each delivery did.
- ReferralCode / LeadReferral: a referrer's code (`?ref=`) and the leads captured with one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.models import TenantModel
from leads.models import Campaign, Channel, Contact, Lead


class TrackingSite(TenantModel):
    name = models.CharField(max_length=100)
    # Hosts the snippet may report from: "example.com" also allows its subdomains.
    allowed_domains = models.JSONField(default=list)
    site_url = models.URLField(
        max_length=500, blank=True, help_text="The site's home page: referral links land here."
    )
    require_consent = models.BooleanField(
        default=False, help_text="Track only after the site calls leadhub.consent(true)."
    )
    public_key = models.CharField(max_length=40, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="trackingsite_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Visitor(TenantModel):
    anonymous_id = models.CharField(max_length=64)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors", db_index=False
    )
    site = models.ForeignKey(
        TrackingSite, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    identified_at = models.DateTimeField(null=True, blank=True)
    first_channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    first_campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    first_url = models.CharField(max_length=2000, blank=True)
    first_referrer = models.CharField(max_length=2000, blank=True)
    first_utm_source = models.CharField(max_length=200, blank=True)
    first_utm_medium = models.CharField(max_length=200, blank=True)
    first_utm_campaign = models.CharField(max_length=200, blank=True)
    first_utm_content = models.CharField(max_length=200, blank=True)
    first_utm_term = models.CharField(max_length=200, blank=True)
    referral_code = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "anonymous_id"], name="visitor_unique_anonymous_id"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "contact"], name="visitor_org_contact"),
            models.Index(fields=["organization", "last_seen_at"], name="visitor_org_last_seen"),
        ]

    def __str__(self) -> str:
        return f"Visitor {self.anonymous_id}"


class ReferralCode(TenantModel):
    """A referrer's code, as it appears in `?ref=<code>`; `public_key` makes the shareable /r/ link."""

    code = models.CharField(max_length=40, help_text="Lower case letters, digits, - and _.")
    referrer = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referral_codes",
        db_index=False,
    )
    landing_url = models.URLField(max_length=500, blank=True, help_text="Defaults to the tracked site.")
    public_key = models.CharField(max_length=40, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="referralcode_unique_code"),
        ]
        indexes = [models.Index(fields=["organization", "referrer"], name="referralcode_org_referrer")]

    def __str__(self) -> str:
        return self.code


class LeadReferral(TenantModel):
    """A lead captured with a referral code: the code as received, and its referrer when it is known."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="referrals", db_index=False)
    code = models.CharField(max_length=40)
    referral_code = models.ForeignKey(
        ReferralCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads", db_index=False
    )
    referrer = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "lead"], name="leadreferral_unique_lead"),
        ]
        indexes = [models.Index(fields=["organization", "referrer"], name="leadreferral_org_referrer")]

    def __str__(self) -> str:
        return f"{self.lead_id} via {self.code}"


class AdSourceKind(models.TextChoices):
    FACEBOOK = "facebook", "Facebook / Instagram lead ads"
    LINKEDIN = "linkedin", "LinkedIn Lead Gen Forms"
    GENERIC = "generic", "Other (JSON webhook)"


class AdSource(TenantModel):
    """An inbound webhook that turns lead-ad submissions into contacts and leads."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=AdSourceKind.choices, default=AdSourceKind.FACEBOOK)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.PAID_SOCIAL)
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="Used when the delivery names no mapped ad campaign.",
    )
    # {"<source field>": "<target>"}; targets: contact.<field>, company.<field>, lead.<field>,
    # contact.custom.<key>, company.custom.<key>, contact.full_name.
    field_mapping = models.JSONField(default=dict, blank=True)
    # {"<the ad platform's campaign id>": <Campaign id>}
    campaign_mapping = models.JSONField(default=dict, blank=True)
    # The shared secret signs deliveries (HMAC-SHA256); it has to be readable to verify them, so it is
    # shown once and rotated rather than hashed.
    secret = models.CharField(max_length=100, editable=False)
    signature_header = models.CharField(max_length=100, default="X-Hub-Signature-256")
    verify_token = models.CharField(max_length=100, editable=False)
    public_key = models.CharField(max_length=40, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    # Facebook's leadgen webhook names the lead without its answers; with a page access token the
    # answers are read from the Graph API (the token is a credential: never shown back in full).
    graph_token = models.CharField(max_length=500, blank=True)
    graph_api_url = models.URLField(max_length=200, default="https://graph.facebook.com/v21.0")
    secret_rotated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="adsource_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    CAPTURED = "captured", "Captured"
    DUPLICATE = "duplicate", "Duplicate"
    REJECTED = "rejected", "Rejected"
    IGNORED = "ignored", "Ignored"
    FETCHING = "fetching", "Fetching the answers"


class AdSourceDelivery(TenantModel):
    """One lead of one webhook delivery. Holds field names and errors, never the submitted values."""

    source = models.ForeignKey(AdSource, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices)
    external_id = models.CharField(max_length=100, blank=True)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    fields_received = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["organization", "source", "received_at"], name="adsourcedelivery_org_source"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.status} at {self.received_at:%Y-%m-%d %H:%M}"


__all__ = [
    "AdSource",
    "AdSourceDelivery",
    "AdSourceKind",
    "DeliveryStatus",
    "LeadReferral",
    "ReferralCode",
    "TrackingSite",
    "Visitor",
]

"""Web forms and consent: the forms a marketer builds, what visitors submit through them, and the
consent each contact gave or withdrew (per purpose, with the exact text they saw)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.models import ApiKey, TenantModel
from leads.models import Contact, CustomField, Lead


class FormStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Form(TenantModel):
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=FormStatus.choices, default=FormStatus.ACTIVE)
    # The public key string (leadhub.tenancy PublicKey) that embed codes carry.
    public_key = models.CharField(max_length=40, blank=True, editable=False)
    submit_label = models.CharField(max_length=60, default="Submit")
    success_message = models.TextField(default="Thank you! We will be in touch shortly.")
    redirect_url = models.URLField(max_length=2000, blank=True)
    allowed_domains = models.JSONField(default=list, blank=True)
    # Extra hidden values sent with every submission ({"lh_key": "value"}), e.g. the offer a form is for.
    hidden_fields = models.JSONField(default=dict, blank=True)
    max_fields_shown = models.PositiveSmallIntegerField(
        default=0, help_text="Progressive profiling: at most this many fields at once (0 shows all)."
    )
    double_opt_in = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Bumped by every change of the form, its fields or its consent texts (caches key on it).
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="leads_form_org_id_uniq"),
            models.UniqueConstraint(fields=["organization", "name"], name="form_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class FormField(TenantModel):
    # Indexed by formfield_unique_target below.
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="fields", db_index=False)
    position = models.PositiveIntegerField(default=0)
    # Where the answer goes: contact.<field>, company.<field>, lead.<field> or custom.<entity>.<key>.
    target = models.CharField(max_length=100)
    custom_field = models.ForeignKey(
        CustomField, null=True, blank=True, on_delete=models.CASCADE, related_name="form_fields"
    )
    label = models.CharField(max_length=200)
    help_text = models.CharField(max_length=300, blank=True)
    placeholder = models.CharField(max_length=200, blank=True)
    required = models.BooleanField(default=False)
    min_length = models.PositiveIntegerField(null=True, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True)
    pattern = models.CharField(
        max_length=200, blank=True, help_text="A regular expression the whole answer must match."
    )
    choices = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "form", "target"], name="formfield_unique_target"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.target})"


class ConsentPurpose(models.TextChoices):
    MARKETING_EMAIL = "marketing_email", "Marketing email"
    TRACKING = "tracking", "Tracking"
    SALES_CONTACT = "sales_contact", "Sales contact"


class ConsentText(TenantModel):
    """One version of a form's consent checkbox. Editing the text adds a version; a submission and the
    consent it gave point to the version the visitor saw."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="consent_texts", db_index=False)
    purpose = models.CharField(max_length=20, choices=ConsentPurpose.choices)
    version = models.PositiveIntegerField(default=1)
    text = models.TextField()
    required = models.BooleanField(default=False)
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["purpose", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="leads_consenttext_org_id_uniq"),
            models.UniqueConstraint(
                fields=["organization", "form", "purpose", "version"], name="consenttext_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} v{self.version}"


class SubmissionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Captured"
    REJECTED = "rejected", "Rejected as spam"
    FAILED = "failed", "Failed"


class SubmissionSource(models.TextChoices):
    HTML = "html", "HTML form"
    EMBED = "embed", "Embed script"
    API = "api", "API"


class FormSubmission(TenantModel):
    """What a visitor sent, stored before anything else happens: the lead is captured from it later, and
    spam stays here, rejected with its reason, until a marketer releases it."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="submissions", db_index=False)
    status = models.CharField(
        max_length=10, choices=SubmissionStatus.choices, default=SubmissionStatus.PENDING
    )
    source = models.CharField(max_length=10, choices=SubmissionSource.choices, default=SubmissionSource.HTML)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it was rejected or failed.")
    # {"values": {target: answer}, "hidden": {key: value}, "raw": {...as received}}
    payload = models.JSONField(default=dict)
    # [{"purpose", "granted", "text_id", "version", "text"}]: the consent boxes shown and their answers.
    consents = models.JSONField(default=list, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True)
    visitor_id = models.CharField(max_length=64, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    # Same form and payload within a short window: the same submission (double clicks, retries).
    fingerprint = models.CharField(max_length=64)
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="form_submissions",
        db_index=False,
    )
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="form_submissions",
        db_index=False,
    )
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="leads_formsubmission_org_id_uniq"),
            models.UniqueConstraint(fields=["organization", "fingerprint"], name="formsubmission_unique_fp"),
        ]
        indexes = [
            models.Index(fields=["organization", "form", "-created_at"], name="formsub_org_form_time"),
            models.Index(fields=["organization", "status", "-created_at"], name="formsub_org_status_time"),
            models.Index(
                fields=["organization", "contact"],
                condition=models.Q(contact__isnull=False),
                name="formsub_org_contact",
            ),
            models.Index(
                fields=["organization", "lead"],
                condition=models.Q(lead__isnull=False),
                name="formsub_org_lead",
            ),
        ]

    def __str__(self) -> str:
        return f"Submission #{self.pk} of {self.form_id} ({self.status})"


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"
    PENDING = "pending", "Awaiting confirmation"


class ConsentChange(models.TextChoices):
    """What the API and the dashboard may record: consent given or withdrawn (pending is for double
    opt-in only)."""

    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentSource(models.TextChoices):
    FORM = "form", "Form"
    API = "api", "API"
    IMPORT = "import", "Import"
    DOUBLE_OPT_IN = "double_opt_in", "Double opt-in"
    DASHBOARD = "dashboard", "Dashboard"
    CHAT = "chat", "Chat"


class ConsentRecord(TenantModel):
    """One consent event of a contact for a purpose. Append-only: the newest record per purpose is the
    current state, and the history is the proof of what the contact agreed to, when and how."""

    # Indexed by consent_org_contact below.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="consent_records", db_index=False
    )
    purpose = models.CharField(max_length=20, choices=ConsentPurpose.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    source = models.CharField(max_length=20, choices=ConsentSource.choices)
    form = models.ForeignKey(Form, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    submission = models.ForeignKey(
        FormSubmission, null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_records"
    )
    text_version = models.ForeignKey(
        ConsentText, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The exact text shown, kept even if the form and its versions are deleted later.
    text = models.TextField(blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(
                fields=["organization", "contact", "purpose", "-recorded_at"], name="consent_org_contact"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose}: {self.status} ({self.source})"


__all__ = [
    "ConsentChange",
    "ConsentPurpose",
    "ConsentRecord",
    "ConsentSource",
    "ConsentStatus",
    "ConsentText",
    "Form",
    "FormField",
    "FormStatus",
    "FormSubmission",
    "SubmissionSource",
    "SubmissionStatus",
]

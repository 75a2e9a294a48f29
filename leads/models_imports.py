"""CSV imports (a job, its column mapping and outcome, the rows it refused) and contact aliases (the
addresses of contacts merged into another one)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.models import TenantModel
from leads.models import Contact


class ImportStatus(models.TextChoices):
    DRAFT = "draft", "Mapping columns"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(TenantModel):
    """One CSV file imported into an organization, from the dashboard or `import_leads`.

    `mapping` is {column: target} (see leads.imports.spec); the uploaded file is kept under the import
    directory only until the job ends (it holds personal data), the refused rows as ImportRejection.
    """

    file_name = models.CharField(max_length=255)
    stored_path = models.CharField(max_length=500, blank=True, help_text="Upload awaiting import.")
    file_size = models.BigIntegerField(default=0)
    delimiter = models.CharField(max_length=1, default=",")
    encoding = models.CharField(max_length=20, default="utf-8")
    headers = models.JSONField(default=list, blank=True)
    # Per column: inferred type, blanks, distinct sample values (for the mapping page).
    profile = models.JSONField(default=list, blank=True)
    preview = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    custom_types = models.JSONField(default=dict, blank=True, help_text="New custom field key -> type.")
    stage_column = models.CharField(max_length=200, blank=True)
    stage_map = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.DRAFT)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    leads_created = models.PositiveIntegerField(default=0)
    fields_created = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="importjob_org_created")]

    def __str__(self) -> str:
        return f"Import {self.file_name} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in {ImportStatus.DONE, ImportStatus.FAILED}

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(100 * self.processed_rows / self.total_rows))


class ImportRejection(TenantModel):
    """A row an import refused, with the reasons and the row as it was in the file (for the report)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejections", db_index=False)
    row_number = models.PositiveIntegerField(help_text="1 is the first row after the header.")
    errors = models.JSONField(default=list)
    values = models.JSONField(default=dict)
    # For erasure: the row's email, normalised, when the file had an email column.
    email_normalized = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["row_number"]
        indexes = [
            models.Index(fields=["organization", "job", "row_number"], name="importrej_org_job"),
            models.Index(
                fields=["organization", "email_normalized"],
                condition=~models.Q(email_normalized=""),
                name="importrej_org_email",
            ),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number}"


class ContactAlias(TenantModel):
    """Another address of a contact: the email of a contact merged into it. Export and erasure look
    personal data up by these too."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="aliases", db_index=False)
    email = models.EmailField(max_length=254)
    email_normalized = models.CharField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email_normalized"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "contact", "email_normalized"], name="contactalias_unique"
            )
        ]
        indexes = [models.Index(fields=["organization", "email_normalized"], name="contactalias_org_email")]

    def __str__(self) -> str:
        return self.email


__all__ = ["ContactAlias", "ImportJob", "ImportRejection", "ImportStatus"]

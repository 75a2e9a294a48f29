"""The sales rep's workspace on a lead: notes (with @mentions of colleagues) and tasks with due dates.
Activities live in `core`, as every part logs and reads them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone as tz

from conversion.models.core import _org_id_unique
from leadhub.tenancy.models import TenantModel
from leads.models import Lead


class Note(TenantModel):
    """Free text a rep writes on a lead; shown as text (escaped), never as markup."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=tz.now, editable=False)
    updated_at = models.DateTimeField(default=tz.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [_org_id_unique("conversion_note")]
        indexes = [models.Index(fields=["organization", "lead", "created_at"], name="note_org_lead")]

    def __str__(self) -> str:
        return f"Note #{self.pk}"


class NoteMention(TenantModel):
    """A member of the organization named in a note (@email or @name); each was notified once."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="mentions", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "note", "user"], name="notemention_unique_user")
        ]


class Task(TenantModel):
    """A follow-up on a lead ("send the proposal") with a due date and an assignee."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=tz.now, editable=False)
    # When the assignee was told the task fell due: the reminder sweep's marker, so that it reminds once
    # per due date (moving the due date clears it).
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["done_at", "due_at", "id"]
        constraints = [_org_id_unique("conversion_task")]
        indexes = [
            models.Index(fields=["organization", "lead", "id"], name="task_org_lead"),
            models.Index(fields=["organization", "assignee", "done_at", "due_at"], name="task_org_assignee"),
            # The reminder sweep reads only open tasks not yet reminded, by due date.
            models.Index(
                fields=["organization", "due_at"],
                condition=models.Q(done_at__isnull=True, reminded_at__isnull=True),
                name="task_org_due_unreminded",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < tz.now()

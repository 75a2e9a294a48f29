"""The qualification chat: flows of questions a marketer builds, the conversations visitors have with
the embedded widget, their answers (each with the exact question text it answered), and the meeting
requests of visitors whose answers qualified."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.models import TenantModel
from leads.models import CustomField, Lead


class AnswerType(models.TextChoices):
    CHOICE = "choice", "Single choice"
    TEXT = "text", "Free text"
    NUMBER = "number", "Number"
    EMAIL = "email", "Email"
    YES_NO = "yes_no", "Yes / no"


class ConditionOp(models.TextChoices):
    """How a condition compares an answer (skip conditions and qualification alike)."""

    IN = "in", "is one of"
    NOT_IN = "not_in", "is not one of"
    GTE = "gte", "is at least"
    LTE = "lte", "is at most"
    ANSWERED = "answered", "is answered"


class QualificationMatch(models.TextChoices):
    ALL = "all", "all conditions"
    ANY = "any", "any condition"


def default_consent_text() -> str:
    return "I agree to be contacted about my request. My email is used for nothing else."


class ChatFlow(TenantModel):
    name = models.CharField(max_length=200)
    greeting = models.TextField(default="Hi! A few quick questions so we can help you best.")
    # Hosts the widget may run on (example.com, *.example.com): its calls are refused from elsewhere.
    allowed_domains = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=False)
    consent_text = models.TextField(
        default=default_consent_text, help_text="Shown with the email question; the visitor ticks it."
    )
    # Conditions on answers ([{"question", "op", "values"}]) that make a conversation qualified.
    qualification = models.JSONField(default=list, blank=True)
    qualification_match = models.CharField(
        max_length=3, choices=QualificationMatch.choices, default=QualificationMatch.ALL
    )
    offer_meeting = models.BooleanField(default=True)
    offer_handoff = models.BooleanField(default=True)
    qualified_message = models.TextField(
        default="Great, you look like a good fit. How would you like to go on?"
    )
    closing_message = models.TextField(default="Thank you for your answers! We will keep in touch.")
    content_offer_label = models.CharField(max_length=200, blank=True)
    content_offer_url = models.URLField(max_length=2000, blank=True)
    # The public key string (leadhub.tenancy PublicKey) the embed code carries.
    public_key = models.CharField(max_length=40, blank=True, editable=False)
    # Bumped by every change of the flow or its questions; a conversation records the version it ran.
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="scoring_chatflow_org_id_uniq"),
            models.UniqueConstraint(fields=["organization", "name"], name="chatflow_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class ChatQuestion(TenantModel):
    # Indexed by chatquestion_unique_key below.
    flow = models.ForeignKey(ChatFlow, on_delete=models.CASCADE, related_name="questions", db_index=False)
    position = models.PositiveIntegerField(default=0)
    key = models.SlugField(max_length=60, help_text="Names the answer in conditions and the API.")
    prompt = models.CharField(max_length=500)
    answer_type = models.CharField(max_length=10, choices=AnswerType.choices, default=AnswerType.CHOICE)
    options = models.JSONField(default=list, blank=True)
    min_value = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    max_value = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    # Where the answer goes: lead.<bant>, contact.<field>, company.name, custom.<entity>.<key>, or nowhere.
    target = models.CharField(max_length=100, blank=True)
    custom_field = models.ForeignKey(
        CustomField, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Ask only if an earlier answer matches: {"question", "op", "values"}; {} asks always.
    ask_if = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="scoring_chatquestion_org_id_uniq"),
            models.UniqueConstraint(fields=["organization", "flow", "key"], name="chatquestion_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.prompt[:60]}"


class SessionStatus(models.TextChoices):
    OPEN = "open", "In progress"
    QUALIFIED = "qualified", "Qualified"
    NOT_QUALIFIED = "not_qualified", "Not qualified"
    SPAM = "spam", "Rejected as spam"


class SessionOutcome(models.TextChoices):
    NONE = "", "None yet"
    MEETING = "meeting", "Meeting requested"
    HANDOFF = "handoff", "Handed off to sales"
    CLOSED = "closed", "Closed"


class ChatSession(TenantModel):
    """One conversation of one visitor with a flow, resumed by its unguessable token."""

    flow = models.ForeignKey(ChatFlow, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    token = models.CharField(max_length=64)
    flow_version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=15, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    outcome = models.CharField(max_length=10, choices=SessionOutcome.choices, blank=True, default="")
    # Why the answers qualified or not, in words (also the reason of the hand-off's stage change).
    reason = models.TextField(blank=True)
    visitor_id = models.CharField(max_length=64, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    consent_text = models.TextField(blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    page_url = models.CharField(max_length=2000, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="scoring_chatsession_org_id_uniq"),
            models.UniqueConstraint(fields=["organization", "token"], name="chatsession_unique_token"),
        ]
        indexes = [
            models.Index(fields=["organization", "flow", "-started_at"], name="chatsession_org_flow_time"),
            models.Index(
                fields=["organization", "lead"],
                condition=models.Q(lead__isnull=False),
                name="chatsession_org_lead",
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation #{self.pk} ({self.get_status_display()})"


class ChatAnswer(TenantModel):
    # Indexed by chatanswer_unique_question below.
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="answers", db_index=False)
    question = models.ForeignKey(
        ChatQuestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="answers"
    )
    # The question as the visitor saw it: kept when the flow is edited or the question removed.
    question_key = models.CharField(max_length=60)
    prompt = models.CharField(max_length=500)
    answer_type = models.CharField(max_length=10, choices=AnswerType.choices)
    flow_version = models.PositiveIntegerField(default=1)
    value = models.JSONField(null=True, blank=True)
    display = models.CharField(max_length=1000, blank=True)
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["answered_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session", "question_key"], name="chatanswer_unique_question"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question_key} = {self.display}"


class MeetingSlot(models.TextChoices):
    MORNING = "morning", "Morning (9:00-12:00)"
    MIDDAY = "midday", "Midday (12:00-14:00)"
    AFTERNOON = "afternoon", "Afternoon (14:00-17:00)"


class MeetingRequest(TenantModel):
    session = models.ForeignKey(
        ChatSession, on_delete=models.CASCADE, related_name="meeting_requests", db_index=False
    )
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    preferred_day = models.DateField()
    preferred_slot = models.CharField(max_length=10, choices=MeetingSlot.choices, default=MeetingSlot.MORNING)
    visitor_timezone = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session"], name="meetingrequest_one_per_session"
            ),
        ]

    def __str__(self) -> str:
        return f"Meeting request {self.preferred_day} {self.preferred_slot}"


__all__ = [
    "AnswerType",
    "ChatAnswer",
    "ChatFlow",
    "ChatQuestion",
    "ChatSession",
    "ConditionOp",
    "MeetingRequest",
    "MeetingSlot",
    "QualificationMatch",
    "SessionOutcome",
    "SessionStatus",
]

"""The funnel's shared records: contacts, companies, leads and their stage history, touchpoints,
campaigns with spend, and per-organization custom fields."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from leadhub.tenancy.models import ApiKey, TenantModel


def _org_id_unique(table_label: str) -> models.UniqueConstraint:
    # Target of the composite (organization_id, x_id) foreign keys that keep relations inside a tenant
    # (see leadhub/tenancy/rls.py); it doubles as the index for "this tenant's rows by id".
    return models.UniqueConstraint(fields=["organization", "id"], name=f"{table_label}_org_id_uniq")


class Channel(models.TextChoices):
    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    SOCIAL = "social", "Social"
    PAID_SOCIAL = "paid_social", "Paid social"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    PARTNER = "partner", "Partner"
    EVENTS = "events", "Events"
    DISPLAY = "display", "Display"
    DIRECT = "direct", "Direct"
    IMPORT = "import", "Import"
    OTHER = "other", "Other"


class Stage(models.TextChoices):
    COLD = "cold", "Cold"
    MQL = "mql", "MQL"
    PQL = "pql", "PQL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    DISQUALIFIED = "disqualified", "Disqualified"
    RECYCLED = "recycled", "Recycled"


# The funnel's allowed moves. Anything else is refused by `lead_change_stage` with the reason.
STAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    Stage.COLD: frozenset({Stage.MQL, Stage.PQL, Stage.SQL, Stage.DISQUALIFIED, Stage.RECYCLED}),
    Stage.MQL: frozenset({Stage.SQL, Stage.PQL, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.PQL: frozenset({Stage.SQL, Stage.MQL, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.SQL: frozenset({Stage.OPPORTUNITY, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.OPPORTUNITY: frozenset({Stage.CUSTOMER, Stage.SQL, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.CUSTOMER: frozenset(),
    Stage.DISQUALIFIED: frozenset({Stage.RECYCLED}),
    Stage.RECYCLED: frozenset({Stage.MQL, Stage.PQL, Stage.SQL, Stage.COLD, Stage.DISQUALIFIED}),
}
# The five stages of the main path, in order (for navigation, the funnel and velocity).
FUNNEL_STAGES: tuple[str, ...] = (Stage.COLD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
OPEN_STAGES: frozenset[str] = frozenset(
    {Stage.COLD, Stage.MQL, Stage.PQL, Stage.SQL, Stage.OPPORTUNITY, Stage.RECYCLED}
)


class TouchpointType(models.TextChoices):
    PAGE_VIEW = "page_view", "Page view"
    FORM_SUBMIT = "form_submit", "Form submission"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    DOWNLOAD = "download", "Download"
    WEBINAR = "webinar", "Webinar"
    CHAT = "chat", "Chat"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    DEMO = "demo", "Demo"
    PRODUCT_SIGNUP = "product_signup", "Product sign-up"
    PRODUCT_USAGE = "product_usage", "Product usage"
    AD_CLICK = "ad_click", "Ad click"
    REFERRAL = "referral", "Referral"
    AD_LEAD = "ad_lead", "Ad lead form"
    OTHER = "other", "Other"


class CustomFieldEntity(models.TextChoices):
    CONTACT = "contact", "Contact"
    COMPANY = "company", "Company"


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    CHOICE = "choice", "Choice"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes / no"


class CustomField(TenantModel):
    entity = models.CharField(max_length=10, choices=CustomFieldEntity.choices)
    key = models.SlugField(max_length=60, help_text="Name used in the API and in filters (cf.<key>).")
    label = models.CharField(max_length=100)
    field_type = models.CharField(
        max_length=10, choices=CustomFieldType.choices, default=CustomFieldType.TEXT
    )
    choices = models.JSONField(default=list, blank=True)
    help_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["entity", "position", "label"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "entity", "key"], name="customfield_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.entity}.{self.key}"


class Company(TenantModel):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, help_text="Normalised: lower case, no www.")
    # Capture matches companies by name case-insensitively when no domain is known. A stored column
    # rather than an index on lower(name): under row-level security PostgreSQL only uses an index for
    # leakproof expressions, and lower() is not one, while plain equality is.
    name_key = models.GeneratedField(
        expression=Lower("name"), output_field=models.CharField(max_length=200), db_persist=True
    )
    industry = models.CharField(max_length=100, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    country = models.CharField(max_length=100, blank=True)
    custom = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        constraints = [
            _org_id_unique("leads_company"),
            models.UniqueConstraint(
                fields=["organization", "domain"],
                condition=~models.Q(domain=""),
                name="company_unique_domain",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "name"], name="company_org_name"),
            models.Index(fields=["organization", "name_key"], name="company_org_name_key"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(TenantModel):
    email = models.EmailField(max_length=254)
    email_normalized = models.CharField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    # Indexed by contact_org_company below.
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts", db_index=False
    )
    custom = models.JSONField(default=dict, blank=True)
    # Lower-cased "first last email company" for search (a trigram index on PostgreSQL).
    search_text = models.CharField(max_length=700, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email_normalized"]
        constraints = [
            _org_id_unique("leads_contact"),
            models.UniqueConstraint(fields=["organization", "email_normalized"], name="contact_unique_email"),
        ]
        indexes = [models.Index(fields=["organization", "company"], name="contact_org_company")]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Campaign(TenantModel):
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.OTHER)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-start_date", "name"]
        constraints = [
            _org_id_unique("leads_campaign"),
            models.UniqueConstraint(fields=["organization", "name"], name="campaign_unique_name"),
        ]
        indexes = [models.Index(fields=["organization", "utm_campaign"], name="campaign_org_utm")]

    def __str__(self) -> str:
        return self.name


class CampaignSpend(TenantModel):
    # Indexed by spend_unique_campaign_day below.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="spend", db_index=False)
    date = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "campaign", "date"], name="spend_unique_campaign_day"
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="spend_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} {self.date}: {self.amount} {self.currency}"


class Lead(TenantModel):
    # Indexed by lead_unique_journey below.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="leads", db_index=False)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.COLD)
    # Owner and campaign are indexed behind the organization (lead_org_owner, lead_org_campaign): every
    # query of the application is a tenant's, and a lead row pays for each index on every insert and on
    # every rescore (the score is indexed, so its updates are never HOT).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        db_index=False,
    )
    score = models.IntegerField(default=0)
    grade = models.CharField(max_length=1, blank=True)
    source_channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.DIRECT)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads", db_index=False
    )
    first_touch_at = models.DateTimeField(null=True, blank=True)
    first_touch_channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    first_touch_campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="first_touch_leads",
        db_index=False,
    )
    first_touch_url = models.CharField(max_length=2000, blank=True)
    last_touch_at = models.DateTimeField(null=True, blank=True)
    budget = models.CharField(max_length=200, blank=True)
    authority = models.CharField(max_length=200, blank=True)
    need = models.CharField(max_length=500, blank=True)
    timing = models.CharField(max_length=200, blank=True)
    # A returning customer or recycled lead may start a new journey; the newest one is current.
    journey = models.PositiveSmallIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            _org_id_unique("leads_lead"),
            models.UniqueConstraint(
                fields=["organization", "contact", "journey"], name="lead_unique_journey"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "stage", "id"], name="lead_org_stage"),
            # Owner and campaigns only where set: a lead without them (most of a large base, every imported
            # row) then writes no entry in these indexes, on insert or on any rescore that moves its row.
            models.Index(
                fields=["organization", "owner", "id"],
                name="lead_org_owner",
                condition=models.Q(owner__isnull=False),
            ),
            models.Index(fields=["organization", "score", "id"], name="lead_org_score"),
            models.Index(fields=["organization", "source_channel", "id"], name="lead_org_source"),
            models.Index(
                fields=["organization", "campaign", "id"],
                name="lead_org_campaign",
                condition=models.Q(campaign__isnull=False),
            ),
            models.Index(
                fields=["organization", "first_touch_campaign"],
                name="lead_org_first_campaign",
                condition=models.Q(first_touch_campaign__isnull=False),
            ),
            models.Index(fields=["organization", "created_at"], name="lead_org_created"),
            models.Index(fields=["organization", "last_touch_at", "id"], name="lead_org_last_touch"),
        ]

    def __str__(self) -> str:
        return f"Lead #{self.pk} ({self.get_stage_display()})"


class StageChange(TenantModel):
    """One move of a lead through the funnel. Velocity, cohorts and the funnel are computed from these."""

    # Indexed by stagechange_org_lead below.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes", db_index=False)
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.CharField(max_length=100, blank=True, help_text="The rule or process that moved the lead.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [
            models.Index(fields=["organization", "lead", "changed_at"], name="stagechange_org_lead"),
            models.Index(fields=["organization", "to_stage", "changed_at"], name="stagechange_org_to"),
            models.Index(fields=["organization", "changed_at"], name="stagechange_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or '∅'} → {self.to_stage}"

    @property
    def actor_label(self) -> str:
        if self.changed_by_user_id:
            return str(getattr(self.changed_by_user, "email", "") or self.changed_by_user)
        if self.changed_by_api_key_id and self.changed_by_api_key:
            return f"API key {self.changed_by_api_key.name}"
        return self.rule or "system"


class Touchpoint(TenantModel):
    # The lead, the contact and the campaign are indexed below only where they are set: most tracked
    # touchpoints are anonymous, and an entry per anonymous row would be written and never read.
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="touchpoints", db_index=False
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="touchpoints", db_index=False
    )
    anonymous_id = models.CharField(
        max_length=64, blank=True, help_text="First-party visitor id before identification."
    )
    external_id = models.CharField(max_length=100, blank=True, help_text="Sender's id, for safe retries.")
    type = models.CharField(max_length=20, choices=TouchpointType.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="touchpoints", db_index=False
    )
    url = models.CharField(max_length=2000, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=~models.Q(external_id=""),
                name="touchpoint_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "lead", "occurred_at"],
                condition=models.Q(lead__isnull=False),
                name="touch_org_lead_time",
            ),
            models.Index(fields=["contact"], condition=models.Q(contact__isnull=False), name="touch_contact"),
            models.Index(
                fields=["campaign"], condition=models.Q(campaign__isnull=False), name="touch_campaign"
            ),
            models.Index(
                fields=["organization", "anonymous_id"],
                condition=~models.Q(anonymous_id=""),
                name="touch_org_anonymous",
            ),
            models.Index(fields=["organization", "occurred_at"], name="touch_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


from leads.models_forms import *  # noqa: E402,F403
from leads.models_imports import *  # noqa: E402,F403
from leads.models_pages import *  # noqa: E402,F403
from leads.models_tracking import *  # noqa: E402,F403

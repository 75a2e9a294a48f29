"""The tenant core: organizations, memberships and roles, API keys, the audit log, and the base of
every tenant table.

Organization, Membership and ApiKey are the gate through which a tenant is resolved, so they are
read before any tenant is known and carry no row-level security. Every other table with tenant
data derives from `TenantModel`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.context import CrossTenantError, current_organization_id, current_organization_id_or_none


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Lifecycle thresholds and other per-tenant settings grow here as the funnel apps need them.
    settings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MARKETER = "marketer", "Marketer"
    SALES_MANAGER = "sales_manager", "Sales manager"
    SALES_REP = "sales_rep", "Sales rep"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MARKETER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user_per_org"),
        ]
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class ApiKeyScope(models.TextChoices):
    FULL = "full", "Full API"
    CAPTURE = "capture", "Capture only (public forms and tracking)"


class ApiKey(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_secret = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=ApiKeyScope.choices, default=ApiKeyScope.FULL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="apikey_org_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class TenantQuerySet(models.QuerySet):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        organization_id = current_organization_id_or_none()
        for obj in objs:
            obj.bind_organization(organization_id)
        return super().bulk_create(objs, *args, **kwargs)


class TenantManager(models.Manager):
    """Scopes every query to the current tenant and raises when there is none (fails closed)."""

    def get_queryset(self) -> TenantQuerySet:
        return TenantQuerySet(self.model, using=self._db).filter(organization_id=current_organization_id())


class UnscopedManager(models.Manager):
    """Every tenant's rows. For admin, migrations and cross-tenant maintenance only; PostgreSQL's
    row-level security still limits it to the tenant set on the transaction."""

    def get_queryset(self) -> TenantQuerySet:
        return TenantQuerySet(self.model, using=self._db)


class TenantModel(models.Model):
    # No single-column index: every tenant table leads one of its own indexes with organization_id
    # (tests/tenancy/test_rls.py checks it), and a redundant one costs on every write and bulk load.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)

    objects: ClassVar[TenantManager] = TenantManager()
    unscoped: ClassVar[UnscopedManager] = UnscopedManager()

    class Meta:
        abstract = True
        default_manager_name = "objects"
        base_manager_name = "unscoped"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.bind_organization(current_organization_id_or_none())
        super().save(*args, **kwargs)

    def bind_organization(self, organization_id: int | None) -> None:
        """Take the tenant from the context when unset; refuse a row or a relation of another tenant."""
        if self.organization_id is None:
            if organization_id is None:
                organization_id = current_organization_id()
            self.organization_id = organization_id
        elif organization_id is not None and self.organization_id != organization_id:
            raise CrossTenantError(
                f"{type(self).__name__} belongs to organization {self.organization_id}, "
                f"not to the current organization {organization_id}."
            )
        for field in self._meta.concrete_fields:
            if not isinstance(field, models.ForeignKey) or field.name == "organization":
                continue
            related_model = field.related_model
            if not (isinstance(related_model, type) and issubclass(related_model, TenantModel)):
                continue
            if field.is_cached(self):
                related = field.get_cached_value(self)
                if related is not None and getattr(related, "organization_id", None) != self.organization_id:
                    raise CrossTenantError(
                        f"{type(self).__name__}.{field.name} points to another organization's "
                        f"{related_model.__name__}."
                    )


class AuditLog(TenantModel):
    """Security-relevant actions (keys, roles, exports, erasures, imports), readable by tenant admins."""

    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_created")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class IdempotencyRecord(TenantModel):
    """The first answer to a POST carrying an `Idempotency-Key`; a replay returns it unchanged."""

    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.BinaryField()
    content_type = models.CharField(max_length=100, default="application/json")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="idempotency_unique_key_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class OutboxEvent(TenantModel):
    """A domain event stored with the write that caused it; dispatched after commit, and re-dispatched by
    a periodic sweep if the broker was down at the time."""

    name = models.CharField(max_length=80)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "created_at"],
                name="outbox_pending",
                condition=models.Q(dispatched_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class PublicKeyKind(models.TextChoices):
    FORM = "form", "Form"
    TRACKING = "tracking", "Tracking site"
    LANDING_PAGE = "landing_page", "Landing page"
    AD_SOURCE = "ad_source", "Ad lead source"
    REFERRAL = "referral", "Referral link"
    CHAT = "chat", "Chat flow"


class PublicKey(models.Model):
    """A key that may appear in a public page (an embedded form, the tracking snippet, a webhook URL).

    Like ApiKey it is read before a tenant is known, so it sits outside row-level security; it holds
    nothing but the route from the key to one object of one organization, never personal data.
    """

    key = models.CharField(max_length=40, unique=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="public_keys")
    kind = models.CharField(max_length=20, choices=PublicKeyKind.choices)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "kind", "object_id"], name="publickey_org_object")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"

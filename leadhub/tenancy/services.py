"""Every write of the tenant core: organizations, memberships, API keys and the audit log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import ApiKey, ApiKeyScope, AuditLog, Membership, Organization, Role

API_KEY_PREFIX = "lh"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Actor:
    """Who or what made a change: a user, an API key, or a named rule/system process."""

    user: Any = None
    api_key: ApiKey | None = None
    rule: str = ""
    ip_address: str | None = None

    @property
    def label(self) -> str:
        if self.user is not None:
            return str(getattr(self.user, "email", "") or self.user)
        if self.api_key is not None:
            return f"API key {self.api_key.name} ({self.api_key.prefix})"
        return self.rule or "system"

    @classmethod
    def system(cls, rule: str) -> Actor:
        return cls(rule=rule)

    @classmethod
    def from_request(cls, request: Any) -> Actor:
        user = getattr(request, "user", None)
        api_key = getattr(request, "api_key", None)
        ip = request.META.get("REMOTE_ADDR") if hasattr(request, "META") else None
        if api_key is not None:
            return cls(api_key=api_key, ip_address=ip)
        if user is not None and user.is_authenticated:
            return cls(user=user, ip_address=ip)
        return cls(rule="anonymous", ip_address=ip)


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: Any = None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    if target is not None:
        target_type = target_type or type(target).__name__
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)[:200]
    return AuditLog.objects.create(
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:200],
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label[:200],
        changes=changes or {},
        ip_address=actor.ip_address,
    )


def organization_create(
    *, name: str, slug: str = "", admin_email: str = "", password: str | None = None
) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "The organization needs a name."})
    slug = slugify(slug or name)
    if not slug:
        raise ValidationError({"slug": "The slug must contain letters or digits."})
    if Organization.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"An organization with slug '{slug}' already exists."})
    with transaction.atomic():
        organization = Organization.objects.create(name=name, slug=slug)
        if admin_email:
            user = user_get_or_create(email=admin_email, password=password)
            Membership.objects.create(user=user, organization=organization, role=Role.ADMIN)
        with tenant_context(organization):
            audit_record(
                actor=Actor.system("create_organization"),
                action="organization.created",
                target=organization,
                changes={"admin_email": admin_email},
            )
    return organization


def user_get_or_create(
    *, email: str, password: str | None = None, first_name: str = "", last_name: str = ""
) -> Any:
    User = get_user_model()
    email = email.strip().lower()
    if not email or "@" not in email:
        raise ValidationError({"email": "Enter a valid email address."})
    user = User.objects.filter(username=email).first()
    if user is None:
        user = User(username=email, email=email, first_name=first_name, last_name=last_name)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def membership_set(*, organization: Organization, user: Any, role: str, actor: Actor) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"'{role}' is not a role; choose one of {', '.join(Role.values)}."})
    membership, created = Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    before = None if created else membership.role
    if not created and membership.role != role:
        if membership.role == Role.ADMIN and role != Role.ADMIN:
            _ensure_another_admin(organization, membership)
        membership.role = role
        membership.save(update_fields=["role"])
    if created or before != role:
        audit_record(
            actor=actor,
            action="membership.created" if created else "membership.role_changed",
            target=membership,
            target_label=str(getattr(user, "email", user)),
            changes={"role": [before, role]},
        )
    return membership


def membership_remove(*, membership: Membership, actor: Actor) -> None:
    if membership.role == Role.ADMIN:
        _ensure_another_admin(membership.organization, membership)
    audit_record(
        actor=actor,
        action="membership.removed",
        target=membership,
        target_label=str(getattr(membership.user, "email", membership.user)),
        changes={"role": [membership.role, None]},
    )
    membership.delete()


def _ensure_another_admin(organization: Organization, membership: Membership) -> None:
    others = Membership.objects.filter(organization=organization, role=Role.ADMIN).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError({"role": "An organization must keep at least one admin."})


def _hash_secret(secret: str) -> str:
    # API secrets are 256-bit random strings, so a fast keyed hash is as strong as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *, organization: Organization, name: str, scope: str = ApiKeyScope.FULL, actor: Actor
) -> tuple[ApiKey, str]:
    """Create a key and return it with its full value, which is shown once and never stored."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the key a name so you can recognise it later."})
    if scope not in ApiKeyScope.values:
        raise ValidationError(
            {"scope": f"'{scope}' is not a scope; choose one of {', '.join(ApiKeyScope.values)}."}
        )
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organization=organization,
        name=name[:100],
        prefix=prefix,
        hashed_secret=_hash_secret(secret),
        scope=scope,
        created_by=actor.user,
    )
    audit_record(actor=actor, action="api_key.created", target=key, changes={"scope": scope})
    return key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_by = actor.user
        key.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(actor=actor, action="api_key.revoked", target=key)
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key matching `raw`, or None. Constant-time comparison of the secret."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    _, prefix, secret = parts
    key = ApiKey.objects.select_related("organization").filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.hashed_secret, _hash_secret(secret)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute per key, so busy keys do not serialise on their own row.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key

"""Consent of a contact, per purpose: recorded, confirmed by double opt-in, withdrawn, and read.

Records are append-only (the newest per purpose is the current state); each keeps its source, time
and the exact text the contact was shown, so the history is the proof. Every record is a row with a
foreign key to Contact, so export, erasure and merge (built generically over such models) cover it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from leadhub.tenancy.services import Actor, audit_record
from leads.models import Contact
from leads.models_forms import (
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    ConsentText,
    Form,
    FormSubmission,
)

logger = logging.getLogger(__name__)

CONFIRM_SALT = "leadhub.forms.double-opt-in"
CONFIRM_MAX_AGE = 60 * 60 * 24 * 14


def _check(purpose: str, status: str, source: str) -> None:
    errors: dict[str, list[str]] = {}
    if purpose not in ConsentPurpose.values:
        errors["purpose"] = [f"'{purpose}' is not a purpose; use one of {', '.join(ConsentPurpose.values)}."]
    if status not in ConsentStatus.values:
        errors["status"] = [
            f"'{status}' is not a consent status; use one of {', '.join(ConsentStatus.values)}."
        ]
    if source not in ConsentSource.values:
        errors["source"] = [f"'{source}' is not a consent source."]
    if errors:
        raise ValidationError(errors)


def consent_record(
    *,
    contact: Contact,
    purpose: str,
    status: str = ConsentStatus.GRANTED,
    source: str,
    actor: Actor,
    form: Form | None = None,
    submission: FormSubmission | None = None,
    text_version: ConsentText | int | None = None,
    text: str = "",
    ip_hash: str = "",
    at: Any = None,
) -> ConsentRecord:
    """Add one consent event for `contact`. The text shown is copied from its version when not given."""
    _check(purpose, status, source)
    version_id = text_version.pk if isinstance(text_version, ConsentText) else text_version
    if version_id and not text:
        text = ConsentText.objects.filter(pk=version_id).values_list("text", flat=True).first() or ""
    with transaction.atomic():
        record = ConsentRecord.objects.create(
            contact=contact,
            purpose=purpose,
            status=status,
            source=source,
            form=form,
            submission=submission,
            text_version_id=version_id,
            text=text,
            ip_hash=ip_hash,
            actor_label=actor.label[:200],
            recorded_at=at or timezone.now(),
        )
        if source in {ConsentSource.API, ConsentSource.DASHBOARD}:
            audit_record(
                actor=actor,
                action=f"consent.{status}",
                target=contact,
                changes={"purpose": purpose, "source": source},
            )
    return record


def consent_withdraw(*, contact: Contact, purpose: str, source: str, actor: Actor) -> ConsentRecord:
    """The contact no longer agrees to `purpose` (from the API, the dashboard or an unsubscribe)."""
    return consent_record(
        contact=contact, purpose=purpose, status=ConsentStatus.WITHDRAWN, source=source, actor=actor
    )


@dataclass(frozen=True)
class ConsentState:
    purpose: str
    label: str
    status: str  # granted, withdrawn, pending, or "" when never asked
    record: ConsentRecord | None

    @property
    def granted(self) -> bool:
        return self.status == ConsentStatus.GRANTED


def consents_for(contact: Contact) -> dict[str, ConsentState]:
    """The current consent of `contact` for every purpose (the newest record of each)."""
    latest: dict[str, ConsentRecord] = {}
    for record in ConsentRecord.objects.filter(contact=contact).order_by("-recorded_at", "-id"):
        latest.setdefault(record.purpose, record)
    return {
        purpose: ConsentState(
            purpose=purpose,
            label=label,
            status=latest[purpose].status if purpose in latest else "",
            record=latest.get(purpose),
        )
        for purpose, label in ConsentPurpose.choices
    }


# --- double opt-in ---------------------------------------------------------------------------------


def confirmation_token(submission: FormSubmission) -> str:
    return signing.dumps({"o": submission.organization_id, "s": submission.pk}, salt=CONFIRM_SALT)


def confirmation_read(token: str) -> tuple[int, int] | None:
    """(organization id, submission id) of a valid, unexpired confirmation link, else None."""
    if not token or len(token) > 300:
        return None
    try:
        payload = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
        return int(payload["o"]), int(payload["s"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def confirmation_send(*, submission: FormSubmission, contact: Contact, base_url: str) -> None:
    """Email the link that turns the submission's pending consents into granted ones."""
    link = f"{base_url.rstrip('/')}/f/confirm/{confirmation_token(submission)}/"
    texts = "\n".join(f"- {c['text']}" for c in submission.consents if c.get("granted"))
    send_mail(
        subject="Please confirm your subscription",
        message=(
            f"Hello,\n\nyou asked {submission.form.name!s} to keep in touch. Please confirm by opening "
            f"this link:\n\n{link}\n\nYou agreed to:\n{texts}\n\nIf this was not you, ignore this "
            "email: nothing will be sent to you.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[contact.email],
    )


def consent_confirm(*, submission: FormSubmission, ip_hash: str = "") -> list[ConsentRecord]:
    """Grant the consents a submission left pending. Idempotent: a second click grants nothing new."""
    actor = Actor.system("double opt-in")
    confirmed: list[ConsentRecord] = []
    with transaction.atomic():
        pending = list(
            ConsentRecord.objects.select_for_update()
            .filter(submission=submission, status=ConsentStatus.PENDING)
            .select_related("contact")
        )
        for record in pending:
            later = ConsentRecord.objects.filter(
                contact_id=record.contact_id, purpose=record.purpose, recorded_at__gt=record.recorded_at
            ).exists()
            if later:
                continue  # confirmed already, or withdrawn since: a late click must not undo a withdrawal
            confirmed.append(
                consent_record(
                    contact=record.contact,
                    purpose=record.purpose,
                    status=ConsentStatus.GRANTED,
                    source=ConsentSource.DOUBLE_OPT_IN,
                    actor=actor,
                    form=submission.form,
                    submission=submission,
                    text_version=record.text_version_id,
                    text=record.text,
                    ip_hash=ip_hash,
                )
            )
    return confirmed

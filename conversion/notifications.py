"""In-app notifications, each also sent by email after commit. Every part of conversion (assignment,
SLA, notes, deals) notifies through `notify`, so a user's bell and inbox tell the same story."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from conversion.models import Notification
from leads.models import Lead


def notify(
    *,
    user: Any,
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    lead: Lead | None = None,
    email: bool = True,
) -> Notification:
    """Record a notification for `user` (in the current tenant) and, with `email`, send it by email once
    the transaction commits."""
    note = Notification.objects.create(user=user, kind=kind, title=title[:200], body=body, url=url, lead=lead)
    if email and user.email:
        from conversion import tasks

        organization_id, pk = note.organization_id, note.pk
        transaction.on_commit(lambda: tasks.notification_email_send.delay(organization_id, pk))
    return note


def notification_email_send(*, notification_id: int) -> bool:
    """Send one notification's email; a second run of the same notification sends nothing."""
    from django.conf import settings
    from django.core.mail import send_mail

    with transaction.atomic():
        locked = Notification.objects.select_for_update().select_related("user")
        note = locked.filter(pk=notification_id).first()
        if note is None or note.emailed_at is not None or not note.user.email:
            return False
        link = f"{settings.SITE_URL.rstrip('/')}{note.url}" if note.url else ""
        text = "\n\n".join(part for part in (note.body, link) if part)
        send_mail(note.title, text or note.title, None, [note.user.email])
        note.emailed_at = timezone.now()
        note.save(update_fields=["emailed_at"])
    return True


def notifications_mark_read(*, user: Any, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read: the ones named, or all of them."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())

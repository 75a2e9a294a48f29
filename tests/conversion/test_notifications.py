from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from conversion.models import Notification, NotificationKind
from conversion.notifications import notification_email_send, notifications_mark_read, notify
from tests.factories import LeadFactory


@pytest.mark.django_db(transaction=True)
def test_notify_records_and_emails_once_after_commit(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        lead = LeadFactory()
        note = notify(
            user=sales_rep,
            kind=NotificationKind.ASSIGNMENT,
            title="New lead assigned",
            body="Ada <script>",
            url=f"/conversion/leads/{lead.pk}/",
            lead=lead,
        )
    assert [m.to for m in mail.outbox] == [[sales_rep.email]]
    assert f"/conversion/leads/{lead.pk}/" in mail.outbox[0].body
    with in_org():
        note.refresh_from_db()
        assert note.emailed_at is not None
        assert notification_email_send(notification_id=note.pk) is False
    assert len(mail.outbox) == 1


def test_notify_without_email_and_mark_read(org: Any, sales_rep: Any, marketer: Any, in_org: Any) -> None:
    with in_org():
        first = notify(user=sales_rep, kind=NotificationKind.MENTION, title="You were mentioned", email=False)
        notify(user=sales_rep, kind=NotificationKind.TASK, title="Task due", email=False)
        notify(user=marketer, kind=NotificationKind.REJECTION, title="Rejected", email=False)
        assert notifications_mark_read(user=sales_rep, ids=[first.pk]) == 1
        assert notifications_mark_read(user=sales_rep) == 1
        assert Notification.objects.filter(user=marketer, read_at__isnull=True).count() == 1
    assert mail.outbox == []

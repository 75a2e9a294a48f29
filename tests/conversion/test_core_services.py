from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversion import signals
from conversion.models import Handoff, HandoffStatus, RejectionReason
from conversion.services.core import activity_log, handoff_close, handoff_open, handoff_reassign
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from tests.factories import LeadFactory


def test_open_is_once_per_pending_lead_and_announced(org: Any, sales_rep: Any, in_org: Any) -> None:
    seen: list[Handoff] = []

    def receiver(sender: Any, handoff: Handoff, **kwargs: Any) -> None:
        seen.append(handoff)

    signals.handoff_opened.connect(receiver)
    try:
        with in_org():
            lead = LeadFactory(stage="mql")
            actor = Actor.system("test")
            first = handoff_open(
                lead=lead, assigned_to=sales_rep, team=None, rule="r", priority=5, actor=actor
            )
            again = handoff_open(lead=lead, assigned_to=None, team=None, rule="r2", priority=1, actor=actor)
            assert again.pk == first.pk and again.assigned_to_id == sales_rep.pk
            assert first.from_stage == "mql"
            assert AuditLog.objects.filter(action="handoff.open").count() == 1
    finally:
        signals.handoff_opened.disconnect(receiver)
    assert [h.pk for h in seen] == [first.pk]


def test_close_refuses_a_second_decision(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        lead = LeadFactory(stage="mql")
        actor = Actor(user=sales_rep)
        handoff = handoff_open(lead=lead, assigned_to=sales_rep, team=None, rule="r", priority=0, actor=actor)
        closed = handoff_close(
            handoff=handoff, status=HandoffStatus.REJECTED, actor=actor, reason=RejectionReason.NO_BUDGET
        )
        assert closed.decided_by == sales_rep and closed.rejection_reason == "no_budget"
        with pytest.raises(ValidationError) as err:
            handoff_close(handoff=handoff, status=HandoffStatus.ACCEPTED, actor=actor)
        assert "already rejected" in str(err.value)
        with pytest.raises(ValidationError):
            handoff_close(handoff=handoff, status=HandoffStatus.PENDING, actor=actor)


def test_reassign_withdraws_and_links(org: Any, sales_rep: Any, admin_user: Any, in_org: Any) -> None:
    with in_org():
        lead = LeadFactory(stage="mql")
        actor = Actor(user=admin_user)
        handoff = handoff_open(lead=lead, assigned_to=sales_rep, team=None, rule="r", priority=7, actor=actor)
        with pytest.raises(ValidationError):
            handoff_reassign(handoff=handoff, to_user=admin_user, actor=actor, reason=" ")
        new = handoff_reassign(handoff=handoff, to_user=admin_user, actor=actor, reason="holiday")
        handoff.refresh_from_db()
        assert handoff.status == HandoffStatus.WITHDRAWN
        assert new.previous_id == handoff.pk and new.priority == 7 and new.assigned_to == admin_user
        assert "holiday" in new.assigned_by_rule


def test_first_activity_after_handoff_is_first_contact(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        lead = LeadFactory(stage="mql")
        actor = Actor(user=sales_rep)
        handed = timezone.now() - dt.timedelta(hours=2)
        handoff = handoff_open(
            lead=lead, assigned_to=sales_rep, team=None, rule="r", priority=0, actor=actor, at=handed
        )
        activity_log(lead=lead, kind="call", actor=actor, occurred_at=handed - dt.timedelta(hours=1))
        handoff.refresh_from_db()
        assert handoff.first_contact_at is None
        first = activity_log(lead=lead, kind="call", actor=actor, outcome="connected")
        activity_log(lead=lead, kind="email", actor=actor)
        handoff.refresh_from_db()
        assert handoff.first_contact_at == first.occurred_at
        with pytest.raises(ValidationError) as err:
            activity_log(lead=lead, kind="fax", actor=actor, duration_minutes=-1)
        assert set(err.value.message_dict) == {"kind", "duration_minutes"}

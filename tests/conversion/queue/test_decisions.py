"""Accept and reject (stage changes, reasons and outcomes, who may decide), reassignment, and the path
from the domain event to the handoff: LeadStageChanged -> task -> handoff, idempotent, withdrawn when
the lead leaves MQL/PQL another way."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from conversion.handlers import on_lead_stage_changed
from conversion.models import Handoff, HandoffStatus, Notification
from conversion.queue import services
from leadhub.events import LeadStageChanged
from leadhub.tenancy.models import AuditLog, OutboxEvent, Role
from leadhub.tenancy.services import Actor
from leads.models import StageChange
from leads.services.leads import lead_change_stage
from tests.conversion.queue.conftest import member, mql, rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep(org: Any) -> Any:
    return member(org, "rep@acme.example")


@pytest.fixture
def handoff(org: Any, rep: Any, in_org: Any) -> Handoff:
    with in_org():
        rule("All", "territory", user=rep)
        handoff = services.handoff_assign(lead_id=mql().pk)
        assert handoff is not None
        return handoff


def test_accept_makes_the_lead_sql(rep: Any, handoff: Handoff, in_org: Any) -> None:
    with in_org():
        accepted = services.handoff_accept(handoff=handoff, actor=Actor(user=rep))
        handoff.lead.refresh_from_db()
        assert accepted.status == HandoffStatus.ACCEPTED and accepted.decided_by == rep
        assert handoff.lead.stage == "sql"
        assert StageChange.objects.filter(lead=handoff.lead, to_stage="sql").exists()
        with pytest.raises(ValidationError):
            services.handoff_accept(handoff=handoff, actor=Actor(user=rep))


@pytest.mark.parametrize(
    ("reason", "outcome", "stage"),
    [
        ("no_budget", "", "recycled"),
        ("too_early", "", "recycled"),
        ("not_a_fit", "", "disqualified"),
        ("bad_data", "", "disqualified"),
        ("not_a_fit", "recycled", "recycled"),
        ("too_early", "disqualified", "disqualified"),
    ],
)
def test_reject_recycles_or_disqualifies(
    rep: Any, handoff: Handoff, in_org: Any, reason: str, outcome: str, stage: str
) -> None:
    with in_org():
        rejected = services.handoff_reject(
            handoff=handoff, reason=reason, note="called twice", outcome=outcome, actor=Actor(user=rep)
        )
        lead = handoff.lead
        lead.refresh_from_db()
        assert rejected.status == HandoffStatus.REJECTED and rejected.rejection_reason == reason
        assert rejected.rejection_note == "called twice"
        assert lead.stage == stage and lead.owner is None
        change = StageChange.objects.get(lead=lead, to_stage=stage)
        assert "Rejected by sales" in change.reason and "called twice" in change.reason


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"reason": "other"}, "note"),
        ({"reason": "no_budget", "outcome": "sql"}, "outcome"),
    ],
)
def test_reject_input_is_checked(
    rep: Any, handoff: Handoff, in_org: Any, data: dict[str, str], field: str
) -> None:
    with in_org(), pytest.raises(ValidationError) as err:
        services.handoff_reject(handoff=handoff, actor=Actor(user=rep), **data)
    assert field in err.value.message_dict


def test_only_the_rep_or_a_manager_decides(org: Any, rep: Any, handoff: Handoff, in_org: Any) -> None:
    other_rep = member(org, "other@acme.example")
    marketer = member(org, "mk@acme.example", Role.MARKETER)
    manager = member(org, "boss@acme.example", Role.SALES_MANAGER)
    with in_org():
        for intruder in (other_rep, marketer):
            with pytest.raises(PermissionError):
                services.handoff_accept(handoff=handoff, actor=Actor(user=intruder))
            with pytest.raises(PermissionError):
                services.handoff_reject(handoff=handoff, reason="no_budget", actor=Actor(user=intruder))
        assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.PENDING
        services.handoff_accept(handoff=handoff, actor=Actor(user=manager))
        assert Handoff.objects.get(pk=handoff.pk).decided_by == manager


def test_reassign_by_a_manager_moves_owner_and_notifies(
    org: Any, rep: Any, handoff: Handoff, in_org: Any
) -> None:
    other_rep = member(org, "other@acme.example")
    manager = member(org, "boss@acme.example", Role.SALES_MANAGER)
    with in_org():
        with pytest.raises(PermissionError):
            services.handoff_reassign(
                handoff=handoff, to_user=other_rep, reason="holiday", actor=Actor(user=rep)
            )
        new = services.handoff_reassign(
            handoff=handoff, to_user=other_rep, reason="holiday", actor=Actor(user=manager)
        )
        new.lead.refresh_from_db()
        assert new.assigned_to == other_rep and new.previous_id == handoff.pk and new.lead.owner == other_rep
        assert Notification.objects.filter(user=other_rep).exists()
        back = services.handoff_reassign(
            handoff=new, to_user=None, reason="nobody free", actor=Actor(user=manager)
        )
        assert back.assigned_to is None


def test_stage_change_to_mql_hands_off_through_the_event(
    org: Any, rep: Any, in_org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        rule("All", "territory", user=rep)
        lead = mql(stage="cold")
    with django_capture_on_commit_callbacks(execute=True), in_org():
        lead_change_stage(lead=lead, to_stage="mql", actor=Actor.system("scoring threshold"))
    with in_org():
        handoff = Handoff.objects.get(lead=lead)
        assert handoff.assigned_to == rep and handoff.from_stage == "mql"
        lead.refresh_from_db()
        assert lead.owner == rep
        # The event delivered again (the outbox sweep, a retry): still one handoff, one notification.
        row = OutboxEvent.objects.filter(name=LeadStageChanged.name).order_by("-id").first()
        assert row is not None
    event = LeadStageChanged(organization_id=org.pk, lead_id=lead.pk, from_stage="cold", to_stage="mql")
    with django_capture_on_commit_callbacks(execute=True):
        on_lead_stage_changed(event)
        on_lead_stage_changed(event)
    with in_org():
        assert Handoff.objects.filter(lead=lead).count() == 1
        assert Notification.objects.filter(user=rep).count() == 1
        assert AuditLog.objects.filter(action="handoff.open").count() == 1


def test_lead_leaving_mql_another_way_withdraws_the_pending_handoff(
    org: Any, rep: Any, handoff: Handoff, in_org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), in_org():
        lead_change_stage(
            lead=handoff.lead, to_stage="recycled", actor=Actor.system("decay"), reason="Score decayed."
        )
    with in_org():
        handoff.refresh_from_db()
        assert handoff.status == HandoffStatus.WITHDRAWN
        assert "recycled" in handoff.rejection_note
        # Late or repeated: nothing more happens.
        assert services.handoff_withdraw_stale(lead_id=handoff.lead_id) is None
        assert services.handoff_assign(lead_id=handoff.lead_id) is None


def test_accepting_does_not_withdraw(
    org: Any, rep: Any, handoff: Handoff, in_org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), in_org():
        services.handoff_accept(handoff=handoff, actor=Actor(user=rep))
    with in_org():
        assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.ACCEPTED


def test_mql_to_pql_keeps_the_pending_handoff(
    org: Any, rep: Any, handoff: Handoff, in_org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), in_org():
        lead_change_stage(lead=handoff.lead, to_stage="pql", actor=Actor.system("product usage"))
    with in_org():
        assert list(Handoff.objects.filter(lead=handoff.lead).values_list("status", flat=True)) == ["pending"]

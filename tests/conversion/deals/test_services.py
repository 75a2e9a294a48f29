"""Deals' services: the opportunity's life from an SQL lead to won (customer, account, onboarding) or lost,
its history, and the validation of what a rep types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversion.deals import services
from conversion.models import (
    Account,
    Notification,
    OnboardingEnrollment,
    OnboardingStep,
    Opportunity,
    OpportunityHistory,
    PipelineStage,
    SalesTeam,
    TeamMember,
)
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from leads.models import StageChange
from tests.conversion.deals.conftest import sql_lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_the_default_stages_are_made_once_on_first_use(org: Any, in_org: Any) -> None:
    with in_org():
        first = services.pipeline_stages_ensure()
        again = services.pipeline_stages_ensure()
        assert [(s.name, s.probability) for s in first] == [
            ("Qualification", 10),
            ("Discovery", 25),
            ("Proposal", 50),
            ("Negotiation", 75),
        ]
        assert [s.pk for s in again] == [s.pk for s in first]
        assert PipelineStage.objects.count() == 4


def test_a_deal_for_an_sql_lead_moves_it_to_opportunity_with_history_and_audit(
    org: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        lead = sql_lead()
        actor = Actor(user=sales_rep)
        deal = services.opportunity_create(lead=lead, name="Initech rollout", amount="12000", actor=actor)
        lead.refresh_from_db()
        assert lead.stage == "opportunity"
        assert StageChange.objects.filter(
            lead=lead, to_stage="opportunity", changed_by_user=sales_rep
        ).exists()
        assert deal.stage.name == "Qualification" and deal.probability == 10
        assert deal.owner == sales_rep and deal.company == lead.contact.company
        assert deal.amount == Decimal("12000.00") and deal.currency == "EUR"
        [created] = OpportunityHistory.objects.filter(opportunity=deal)
        assert (created.from_stage, created.to_stage, created.to_status) == (None, deal.stage, "open")
        assert AuditLog.objects.filter(action="opportunity.create", target_id=str(deal.pk)).exists()


def test_stage_moves_are_recorded_and_bring_the_stage_probability(
    org: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        stages = services.pipeline_stages_ensure()
        actor = Actor(user=sales_rep)
        deal = services.opportunity_create(lead=sql_lead(), name="Deal", actor=actor)
        deal = services.opportunity_move(opportunity=deal, stage=stages[2], actor=actor)
        assert deal.probability == 50
        deal = services.opportunity_update(
            opportunity=deal, data={"stage": stages[3], "probability": 90}, actor=actor
        )
        assert deal.probability == 90
        moves = list(OpportunityHistory.objects.filter(opportunity=deal).order_by("id"))
        assert [(m.from_stage and m.from_stage.name, m.to_stage.name) for m in moves] == [
            (None, "Qualification"),
            ("Qualification", "Proposal"),
            ("Proposal", "Negotiation"),
        ]
        assert all(m.changed_by == sales_rep for m in moves)


def test_won_makes_a_customer_an_account_and_an_onboarding_and_twice_is_harmless(
    org: Any, sales_rep: Any, admin_user: Any, in_org: Any
) -> None:
    with in_org():
        team = SalesTeam.objects.create(name="EMEA", manager=admin_user)
        TeamMember.objects.create(team=team, user=sales_rep)
        lead = sql_lead()
        deal = services.opportunity_create(
            lead=lead, name="Big deal", amount="5000", owner=sales_rep, actor=Actor(user=sales_rep)
        )
        closer = Actor(user=admin_user)
        won = services.opportunity_win(opportunity=deal, actor=closer)
        again = services.opportunity_win(opportunity=deal, actor=closer)
        lead.refresh_from_db()
        assert lead.stage == "customer"
        assert (won.status, won.probability, again.won_at) == ("won", 100, won.won_at)
        account = Account.objects.get()
        assert (account.company_id, account.first_opportunity, account.owner) == (
            lead.contact.company_id,
            won,
            sales_rep,
        )
        enrollment = OnboardingEnrollment.objects.get()
        assert enrollment.account == account
        steps = list(OnboardingStep.objects.filter(enrollment=enrollment).order_by("due_date", "id"))
        won_on = timezone.localdate(won.won_at)
        assert (
            len(steps) == 7
            and steps[0].due_date == won_on
            and steps[-1].due_date == won_on + dt.timedelta(90)
        )
        assert steps[0].owner == sales_rep
        assert AuditLog.objects.filter(action="opportunity.won").count() == 1
        # The owner hears of it (the closer does not notify themselves, the manager closed it).
        assert list(Notification.objects.values_list("user__email", "kind")) == [("rep@acme.example", "deal")]


def test_a_second_won_deal_of_the_same_account_keeps_its_account_and_onboarding(
    org: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        actor = Actor(user=sales_rep)
        lead = sql_lead()
        first = services.opportunity_create(lead=lead, name="First", actor=actor)
        second = services.opportunity_create(lead=lead, name="Second", actor=actor)
        services.opportunity_win(opportunity=first, actor=actor)
        services.opportunity_win(opportunity=second, actor=actor)
        assert Account.objects.get().first_opportunity == first
        assert OnboardingEnrollment.objects.count() == 1


@pytest.mark.parametrize(("reason", "lead_stage"), [("price", "recycled"), ("not_a_fit", "disqualified")])
def test_lost_sends_the_lead_back(
    org: Any, sales_rep: Any, in_org: Any, reason: str, lead_stage: str
) -> None:
    with in_org():
        lead = sql_lead()
        actor = Actor(user=sales_rep)
        deal = services.opportunity_create(lead=lead, name="Deal", actor=actor)
        lost = services.opportunity_lose(opportunity=deal, reason=reason, note="Too dear", actor=actor)
        assert (lost.status, lost.lost_reason, lost.probability) == ("lost", reason, 0)
        lead.refresh_from_db()
        assert lead.stage == lead_stage
        assert StageChange.objects.filter(
            lead=lead, to_stage=lead_stage, reason__contains="Too dear"
        ).exists()
        # Lost again: nothing changes; won afterwards: refused.
        assert (
            services.opportunity_lose(opportunity=deal, reason="other", note="x", actor=actor).lost_reason
            == reason
        )
        with pytest.raises(ValidationError) as err:
            services.opportunity_win(opportunity=deal, actor=actor)
        assert "status" in err.value.message_dict
        assert not Account.objects.exists()


def test_a_lost_deal_leaves_the_lead_while_another_is_open(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        lead = sql_lead()
        actor = Actor(user=sales_rep)
        first = services.opportunity_create(lead=lead, name="A", actor=actor)
        services.opportunity_create(lead=lead, name="B", actor=actor)
        services.opportunity_lose(opportunity=first, reason="timing", actor=actor)
        lead.refresh_from_db()
        assert lead.stage == "opportunity"


def test_lost_needs_a_known_reason_and_a_note_for_other(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        actor = Actor(user=sales_rep)
        deal = services.opportunity_create(lead=sql_lead(), name="Deal", actor=actor)
        with pytest.raises(ValidationError) as err:
            services.opportunity_lose(opportunity=deal, reason="bored", actor=actor)
        assert "lost_reason" in err.value.message_dict
        with pytest.raises(ValidationError) as err:
            services.opportunity_lose(opportunity=deal, reason="other", actor=actor)
        assert "lost_note" in err.value.message_dict


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "euro"}, "currency"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "12,5.3.1"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"probability": 101}, "probability"),
        ({"probability": "-1"}, "probability"),
        ({"probability": "5.5"}, "probability"),
        ({"expected_close_date": "2020-01-01"}, "expected_close_date"),
        ({"expected_close_date": "tomorrow"}, "expected_close_date"),
        ({"expected_close_date": "2999-01-01"}, "expected_close_date"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    org: Any, sales_rep: Any, in_org: Any, values: dict[str, Any], field: str
) -> None:
    with in_org():
        lead = sql_lead()
        kwargs: dict[str, Any] = {"name": "Deal", **values}
        with pytest.raises(ValidationError) as err:
            services.opportunity_create(lead=lead, actor=Actor(user=sales_rep), **kwargs)
        assert field in err.value.message_dict
        assert not Opportunity.objects.exists()
        lead.refresh_from_db()
        assert lead.stage == "sql"


def test_a_deal_needs_a_lead_accepted_by_sales(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        with pytest.raises(ValidationError) as err:
            services.opportunity_create(
                lead=LeadFactory(stage="mql"), name="Deal", actor=Actor(user=sales_rep)
            )
        assert "lead" in err.value.message_dict


def test_a_closed_deal_does_not_change(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        actor = Actor(user=sales_rep)
        deal = services.opportunity_create(lead=sql_lead(), name="Deal", actor=actor)
        services.opportunity_win(opportunity=deal, actor=actor)
        with pytest.raises(ValidationError) as err:
            services.opportunity_update(opportunity=deal, data={"amount": "1"}, actor=actor)
        assert "status" in err.value.message_dict


def test_onboarding_steps_complete_and_reopen(org: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        actor = Actor(user=sales_rep)
        deal = services.opportunity_create(lead=sql_lead(), name="Deal", actor=actor)
        services.opportunity_win(opportunity=deal, actor=actor, at=timezone.now() - dt.timedelta(days=10))
        steps = list(OnboardingStep.objects.order_by("due_date", "id"))
        assert [s.is_overdue for s in steps[:4]] == [True, True, True, False]
        done = services.onboarding_step_set_done(step=steps[0], done=True, actor=actor)
        assert done.completed_by == sales_rep and not done.is_overdue
        again = services.onboarding_step_set_done(step=steps[0], done=True, actor=actor)
        assert again.completed_at == done.completed_at
        reopened = services.onboarding_step_set_done(step=steps[0], done=False, actor=actor)
        assert reopened.completed_at is None and reopened.is_overdue
        assert AuditLog.objects.filter(action__startswith="onboarding.step_").count() == 2


def test_stage_editing_validates(org: Any, admin_user: Any, in_org: Any) -> None:
    with in_org():
        actor = Actor(user=admin_user)
        stages = services.pipeline_stages_ensure()
        stage = services.pipeline_stage_create(name="Legal review", probability=85, actor=actor)
        assert stage.position == 4
        with pytest.raises(ValidationError) as err:
            services.pipeline_stage_create(name="proposal", probability=50, actor=actor)
        assert "name" in err.value.message_dict
        with pytest.raises(ValidationError) as err:
            services.pipeline_stage_update(stage=stages[0], data={"probability": 150}, actor=actor)
        assert "probability" in err.value.message_dict

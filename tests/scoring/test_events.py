"""Incremental rescoring through the domain events (tasks in-process here; a real worker runs them in
tests/scoring/test_worker_rescoring.py), LeadUpdated from lead_update, and the lifecycle moves that follow."""

from __future__ import annotations

from typing import Any

import pytest

from leadhub.events import LeadStageChanged, LeadUpdated
from leadhub.tenancy.models import OutboxEvent
from leadhub.tenancy.services import Actor
from leads.models import Channel, Lead, Stage, StageChange, Touchpoint, TouchpointType
from leads.services import contact_update, lead_capture, lead_update, touchpoints_record
from scoring import services
from scoring.models import Cause, LeadScore, LifecyclePolicy, RecomputeJob, ScoreChange
from tests.factories import LeadFactory
from tests.scoring.conftest import ACTOR, go_live, make_version

pytestmark = pytest.mark.django_db

RULES = [
    {"dimension": "behaviour", "name": "Pricing", "points": 30, "url_contains": "/pricing"},
    {
        "dimension": "behaviour",
        "name": "Signup",
        "points": 25,
        "touchpoint_types": ["product_signup"],
        "product_usage": True,
    },
    {
        "dimension": "fit",
        "name": "Director",
        "points": 45,
        "field": "contact.job_title",
        "operator": "contains_word",
        "value": ["director"],
    },
    {
        "dimension": "fit",
        "name": "Budget known",
        "points": 20,
        "field": "lead.budget",
        "operator": "is_blank",
        "negate": True,
    },
]


@pytest.fixture
def live(in_org: Any) -> Any:
    with in_org():
        LifecyclePolicy.objects.create(mql_score=50, mql_min_grade="C", pql_points=25, recycle_floor=20)
        version = make_version(RULES)
        go_live(version)
        yield version


def _record(lead: Lead, kind: str, url: str = "") -> list[Touchpoint]:
    return touchpoints_record(touchpoints=[Touchpoint(lead=lead, type=kind, url=url, channel=Channel.DIRECT)])


def test_lead_update_publishes_lead_updated_with_the_changed_fields(in_org: Any) -> None:
    with in_org():
        lead = LeadFactory.create()
        lead_update(lead=lead, data={"budget": "EUR 10k", "need": ""}, actor=ACTOR)
        event = OutboxEvent.objects.get(name=LeadUpdated.name)
        assert event.payload == {"lead_id": lead.pk, "fields": ["budget"]}
        lead_update(lead=lead, data={"budget": "EUR 10k"}, actor=ACTOR)
        assert OutboxEvent.objects.filter(name=LeadUpdated.name).count() == 1


def test_a_touchpoint_rescores_its_lead_and_hands_an_mql_to_sales(
    in_org: Any, live: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        lead = LeadFactory.create(contact__job_title="Director of Sales")
        with django_capture_on_commit_callbacks(execute=True):
            _record(lead, TouchpointType.PAGE_VIEW, "https://acme.example/pricing")
        score = LeadScore.objects.get(lead_id=lead.pk)
        assert (score.score, score.grade) == (30, "B")
        row = ScoreChange.objects.get(lead_id=lead.pk)
        assert row.cause == Cause.TOUCHPOINT
        assert row.touchpoint_id == Touchpoint.objects.get(lead=lead).pk
        with django_capture_on_commit_callbacks(execute=True):
            _record(lead, TouchpointType.PAGE_VIEW, "https://acme.example/pricing?again")
        lead.refresh_from_db()
        assert (lead.score, lead.stage) == (60, Stage.MQL)
        move = StageChange.objects.filter(lead=lead, to_stage=Stage.MQL).get()
        assert move.rule.startswith("scoring: MQL threshold")
        assert "Score 60 reached the MQL threshold of 50 with grade B" in move.reason
        assert "Pricing +60" in move.reason
        # The hand-off to sales is the stage change event that conversion subscribes to.
        assert OutboxEvent.objects.filter(name=LeadStageChanged.name, payload__to_stage=Stage.MQL).exists()


def test_a_grade_below_the_minimum_does_not_make_an_mql(in_org: Any, live: Any) -> None:
    with in_org():
        lead = LeadFactory.create(contact__job_title="Intern")
        for _ in range(3):
            Touchpoint.objects.create(lead=lead, contact=lead.contact, type="page_view", url="/pricing")
        services.leads_rescore(lead_ids=[lead.pk], event=services_event())
        lead.refresh_from_db()
        assert (lead.score, lead.grade, lead.stage) == (90, "E", Stage.COLD)


def services_event() -> Any:
    from scoring.engine.ledger import ScoreEvent

    return ScoreEvent(cause=Cause.TOUCHPOINT)


def test_product_usage_makes_a_pql_before_an_mql(
    in_org: Any, live: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        lead = LeadFactory.create(contact__job_title="Director")
        Touchpoint.objects.create(lead=lead, contact=lead.contact, type="page_view", url="/pricing")
        with django_capture_on_commit_callbacks(execute=True):
            _record(lead, TouchpointType.PRODUCT_SIGNUP)
        lead.refresh_from_db()
        assert (lead.score, lead.stage) == (55, Stage.PQL)
        move = StageChange.objects.get(lead=lead, to_stage=Stage.PQL)
        assert (
            "Product usage earned 25 points, reaching the PQL threshold of 25 (from Signup +25)"
            in move.reason
        )


def test_a_bant_answer_rescores_through_lead_updated(
    in_org: Any, live: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        lead = LeadFactory.create(contact__job_title="Engineer")
        with django_capture_on_commit_callbacks(execute=True):
            services.bant_answer_record(
                lead=lead, field="budget", value="EUR 30k", actor=ACTOR, source="chat"
            )
        row = ScoreChange.objects.get(lead_id=lead.pk)
        assert (row.cause, row.fit, row.changed_fields) == (Cause.FIELD_CHANGE, 20, "lead.budget")


def test_a_contact_change_rescores_its_current_lead(
    in_org: Any, live: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        lead = LeadFactory.create(contact__job_title="Engineer")
        with django_capture_on_commit_callbacks(execute=True):
            contact_update(contact=lead.contact, data={"job_title": "Director of IT"}, actor=ACTOR)
        assert LeadScore.objects.get(lead_id=lead.pk).fit == 45
        assert ScoreChange.objects.get(lead_id=lead.pk).changed_fields == "contact.job_title"


def test_a_captured_lead_is_scored(in_org: Any, live: Any, django_capture_on_commit_callbacks: Any) -> None:
    with in_org():
        with django_capture_on_commit_callbacks(execute=True):
            lead, _ = lead_capture(
                contact_data={"email": "dana@acme.example", "job_title": "Marketing Director"},
                lead_data={"budget": "EUR 5k"},
                actor=Actor.system("test"),
            )
        assert LeadScore.objects.get(lead_id=lead.pk).fit == 65
        assert ScoreChange.objects.get(lead_id=lead.pk).cause == Cause.CAPTURE


def test_decay_below_the_floor_recycles_an_mql(in_org: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    with in_org() as organization_id:
        LifecyclePolicy.objects.create(mql_score=50, mql_min_grade="E", pql_points=None, recycle_floor=20)
        version = make_version(
            [
                {
                    "dimension": "engagement",
                    "name": "Activity",
                    "points": 60,
                    "engagement_kind": "activity",
                    "half_life_days": 7,
                    "cap": 100,
                },
            ]
        )
        go_live(version)
        lead = LeadFactory.create()
        Touchpoint.objects.create(
            lead=lead, contact=lead.contact, type="email_open", occurred_at=timezone.now()
        )
        services.leads_rescore(lead_ids=[lead.pk], event=services_event())
        lead.refresh_from_db()
        assert (lead.score, lead.stage) == (60, Stage.MQL)
        job = RecomputeJob.objects.create(
            version=version, kind="decay", evaluated_at=timezone.now() + dt.timedelta(days=14)
        )
    job = services.recompute_job_run(organization_id=organization_id, job_id=job.pk)
    with in_org():
        lead.refresh_from_db()
        assert (lead.score, lead.stage, job.transitions) == (15, Stage.RECYCLED, 1)
        move = StageChange.objects.get(lead=lead, to_stage=Stage.RECYCLED)
        assert move.reason.startswith("Score decayed to 15, below the recycle floor of 20")
        assert ScoreChange.objects.filter(lead_id=lead.pk, cause=Cause.DECAY).exists()


def test_leads_that_sales_took_are_never_moved_by_scores(in_org: Any, live: Any) -> None:
    with in_org():
        lead = LeadFactory.create(stage=Stage.SQL, contact__job_title="Director")
        for _ in range(3):
            Touchpoint.objects.create(lead=lead, contact=lead.contact, type="page_view", url="/pricing")
        services.leads_rescore(lead_ids=[lead.pk], event=services_event())
        lead.refresh_from_db()
        assert (lead.score, lead.stage) == (90, Stage.SQL)


def test_the_explanation_says_why_a_lead_is_an_mql(
    in_org: Any, live: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from scoring.selectors import lead_explanation

    with in_org():
        lead = LeadFactory.create(contact__job_title="Director")
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                _record(lead, TouchpointType.PAGE_VIEW, "https://acme.example/pricing")
        lead.refresh_from_db()
        explanation = lead_explanation(lead)
    text = " ".join(explanation.sentences)
    assert "Score 60 = behaviour 60 + engagement 0 + maturity 0." in text
    assert "Most of the interest comes from Pricing (+60)." in text
    assert "Grade B from a fit of 45: Director (+45)." in text
    assert "first reached the MQL threshold of 50" in text and "through touchpoint #" in text
    assert "It became MQL on" in text and "Score 60 reached the MQL threshold" in text


def test_a_score_typed_over_by_hand_is_restored_from_the_ledger(
    in_org: Any, live: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Lead.score may be edited through the leads API; the LeadUpdated that follows rescores the lead and
    puts the ledger's sum back (a manual adjustment is the way to change a score by hand)."""
    with in_org():
        lead = LeadFactory.create(contact__job_title="Director")
        services.leads_rescore(lead_ids=[lead.pk], event=services_event())
        with django_capture_on_commit_callbacks(execute=True):
            lead_update(lead=lead, data={"score": 999, "grade": "A"}, actor=ACTOR)
        lead.refresh_from_db()
        score = LeadScore.objects.get(lead_id=lead.pk)
        assert (lead.score, lead.grade) == (score.score, score.grade) == (0, "B")

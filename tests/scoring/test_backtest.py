"""Backtest figures on a small hand-built history, checked by hand (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from leads.models import Lead, Stage, StageChange
from scoring import services
from scoring.models import JobStatus, LifecyclePolicy, ModelVersion
from tests.factories import LeadFactory
from tests.scoring.conftest import ACTOR, NOW, go_live, make_version, touch

pytestmark = pytest.mark.django_db

RULES = [
    {
        "dimension": "fit",
        "name": "Anyone",
        "points": 60,
        "field": "contact.email",
        "operator": "contains",
        "value": "@",
    },
    {"dimension": "behaviour", "name": "Pricing", "points": 10, "url_contains": "/pricing"},
]
DECIDED = NOW - dt.timedelta(days=5)


def _moves(lead: Lead, *stages: str) -> None:
    previous = Stage.COLD
    for offset, stage in enumerate(stages):
        StageChange.objects.create(
            lead=lead, from_stage=previous, to_stage=stage, changed_at=DECIDED + dt.timedelta(hours=offset)
        )
        previous = stage


def _views(lead: Lead, count: int, days_ago: float = 10) -> None:
    for _ in range(count):
        touch(lead, url="https://acme.example/pricing", days_ago=days_ago)


@pytest.fixture
def history(in_org: Any) -> Any:
    with in_org():
        LifecyclePolicy.objects.create(mql_score=20, mql_min_grade="C", pql_points=None, recycle_floor=None)
        leads = [LeadFactory.create() for _ in range(11)]
        for lead in leads[:4]:
            _views(lead, 3)  # score 30
        for lead in leads[4:10]:
            _views(lead, 1)  # score 10
        _moves(leads[0], Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
        _moves(leads[1], Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
        _moves(leads[4], Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
        # Reached SQL with one view; three more views afterwards must not count.
        _views(leads[10], 1)
        _views(leads[10], 3, days_ago=1)
        _moves(leads[10], Stage.SQL, Stage.DISQUALIFIED)
        yield make_version(RULES)


def test_backtest_figures_on_a_known_history(in_org: Any, history: ModelVersion) -> None:
    with in_org():
        result = services.backtest(version=history, target_mql=5, now=NOW)
    assert (result["leads"], result["converted"], result["base_conversion"]) == (11, 3, 0.2727)
    cut = result["at_threshold"]
    assert (cut["threshold"], cut["mql"], cut["mql_converted"]) == (20, 4, 2)
    assert (cut["precision"], cut["recall"]) == (0.5, 0.6667)
    assert (cut["conversion_mql"], cut["conversion_rest"]) == (0.5, 0.1429)
    assert (cut["lift"], cut["lift_vs_rest"]) == (1.8333, 3.5)
    # 30 points give 4 MQLs, too few for 5: the threshold that reaches 5 is 10 (all 11 leads).
    assert (result["for_target"]["threshold"], result["for_target"]["mql"]) == (10, 11)
    assert {"from": 30, "leads": 4} in result["distribution"]


def test_a_grade_below_the_minimum_keeps_leads_out(in_org: Any, history: ModelVersion) -> None:
    with in_org():
        history = services.version_update(
            version=history,
            data={"grade_thresholds": {"A": 100, "B": 90, "C": 80, "D": 70, "E": 0}},
            actor=ACTOR,
        )
        result = services.backtest(version=history, now=NOW)
    assert result["at_threshold"]["mql"] == 0
    assert result["at_threshold"]["precision"] is None


def test_backtest_runs_as_a_job_beside_the_live_version(
    in_org: Any, history: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        live = make_version([{**RULES[1], "points": 5}], name="Live model")
        go_live(live)
        with django_capture_on_commit_callbacks(execute=True):
            run = services.backtest_start(version=history, target_mql=3, actor=ACTOR)
        run.refresh_from_db()
    assert run.status == JobStatus.DONE
    assert run.results["version"]["at_threshold"]["mql"] == 4
    # The live version gives 15 at most: nobody reaches 20.
    assert run.results["live"]["at_threshold"]["mql"] == 0


def test_backtest_target_must_be_a_positive_number(in_org: Any, history: ModelVersion) -> None:
    with in_org(), pytest.raises(ValidationError) as error:
        services.backtest_start(version=history, target_mql=0, actor=ACTOR)
    assert "target_mql" in error.value.message_dict

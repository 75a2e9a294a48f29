"""Incremental rescoring on a real Celery worker through Redis (not eager): a recorded touchpoint's
TouchpointsRecorded event enqueues scoring.tasks.scoring_rescore_leads after commit, and `celery worker`
rescores the lead against the test database (on PostgreSQL under row-level security), writes its ledger
row and moves it to MQL."""

from __future__ import annotations

import time
from pathlib import Path

from leadhub.tenancy.context import tenant_context
from leads.models import Channel, Lead, Stage, Touchpoint, TouchpointType
from leads.services import touchpoints_record
from scoring.models import Cause, LeadScore, LifecyclePolicy, ScoreChange
from tests.factories import LeadFactory, OrganizationFactory
from tests.scoring.conftest import go_live, make_version
from tests.test_worker import pytestmark as worker_marks
from tests.test_worker import queue, worker  # noqa: F401  (fixtures)

pytestmark = worker_marks
WAIT_SECONDS = 30


def test_a_real_worker_rescores_a_lead_after_its_touchpoint(worker: Path) -> None:  # noqa: F811
    organization = OrganizationFactory.create(name="Scoring Worker", slug="scoring-worker")
    with tenant_context(organization):
        LifecyclePolicy.objects.create(mql_score=25, mql_min_grade="E", pql_points=None, recycle_floor=None)
        go_live(
            make_version(
                [
                    {
                        "dimension": "behaviour",
                        "name": "Pricing page",
                        "points": 30,
                        "url_contains": "/pricing",
                    },
                ]
            )
        )
        lead = LeadFactory.create()
    # Commits on leaving the block; the after-commit dispatch sends the rescoring task to Redis.
    with tenant_context(organization):
        (seen,) = touchpoints_record(
            touchpoints=[
                Touchpoint(
                    lead=lead,
                    type=TouchpointType.PAGE_VIEW,
                    url="https://acme.example/pricing",
                    channel=Channel.DIRECT,
                )
            ]
        )

    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with tenant_context(organization):
            stored = Lead.objects.get(pk=lead.pk)
        if stored.stage == Stage.MQL or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    output = worker.read_text()
    assert stored.stage == Stage.MQL, f"the worker did not rescore the lead in {WAIT_SECONDS}s:\n{output}"
    with tenant_context(organization):
        assert LeadScore.objects.get(lead_id=lead.pk).score == stored.score == 30
        row = ScoreChange.objects.get(lead_id=lead.pk)
        assert (row.cause, row.touchpoint_id, row.behaviour) == (Cause.TOUCHPOINT, seen.pk, 30)
    assert "scoring.tasks.scoring_rescore_leads" in output and "succeeded" in output, output

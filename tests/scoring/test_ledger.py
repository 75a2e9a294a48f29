"""The ledger invariant: a lead's scores always equal the sum of its ledger, whatever changed them
(touchpoints, field changes, manual adjustments, decay, a recompute, a new version)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from leadhub.tenancy.services import Actor
from leads.models import Lead
from scoring import selectors, services
from scoring.engine.ledger import ScoreEvent, touches_of
from scoring.engine.python import evaluate
from scoring.engine.spec import points_by_rule, rule_orders, version_spec
from scoring.models import Cause, JobStatus, LeadScore, RecomputeJob, RecomputeKind, Rule, ScoreChange
from scoring.starter import STARTER_RULES
from tests.factories import LeadFactory
from tests.scoring.conftest import ACTOR, NOW, go_live, make_version, rescore, touch

pytestmark = pytest.mark.django_db


def assert_ledger_invariant(lead_ids: list[int]) -> None:
    totals = selectors.ledger_totals(lead_ids)
    for lead in Lead.objects.filter(pk__in=lead_ids):
        score = LeadScore.objects.filter(lead_id=lead.pk).first()
        summed = totals.get(lead.pk, dict.fromkeys(selectors.LEDGER_DIMENSIONS, 0))
        if score is None:
            assert not any(summed.values())
            continue
        held = {d: getattr(score, d) for d in selectors.LEDGER_DIMENSIONS}
        assert held == summed, f"lead {lead.pk}: scores {held} but ledger {summed}"
        assert score.score == score.behaviour + score.engagement + score.maturity + score.manual
        assert (lead.score, lead.grade) == (score.score, score.grade)
        by_rule = selectors.ledger_rule_totals(lead)
        order = rule_orders([score.version_id]).get(score.version_id, [])
        current = points_by_rule(order, score.rule_points)
        live_rules = set(Rule.objects.filter(version_id=score.version_id).values_list("pk", flat=True))
        assert {k: v for k, v in by_rule.items() if k in live_rules} == current
        assert not {k: v for k, v in by_rule.items() if k not in live_rules}, (
            "a retired rule still holds points"
        )
        # Each row's rule deltas add up to its dimension deltas.
        for row in ScoreChange.objects.filter(lead_id=lead.pk).exclude(cause=Cause.MANUAL):
            given = sum(row.rule_deltas) - sum(row.withdrawn_points)
            assert given == row.fit + row.behaviour + row.engagement + row.maturity


def _random_history(leads: list[Lead], seed: int = 7) -> None:
    rng = random.Random(seed)
    urls = ["/pricing", "/blog/post", "/customers/acme", "/careers", "/"]
    kinds = [
        "page_view",
        "download",
        "email_click",
        "webinar",
        "product_signup",
        "product_usage",
        "form_submit",
        "demo",
    ]
    for lead in leads:
        for _ in range(rng.randint(0, 12)):
            kind = rng.choice(kinds)
            properties = {"form": "demo-request"} if kind == "form_submit" and rng.random() < 0.5 else {}
            touch(
                lead,
                kind,
                days_ago=rng.uniform(0, 120),
                url="https://acme.example" + rng.choice(urls),
                **properties,
            )
        if rng.random() < 0.3:
            lead.budget = "EUR 40k"
            lead.save()


def test_the_invariant_holds_through_every_kind_of_change(in_org: Any) -> None:
    with in_org():
        version = make_version(STARTER_RULES)
        go_live(version)
        leads = [LeadFactory.create() for _ in range(12)]
        ids = [lead.pk for lead in leads]
        _random_history(leads)
        services.leads_rescore(lead_ids=ids, event=ScoreEvent(cause=Cause.RECOMPUTE), at=NOW)
        assert_ledger_invariant(ids)
        # A touchpoint, a manual adjustment, a BANT answer.
        touch(leads[0], url="https://acme.example/pricing")
        services.leads_rescore(lead_ids=ids[:1], event=ScoreEvent(cause=Cause.TOUCHPOINT), at=NOW)
        services.score_adjust(lead=leads[1], points=-7, note="Talked to them: student project", actor=ACTOR)
        services.bant_answer_record(lead=leads[2], field="budget", value="EUR 80k", actor=ACTOR)
        services.leads_rescore(lead_ids=ids, event=ScoreEvent(cause=Cause.FIELD_CHANGE), at=NOW)
        assert_ledger_invariant(ids)
        # Decay 45 days later.
        services.leads_rescore(
            lead_ids=ids, event=ScoreEvent(cause=Cause.DECAY), at=NOW + dt.timedelta(days=45)
        )
        assert_ledger_invariant(ids)
        # A new version: every rule of the old one is withdrawn, the manual points stay.
        draft = services.version_create(scoring_model=version.scoring_model, actor=ACTOR)
        Rule.objects.filter(version=draft, dimension="behaviour").update(points=2)
        go_live(draft)
        services.leads_rescore(lead_ids=ids, event=ScoreEvent(cause=Cause.RECOMPUTE), at=NOW)
        assert_ledger_invariant(ids)
        assert LeadScore.objects.get(lead_id=leads[1].pk).manual == -7


def test_a_rescoring_with_nothing_new_writes_no_row(in_org: Any) -> None:
    with in_org():
        go_live(make_version(STARTER_RULES))
        lead = LeadFactory.create()
        touch(lead, url="https://acme.example/pricing")
        rescore(lead)
        rows = ScoreChange.objects.count()
        rescore(lead)
        rescore(lead)
        assert ScoreChange.objects.count() == rows


def test_a_ledger_row_says_which_rule_gave_what_and_why(in_org: Any) -> None:
    with in_org():
        version = make_version(
            [
                {"dimension": "behaviour", "name": "Pricing", "points": 10, "url_contains": "/pricing"},
                {
                    "dimension": "fit",
                    "name": "Germany",
                    "points": 5,
                    "field": "contact.country",
                    "operator": "equals",
                    "value": "Germany",
                },
            ]
        )
        go_live(version)
        lead = LeadFactory.create(contact__country="Germany")
        seen = touch(lead, url="https://acme.example/pricing")
        services.leads_rescore(
            lead_ids=[lead.pk],
            event=ScoreEvent(cause=Cause.TOUCHPOINT, touchpoint_ids=(seen.pk, 999_999)),
            at=NOW,
        )
        row = ScoreChange.objects.get(lead_id=lead.pk)
        pricing, germany = (Rule.objects.get(version=version, name=n).pk for n in ("Pricing", "Germany"))
        assert points_by_rule(sorted([pricing, germany]), row.rule_deltas) == {pricing: 10, germany: 5}
        assert (row.fit, row.behaviour, row.version_id, row.cause, row.touchpoint_id) == (
            5,
            10,
            version.pk,
            Cause.TOUCHPOINT,
            seen.pk,
        )


def test_manual_adjustment_needs_points_and_a_reason(in_org: Any, admin_user: Any) -> None:
    with in_org():
        lead = LeadFactory.create()
        with pytest.raises(ValidationError) as error:
            services.score_adjust(lead=lead, points=0, note="", actor=Actor(user=admin_user))
        assert set(error.value.message_dict) == {"points", "note"}
        change = services.score_adjust(
            lead=lead, points=12, note="Met at the fair", actor=Actor(user=admin_user)
        )
        assert (change.author, change.manual, change.cause) == (admin_user, 12, Cause.MANUAL)
        lead.refresh_from_db()
        assert lead.score == 12
        assert_ledger_invariant([lead.pk])


def _expected(lead: Lead, at: dt.datetime) -> tuple[int, int, int, int, int, str]:
    version = services.live_version()
    assert version is not None
    target = evaluate(lead, touches_of([lead.pk], at).get(lead.pk, []), version_spec(version), at)
    return (
        target.fit,
        target.behaviour,
        target.engagement,
        target.maturity,
        target.product,
        target.maturity_stage,
    )


def test_recompute_in_chunks_resumes_and_matches_the_evaluator(in_org: Any) -> None:
    with in_org() as organization_id:
        leads = [LeadFactory.create() for _ in range(23)]
        _random_history(leads, seed=11)
        version = make_version(STARTER_RULES)
        job = services.version_publish(version=version, actor=ACTOR)
    # Chunks of 5; a first run stops after three of them, as an interrupted worker would.
    job = services.recompute_job_run(
        organization_id=organization_id, job_id=job.pk, chunk_size=5, max_chunks=3
    )
    assert (job.status, job.processed, job.total, len(job.chunks)) == (JobStatus.RUNNING, 15, 23, 5)
    job = services.recompute_job_run(organization_id=organization_id, job_id=job.pk, chunk_size=5)
    assert (job.status, job.processed, job.kind) == (JobStatus.DONE, 23, RecomputeKind.PUBLISH)
    with in_org():
        ids = [lead.pk for lead in leads]
        assert_ledger_invariant(ids)
        for lead in Lead.objects.filter(pk__in=ids).select_related("contact__company"):
            score = LeadScore.objects.get(lead_id=lead.pk)
            held = (
                score.fit,
                score.behaviour,
                score.engagement,
                score.maturity,
                score.product,
                score.maturity_stage,
            )
            assert held == _expected(lead, job.evaluated_at)
        assert job.changed == ScoreChange.objects.filter(cause=Cause.RECOMPUTE).count()
    # A second delivery of the task does nothing.
    again = services.recompute_job_run(organization_id=organization_id, job_id=job.pk)
    assert again.changed == job.changed


def test_decay_job_fades_time_dependent_points_only(in_org: Any) -> None:
    with in_org() as organization_id:
        version = make_version(
            [
                {
                    "dimension": "engagement",
                    "name": "Activity",
                    "points": 10,
                    "engagement_kind": "activity",
                    "half_life_days": 7,
                    "cap": 100,
                },
                {"dimension": "behaviour", "name": "Pricing", "points": 10, "url_contains": "/pricing"},
                {
                    "dimension": "fit",
                    "name": "Anyone",
                    "points": 5,
                    "field": "contact.email",
                    "operator": "contains",
                    "value": "@",
                },
            ]
        )
        go_live(version)
        active, quiet, untouched = (LeadFactory.create() for _ in range(3))
        touch(active, url="https://acme.example/pricing", days_ago=0)
        touch(quiet, url="https://acme.example/pricing", days_ago=60)
        ids = [active.pk, quiet.pk, untouched.pk]
        services.leads_rescore(lead_ids=ids, event=ScoreEvent(cause=Cause.RECOMPUTE), at=NOW)
        assert LeadScore.objects.get(lead_id=active.pk).engagement == 10
        assert LeadScore.objects.get(lead_id=quiet.pk).engagement == 0
        job = RecomputeJob.objects.create(
            version=version, kind=RecomputeKind.DECAY, evaluated_at=NOW + dt.timedelta(days=7)
        )
    job = services.recompute_job_run(organization_id=organization_id, job_id=job.pk)
    with in_org():
        # Only the active lead held time-dependent points: it alone is looked at, and it alone changes.
        assert (job.total, job.processed, job.changed) == (1, 1, 1)
        score = LeadScore.objects.get(lead_id=active.pk)
        assert (score.engagement, score.behaviour, score.fit) == (5, 10, 5)
        row = ScoreChange.objects.filter(lead_id=active.pk).latest("id")
        assert (row.cause, row.engagement, row.behaviour) == (Cause.DECAY, -5, 0)
        assert_ledger_invariant(ids)


def test_a_version_retired_meanwhile_writes_nothing(in_org: Any) -> None:
    """A rescoring that loaded the live version just before a newer one went live must not overwrite what
    the newer version's recompute writes: under its locks it finds its version retired and stops."""
    from scoring.engine.ledger import score_leads

    with in_org():
        old = make_version(STARTER_RULES)
        go_live(old)
        spec = version_spec(old)
        go_live(make_version(STARTER_RULES[:2]))
        lead = LeadFactory.create()
        touch(lead, url="https://acme.example/pricing")
        result = score_leads(spec=spec, at=NOW, event=ScoreEvent(cause=Cause.TOUCHPOINT), lead_ids=[lead.pk])
        assert result.stale
        assert not LeadScore.objects.filter(lead_id=lead.pk).exists()
        assert not ScoreChange.objects.exists()


def test_recompute_chunks_end_on_lock_blocks_and_come_in_a_multiple_of_the_workers(
    in_org: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Chunks end on lock block boundaries (blocks of 4 ids here) near each multiple of the chunk size
    from the start, without drifting, and their number is a multiple of the chunks scored at once."""
    from scoring.services import scores

    monkeypatch.setattr(scores, "LOCK_BLOCK_BITS", 2)
    settings.SCORING_RECOMPUTE_PARALLEL = 2
    with in_org():
        ids = sorted(lead.pk for lead in (LeadFactory.create() for _ in range(50)))
        version = make_version(STARTER_RULES)
        job = services.version_publish(version=version, actor=ACTOR)
        size = scores._balanced_size(len(ids), 12)  # 50 / 12: 5 chunks, 6 once balanced for two workers
        assert size == 9
        job.refresh_from_db()
        chunks = scores._bounds(job, size)
    assert len(chunks) % 2 == 0
    assert chunks[0][0] == ids[0] and chunks[-1][1] == ids[-1] + 1
    for (_, hi), (lo, _) in itertools.pairwise(chunks):
        assert hi == lo and hi % 4 == 0
    counts = [sum(lo <= i < hi for i in ids) for lo, hi in chunks]
    assert sum(counts) == len(ids)
    assert all(abs(count - size) <= 4 for count in counts[:-1]), counts

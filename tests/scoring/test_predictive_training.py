"""Training and evaluation of the predictive model: a planted signal is found, leakage is excluded with its
reason, too little data is said plainly, splits and calibration have their shape, tenants stay apart,
leads are scored in bulk and again when they change, runs are guarded and retraining is scheduled."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from leads.models import Lead, Touchpoint, TouchpointType
from leads.services.contacts import contact_update
from leads.services.leads import lead_capture
from leads.services.touchpoints import touchpoints_record
from scoring.models_predictive import (
    LeadPrediction,
    PredictiveModelVersion,
    PredictiveTrainingRun,
    RunStatus,
    RunTrigger,
)
from scoring.predictive import services, tasks
from scoring.predictive.features import NUMERIC, FieldSpec, LeadFrame
from scoring.predictive.selectors import lead_prediction
from scoring.predictive.synthetic import synthetic_organization_fill
from scoring.predictive.training import calibration_bins, evaluation_metrics, lift_by_decile, split_time

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


def _trained(organization: Any, *, leads: int = 600, seed: int = 3, **fill: Any) -> PredictiveModelVersion:
    with tenant_context(organization):
        synthetic_organization_fill(leads=leads, seed=seed, **fill)
    run = services.predictive_train_now(organization=organization, actor=ACTOR, trigger=RunTrigger.COMMAND)
    assert run.status == RunStatus.DONE, run.message
    with tenant_context(organization):
        return PredictiveModelVersion.objects.get(pk=run.version_id)


def test_a_planted_signal_is_learnt_and_every_lead_is_scored(org: Any) -> None:
    version = _trained(org)
    random, time_split = version.evaluation("random"), version.evaluation("time")
    assert random["roc_auc"] > 0.68 and time_split["roc_auc"] > 0.68
    assert random["n_train"] + random["n_test"] == version.n_labelled == 540
    assert 0.2 < random["positive_rate"] < 0.5 and 0 < random["log_loss"] < 0.69
    assert version.is_current and version.number == 1 and version.training_seconds > 0
    keys = {f["key"] for f in version.features}
    assert {"touch.count.demo", "cf.plan", "cf.seats", "contact.job_title"} <= keys
    # The planted drivers come out on the right side.
    fields_rank = [f["field"] for f in version.global_factors["fields"]]
    assert fields_rank.index("touch.count.demo") < 5 and fields_rank.index("cf.seats") < 8
    positive_texts = " ".join(f["text"] for f in version.global_factors["positive"])
    negative_texts = " ".join(f["text"] for f in version.global_factors["negative"])
    assert "demo touchpoints" in positive_texts
    assert "'free'" in negative_texts or "student" in negative_texts or "intern" in negative_texts
    with tenant_context(org):
        assert LeadPrediction.objects.count() == Lead.objects.count() == 600
        assert version.leads_scored == 600
        best = LeadPrediction.objects.order_by("-probability").select_related("lead").first()
        assert best is not None
        view = lead_prediction(best.lead)
    assert view is not None and view.version_number == 1 and 0 < view.probability < 1
    assert view.positive and all(f.points > 0 for f in view.positive)
    assert all(f.points < 0 for f in view.negative)
    assert view.positive[0].label.endswith("pts)")


def test_product_usage_after_conversion_never_reaches_the_model(org: Any) -> None:
    # Customers' product-usage touchpoints all come after they converted: cut off, nothing is left of them.
    version = _trained(org)
    assert "touch.count.product_usage" not in {f["key"] for f in version.features}
    assert version.evaluation("random")["roc_auc"] < 0.95


def test_a_field_equal_to_the_label_is_excluded_with_its_reason(org: Any) -> None:
    version = _trained(org, label_field=True)
    leak = next(e for e in version.excluded if e["field"] == "cf.closed_won")
    assert leak["source"] == "leakage" and leak["auc"] > 0.95
    assert "after the outcome" in leak["reason"]
    assert "cf.closed_won" not in {f["key"] for f in version.features}
    assert version.evaluation("random")["roc_auc"] < 0.95
    reference = next(e for e in version.excluded if e["field"] == "cf.reference")
    assert reference["source"] == "data" and "shared by" in reference["reason"]


def test_a_field_the_user_excluded_is_left_out_with_their_reason(org: Any) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=600, seed=3)
        services.predictive_config_update(
            actor=ACTOR, excluded_fields=[{"field": "touch.count.demo", "reason": "Sales books demos late"}]
        )
    run = services.predictive_train_now(organization=org, actor=ACTOR, trigger=RunTrigger.COMMAND)
    with tenant_context(org):
        version = PredictiveModelVersion.objects.get(pk=run.version_id)
    assert "touch.count.demo" not in {f["key"] for f in version.features}
    assert {
        "field": "touch.count.demo",
        "source": "user",
        "reason": "Sales books demos late",
    }.items() <= next(e for e in version.excluded if e["field"] == "touch.count.demo").items()
    assert version.settings_used["excluded_fields"] == ["touch.count.demo"]


def test_too_little_data_is_said_instead_of_guessed(org: Any) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=120, seed=5)
    run = services.predictive_train_now(organization=org, actor=ACTOR, trigger=RunTrigger.MANUAL)
    assert run.status == RunStatus.INSUFFICIENT and run.version_id is None
    assert "Not enough history" in run.message and "at least 200" in run.message
    assert "108 leads have a known outcome" in run.message
    with tenant_context(org):
        assert not PredictiveModelVersion.objects.exists()
        assert not LeadPrediction.objects.exists()


def test_the_out_of_time_split_orders_by_arrival_then_id() -> None:
    n = 8
    created = np.array([5, 1, 1, 3, 9, 9, 2, 7], dtype=float)
    ids = np.array([10, 31, 30, 11, 40, 12, 50, 60])
    frame = LeadFrame(
        lead_ids=ids,
        created=created,
        labels=np.array([0, 1, 0, 1, 0, 1, 0, 1], dtype=np.int8),
        cutoffs=np.zeros(n),
        fields=[FieldSpec("x", "x", NUMERIC, "Custom field")],
        values={"x": [0.0] * n},
    )
    train, test = split_time(frame, np.arange(n))
    assert list(ids[train]) == [30, 31, 50, 11, 10, 60] and list(ids[test]) == [12, 40]


def test_calibration_and_lift_have_their_shape() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    bins = calibration_bins(y, p)
    assert len(bins) == 10 and [set(b) for b in bins] == [{"predicted", "observed", "count"}] * 10
    assert sum(b["count"] for b in bins) == 1000
    assert [b["predicted"] for b in bins] == sorted(b["predicted"] for b in bins)
    assert all(abs(b["predicted"] - b["observed"]) < 0.12 for b in bins)  # calibrated by construction
    lift = lift_by_decile(y, p)
    assert [d["decile"] for d in lift] == list(range(1, 11))
    assert lift[0]["lift"] > 1.5 > lift[-1]["lift"] and lift[-1]["captured"] == 1.0
    metrics = evaluation_metrics(y, p)
    assert {"roc_auc", "log_loss", "brier", "n_test", "positive_rate", "calibration", "lift"} <= set(metrics)
    assert metrics["n_test"] == 1000 and 0.75 < metrics["roc_auc"] < 0.9


def test_one_organizations_model_never_sees_anothers_leads(org: Any, other_org: Any) -> None:
    with tenant_context(other_org):
        # The other organization's leads all converted: seen by org's model, they would shift its rates.
        synthetic_organization_fill(leads=300, seed=9)
        Lead.objects.update(stage="customer")
        other_ids = set(Lead.objects.values_list("pk", flat=True))
    version = _trained(org)
    assert version.n_labelled == 540
    with tenant_context(org):
        scored = set(LeadPrediction.objects.values_list("lead_id", flat=True))
    assert scored and not scored & other_ids
    with tenant_context(other_org):
        assert not LeadPrediction.objects.exists()
        assert not PredictiveModelVersion.objects.exists()


def test_a_new_touchpoint_rescores_its_lead(org: Any, django_capture_on_commit_callbacks: Any) -> None:
    version = _trained(org)
    with tenant_context(org):
        lead = Lead.objects.filter(stage="cold").order_by("id").first()
        assert lead is not None
        before = LeadPrediction.objects.get(lead=lead)
    with django_capture_on_commit_callbacks(execute=True), tenant_context(org):
        touchpoints_record(
            touchpoints=[
                Touchpoint(
                    lead=lead, contact=lead.contact, type=TouchpointType.DEMO, occurred_at=timezone.now()
                )
                for _ in range(3)
            ]
        )
    with tenant_context(org):
        after = LeadPrediction.objects.get(lead=lead)
    assert after.version_id == version.pk
    assert after.scored_at > before.scored_at and after.probability > before.probability


def test_scoring_without_a_model_does_nothing_and_a_damaged_model_is_skipped(org: Any) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=30, seed=2)
        ids = list(Lead.objects.values_list("pk", flat=True)[:3])
        assert services.predictions_score_leads(lead_ids=ids) == 0
        PredictiveModelVersion.objects.create(number=1, is_current=True, estimator=b"not a model")
        assert services.predictions_score_leads(lead_ids=ids) == 0
        assert not LeadPrediction.objects.exists()


def test_a_second_run_waits_for_the_first_and_a_redelivered_task_does_nothing(
    org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=80, seed=4)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run = services.training_run_request(actor=ACTOR)
        with pytest.raises(services.TrainingAlreadyRunning):
            services.training_run_request(actor=ACTOR)
        assert AuditLog.objects.filter(action="predictive.train").count() == 1
    assert len(callbacks) == 1
    callbacks[0]()  # the task runs: too little data, said on the run
    with tenant_context(org):
        run.refresh_from_db()
    assert run.status == RunStatus.INSUFFICIENT and run.progress < 100
    assert tasks.predictive_train_task(org.pk, run.pk) == "skipped"  # a second delivery: already finished
    with tenant_context(org):
        # A run left "running" by a lost worker is taken over once it is stale.
        stale = PredictiveTrainingRun.objects.create(
            status=RunStatus.RUNNING, started_at=timezone.now() - dt.timedelta(hours=2)
        )
        PredictiveTrainingRun.objects.filter(pk=stale.pk).update(
            created_at=timezone.now() - dt.timedelta(hours=2)
        )
        assert services.training_run_active() is None
    finished = services.training_run_execute(organization_id=org.pk, run_id=stale.pk)
    assert finished is not None and finished.status == RunStatus.INSUFFICIENT


def test_the_schedule_retrains_due_models_only(
    org: Any, other_org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _trained(org)
    with tenant_context(other_org):
        synthetic_organization_fill(leads=50, seed=1)  # no model yet: the first one is trained on demand
    assert tasks.predictive_retrain_due() == 0  # org's last run is fresh
    with tenant_context(org):
        PredictiveTrainingRun.objects.update(created_at=timezone.now() - dt.timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.predictive_retrain_due() == 1
    with tenant_context(org):
        latest = PredictiveTrainingRun.objects.order_by("-created_at").first()
        assert latest is not None and latest.trigger == RunTrigger.SCHEDULE
        assert PredictiveModelVersion.objects.filter(is_current=True).get().number == 2
        services.predictive_config_update(actor=ACTOR, retrain_every_days=0)
        PredictiveTrainingRun.objects.update(created_at=timezone.now() - dt.timedelta(days=30))
    with tenant_context(other_org):
        assert not PredictiveTrainingRun.objects.exists()
    assert tasks.predictive_retrain_due() == 0


def test_a_captured_lead_is_scored_and_rescored_when_its_contact_changes(
    org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _trained(org)
    with django_capture_on_commit_callbacks(execute=True), tenant_context(org):
        lead, created = lead_capture(
            contact_data={
                "email": "new@prospect.example",
                "job_title": "Student",
                "custom_fields": {"plan": "free"},
            },
            actor=ACTOR,
        )
    assert created
    with tenant_context(org):
        first = LeadPrediction.objects.get(lead=lead)
    # No touchpoint yet: that is what holds it back most.
    assert "number of touchpoints is 0" in [f["text"] for f in first.factors["negative"]]
    with django_capture_on_commit_callbacks(execute=True), tenant_context(org):
        contact_update(
            contact=lead.contact,
            data={
                "job_title": "Chief Executive Officer",
                "custom_fields": {"plan": "enterprise", "seats": 80},
            },
            actor=ACTOR,
        )
    with tenant_context(org):
        second = LeadPrediction.objects.get(lead=lead)
    assert second.probability > first.probability and second.scored_at > first.scored_at

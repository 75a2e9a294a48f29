"""`manage.py predictive_train` as DESIGN.md's contract says: trains, and with --evaluate prints one JSON
object with roc_auc, log_loss, n_train, n_test and positive_rate; too little data is an error with a
message and a non-zero exit."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from leadhub.tenancy.context import tenant_context
from scoring.management.commands.predictive_train import Command
from scoring.models_predictive import (
    PredictiveConfig,
    PredictiveModelVersion,
    PredictiveTrainingRun,
    RunTrigger,
)
from scoring.predictive.synthetic import synthetic_organization_fill

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command("predictive_train", *args, stdout=out)
    return out.getvalue()


def test_evaluate_prints_one_json_object_with_the_contracts_keys(org: Any) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=500, seed=11)
    output = _call("--organization", org.slug, "--evaluate", "--split", "time")
    lines = output.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert {"roc_auc", "log_loss", "n_train", "n_test", "positive_rate"} <= set(body)
    assert body["split"] == "time" and body["version"] == 1
    assert body["n_train"] + body["n_test"] == body["n_labelled"] == 450
    assert body["roc_auc"] > 0.6 and 0 < body["log_loss"] < 1 and 0 < body["positive_rate"] < 1
    assert len(body["calibration"]) == 10 and len(body["lift"]) == 10
    assert body["random"]["roc_auc"] > 0.6 and body["training_seconds"] > 0
    with tenant_context(org):
        run = PredictiveTrainingRun.objects.get()
        assert run.trigger == RunTrigger.COMMAND and run.version is not None
        assert PredictiveModelVersion.objects.get().is_current


def test_without_evaluate_it_says_what_it_did_and_exclude_is_remembered(org: Any) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=500, seed=12)
    output = _call(
        "--organization", org.slug, "--exclude", "cf.seats", "--reason", "Only known after the sale"
    )
    assert output.startswith("Version 1 of acme trained on 450 leads")
    assert "ROC AUC" in output and "excluded cf.seats: Only known after the sale" in output
    with tenant_context(org):
        config = PredictiveConfig.objects.get()
    assert config.excluded_keys == ["cf.seats"]


def test_too_little_data_fails_with_the_reason(org: Any) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=60, seed=13)
    with pytest.raises(CommandError, match="Not enough history to train a trustworthy model"):
        _call("--organization", org.slug, "--evaluate")
    with tenant_context(org):
        assert not PredictiveModelVersion.objects.exists()


def test_bad_arguments_are_refused(org: Any) -> None:
    with pytest.raises(CommandError, match="No organization with slug 'nope'"):
        _call("--organization", "nope")
    with pytest.raises(CommandError, match=r"excluded_fields\.0\.field"):
        _call("--organization", org.slug, "--exclude", "cf.does_not_exist")


def test_the_command_line_exits_non_zero_with_the_message(org: Any, monkeypatch: Any) -> None:
    # As a shell runs it (run_from_argv): exit status 1 and the reason on stderr, nothing on stdout.
    # Only the final closing of every database connection is skipped: the test's transaction needs it open.
    with tenant_context(org):
        synthetic_organization_fill(leads=60, seed=13)
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    out, err = io.StringIO(), io.StringIO()
    command = Command(stdout=out, stderr=err)
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(
            ["manage.py", "predictive_train", "--organization", org.slug, "--evaluate", "--skip-checks"]
        )
    assert exited.value.code == 1
    assert "Not enough history" in err.getvalue() and "54 leads have a known outcome" in err.getvalue()
    assert out.getvalue() == ""

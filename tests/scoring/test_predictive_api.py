"""The predictive API under /api/v1/scoring/predictive/: the current model, versions, training on demand
with its progress, settings with field-named errors, and a lead's probability with its factors, each
within the caller's organization."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from leads.models import Lead
from scoring.models_predictive import PredictiveModelVersion, PredictiveTrainingRun, RunStatus, RunTrigger
from scoring.predictive.services import predictive_train_now
from scoring.predictive.synthetic import synthetic_organization_fill
from tests.conftest import login

pytestmark = pytest.mark.django_db

BASE = "/api/v1/scoring/predictive"


@pytest.fixture
def trained(org: Any) -> PredictiveModelVersion:
    with tenant_context(org):
        synthetic_organization_fill(leads=500, seed=21)
    run = predictive_train_now(organization=org, actor=Actor.system("test"), trigger=RunTrigger.COMMAND)
    with tenant_context(org):
        return PredictiveModelVersion.objects.defer("estimator").get(pk=run.version_id)


def test_the_current_model_is_404_until_one_is_trained(api_client: APIClient) -> None:
    response = api_client.get(f"{BASE}/model/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_model"


def test_the_current_model_and_its_versions(api_client: APIClient, trained: PredictiveModelVersion) -> None:
    body = api_client.get(f"{BASE}/model/").json()
    assert body["number"] == 1 and body["is_current"] is True
    assert body["metrics"]["random"]["roc_auc"] > 0.6 and len(body["metrics"]["time"]["lift"]) == 10
    assert {"field", "reason", "source"} <= set(body["excluded"][0])
    assert body["global_factors"]["positive"] and "estimator" not in body
    listed = api_client.get(f"{BASE}/versions/").json()
    assert [v["number"] for v in listed["results"]] == [1]
    detail = api_client.get(f"{BASE}/versions/{trained.pk}/")
    assert detail.status_code == 200 and detail.json()["n_labelled"] == 450
    assert api_client.delete(f"{BASE}/versions/{trained.pk}/").status_code == 405


def test_train_on_demand_runs_after_commit_and_reports_progress(
    org: Any, api_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=500, seed=22)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"{BASE}/runs/")
    assert response.status_code == 202
    run_id = response.json()["id"]
    assert response.json()["status"] == RunStatus.QUEUED and response.json()["trigger"] == RunTrigger.API
    # The task ran once the request committed (tasks run in-process in tests).
    run = api_client.get(f"{BASE}/runs/{run_id}/").json()
    assert (run["status"], run["progress"], run["version_number"]) == ("done", 100, 1)
    with tenant_context(org):
        assert AuditLog.objects.filter(action="predictive.train").exists()


def test_a_second_train_request_while_one_runs_is_409(org: Any, api_client: APIClient) -> None:
    first = api_client.post(f"{BASE}/runs/")  # queued: nothing runs it before commit
    assert first.status_code == 202
    second = api_client.post(f"{BASE}/runs/")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "training_running"
    assert f"runs/{first.json()['id']}/" in second.json()["error"]["message"]


def test_too_little_data_shows_on_the_run(
    org: Any, api_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=40, seed=23)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = api_client.post(f"{BASE}/runs/").json()["id"]
    run = api_client.get(f"{BASE}/runs/{run_id}/").json()
    assert run["status"] == "insufficient" and "Not enough history" in run["message"]
    model = api_client.get(f"{BASE}/model/").json()
    assert "Not enough history" in model["error"]["message"]


def test_a_leads_probability_and_factors(
    org: Any, api_client: APIClient, trained: PredictiveModelVersion
) -> None:
    with tenant_context(org):
        lead = Lead.objects.order_by("id").first()
    assert lead is not None
    body = api_client.get(f"{BASE}/leads/{lead.pk}/").json()
    assert body["lead"] == lead.pk and 0 < body["probability"] < 1 and body["model_version"] == 1
    assert body["percent"] == round(100 * body["probability"])
    factors = body["positive_factors"] + body["negative_factors"]
    assert factors and all({"text", "points", "field"} == set(f) for f in factors)
    assert all(f["points"] > 0 for f in body["positive_factors"])


def test_an_unscored_lead_says_so_and_another_organizations_lead_is_404(
    org: Any, other_org: Any, api_client: APIClient, other_api_client: APIClient
) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=5, seed=24)
        lead = Lead.objects.first()
    assert lead is not None
    body = api_client.get(f"{BASE}/leads/{lead.pk}/").json()
    assert body["probability"] is None and "No predictive model" in body["message"]
    assert other_api_client.get(f"{BASE}/leads/{lead.pk}/").status_code == 404
    assert api_client.get(f"{BASE}/leads/2000000000/").status_code == 404


def test_versions_and_runs_of_another_organization_are_404(
    other_api_client: APIClient, trained: PredictiveModelVersion, org: Any
) -> None:
    with tenant_context(org):
        run = PredictiveTrainingRun.objects.get()
    assert other_api_client.get(f"{BASE}/versions/{trained.pk}/").status_code == 404
    assert other_api_client.get(f"{BASE}/runs/{run.pk}/").status_code == 404
    assert other_api_client.get(f"{BASE}/versions/").json()["results"] == []
    assert other_api_client.get(f"{BASE}/model/").status_code == 404


def test_settings_read_and_change_with_field_named_errors(org: Any, api_client: APIClient) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=5, seed=25)
    body = api_client.get(f"{BASE}/settings/").json()
    assert body["excluded_fields"] == [] and body["inactive_days"] == 90
    assert "cf.seats" in {f["key"] for f in body["available_fields"]}
    changed = api_client.patch(
        f"{BASE}/settings/",
        {
            "excluded_fields": [{"field": "cf.seats", "reason": "Filled in by sales after the call"}],
            "inactive_days": 60,
        },
        format="json",
    )
    assert changed.status_code == 200
    assert changed.json()["excluded_fields"][0]["field"] == "cf.seats"
    assert changed.json()["excluded_fields"][0]["by"].startswith("API key")
    assert changed.json()["inactive_days"] == 60
    bad = api_client.patch(
        f"{BASE}/settings/",
        {"excluded_fields": [{"field": "cf.nope"}], "inactive_days": -1},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"inactive_days"}  # the serializer's check comes first
    unknown = api_client.patch(
        f"{BASE}/settings/", {"excluded_fields": [{"field": "cf.nope"}]}, format="json"
    )
    assert unknown.status_code == 400
    assert "excluded_fields.0.field" in unknown.json()["error"]["fields"]
    assert api_client.get(f"{BASE}/settings/").json()["inactive_days"] == 60  # nothing half-written
    with tenant_context(org):
        assert AuditLog.objects.filter(action="predictive.settings").count() == 1


def test_sales_reps_read_but_do_not_train_or_change_settings(org: Any, sales_rep: Any) -> None:
    client = login(sales_rep, org)
    assert client.get(f"{BASE}/settings/").status_code == 200
    assert client.post(f"{BASE}/runs/").status_code == 403
    assert (
        client.patch(f"{BASE}/settings/", {"inactive_days": 5}, content_type="application/json").status_code
        == 403
    )

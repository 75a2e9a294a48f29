"""The predictive model page: empty state, metrics with calibration and lift charts, factors, excluded
fields with reasons, train now with progress, settings, version history and a version's page; roles and
tenants."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog
from leadhub.tenancy.services import Actor
from scoring.models_predictive import (
    PredictiveConfig,
    PredictiveModelVersion,
    PredictiveTrainingRun,
    RunStatus,
    RunTrigger,
)
from scoring.predictive.services import predictive_train_now
from scoring.predictive.synthetic import synthetic_organization_fill
from tests.conftest import login

pytestmark = pytest.mark.django_db

PAGE = "/scoring/predictive/"


@pytest.fixture
def trained(org: Any) -> PredictiveModelVersion:
    with tenant_context(org):
        synthetic_organization_fill(leads=500, seed=31, label_field=True)
    run = predictive_train_now(organization=org, actor=Actor.system("test"), trigger=RunTrigger.COMMAND)
    with tenant_context(org):
        return PredictiveModelVersion.objects.defer("estimator").get(pk=run.version_id)


def test_the_page_before_any_model_says_what_it_needs(admin_client: Client) -> None:
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No model yet" in html and "at least 200 leads with a known outcome" in html
    assert 'id="train-now"' in html and "No training has run yet." in html
    # Linked from the dashboard's navigation.
    assert re.search(r'<a class="nav-link active" href="/scoring/predictive/"', html)


def test_the_page_shows_metrics_charts_factors_and_exclusions(
    admin_client: Client, trained: PredictiveModelVersion
) -> None:
    html = admin_client.get(PAGE).content.decode()
    auc = trained.evaluation("random")["roc_auc"]
    assert f'id="metric-auc">{auc}<' in html
    calibration = html[html.index('<svg id="calibration-chart"') :]
    assert calibration[: calibration.index("</svg>")].count("<circle") == 10
    lift = html[html.index('<svg id="lift-chart"') :]
    assert len(re.findall(r"<rect x=", lift[: lift.index("</svg>")])) == 10
    assert 'id="factors-positive"' in html and "number of demo touchpoints" in html
    # The leaking field is shown with its reason.
    excluded = html[html.index('id="excluded-fields"') :]
    assert "closed won" in excluded and "Leakage" in excluded and "after the outcome" in excluded
    assert 'id="top-leads"' in html and 'id="version-history"' in html and "Version 1" in html
    time_html = admin_client.get(PAGE + "?split=time").content.decode()
    assert f'id="metric-auc">{trained.evaluation("time")["roc_auc"]}<' in time_html
    assert "Trained on the oldest" in time_html


def test_train_now_queues_a_run_and_shows_its_progress(org: Any, admin_client: Client) -> None:
    response = admin_client.post("/scoring/predictive/train/")
    assert response.status_code == 302 and response["Location"] == PAGE
    with tenant_context(org):
        run = PredictiveTrainingRun.objects.get()
    assert run.status == RunStatus.QUEUED and run.trigger == RunTrigger.MANUAL
    progress = admin_client.get("/scoring/predictive/progress/?watching=1", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in progress.content.decode() and "Queued" in progress.content.decode()
    assert "HX-Refresh" not in progress
    # A second click while it is queued does not start another one.
    again = admin_client.post(
        "/scoring/predictive/train/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="predictive-progress"
    )
    assert again.status_code == 200 and f"Run #{run.pk}" in again.content.decode()
    with tenant_context(org):
        assert PredictiveTrainingRun.objects.count() == 1
        PredictiveTrainingRun.objects.update(
            status=RunStatus.INSUFFICIENT, message="Not enough history to train a trustworthy model: 3 leads"
        )
    done = admin_client.get("/scoring/predictive/progress/?watching=1", HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true" and "Not enough history" in done.content.decode()
    page = admin_client.get(PAGE).content.decode()
    assert 'id="run-message"' in page and "Not enough history" in page


def test_settings_save_with_reasons_and_refuse_bad_values(org: Any, admin_client: Client) -> None:
    with tenant_context(org):
        synthetic_organization_fill(leads=5, seed=32)
    response = admin_client.post(
        "/scoring/predictive/settings/",
        {
            "exclude": ["cf.seats", "contact.country"],
            "reason-cf.seats": "Known only after the sale",
            "inactive_days": "45",
            "retrain_every_days": "14",
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        config = PredictiveConfig.objects.get()
        assert config.excluded_keys == ["cf.seats", "contact.country"]
        assert config.excluded_fields[0]["reason"] == "Known only after the sale"
        assert config.excluded_fields[1]["reason"] == "Excluded by a user."
        assert (config.inactive_days, config.retrain_every_days) == (45, 14)
        audit = AuditLog.objects.get(action="predictive.settings")
        assert audit.changes["excluded_fields"]["to"] == ["cf.seats", "contact.country"]
    html = admin_client.get(PAGE).content.decode()
    assert 'value="cf.seats" id="exclude-' in html and "Known only after the sale" in html
    bad = admin_client.post(
        "/scoring/predictive/settings/", {"exclude": ["cf.ghost"], "inactive_days": "many"}
    )
    assert bad.status_code == 400 and "Enter a whole number of days." in bad.content.decode()
    unknown = admin_client.post("/scoring/predictive/settings/", {"exclude": ["cf.ghost"]})
    assert unknown.status_code == 400 and "is not a field of this organization" in unknown.content.decode()
    with tenant_context(org):
        assert PredictiveConfig.objects.get().excluded_keys == ["cf.seats", "contact.country"]


def test_a_version_page_and_tenants(
    org: Any, trained: PredictiveModelVersion, admin_client: Client, other_admin_client: Client
) -> None:
    response = admin_client.get(f"/scoring/predictive/versions/{trained.pk}/")
    assert response.status_code == 200 and "Version 1" in response.content.decode()
    assert "calibration-chart" in response.content.decode()
    assert other_admin_client.get(f"/scoring/predictive/versions/{trained.pk}/").status_code == 404
    other_page = other_admin_client.get(PAGE).content.decode()
    assert "No model yet" in other_page and "closed won" not in other_page


def test_roles(org: Any, sales_rep: Any, marketer: Any) -> None:
    rep = login(sales_rep, org)
    assert rep.get(PAGE).status_code == 403
    assert rep.post("/scoring/predictive/train/").status_code == 403
    assert 'href="/scoring/predictive/"' not in rep.get("/").content.decode()
    assert login(marketer, org).get(PAGE).status_code == 200
    assert Client().get(PAGE).status_code == 302  # to sign-in


def test_a_version_whose_metrics_are_missing_still_renders(org: Any, admin_client: Client) -> None:
    with tenant_context(org):
        version = PredictiveModelVersion.objects.create(number=1, is_current=True, estimator=b"x")
    assert admin_client.get(PAGE).status_code == 200
    assert admin_client.get(f"/scoring/predictive/versions/{version.pk}/").status_code == 200

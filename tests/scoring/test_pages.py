"""The scoring pages: the model list with thresholds and recompute progress, a version's editor with its
backtest, and a lead's score breakdown, ledger, adjustment and BANT forms."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leads.models import Lead
from scoring import services
from scoring.engine.ledger import ScoreEvent
from scoring.models import (
    BantAnswer,
    LifecyclePolicy,
    ModelVersion,
    RecomputeJob,
    Rule,
    ScoreChange,
    ScoringModel,
)
from scoring.starter import STARTER_RULES
from tests.conftest import login
from tests.factories import LeadFactory
from tests.scoring.conftest import NOW, go_live, make_version, touch

pytestmark = pytest.mark.django_db


def test_the_scoring_home_creates_a_model_and_saves_thresholds(
    admin_client: Client, org: Organization
) -> None:
    page = admin_client.get("/scoring/")
    assert page.status_code == 200 and "No scoring model yet" in page.content.decode()
    response = admin_client.post("/scoring/", {"form": "create", "name": "Inbound", "starter": "on"})
    assert response.status_code == 302
    with tenant_context(org):
        version = ScoringModel.objects.get(name="Inbound").versions.get()
        assert Rule.objects.filter(version=version).count() == len(STARTER_RULES)
    bad = admin_client.post(
        "/scoring/", {"form": "thresholds", "mql_score": 40, "mql_min_grade": "C", "recycle_floor": 45}
    )
    assert bad.status_code == 400 and "below the MQL score" in bad.content.decode()
    good = admin_client.post(
        "/scoring/", {"form": "thresholds", "mql_score": 40, "mql_min_grade": "B", "recycle_floor": 10}
    )
    assert good.status_code == 302
    with tenant_context(org):
        assert (LifecyclePolicy.objects.get().mql_score, LifecyclePolicy.objects.get().mql_min_grade) == (
            40,
            "B",
        )


def test_the_version_editor_adds_rules_and_publishes(
    admin_client: Client, org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant_context(org):
        version = make_version([STARTER_RULES[0]])
        LeadFactory.create()
    page = admin_client.get(f"/scoring/versions/{version.pk}/")
    assert page.status_code == 200 and "Decision-maker title" in page.content.decode()
    bad = admin_client.post(
        f"/scoring/versions/{version.pk}/rules/", {"dimension": "behaviour", "name": "x", "points": 5}
    )
    assert bad.status_code == 400 and "Say which touchpoints count" in bad.content.decode()
    good = admin_client.post(
        f"/scoring/versions/{version.pk}/rules/",
        {
            "dimension": "fit",
            "name": "Big company",
            "points": 10,
            "field": "company.employee_count",
            "operator": "between",
            "minimum": "500",
        },
    )
    assert good.status_code == 302
    with tenant_context(org):
        assert Rule.objects.get(version=version, name="Big company").value == {"min": 500}
    assert "Publish" in admin_client.get(f"/scoring/versions/{version.pk}/publish/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(f"/scoring/versions/{version.pk}/publish/").status_code == 302
    with tenant_context(org):
        job = RecomputeJob.objects.get()
        assert (job.status, job.processed) == ("done", 1)
    home = admin_client.get("/scoring/").content.decode()
    assert "1 of 1 leads scored (100%)" in home
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            admin_client.post(f"/scoring/versions/{version.pk}/backtest/", {"target_mql": 1}).status_code
            == 302
        )
    assert "Would be MQL" in admin_client.get(f"/scoring/versions/{version.pk}/").content.decode()


def test_a_sales_rep_reads_a_lead_score_but_cannot_adjust_it(
    org: Organization, sales_rep: Any, admin_user: Any
) -> None:
    with tenant_context(org):
        go_live(make_version(STARTER_RULES))
        lead = LeadFactory.create(contact__job_title="VP Sales")
        touch(lead, url="https://acme.example/pricing")
        services.leads_rescore(lead_ids=[lead.pk], event=ScoreEvent(cause="touchpoint"), at=NOW)
    rep = login(sales_rep, org)
    page = rep.get(f"/scoring/leads/{lead.pk}/").content.decode()
    assert "Why this score?" in page and "Decision-maker title" in page and "Adjust the score" not in page
    assert rep.post(f"/scoring/leads/{lead.pk}/adjust/", {"points": 5, "note": "x"}).status_code == 403
    assert (
        rep.post(f"/scoring/leads/{lead.pk}/bant/", {"field": "need", "value": "Faster routing"}).status_code
        == 302
    )
    admin = login(admin_user, org)
    assert admin.post(f"/scoring/leads/{lead.pk}/adjust/", {"points": 5, "note": ""}).status_code == 400
    assert (
        admin.post(f"/scoring/leads/{lead.pk}/adjust/", {"points": 5, "note": "Met at the fair"}).status_code
        == 302
    )
    with tenant_context(org):
        assert BantAnswer.objects.get(lead=lead).answered_by == sales_rep
        assert ScoreChange.objects.get(lead_id=lead.pk, cause="manual").author == admin_user
    assert "Met at the fair" in admin.get(f"/scoring/leads/{lead.pk}/").content.decode()
    assert f'href="/scoring/leads/{lead.pk}/"' in admin.get(f"/leads/{lead.pk}/").content.decode()


def test_another_organizations_pages_are_not_found(other_admin_client: Client, org: Organization) -> None:
    with tenant_context(org):
        version = make_version([STARTER_RULES[0]])
        lead = LeadFactory.create()
    for url in (f"/scoring/versions/{version.pk}/", f"/scoring/leads/{lead.pk}/"):
        assert other_admin_client.get(url).status_code == 404
    assert other_admin_client.post(f"/scoring/versions/{version.pk}/publish/").status_code == 404
    with tenant_context(org):
        assert ModelVersion.objects.get(pk=version.pk).status == "draft"
        assert Lead.objects.filter(pk=lead.pk).exists()


def test_the_lead_score_page_shows_the_predicted_chance_and_its_factors(
    org: Organization, admin_user: Any
) -> None:
    from scoring.models_predictive import LeadPrediction, PredictiveModelVersion

    with tenant_context(org):
        lead = LeadFactory(contact__organization=org)
    client = login(admin_user, org)
    page = client.get(f"/scoring/leads/{lead.pk}/").content.decode()
    assert "No predictive model has scored this lead yet" in page
    with tenant_context(org):
        version = PredictiveModelVersion.objects.create(number=3, is_current=True, estimator=b"")
        LeadPrediction.objects.create(
            lead=lead,
            version=version,
            probability=0.274,
            factors={
                "positive": [{"text": "job title contains '<b>cto</b>'", "points": 12.4, "field": "job"}],
                "negative": [{"text": "no touchpoint in 90 days", "points": -3, "field": "touch"}],
            },
        )
    page = client.get(f"/scoring/leads/{lead.pk}/").content.decode()
    section = page[page.index('id="prediction"') :]
    assert "27 %" in section and "model version 3" in section
    assert "job title contains &#x27;&lt;b&gt;cto&lt;/b&gt;&#x27; (+12 pts)" in section
    assert "no touchpoint in 90 days (-3 pts)" in section

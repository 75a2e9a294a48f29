"""The scoring API: models, drafts, rules (validation as 4xx naming the field), publishing, backtests,
thresholds, a lead's breakdown, ledger, adjustments and BANT; and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leads.models import Lead
from scoring import services
from scoring.engine.ledger import ScoreEvent
from scoring.models import ModelVersion, ScoreChange, VersionStatus
from scoring.starter import STARTER_RULES
from tests.conftest import login
from tests.factories import LeadFactory
from tests.scoring.conftest import NOW, go_live, make_version, touch

pytestmark = pytest.mark.django_db

BASE = "/api/v1/scoring"


def _fields(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.fixture
def draft(org: Organization) -> ModelVersion:
    with tenant_context(org):
        return make_version([STARTER_RULES[0]])


def test_create_a_model_with_the_starter_rules(api_client: APIClient) -> None:
    response = api_client.post(f"{BASE}/models/", {"name": "Inbound", "starter": True}, format="json")
    assert response.status_code == 201, response.content
    versions = api_client.get(f"{BASE}/versions/", {"scoring_model": response.json()["id"]}).json()["results"]
    assert [(v["number"], v["status"], len(v["rules"])) for v in versions] == [
        (1, "draft", len(STARTER_RULES))
    ]
    again = api_client.post(f"{BASE}/models/", {"name": "Inbound"}, format="json")
    assert "name" in _fields(again)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dimension": "fit", "name": "x", "points": 5, "operator": "equals", "value": "a"}, "field"),
        (
            {
                "dimension": "fit",
                "name": "x",
                "points": 5,
                "field": "contact.shoe_size",
                "operator": "equals",
                "value": "a",
            },
            "field",
        ),
        (
            {
                "dimension": "fit",
                "name": "x",
                "points": 5,
                "field": "contact.job_title",
                "operator": "between",
                "value": {"min": 1},
            },
            "field",
        ),
        (
            {
                "dimension": "fit",
                "name": "x",
                "points": 5,
                "field": "company.employee_count",
                "operator": "between",
                "value": {"min": 10, "max": 1},
            },
            "value",
        ),
        (
            {
                "dimension": "fit",
                "name": "x",
                "points": 5,
                "field": "contact.job_title",
                "operator": "contains_word",
                "value": ["vice president"],
            },
            "value",
        ),
        (
            {"dimension": "fit", "name": "x", "points": 5, "field": "contact.job_title", "operator": "regex"},
            "operator",
        ),
        ({"dimension": "behaviour", "name": "x", "points": 5}, "touchpoint_types"),
        (
            {"dimension": "behaviour", "name": "x", "points": 5, "touchpoint_types": ["fax"]},
            "touchpoint_types.0",
        ),
        (
            {
                "dimension": "behaviour",
                "name": "x",
                "points": 5,
                "url_contains": "/p",
                "repeat_window_days": 7,
            },
            "repeat_limit",
        ),
        (
            {
                "dimension": "engagement",
                "name": "x",
                "points": 5,
                "engagement_kind": "frequency",
                "window_days": 7,
            },
            "min_count",
        ),
        ({"dimension": "engagement", "name": "x", "points": 5, "engagement_kind": "recency"}, "window_days"),
        ({"dimension": "maturity", "name": "x", "points": 5, "url_contains": "/pricing"}, "buying_stage"),
        ({"dimension": "fit", "name": "", "points": 5, "operator": "free_mail"}, "name"),
        ({"dimension": "fit", "name": "x", "points": 5000, "operator": "free_mail"}, "points"),
        ({"dimension": "mood", "name": "x", "points": 5}, "dimension"),
    ],
)
def test_an_invalid_rule_is_a_400_naming_the_field(
    api_client: APIClient, draft: ModelVersion, body: dict[str, Any], field: str
) -> None:
    response = api_client.post(f"{BASE}/rules/", {"version": draft.pk, **body}, format="json")
    assert field in _fields(response)


def test_rules_are_created_and_edited_in_a_draft_only(api_client: APIClient, draft: ModelVersion) -> None:
    response = api_client.post(
        f"{BASE}/rules/",
        {
            "version": draft.pk,
            "dimension": "behaviour",
            "name": "Pricing",
            "points": 10,
            "url_contains": "/pricing",
            "cap": 30,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    rule = response.json()
    assert (rule["cap"], rule["touchpoint_types"]) == (30, [])
    patched = api_client.patch(f"{BASE}/rules/{rule['id']}/", {"points": 12}, format="json")
    assert (patched.status_code, patched.json()["points"], patched.json()["cap"]) == (200, 12, 30)
    published = api_client.post(f"{BASE}/versions/{draft.pk}/publish/")
    assert published.status_code == 202, published.content
    assert published.json()["kind"] == "publish"
    assert "version" in _fields(api_client.patch(f"{BASE}/rules/{rule['id']}/", {"points": 1}, format="json"))
    assert "version" in _fields(api_client.post(f"{BASE}/versions/{draft.pk}/publish/"))
    # A new draft copies the live version's rules.
    new = api_client.post(f"{BASE}/versions/", {"scoring_model": draft.scoring_model_id}, format="json")
    assert new.status_code == 201, new.content
    assert (new.json()["number"], len(new.json()["rules"])) == (2, 2)


def test_one_live_version_per_organization(api_client: APIClient, org: Organization) -> None:
    with tenant_context(org):
        first = make_version([STARTER_RULES[0]], name="First")
        second = make_version([STARTER_RULES[0]], name="Second")
    assert api_client.post(f"{BASE}/versions/{first.pk}/publish/").status_code == 202
    assert api_client.post(f"{BASE}/versions/{second.pk}/publish/").status_code == 202
    with tenant_context(org):
        statuses = dict(ModelVersion.objects.values_list("pk", "status"))
    assert statuses == {first.pk: VersionStatus.RETIRED, second.pk: VersionStatus.LIVE}


def test_grade_thresholds_are_checked(api_client: APIClient, draft: ModelVersion) -> None:
    bad = api_client.patch(
        f"{BASE}/versions/{draft.pk}/",
        {"grade_thresholds": {"A": 10, "B": 20, "C": 5, "D": 1, "E": 0}},
        format="json",
    )
    assert "grade_thresholds" in _fields(bad)
    good = api_client.patch(
        f"{BASE}/versions/{draft.pk}/",
        {"grade_thresholds": {"A": 50, "B": 40, "C": 30, "D": 20, "E": 5}},
        format="json",
    )
    assert good.json()["grade_thresholds"]["E"] == 5


def test_thresholds(api_client: APIClient) -> None:
    assert api_client.get(f"{BASE}/thresholds/").json()["mql_score"] == 50
    assert "recycle_floor" in _fields(
        api_client.patch(f"{BASE}/thresholds/", {"recycle_floor": 60}, format="json")
    )
    assert "mql_min_grade" in _fields(
        api_client.patch(f"{BASE}/thresholds/", {"mql_min_grade": "Z"}, format="json")
    )
    response = api_client.patch(f"{BASE}/thresholds/", {"mql_score": 40, "pql_points": None}, format="json")
    assert (response.status_code, response.json()["mql_score"], response.json()["pql_points"]) == (
        200,
        40,
        None,
    )


@pytest.fixture
def scored_lead(org: Organization) -> Lead:
    with tenant_context(org):
        version = make_version(STARTER_RULES)
        go_live(version)
        lead = LeadFactory.create(contact__job_title="VP Marketing")
        for _ in range(3):
            touch(lead, url="https://acme.example/pricing", days_ago=1)
        touch(lead, "form_submit", form="demo-request")
        services.leads_rescore(lead_ids=[lead.pk], event=ScoreEvent(cause="touchpoint"), at=NOW)
        return lead


def test_a_leads_breakdown_ledger_and_adjustment(
    api_client: APIClient, scored_lead: Lead, admin_user: Any, org: Organization
) -> None:
    breakdown = api_client.get(f"{BASE}/leads/{scored_lead.pk}/").json()
    names = {c["name"] for c in breakdown["contributions"]}
    assert {"Viewed the pricing page", "Requested a demo", "Decision-maker title"} <= names
    assert breakdown["sentences"][0].startswith(f"Score {breakdown['score']} = behaviour")
    ledger = api_client.get(f"{BASE}/leads/{scored_lead.pk}/ledger/").json()
    assert ledger["results"][0]["cause"] == "touchpoint"
    assert {r["name"] for r in ledger["results"][0]["rules"]} >= {"Requested a demo"}
    client = login(admin_user, org)
    assert {"points", "note"} <= set(
        _fields(
            client.post(
                f"{BASE}/leads/{scored_lead.pk}/adjust/",
                {"points": 0, "note": ""},
                content_type="application/json",
            )
        )
    )
    response = client.post(
        f"{BASE}/leads/{scored_lead.pk}/adjust/",
        {"points": 15, "note": "Called us"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["author"], response.json()["author_label"], response.json()["manual"]) == (
        admin_user.pk,
        admin_user.email,
        15,
    )
    assert api_client.get(f"{BASE}/leads/{scored_lead.pk}/").json()["score"] == breakdown["score"] + 15


def test_bant_answers_record_who_and_when(
    api_client: APIClient, scored_lead: Lead, org: Organization
) -> None:
    assert "field" in _fields(
        api_client.post(
            f"{BASE}/leads/{scored_lead.pk}/bant/", {"field": "mood", "value": "x"}, format="json"
        )
    )
    response = api_client.post(
        f"{BASE}/leads/{scored_lead.pk}/bant/",
        {"field": "budget", "value": "EUR 50k", "source": "chat"},
        format="json",
    )
    assert response.status_code == 201, response.content
    history = api_client.get(f"{BASE}/leads/{scored_lead.pk}/bant/").json()
    assert [(a["field"], a["value"], a["source"]) for a in history] == [("budget", "EUR 50k", "chat")]
    with tenant_context(org):
        assert Lead.objects.get(pk=scored_lead.pk).budget == "EUR 50k"


def test_another_organizations_ids_are_not_found(
    other_api_client: APIClient, scored_lead: Lead, draft: ModelVersion, org: Organization
) -> None:
    assert other_api_client.get(f"{BASE}/leads/{scored_lead.pk}/").status_code == 404
    assert other_api_client.get(f"{BASE}/leads/{scored_lead.pk}/ledger/").status_code == 404
    assert (
        other_api_client.post(
            f"{BASE}/leads/{scored_lead.pk}/adjust/", {"points": 5, "note": "x"}, format="json"
        ).status_code
        == 404
    )
    assert other_api_client.post(f"{BASE}/versions/{draft.pk}/publish/").status_code == 404
    response = other_api_client.post(
        f"{BASE}/rules/",
        {"version": draft.pk, "dimension": "fit", "name": "x", "points": 1, "operator": "free_mail"},
        format="json",
    )
    assert "version" in _fields(response)
    assert other_api_client.get(f"{BASE}/versions/").json()["results"] == []
    with tenant_context(org):
        assert not ScoreChange.objects.filter(cause="manual").exists()


def test_backtest_through_the_api(
    api_client: APIClient, scored_lead: Lead, org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant_context(org):
        version = ModelVersion.objects.get(status=VersionStatus.LIVE)
    assert "target_mql" in _fields(
        api_client.post(f"{BASE}/versions/{version.pk}/backtest/", {"target_mql": 0}, format="json")
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            f"{BASE}/versions/{version.pk}/backtest/", {"target_mql": 1}, format="json"
        )
    assert response.status_code == 202, response.content
    run = api_client.get(f"{BASE}/backtests/{response.json()['id']}/").json()
    assert run["status"] == "done"
    assert run["results"]["version"]["leads"] == 1

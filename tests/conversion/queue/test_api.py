"""The queue API: the queue for a user and for an API key, handoff decisions, teams, members and rules
CRUD with field-naming errors, the rejection report, other tenants' ids, and query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversion.models import AssignmentRule, Handoff, HandoffStatus, SalesTeam, TeamMember
from conversion.queue import services
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from tests.conversion.queue.conftest import SYSTEM, member, mql, rule, team_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep(org: Any) -> Any:
    return member(org, "rep@acme.example")


def session(user: Any, org: Any) -> APIClient:
    client = APIClient()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    s = client.session
    s["organization_id"] = org.pk
    s.save()
    return client


def open_for(user: Any, **lead: Any) -> Handoff:
    return services.core.handoff_open(
        lead=mql(**lead),
        assigned_to=user,
        team=None,
        rule="test",
        priority=lead.get("score", 10),
        actor=SYSTEM,
    )


def test_queue_for_the_signed_in_rep_and_for_a_key(
    org: Any, rep: Any, in_org: Any, api_client: APIClient
) -> None:
    with in_org():
        low, high = open_for(rep, score=10), open_for(rep, score=90)
        fallback = open_for(None)
    body = session(rep, org).get("/api/v1/conversion/queue/").json()
    assert [r["id"] for r in body["results"]] == [high.pk, low.pk]
    assert body["results"][0]["lead"]["stage"] == "mql" and body["results"][0]["workspace_url"].startswith(
        "/conversion/leads/"
    )
    missing = api_client.get("/api/v1/conversion/queue/")
    assert missing.status_code == 400 and "assigned_to" in missing.json()["error"]["fields"]
    assert [
        r["id"] for r in api_client.get(f"/api/v1/conversion/queue/?assigned_to={rep.pk}").json()["results"]
    ] == [high.pk, low.pk]
    assert [
        r["id"] for r in api_client.get("/api/v1/conversion/queue/?assigned_to=none").json()["results"]
    ] == [fallback.pk]
    assert api_client.get("/api/v1/conversion/queue/?assigned_to=999999").status_code == 400
    assert api_client.get(f"/api/v1/conversion/queue/?assigned_to={rep.pk}&grade=Q").status_code == 400
    # A rep may not read another rep's queue.
    other = member(org, "other@acme.example")
    assert session(other, org).get(f"/api/v1/conversion/queue/?assigned_to={rep.pk}").status_code == 403


def test_queue_pages_by_cursor(org: Any, rep: Any, in_org: Any, api_client: APIClient) -> None:
    with in_org():
        made = {open_for(rep, score=i % 5).pk for i in range(7)}
    url: str | None = f"/api/v1/conversion/queue/?assigned_to={rep.pk}&page_size=3"
    seen: list[int] = []
    while url:
        body = api_client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == 7 and set(seen) == made
    assert api_client.get(f"/api/v1/conversion/queue/?assigned_to={rep.pk}&page_size=0").status_code == 400


def test_accept_reject_reassign_through_the_api(
    org: Any, rep: Any, in_org: Any, api_client: APIClient
) -> None:
    other = member(org, "other@acme.example")
    with in_org():
        a, b, c = open_for(rep), open_for(rep), open_for(rep)
    client = session(rep, org)
    accepted = client.post(f"/api/v1/conversion/handoffs/{a.pk}/accept/")
    assert (
        accepted.status_code == 200
        and accepted.json()["status"] == "accepted"
        and accepted.json()["lead"]["stage"] == "sql"
    )
    again = client.post(f"/api/v1/conversion/handoffs/{a.pk}/accept/")
    assert again.status_code == 400 and "status" in again.json()["error"]["fields"]
    bad = client.post(f"/api/v1/conversion/handoffs/{b.pk}/reject/", {"reason": "bored"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["error"]["fields"]
    rejected = client.post(
        f"/api/v1/conversion/handoffs/{b.pk}/reject/", {"reason": "too_early", "note": "Q3"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["rejection_reason"] == "too_early"
    assert rejected.json()["lead"]["stage"] == "recycled"
    # A rep cannot reassign; a key can.
    assert (
        client.post(
            f"/api/v1/conversion/handoffs/{c.pk}/reassign/",
            {"assigned_to": other.pk, "reason": "x"},
            format="json",
        ).status_code
        == 403
    )
    moved = api_client.post(
        f"/api/v1/conversion/handoffs/{c.pk}/reassign/",
        {"assigned_to": other.pk, "reason": "holiday"},
        format="json",
    )
    assert (
        moved.status_code == 201
        and moved.json()["assigned_to"] == other.pk
        and moved.json()["previous"] == c.pk
    )
    # The other rep does not see rep's handoffs at all.
    assert session(other, org).get(f"/api/v1/conversion/handoffs/{a.pk}/").status_code == 404
    marketer = member(org, "mk@acme.example", Role.MARKETER)
    with in_org():
        d = open_for(rep)
    assert session(marketer, org).post(f"/api/v1/conversion/handoffs/{d.pk}/accept/").status_code == 403


def test_other_tenant_gets_404(org: Any, rep: Any, in_org: Any, other_api_client: APIClient) -> None:
    with in_org():
        handoff = open_for(rep)
        team = team_with("EMEA", rep)
        rule_obj = rule("EMEA", "round_robin", team=team)
        membership = TeamMember.objects.get(team=team)
    for url in (
        f"/api/v1/conversion/handoffs/{handoff.pk}/",
        f"/api/v1/conversion/teams/{team.pk}/",
        f"/api/v1/conversion/team-members/{membership.pk}/",
        f"/api/v1/conversion/assignment-rules/{rule_obj.pk}/",
    ):
        assert other_api_client.get(url).status_code == 404
    for action in ("accept", "reject", "reassign"):
        assert (
            other_api_client.post(
                f"/api/v1/conversion/handoffs/{handoff.pk}/{action}/", {"reason": "no_budget"}, format="json"
            ).status_code
            == 404
        )
    assert other_api_client.get(f"/api/v1/conversion/queue/?assigned_to={rep.pk}").status_code == 400


def test_teams_members_rules_crud(org: Any, rep: Any, in_org: Any, api_client: APIClient) -> None:
    bad = api_client.post(
        "/api/v1/conversion/teams/", {"name": "DACH", "timezone": "Europe/Atlantis"}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["timezone"]
    team = api_client.post(
        "/api/v1/conversion/teams/", {"name": "DACH", "timezone": "Europe/Berlin"}, format="json"
    ).json()
    assert api_client.post("/api/v1/conversion/teams/", {"name": "dach"}, format="json").status_code == 400
    assert (
        api_client.patch(
            f"/api/v1/conversion/teams/{team['id']}/", {"timezone": "Europe/Vienna"}, format="json"
        ).json()["timezone"]
        == "Europe/Vienna"
    )
    created = api_client.post(
        "/api/v1/conversion/team-members/",
        {"team": team["id"], "user": rep.pk, "max_open_leads": 5},
        format="json",
    )
    assert created.status_code == 201 and created.json()["max_open_leads"] == 5
    outsider = api_client.post(
        "/api/v1/conversion/team-members/", {"team": team["id"], "user": 987654}, format="json"
    )
    assert outsider.status_code == 400 and "user" in outsider.json()["error"]["fields"]
    zero = api_client.patch(
        f"/api/v1/conversion/team-members/{created.json()['id']}/", {"max_open_leads": 0}, format="json"
    )
    assert zero.status_code == 400 and "max_open_leads" in zero.json()["error"]["fields"]
    paused = api_client.patch(
        f"/api/v1/conversion/team-members/{created.json()['id']}/", {"is_active": False}, format="json"
    )
    assert paused.json()["is_active"] is False
    assert [
        m["user"]
        for m in api_client.get(f"/api/v1/conversion/team-members/?team={team['id']}").json()["results"]
    ] == [rep.pk]

    bad_rule = api_client.post(
        "/api/v1/conversion/assignment-rules/",
        {
            "name": "X",
            "kind": "territory",
            "team": team["id"],
            "conditions": {"grades": ["Z"], "regions": ["mars"]},
        },
        format="json",
    )
    fields = bad_rule.json()["error"]["fields"]
    assert bad_rule.status_code == 400 and "conditions.grades" in fields and "conditions.regions" in fields
    r1 = api_client.post(
        "/api/v1/conversion/assignment-rules/",
        {"name": "DACH", "kind": "territory", "team": team["id"], "conditions": {"regions": ["dach"]}},
        format="json",
    ).json()
    r2 = api_client.post(
        "/api/v1/conversion/assignment-rules/",
        {"name": "Rest", "kind": "round_robin", "team": team["id"]},
        format="json",
    ).json()
    assert (r1["position"], r2["position"]) == (1, 2)
    order = api_client.post(
        "/api/v1/conversion/assignment-rules/reorder/", {"ids": [r2["id"], r1["id"]]}, format="json"
    ).json()
    assert [r["id"] for r in order] == [r2["id"], r1["id"]]
    assert (
        api_client.post(
            "/api/v1/conversion/assignment-rules/reorder/", {"ids": [r2["id"]]}, format="json"
        ).status_code
        == 400
    )
    assert (
        api_client.patch(
            f"/api/v1/conversion/assignment-rules/{r1['id']}/", {"is_active": False}, format="json"
        ).json()["is_active"]
        is False
    )
    assert api_client.delete(f"/api/v1/conversion/assignment-rules/{r1['id']}/").status_code == 204
    assert api_client.delete(f"/api/v1/conversion/teams/{team['id']}/").status_code == 204
    with in_org():
        assert not SalesTeam.objects.exists() and not AssignmentRule.objects.exists()
    # Reps read but do not write.
    assert (
        session(rep, org).post("/api/v1/conversion/teams/", {"name": "Mine"}, format="json").status_code
        == 403
    )


def test_rejection_report_api(org: Any, rep: Any, in_org: Any, api_client: APIClient) -> None:
    with in_org():
        for reason in ("no_budget", "bad_data"):
            services.handoff_reject(handoff=open_for(rep), reason=reason, actor=Actor(user=rep))
    body = api_client.get("/api/v1/conversion/rejections/").json()
    assert body["total"] == 2 and {r["reason"] for r in body["by_reason"]} == {"no_budget", "bad_data"}
    assert body["by_channel"][0]["rejected"] == 2
    assert api_client.get("/api/v1/conversion/rejections/?start=nope").status_code == 400
    assert session(rep, org).get("/api/v1/conversion/rejections/").status_code == 403


def _queries(client: APIClient, url: str) -> int:
    client.get(url)  # the key's last use is written once a minute; keep it out of the count
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/conversion/queue/?assigned_to={rep}",
        "/api/v1/conversion/handoffs/",
        "/api/v1/conversion/teams/",
        "/api/v1/conversion/team-members/",
        "/api/v1/conversion/assignment-rules/",
    ],
)
def test_list_query_counts_do_not_grow_with_rows(
    org: Any, rep: Any, in_org: Any, api_client: APIClient, url: str
) -> None:
    def grow(n: int) -> None:
        with in_org():
            for i in range(n):
                open_for(rep, campaign=None)
                team = team_with(f"T{SalesTeam.objects.count()}-{i}", rep)
                rule(f"R{i}", "round_robin", team=team)

    target = url.format(rep=rep.pk)
    grow(2)
    few = _queries(api_client, target)
    grow(8)
    many = _queries(api_client, target)
    assert many == few, f"{target}: {few} queries for 2 rows, {many} for 10"
    assert many <= 8


def test_handoff_output_escapes_nothing_and_leaks_no_status(
    org: Any, rep: Any, in_org: Any, api_client: APIClient
) -> None:
    with in_org():
        handoff = open_for(rep)
        services.handoff_accept(handoff=handoff, actor=Actor(user=rep))
    body = api_client.get(f"/api/v1/conversion/handoffs/?status=accepted&assigned_to={rep.pk}").json()
    assert [r["id"] for r in body["results"]] == [handoff.pk]
    assert body["results"][0]["status"] == HandoffStatus.ACCEPTED

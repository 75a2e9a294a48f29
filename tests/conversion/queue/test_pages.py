"""The rep's queue page and decisions through the browser's routes, and the managers' pages: order,
filters, pagination, empty state, htmx fragments, permissions, other tenants' ids."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone

from conversion.models import AssignmentRule, Handoff, HandoffStatus, SalesTeam, TeamMember
from conversion.queue import services
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from tests.conftest import login
from tests.conversion.queue.conftest import SYSTEM, member, mql, rule, team_with

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rep(org: Any) -> Any:
    return member(org, "rep@acme.example", first_name="Rita", last_name="Rep")


@pytest.fixture
def manager(org: Any) -> Any:
    return member(org, "boss@acme.example", Role.SALES_MANAGER)


def open_for(user: Any, **lead: Any) -> Handoff:
    sla = lead.pop("sla_due_at", None)
    priority = lead.pop("priority", 10)
    handoff = services.core.handoff_open(
        lead=mql(**lead), assigned_to=user, team=None, rule="test", priority=priority, actor=SYSTEM
    )
    # The deadline the SLA part would keep, set outright (None: no policy covers the handoff).
    Handoff.objects.filter(pk=handoff.pk).update(sla_due_at=sla)
    return handoff


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-handoff-id="(\d+)"', html)]


def test_queue_in_priority_then_sla_order_with_time_left(org: Any, rep: Any, in_org: Any) -> None:
    now = timezone.now()
    with in_org():
        low = open_for(rep, priority=5)
        late = open_for(rep, priority=50, sla_due_at=now + dt.timedelta(hours=5))
        soon = open_for(rep, priority=50, sla_due_at=now + dt.timedelta(minutes=30))
        overdue = open_for(rep, priority=50, sla_due_at=now - dt.timedelta(hours=2))
        no_sla = open_for(rep, priority=50)
    response = login(rep, org).get("/conversion/queue/")
    html = response.content.decode()
    assert response.status_code == 200
    assert row_ids(html) == [overdue.pk, soon.pk, late.pk, no_sla.pk, low.pk]
    assert "overdue 2h" in html and "No SLA" in html and "left" in html
    assert 'href="/conversion/leads/' in html  # the workspace link
    assert "My queue" in html


def test_queue_shows_only_own_and_open_sqls(org: Any, rep: Any, in_org: Any) -> None:
    other = member(org, "other@acme.example")
    with in_org():
        mine = open_for(rep)
        theirs = open_for(other)
        accepted = open_for(rep)
        services.handoff_accept(handoff=accepted, actor=Actor(user=rep))
        rejected = open_for(rep)
        services.handoff_reject(handoff=rejected, reason="no_budget", actor=Actor(user=rep))
    html = login(rep, org).get("/conversion/queue/").content.decode()
    assert set(row_ids(html)) == {mine.pk, accepted.pk}
    assert theirs.pk not in row_ids(html)
    html = login(rep, org).get("/conversion/queue/?status=accepted").content.decode()
    assert row_ids(html) == [accepted.pk]
    html = login(rep, org).get("/conversion/queue/?stage=mql").content.decode()
    assert row_ids(html) == [mine.pk]


def test_queue_filters_and_bad_filter_values(org: Any, rep: Any, in_org: Any) -> None:
    with in_org():
        a = open_for(rep, grade="A")
        b = open_for(rep, grade="C", source_channel="paid_search")
    client = login(rep, org)
    assert row_ids(client.get("/conversion/queue/?grade=a").content.decode()) == [a.pk]
    assert row_ids(client.get("/conversion/queue/?source=paid_search").content.decode()) == [b.pk]
    response = client.get("/conversion/queue/?grade=Q&source=%3Cscript%3E")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters were ignored" in html and "<script>" not in html
    empty = client.get("/conversion/queue/?grade=F").content.decode()
    assert "No leads match these filters" in empty


def test_queue_pages_by_cursor_without_repeats(org: Any, rep: Any, in_org: Any) -> None:
    now = timezone.now()
    with in_org():
        made = [
            open_for(rep, priority=i % 4, sla_due_at=(now + dt.timedelta(minutes=i)) if i % 3 else None)
            for i in range(60)
        ]
    client = login(rep, org)
    seen: list[int] = []
    url = "/conversion/queue/"
    pages = 0
    while url:
        html = client.get(url).content.decode()
        seen += row_ids(html)
        found = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', html)
        url = "/conversion/queue/" + found.group(1).replace("&amp;", "&") if found else ""
        pages += 1
    assert pages == 3 and len(seen) == 60 and set(seen) == {h.pk for h in made}
    with in_org():
        due = dict(Handoff.objects.values_list("pk", "sla_due_at"))
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    expected = sorted(made, key=lambda h: (-h.priority, due[h.pk] or never, h.pk))
    assert seen == [h.pk for h in expected]
    # Back from page 2 gives page 1 again; a forged cursor gives the first page, never an error.
    page2 = client.get(
        "/conversion/queue/?"
        + re.search(
            r'href="\?([^"]*cursor=[^"]+)" rel="next"', client.get("/conversion/queue/").content.decode()
        )
        .group(1)
        .replace("&amp;", "&")
    ).content.decode()
    previous = re.search(r'href="\?([^"]*cursor=[^"]+)" rel="prev"', page2)
    assert previous is not None
    back = client.get("/conversion/queue/?" + previous.group(1).replace("&amp;", "&")).content.decode()
    assert row_ids(back) == seen[:25]
    html = client.get("/conversion/queue/?cursor=bm90LWEtY3Vyc29y").content.decode()
    assert row_ids(html) == seen[:25]


def test_empty_queue(org: Any, rep: Any) -> None:
    html = login(rep, org).get("/conversion/queue/").content.decode()
    assert "Your queue is clear" in html


def test_accept_with_htmx_returns_the_row(org: Any, rep: Any, in_org: Any) -> None:
    with in_org():
        handoff = open_for(rep)
    response = login(rep, org).post(f"/conversion/handoffs/{handoff.pk}/accept/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith("<tr") and "Accepted" in html and "SQL" in html
    with in_org():
        handoff.refresh_from_db()
        handoff.lead.refresh_from_db()
        assert handoff.status == HandoffStatus.ACCEPTED and handoff.lead.stage == "sql"
    again = login(rep, org).post(f"/conversion/handoffs/{handoff.pk}/accept/", **HTMX)
    assert "already accepted" in again.content.decode()


def test_accept_without_js_redirects_with_a_message(org: Any, rep: Any, in_org: Any) -> None:
    with in_org():
        handoff = open_for(rep)
    response = login(rep, org).post(f"/conversion/handoffs/{handoff.pk}/accept/", follow=True)
    assert response.redirect_chain[-1][0] == "/conversion/queue/"
    assert "is now an SQL" in response.content.decode()


def test_reject_form_then_reject(org: Any, rep: Any, in_org: Any) -> None:
    with in_org():
        handoff = open_for(rep)
    client = login(rep, org)
    form = client.get(f"/conversion/handoffs/{handoff.pk}/reject/", **HTMX)
    assert (
        form.status_code == 200
        and "reject-row" in form.content.decode()
        and "Too early" in form.content.decode()
    )
    page = client.get(f"/conversion/handoffs/{handoff.pk}/reject/")
    assert "<html" in page.content.decode()
    bad = client.post(f"/conversion/handoffs/{handoff.pk}/reject/", {"reason": "other", "note": ""}, **HTMX)
    assert "Say why in a note" in bad.content.decode()
    done = client.post(
        f"/conversion/handoffs/{handoff.pk}/reject/",
        {"reason": "not_a_fit", "note": "<b>B2C</b>", "outcome": "recycled"},
        **HTMX,
    )
    assert "Rejected: Not a fit" in done.content.decode()
    with in_org():
        handoff.refresh_from_db()
        assert handoff.status == HandoffStatus.REJECTED and handoff.rejection_note == "<b>B2C</b>"
        handoff.lead.refresh_from_db()
        assert handoff.lead.stage == "recycled"
    row = client.get(f"/conversion/handoffs/{handoff.pk}/row/", **HTMX)
    assert row.status_code == 200


def test_other_reps_handoffs_are_not_found_and_marketers_cannot_decide(
    org: Any, rep: Any, in_org: Any
) -> None:
    other = member(org, "other@acme.example")
    marketer = member(org, "mk@acme.example", Role.MARKETER)
    with in_org():
        handoff = open_for(other)
    client = login(rep, org)
    assert client.post(f"/conversion/handoffs/{handoff.pk}/accept/").status_code == 404
    assert (
        client.post(f"/conversion/handoffs/{handoff.pk}/reject/", {"reason": "no_budget"}).status_code == 404
    )
    assert login(marketer, org).post(f"/conversion/handoffs/{handoff.pk}/accept/").status_code == 403
    with in_org():
        assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.PENDING


def test_other_tenant_gets_404(org: Any, rep: Any, in_org: Any, other_admin_client: Any) -> None:
    with in_org():
        handoff = open_for(rep)
    for url in ("accept", "reject", "reassign", "row"):
        method = other_admin_client.get if url == "row" else other_admin_client.post
        assert method(f"/conversion/handoffs/{handoff.pk}/{url}/").status_code == 404


def test_manager_views_queue_of_a_rep(org: Any, rep: Any, manager: Any, in_org: Any) -> None:
    with in_org():
        handoff = open_for(rep)
    html = login(manager, org).get(f"/conversion/queue/?rep={rep.pk}").content.decode()
    assert row_ids(html) == [handoff.pk] and "Queue of Rita Rep" in html
    # A rep's ?rep= is ignored: they see their own queue.
    assert (
        row_ids(
            login(member(org, "x@acme.example"), org).get(f"/conversion/queue/?rep={rep.pk}").content.decode()
        )
        == []
    )


def test_manager_pages_and_role_gate(org: Any, rep: Any, manager: Any, in_org: Any) -> None:
    now = timezone.now()
    with in_org():
        team = team_with("EMEA", rep, capacity=5)
        rule("EMEA", "round_robin", team=team)
        breached = open_for(rep)
        Handoff.objects.filter(pk=breached.pk).update(
            sla_state="breached", sla_due_at=now - dt.timedelta(hours=1)
        )
        fallback = open_for(None)
    client = login(manager, org)
    for url in (
        "/conversion/team-queues/",
        "/conversion/fallback/",
        "/conversion/breaches/",
        "/conversion/teams/",
        f"/conversion/teams/{team.pk}/",
        "/conversion/rules/",
        "/conversion/rejections/",
    ):
        assert client.get(url).status_code == 200, url
        assert login(rep, org).get(url).status_code == 403, url
    assert (
        str(breached.pk) in client.get("/conversion/breaches/").content.decode()
        or "Rita" in client.get("/conversion/breaches/").content.decode()
    )
    queues = client.get("/conversion/team-queues/").content.decode()
    assert "EMEA" in queues and "Rita Rep" in queues
    assert (
        f"/conversion/handoffs/{fallback.pk}/reassign/"
        in client.get("/conversion/fallback/").content.decode()
    )
    # Assign from the fallback queue.
    response = client.post(
        f"/conversion/handoffs/{fallback.pk}/reassign/?next=/conversion/fallback/",
        {"assigned_to": rep.pk, "reason": "Assigned from the fallback queue"},
    )
    assert response.status_code == 302 and response["Location"] == "/conversion/fallback/"
    with in_org():
        assert Handoff.objects.get(lead=fallback.lead, status="pending").assigned_to == rep
    marketer = member(org, "mk@acme.example", Role.MARKETER)
    assert login(marketer, org).get("/conversion/rejections/").status_code == 200


def test_reassign_asks_for_confirmation(org: Any, rep: Any, manager: Any, in_org: Any) -> None:
    other = member(org, "other@acme.example")
    with in_org():
        handoff = open_for(rep)
    client = login(manager, org)
    page = client.get(f"/conversion/handoffs/{handoff.pk}/reassign/")
    assert page.status_code == 200 and "Reassign lead" in page.content.decode()
    bad = client.post(f"/conversion/handoffs/{handoff.pk}/reassign/", {"assigned_to": other.pk, "reason": ""})
    assert bad.status_code == 400
    ok = client.post(
        f"/conversion/handoffs/{handoff.pk}/reassign/", {"assigned_to": other.pk, "reason": "Holiday"}
    )
    assert ok.status_code == 302
    with in_org():
        assert Handoff.objects.get(lead=handoff.lead, status="pending").assigned_to == other


def test_teams_members_and_timezone_validation(org: Any, rep: Any, manager: Any, in_org: Any) -> None:
    client = login(manager, org)
    bad = client.post("/conversion/teams/", {"name": "DACH", "timezone": "Mars/Olympus"})
    assert bad.status_code == 400 and "is not a time zone" in bad.content.decode()
    ok = client.post(
        "/conversion/teams/", {"name": "DACH", "timezone": "Europe/Berlin", "manager": manager.pk}
    )
    assert ok.status_code == 302
    with in_org():
        team = SalesTeam.objects.get(name="DACH")
    added = client.post(
        f"/conversion/teams/{team.pk}/", {"form": "member", "user": rep.pk, "max_open_leads": 10}
    )
    assert added.status_code == 302
    twice = client.post(f"/conversion/teams/{team.pk}/", {"form": "member", "user": rep.pk})
    assert twice.status_code == 400
    with in_org():
        membership = TeamMember.objects.get(team=team, user=rep)
    client.post(f"/conversion/team-members/{membership.pk}/", {f"m{membership.pk}-max_open_leads": "3"})
    with in_org():
        membership.refresh_from_db()
        assert membership.max_open_leads == 3 and membership.is_active is False  # unticked box: paused
    assert "Remove" in client.get(f"/conversion/team-members/{membership.pk}/remove/").content.decode()
    client.post(f"/conversion/team-members/{membership.pk}/remove/")
    assert "Delete “DACH”?" in client.get(f"/conversion/teams/{team.pk}/delete/").content.decode()
    client.post(f"/conversion/teams/{team.pk}/delete/")
    with in_org():
        assert not SalesTeam.objects.exists() and not TeamMember.objects.exists()


def test_rules_editor_add_edit_move_delete(org: Any, rep: Any, manager: Any, in_org: Any) -> None:
    with in_org():
        team = team_with("EMEA", rep)
    client = login(manager, org)
    bad = client.post(
        "/conversion/rules/", {"name": "Bad", "kind": "round_robin", "size_min": 10, "size_max": 5}
    )
    assert bad.status_code == 400 and "must not be below" in bad.content.decode()
    assert (
        client.post(
            "/conversion/rules/",
            {
                "name": "EMEA",
                "kind": "round_robin",
                "team": team.pk,
                "is_active": "on",
                "regions": ["dach"],
                "grades": ["A", "B"],
            },
        ).status_code
        == 302
    )
    assert (
        client.post(
            "/conversion/rules/",
            {
                "name": "Rita",
                "kind": "territory",
                "user": rep.pk,
                "is_active": "on",
                "countries": "France, Spain",
            },
        ).status_code
        == 302
    )
    with in_org():
        first, second = AssignmentRule.objects.order_by("position")
        assert first.conditions == {"regions": ["dach"], "grades": ["A", "B"]}
        assert second.conditions == {"countries": ["France", "Spain"]}
    page = client.get("/conversion/rules/").content.decode()
    assert "region DACH; grade A/B" in page
    client.post(f"/conversion/rules/{second.pk}/move/", {"direction": "up"})
    with in_org():
        assert list(AssignmentRule.objects.order_by("position").values_list("name", flat=True)) == [
            "Rita",
            "EMEA",
        ]
    edit = client.get(f"/conversion/rules/{first.pk}/")
    assert edit.status_code == 200
    client.post(f"/conversion/rules/{first.pk}/", {"name": "EMEA all", "kind": "capacity", "team": team.pk})
    with in_org():
        first.refresh_from_db()
        assert first.name == "EMEA all" and first.kind == "capacity" and not first.is_active
    assert "Delete “EMEA all”?" in client.get(f"/conversion/rules/{first.pk}/delete/").content.decode()
    client.post(f"/conversion/rules/{first.pk}/delete/")
    with in_org():
        assert AssignmentRule.objects.count() == 1


def test_rejection_report_page(org: Any, rep: Any, manager: Any, in_org: Any) -> None:
    with in_org():
        for reason in ("no_budget", "no_budget", "not_a_fit"):
            h = open_for(rep, source_channel="paid_search")
            services.handoff_reject(handoff=h, reason=reason, actor=Actor(user=rep))
        services.handoff_accept(handoff=open_for(rep, source_channel="paid_search"), actor=Actor(user=rep))
    html = login(manager, org).get("/conversion/rejections/").content.decode()
    assert "No budget" in html and "Paid search" in html and "75%" in html
    bad = login(manager, org).get("/conversion/rejections/?start=2026-05-01&end=2026-01-01")
    assert bad.status_code == 400


def test_nav_has_my_queue_for_everyone_and_manager_entries(
    org: Any, rep: Any, manager: Any, admin_client: Any
) -> None:
    rep_nav = login(rep, org).get("/conversion/queue/").content.decode()
    assert "My queue" in rep_nav and "Team queues" not in rep_nav
    manager_nav = login(manager, org).get("/conversion/queue/").content.decode()
    assert "Team queues" in manager_nav and "Assignment rules" in manager_nav
    assert "My queue" in admin_client.get("/").content.decode()

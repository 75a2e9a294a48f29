"""The workspace and notification pages through the test client: what they show, what their forms do,
who may open them, and captured text shown as text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from conversion.models import (
    Activity,
    Handoff,
    Note,
    Notification,
    NotificationKind,
    SalesTeam,
    Task,
    TeamMember,
)
from conversion.notifications import notify
from conversion.workspace import services
from conversion.workspace.views import url_or_none
from leadhub.tenancy.services import Actor
from leads.models import Touchpoint
from tests.conftest import login
from tests.conversion.workspace.conftest import hand
from tests.factories import LeadFactory

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _url(lead: Any) -> str:
    return reverse("workspace-lead", args=[lead.pk])


def test_workspace_shows_contact_score_tasks_and_timeline(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, in_org: Any
) -> None:
    actor = Actor(user=sales_rep)
    with in_org():
        Touchpoint.objects.create(
            lead=lead, contact=lead.contact, type="page_view", url="https://x.example/pricing"
        )
        services.note_create(lead=lead, body="Talked budget with @ada", actor=actor)
        services.task_create(
            lead=lead, title="Send pricing", due_at=timezone.now() - dt.timedelta(hours=2), actor=actor
        )
        services.lead_bant_update(lead=lead, data={"budget": "40k"}, actor=actor)
    client = login(sales_rep, org)
    response = client.get(_url(lead))
    body = response.content.decode()
    assert response.status_code == 200
    assert _url(lead) == f"/conversion/leads/{lead.pk}/"
    for text in (
        "Grace Hopper",
        "grace@navy.example",
        "What to talk about",
        "Send pricing",
        "Overdue",
        "40k",
    ):
        assert text in body, text
    assert "Talked budget with @ada" in body and "Notified: Ada Reyes" in body
    assert "https://x.example/pricing" in body
    # No handoff yet: nothing to accept or reject.
    assert "Reject the lead" not in body


def test_workspace_decides_a_pending_handoff_and_comes_back(
    org: Any, lead: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        handoff = hand(lead, sales_rep)
    accept = url_or_none("queue-handoff-accept", handoff.pk)
    assert accept == f"/conversion/handoffs/{handoff.pk}/accept/"
    client = login(sales_rep, org)
    body = client.get(_url(lead)).content.decode()
    assert f'action="{accept}"' in body and "Reject the lead" in body
    response = client.post(accept, {"next": _url(lead)})
    assert response.status_code == 302 and response["Location"] == _url(lead)
    with in_org():
        handoff.refresh_from_db()
        lead.refresh_from_db()
    assert handoff.status == "accepted" and lead.stage == "sql"


def test_xss_payloads_in_notes_activities_and_contact_render_as_text(
    org: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        lead = LeadFactory(
            owner=sales_rep,
            contact__first_name=XSS,
            contact__job_title=XSS,
            contact__phone="<b>1</b>",
            contact__company__name=XSS,
        )
        actor = Actor(user=sales_rep)
        services.note_create(lead=lead, body=XSS, actor=actor)
        from conversion.services.core import activity_log

        activity_log(lead=lead, kind="call", outcome=XSS[:60], subject=XSS, notes=XSS, actor=actor)
        services.task_create(lead=lead, title=XSS, actor=actor)
    body = login(sales_rep, org).get(_url(lead)).content.decode()
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "<b>1</b>" not in body


def test_forms_log_a_call_add_a_note_a_task_and_edit_bant(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, in_org: Any
) -> None:
    client = login(sales_rep, org)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "workspace"}
    response = client.post(
        reverse("workspace-activity-add", args=[lead.pk]),
        {"kind": "call", "outcome": "Connected", "subject": "Intro", "duration_minutes": "15"},
        **headers,
    )
    assert response.status_code == 200 and "Call logged." in response.content.decode()
    response = client.post(
        reverse("workspace-note-add", args=[lead.pk]), {"body": "cc @ada.reyes"}, **headers
    )
    assert "Ada Reyes notified" in response.content.decode()
    due = (timezone.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("workspace-task-add", args=[lead.pk]),
        {"title": "Book demo", "due_at": due, "assignee": str(colleague.pk)},
    )
    assert response.status_code == 302 and response["Location"] == _url(lead)
    response = client.post(
        reverse("workspace-bant", args=[lead.pk]),
        {"budget": "25k", "authority": "CFO", "need": "Reporting", "timing": "This quarter"},
        **headers,
    )
    assert response.status_code == 200 and "BANT saved" in response.content.decode()
    with in_org():
        activity = Activity.objects.get()
        assert (activity.outcome, activity.duration_minutes, activity.user_id) == (
            "Connected",
            15,
            sales_rep.pk,
        )
        assert Note.objects.get().mentions.get().user == colleague
        task = Task.objects.get()
        assert task.assignee == colleague and task.due_at is not None
        lead.refresh_from_db()
        assert (lead.budget, lead.authority, lead.timing) == ("25k", "CFO", "This quarter")
        assert set(Notification.objects.filter(user=colleague).values_list("kind", flat=True)) == {
            NotificationKind.MENTION,
            NotificationKind.TASK,
        }
    response = client.post(reverse("workspace-task-complete", args=[task.pk]), **headers)
    assert "done." in response.content.decode()
    with in_org():
        assert Task.objects.get().done_at is not None
    client.post(reverse("workspace-task-reopen", args=[task.pk]), **headers)
    with in_org():
        assert Task.objects.get().done_at is None


def test_invalid_forms_name_the_field(org: Any, lead: Any, sales_rep: Any) -> None:
    client = login(sales_rep, org)
    response = client.post(reverse("workspace-note-add", args=[lead.pk]), {"body": "  "})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    response = client.post(
        reverse("workspace-activity-add", args=[lead.pk]), {"kind": "fax", "duration_minutes": "-3"}
    )
    body = response.content.decode()
    assert response.status_code == 400 and "fax is not one of the available choices" in body
    future = (timezone.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("workspace-activity-add", args=[lead.pk]), {"kind": "call", "occurred_at": future}
    )
    assert response.status_code == 400 and "cannot be logged in the future" in response.content.decode()
    # htmx gets the form back with its errors as a 200, so that it swaps them in.
    response = client.post(
        reverse("workspace-task-add", args=[lead.pk]), {"title": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "This field is required" in response.content.decode()


def test_outcome_suggestions_follow_the_kind(org: Any, sales_rep: Any) -> None:
    client = login(sales_rep, org)
    assert "Left voicemail" in client.get(reverse("workspace-outcomes"), {"kind": "call"}).content.decode()
    demo = client.get(reverse("workspace-outcomes"), {"kind": "demo"}).content.decode()
    assert "Trial started" in demo and "voicemail" not in demo


def test_timeline_merges_newest_first_and_pages(org: Any, lead: Any, sales_rep: Any, in_org: Any) -> None:
    from conversion.workspace.selectors import lead_timeline

    now = timezone.now()
    with in_org():
        for minutes in range(30):
            Touchpoint.objects.create(
                lead=lead,
                contact=lead.contact,
                type="page_view",
                occurred_at=now - dt.timedelta(minutes=minutes * 2),
            )
        from conversion.services.core import activity_log

        for minutes in range(0, 30, 3):
            activity_log(
                lead=lead,
                kind="email",
                actor=Actor(user=sales_rep),
                occurred_at=now - dt.timedelta(minutes=minutes),
            )
        Note.objects.create(lead=lead, author=sales_rep, body="same instant", created_at=now, updated_at=now)
        seen: list[tuple[str, int]] = []
        times: list[Any] = []
        cursor = None
        while True:
            page = lead_timeline(lead, cursor=cursor, size=7)
            seen += [(e.kind, e.pk) for e in page.entries]
            times += [e.at for e in page.entries]
            cursor = page.next_cursor
            if cursor is None:
                break
        total = 30 + 10 + 1 + lead.stage_changes.count()
        assert len(seen) == len(set(seen)) == total
        assert times == sorted(times, reverse=True)
        assert lead_timeline(lead, cursor="garbage!").entries[0].kind == "activity"
    client = login(sales_rep, org)
    first = client.get(_url(lead)).content.decode()
    assert "Show older" in first
    more = client.get(
        _url(lead),
        {"timeline": page_cursor(lead, in_org)},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="timeline-more",
    )
    assert more.status_code == 200 and "<html" not in more.content.decode()


def page_cursor(lead: Any, in_org: Any) -> str:
    from conversion.workspace.selectors import lead_timeline

    with in_org():
        cursor = lead_timeline(lead).next_cursor
    assert cursor
    return cursor


# --- who may open a lead ------------------------------------------------------------------------


def test_a_rep_sees_own_handed_and_team_leads_only(
    org: Any, sales_rep: Any, colleague: Any, manager: Any, admin_user: Any, in_org: Any
) -> None:
    with in_org():
        own = LeadFactory(owner=sales_rep)
        stranger = LeadFactory(owner=admin_user)
        handed = LeadFactory(stage="mql")
        hand(handed, sales_rep)
        team = SalesTeam.objects.create(name="EMEA")
        TeamMember.objects.create(team=team, user=sales_rep)
        TeamMember.objects.create(team=team, user=colleague)
        teammates = LeadFactory(owner=colleague)
        team_queue = LeadFactory(stage="mql")
        hand(team_queue, None, team=team, rule="fallback")
    rep = login(sales_rep, org)
    for lead in (own, handed, teammates, team_queue):
        assert rep.get(_url(lead)).status_code == 200
    assert rep.get(_url(stranger)).status_code == 403
    assert rep.post(reverse("workspace-note-add", args=[stranger.pk]), {"body": "hi"}).status_code == 403
    for boss in (manager, admin_user):
        assert login(boss, org).get(_url(stranger)).status_code == 200


def test_another_organizations_lead_is_a_404(
    org: Any, other_org: Any, sales_rep: Any, admin_user: Any, in_other_org: Any
) -> None:
    with in_other_org():
        theirs = LeadFactory()
        theirs_task = Task.objects.create(lead=theirs, title="theirs")
    client = login(admin_user, org)
    assert client.get(_url(theirs)).status_code == 404
    assert client.post(reverse("workspace-task-complete", args=[theirs_task.pk])).status_code == 404
    assert client.post(reverse("workspace-note-add", args=[theirs.pk]), {"body": "x"}).status_code == 404


def test_handoff_panel_shows_rep_rule_and_sla(org: Any, lead: Any, sales_rep: Any, in_org: Any) -> None:
    with in_org():
        handoff = hand(lead, sales_rep, rule="territory: DACH")
        Handoff.objects.filter(pk=handoff.pk).update(
            sla_state="warning", sla_due_at=timezone.now() + dt.timedelta(minutes=50)
        )
    body = login(sales_rep, org).get(_url(lead)).content.decode()
    assert "territory: DACH" in body and "SLA due soon" in body and "Waiting for acceptance" in body


@pytest.mark.urls("tests.conversion.workspace.queue_urls")
def test_accept_and_reject_buttons_appear_when_the_queue_routes_exist(
    org: Any, lead: Any, sales_rep: Any, in_org: Any
) -> None:
    with in_org():
        handoff = hand(lead, sales_rep)
    body = login(sales_rep, org).get(_url(lead)).content.decode()
    assert f'action="/conversion/handoffs/{handoff.pk}/accept/"' in body
    assert f'action="/conversion/handoffs/{handoff.pk}/reject/"' in body
    assert 'name="reason"' in body and "Already a customer" in body


# --- notifications ------------------------------------------------------------------------------


def test_bell_counts_unread_and_mark_read(
    org: Any, sales_rep: Any, colleague: Any, lead: Any, in_org: Any
) -> None:
    with in_org():
        first = notify(
            user=sales_rep,
            kind="mention",
            title="<b>Ada</b> mentioned you",
            url=_url(lead),
            lead=lead,
            email=False,
        )
        notify(user=sales_rep, kind="task", title="Task due", email=False)
        notify(user=colleague, kind="task", title="Not yours", email=False)
    client = login(sales_rep, org)
    bell = client.get(reverse("notifications-bell"), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-unread="2"' in bell and "2 unread" in bell
    page = client.get(reverse("notifications")).content.decode()
    assert "&lt;b&gt;Ada&lt;/b&gt; mentioned you" in page and "Not yours" not in page
    # Opening a notification marks it read and follows its link.
    response = client.post(reverse("notification-read", args=[first.pk]), {"next": first.url})
    assert response.status_code == 302 and response["Location"] == first.url
    assert 'data-unread="1"' in client.get(reverse("notifications-bell")).content.decode()
    response = client.post(
        reverse("notifications-read-all"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="notification-list"
    )
    assert response["HX-Trigger"] == "notifications-changed"
    assert "data-unread" not in client.get(reverse("notifications-bell")).content.decode()
    with in_org():
        assert Notification.objects.filter(user=colleague, read_at__isnull=True).count() == 1
        theirs = Notification.objects.get(user=colleague)
    # Another member's notification is none of the rep's business.
    assert client.post(reverse("notification-read", args=[theirs.pk])).status_code == 404


def test_the_bell_is_in_the_top_bar_and_cheap(org: Any, sales_rep: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(sales_rep, org)
    assert 'id="notification-bell"' in client.get(reverse("home")).content.decode()
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("notifications-bell"))
    # Besides the session, the user and the membership every page reads: one capped count.
    reads = [q["sql"] for q in queries.captured_queries if "conversion_notification" in q["sql"]]
    assert len(reads) == 1 and "LIMIT 100" in reads[0], reads


def test_notifications_page_empty_and_paginated(org: Any, sales_rep: Any, in_org: Any) -> None:
    client = login(sales_rep, org)
    assert "No notifications yet" in client.get(reverse("notifications")).content.decode()
    with in_org():
        for n in range(35):
            notify(user=sales_rep, kind="task", title=f"Task {n}", email=False)
    body = client.get(reverse("notifications")).content.decode()
    assert "Task 34" in body and "Task 0<" not in body and 'rel="next"' in body
    client.post(reverse("notifications-read-all"))
    assert "All caught up" in client.get(reverse("notifications"), {"unread": "1"}).content.decode()


def test_the_workspace_costs_the_same_queries_however_long_the_history(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, in_org: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(sales_rep, org)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(_url(lead)).status_code == 200
        return len(captured)

    def more_history(count: int) -> None:
        with in_org():
            for n in range(count):
                services.note_create(lead=lead, body=f"note {n} @ada", actor=Actor(user=sales_rep))
                services.task_create(
                    lead=lead, title=f"task {n}", assignee=colleague, actor=Actor(user=sales_rep)
                )
                Touchpoint.objects.create(lead=lead, contact=lead.contact, type="page_view")

    more_history(2)
    few = queries()
    more_history(15)
    assert queries() == few

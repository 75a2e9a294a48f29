"""The workspace API: a lead's notes, activities and tasks, and the user's notifications."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from conversion.models import Handoff, Notification, NotificationKind, Task
from conversion.notifications import notify
from tests.conftest import login
from tests.conversion.workspace.conftest import hand
from tests.factories import LeadFactory


def _session(user: Any, org: Any) -> APIClient:
    client = APIClient()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["organization_id"] = org.pk
    session.save()
    return client


def test_notes_create_list_and_edit_with_mentions(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, manager: Any, in_org: Any
) -> None:
    client = _session(sales_rep, org)
    url = f"/api/v1/conversion/leads/{lead.pk}/notes/"
    response = client.post(url, {"body": "Budget is approved, @ada"}, format="json")
    assert response.status_code == 201, response.content
    note = response.json()
    assert note["author"]["email"] == sales_rep.email
    assert [m["email"] for m in note["mentions"]] == [colleague.email]
    assert client.get(url).json()["results"][0]["id"] == note["id"]
    edited = client.patch(f"/api/v1/conversion/notes/{note['id']}/", {"body": "@mona too"}, format="json")
    assert edited.status_code == 200 and [m["email"] for m in edited.json()["mentions"]] == [manager.email]
    # Someone else's note is not theirs to edit.
    other = _session(manager, org).patch(
        f"/api/v1/conversion/notes/{note['id']}/", {"body": "x"}, format="json"
    )
    assert other.status_code == 403 and other.json()["error"]["code"] == "permission_denied"
    bad = client.post(url, {"body": ""}, format="json")
    assert bad.status_code == 400 and "body" in bad.json()["error"]["fields"]


def test_activities_log_with_validation_and_first_contact(
    org: Any, lead: Any, sales_rep: Any, api_client: APIClient, in_org: Any
) -> None:
    with in_org():
        handoff = hand(lead, sales_rep, at=timezone.now() - dt.timedelta(hours=1))
    url = f"/api/v1/conversion/leads/{lead.pk}/activities/"
    bad = api_client.post(url, {"kind": "fax", "duration_minutes": 5000}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"kind", "duration_minutes"}
    future = (timezone.now() + dt.timedelta(days=1)).isoformat()
    bad = api_client.post(url, {"kind": "call", "occurred_at": future}, format="json")
    assert bad.status_code == 400 and "occurred_at" in bad.json()["error"]["fields"]
    created = api_client.post(
        url, {"kind": "call", "outcome": "Connected", "duration_minutes": 9}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["user"] is None and created.json()["kind"] == "call"
    with in_org():
        assert Handoff.objects.get(pk=handoff.pk).first_contact_at is not None
    listed = api_client.get(url).json()
    assert [a["outcome"] for a in listed["results"]] == ["Connected"]
    assert api_client.get(f"/api/v1/conversion/activities/{created.json()['id']}/").status_code == 200


def test_tasks_create_update_complete_reopen(
    org: Any, lead: Any, sales_rep: Any, colleague: Any, outsider: Any, in_org: Any
) -> None:
    client = _session(sales_rep, org)
    url = f"/api/v1/conversion/leads/{lead.pk}/tasks/"
    bad = client.post(url, {"title": "", "assignee": outsider.pk, "due_at": "soon"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"title", "assignee", "due_at"}
    due = (timezone.now() + dt.timedelta(days=1)).isoformat()
    created = client.post(
        url, {"title": "Send proposal", "due_at": due, "assignee": colleague.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    task = created.json()
    assert task["assignee"]["id"] == colleague.pk and task["is_overdue"] is False
    patched = client.patch(
        f"/api/v1/conversion/tasks/{task['id']}/", {"title": "Send the proposal"}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["title"] == "Send the proposal"
    done = client.post(f"/api/v1/conversion/tasks/{task['id']}/complete/")
    assert done.status_code == 200 and done.json()["done_by"]["id"] == sales_rep.pk
    assert (
        client.post(f"/api/v1/conversion/tasks/{task['id']}/complete/").json()["done_at"]
        == done.json()["done_at"]
    )
    assert client.post(f"/api/v1/conversion/tasks/{task['id']}/reopen/").json()["done_at"] is None
    assert [t["id"] for t in client.get(url).json()["results"]] == [task["id"]]


def test_a_rep_reaches_only_their_leads_through_the_api(
    org: Any, sales_rep: Any, admin_user: Any, in_org: Any, api_client: APIClient
) -> None:
    with in_org():
        stranger = LeadFactory(owner=admin_user)
        task = Task.objects.create(lead=stranger, title="not yours")
    rep = _session(sales_rep, org)
    assert rep.get(f"/api/v1/conversion/leads/{stranger.pk}/notes/").status_code == 404
    assert (
        rep.post(f"/api/v1/conversion/leads/{stranger.pk}/tasks/", {"title": "x"}, format="json").status_code
        == 404
    )
    assert rep.get(f"/api/v1/conversion/tasks/{task.pk}/").status_code == 404
    # An API key acts for the whole organization.
    assert api_client.get(f"/api/v1/conversion/tasks/{task.pk}/").status_code == 200


def test_another_organizations_lead_is_a_404(org: Any, api_client: APIClient, in_other_org: Any) -> None:
    with in_other_org():
        theirs = LeadFactory()
    for kind in ("notes", "activities", "tasks"):
        response = api_client.get(f"/api/v1/conversion/leads/{theirs.pk}/{kind}/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_notifications_list_and_mark_read(
    org: Any,
    sales_rep: Any,
    colleague: Any,
    api_client: APIClient,
    in_org: Any,
    django_assert_max_num_queries: Any,
) -> None:
    with in_org():
        first = notify(user=sales_rep, kind=NotificationKind.MENTION, title="one", email=False)
        for n in range(5):
            notify(user=sales_rep, kind=NotificationKind.TASK, title=f"task {n}", email=False)
        notify(user=colleague, kind=NotificationKind.TASK, title="not yours", email=False)
    client = _session(sales_rep, org)
    client.get("/api/v1/conversion/notifications/")
    with django_assert_max_num_queries(8):
        listed = client.get("/api/v1/conversion/notifications/?page_size=3").json()
    assert len(listed["results"]) == 3 and listed["next"]
    assert all(n["title"] != "not yours" for n in listed["results"])
    one = client.post(f"/api/v1/conversion/notifications/{first.pk}/read/")
    assert one.json() == {"marked": 1, "unread": 5}
    bad = client.post("/api/v1/conversion/notifications/read/", {"ids": ["x"]}, format="json")
    assert bad.status_code == 400 and "ids.0" in bad.json()["error"]["fields"]
    assert client.post("/api/v1/conversion/notifications/read/", {}, format="json").json() == {
        "marked": 5,
        "unread": 0,
    }
    with in_org():
        theirs = Notification.objects.get(user=colleague)
        assert theirs.read_at is None
    assert client.post(f"/api/v1/conversion/notifications/{theirs.pk}/read/").status_code == 404
    # Notifications belong to a person, not to a server key.
    assert api_client.get("/api/v1/conversion/notifications/").status_code == 403
    assert login(sales_rep, org).get("/api/v1/conversion/notifications/").status_code == 200

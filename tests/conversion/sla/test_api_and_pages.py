"""The SLA API and pages: CRUD with clear errors, compliance figures, roles, and tenant isolation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from conversion.models import BusinessHours, HandoffStatus, Holiday, SalesTeam, SlaPolicy
from conversion.services.core import activity_log, handoff_close
from conversion.sla.selectors import compliance, period_bounds
from leadhub.tenancy.models import AuditLog, Role
from leadhub.tenancy.services import Actor
from tests.conftest import login, make_api_client
from tests.conversion.sla.conftest import TUESDAY_10
from tests.factories import MembershipFactory, UserFactory

POLICIES = "/api/v1/conversion/sla/policies/"
HOURS = "/api/v1/conversion/sla/business-hours/"
HOLIDAYS = "/api/v1/conversion/sla/holidays/"
COMPLIANCE = "/api/v1/conversion/sla/compliance/"


def test_policy_crud_with_field_errors(api_client: Any, org: Any, in_org: Any) -> None:
    created = api_client.post(
        POLICIES,
        {
            "name": "Hot",
            "grades": "a, b",
            "min_score": 70,
            "accept_minutes": 30,
            "contact_minutes": 60,
            "escalation": "fallback_queue",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["grades"], body["position"], body["tier"]) == ("AB", 1, "grade A, B; score >= 70")

    bad = api_client.post(
        POLICIES,
        {
            "name": "hot",
            "grades": "AZ",
            "min_score": 80,
            "max_score": 10,
            "accept_minutes": 0,
            "contact_minutes": 60,
            "warn_percent": None,
            "warn_minutes_before": None,
        },
        format="json",
    )
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert set(fields) == {"grades", "max_score", "accept_minutes", "warn_percent"}
    assert "not: Z" in fields["grades"][0]

    taken = api_client.post(
        POLICIES, {"name": "HOT", "accept_minutes": 5, "contact_minutes": 5}, format="json"
    )
    assert taken.status_code == 400 and "exists already" in taken.json()["error"]["fields"]["name"][0]

    both = api_client.patch(f"{POLICIES}{body['id']}/", {"warn_minutes_before": 10}, format="json")
    assert both.status_code == 400 and "not both" in both.json()["error"]["fields"]["warn_minutes_before"][0]
    patched = api_client.patch(
        f"{POLICIES}{body['id']}/", {"warn_percent": None, "warn_minutes_before": 10}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["warn_minutes_before"] == 10
    assert api_client.get(POLICIES).json()["results"][0]["name"] == "Hot"
    assert api_client.delete(f"{POLICIES}{body['id']}/").status_code == 204
    with in_org():
        assert not SlaPolicy.objects.exists()
        assert AuditLog.objects.filter(action__startswith="sla_policy.").count() == 3


def test_business_hours_and_holidays_crud(api_client: Any, org: Any, in_org: Any) -> None:
    with in_org():
        team = SalesTeam.objects.create(name="West", timezone="America/Los_Angeles")
    week = [[["09:00", "12:30"], ["13:30", "18:00"]]] * 5 + [[], []]
    saved = api_client.post(HOURS, {"team": team.pk, "week": week}, format="json")
    assert saved.status_code == 201, saved.json()
    assert saved.json()["timezone"] == "America/Los_Angeles"
    again = api_client.post(
        HOURS, {"team": team.pk, "week": [[["08:00", "16:00"]]] * 5 + [[], []]}, format="json"
    )
    assert again.status_code == 201 and again.json()["id"] == saved.json()["id"]  # one row per team

    overlap = api_client.post(
        HOURS, {"week": [[["09:00", "12:00"], ["11:00", "13:00"]]] + [[]] * 6}, format="json"
    )
    assert overlap.status_code == 400
    assert overlap.json()["error"]["fields"]["week"] == ["Monday: intervals overlap at 11:00."]
    zone = api_client.post(HOURS, {"week": week, "timezone": "Nowhere/City"}, format="json")
    assert "known time zone" in zone.json()["error"]["fields"]["timezone"][0]
    default = api_client.post(HOURS, {"week": week, "timezone": "Asia/Tokyo"}, format="json")
    assert default.status_code == 201 and default.json()["team"] is None
    patched = api_client.patch(f"{HOURS}{default.json()['id']}/", {"timezone": "Europe/Paris"}, format="json")
    assert patched.json()["timezone"] == "Europe/Paris"

    holiday = api_client.post(
        HOLIDAYS, {"date": "2026-12-25", "name": "Christmas", "yearly": True}, format="json"
    )
    assert holiday.status_code == 201
    twin = api_client.post(HOLIDAYS, {"date": "2026-12-25", "name": "Xmas"}, format="json")
    assert twin.status_code == 400 and "already a holiday" in twin.json()["error"]["fields"]["date"][0]
    team_day = api_client.post(
        HOLIDAYS, {"date": "2026-12-25", "name": "Team", "team": team.pk}, format="json"
    )
    assert team_day.status_code == 201
    renamed = api_client.patch(f"{HOLIDAYS}{holiday.json()['id']}/", {"name": "Christmas Day"}, format="json")
    assert renamed.json()["name"] == "Christmas Day"
    assert api_client.delete(f"{HOLIDAYS}{team_day.json()['id']}/").status_code == 204
    with in_org():
        assert list(Holiday.objects.values_list("name", flat=True)) == ["Christmas Day"]
        assert BusinessHours.objects.count() == 2


def test_foreign_team_ids_are_refused(api_client: Any, other_org: Any, in_other_org: Any) -> None:
    with in_other_org():
        foreign = SalesTeam.objects.create(name="Theirs")
    answer = api_client.post(
        HOLIDAYS, {"date": "2026-12-24", "name": "Eve", "team": foreign.pk}, format="json"
    )
    assert answer.status_code == 400 and "team" in answer.json()["error"]["fields"]
    report = api_client.get(COMPLIANCE, {"team": foreign.pk})
    assert report.status_code == 400


def _decided(team: Any, open_handoff: Any, rep: Any, *, accept_after: int, contact_after: int | None) -> None:
    handoff = open_handoff(team=team)
    handoff_close(
        handoff=handoff,
        status=HandoffStatus.ACCEPTED,
        actor=Actor(user=rep),
        at=TUESDAY_10 + dt.timedelta(minutes=accept_after),
    )
    if contact_after is not None:
        activity_log(
            lead=handoff.lead,
            kind="call",
            actor=Actor(user=rep),
            occurred_at=TUESDAY_10 + dt.timedelta(minutes=contact_after),
        )


def test_compliance_figures(
    team: Any, open_handoff: Any, sales_rep: Any, in_org: Any, api_client: Any
) -> None:
    with in_org():
        _decided(team, open_handoff, sales_rep, accept_after=30, contact_after=60)  # both met
        _decided(team, open_handoff, sales_rep, accept_after=120, contact_after=None)  # accept met
        # Accepted Wednesday 10:00: 8 business hours after, late; contact never.
        _decided(team, open_handoff, sales_rep, accept_after=24 * 60, contact_after=None)
        open_handoff(team=None, to=None)  # fallback queue, still running
        start, end = period_bounds(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
        report = compliance(start=start, end=end)
    rep = next(f for f in report.reps if f.key == sales_rep.pk)
    assert (rep.accept_met, rep.accept_total, rep.accept_rate) == (2, 3, 66.7)
    assert rep.median_accept_minutes == 120
    assert (rep.contact_met, rep.contact_total, rep.median_contact_minutes) == (1, 1, 60)
    # The open contact clocks of the 2nd and 3rd handoffs are past due today: breached when swept.
    assert rep.breaches == 1 and rep.running == 2
    assert [f.label for f in report.reps] == [sales_rep.get_full_name(), "Fallback queue"]
    assert [f.label for f in report.teams] == ["DACH", "No team"]
    assert report.overall.accept_total == 3 and report.overall.running == 4

    body = api_client.get(COMPLIANCE, {"start": "2026-03-01", "end": "2026-03-31", "team": team.pk}).json()
    assert body["overall"]["accept_rate"] == 66.7 and body["overall"]["median_contact_minutes"] == 60
    assert [r["name"] for r in body["reps"]] == [sales_rep.get_full_name()]
    assert api_client.get(COMPLIANCE, {"start": "2026-04-01", "end": "2026-03-01"}).status_code == 400
    empty = api_client.get(COMPLIANCE).json()  # the last 30 days: nothing
    assert empty["overall"]["accept_rate"] is None and empty["reps"] == []


@pytest.mark.parametrize(
    "role,status", [(Role.SALES_REP, 403), (Role.MARKETER, 403), (Role.SALES_MANAGER, 200)]
)
def test_roles_on_pages_and_api(role: str, status: int, org: Any) -> None:
    user = UserFactory(email=f"{role}@acme.example")
    MembershipFactory(user=user, organization=org, role=role)
    client = login(user, org)
    for name in ("sla-home", "sla-policies", "sla-hours", "sla-holidays"):
        assert client.get(reverse(name)).status_code == status, name
    assert client.get(COMPLIANCE).status_code == status
    assert client.get(POLICIES).status_code == status


def test_pages_render_edit_and_confirm(admin_client: Any, team: Any, open_handoff: Any, in_org: Any) -> None:
    with in_org():
        BusinessHours.objects.create(team=team, week=[[["00:00", "24:00"]]] * 7)
        handoff = open_handoff(team=team, at=timezone.now() - dt.timedelta(minutes=200))
        handoff.lead.contact.first_name = "<script>alert(1)</script>"
        handoff.lead.contact.save()
    home = admin_client.get(reverse("sla-home"))
    assert home.status_code == 200
    html = home.content.decode()
    assert "Live clocks at risk" in html and "left" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert 'href="/conversion/sla/"' in html  # the nav entry

    created = admin_client.post(
        reverse("sla-policies"),
        {
            "name": "Hot",
            "position": 1,
            "is_active": "on",
            "grades": "A",
            "accept_minutes": 30,
            "contact_minutes": 60,
            "warn_percent": 75,
            "escalation": "notify",
        },
    )
    assert created.status_code == 302
    bad = admin_client.post(
        reverse("sla-policies"),
        {"name": "Bad", "position": 2, "accept_minutes": 30, "contact_minutes": 60, "escalation": "notify"},
    )
    assert bad.status_code == 400 and "Say when to warn" in bad.content.decode()
    with in_org():
        policy = SlaPolicy.objects.get()
    assert admin_client.get(reverse("sla-policy-delete", args=[policy.pk])).status_code == 200
    with in_org():
        assert SlaPolicy.objects.exists()  # GET only asks
    assert admin_client.post(reverse("sla-policy-delete", args=[policy.pk])).status_code == 302

    hours = admin_client.post(
        reverse("sla-hours-team", args=[team.pk]),
        {f"day{i}": "09:00\u201312:30, 13:30-18:00" for i in range(5)},
    )
    assert hours.status_code == 302
    with in_org():
        assert BusinessHours.objects.get(team=team).week[0] == [["09:00", "12:30"], ["13:30", "18:00"]]
    wrong = admin_client.post(reverse("sla-hours-default"), {"timezone": "UTC", "day0": "18:00-09:00"})
    assert wrong.status_code == 400 and "ends before it starts" in wrong.content.decode()
    assert "Mon" in admin_client.get(reverse("sla-hours")).content.decode()

    added = admin_client.post(reverse("sla-holidays"), {"date": "2026-12-24", "name": "Eve", "team": team.pk})
    assert added.status_code == 302
    with in_org():
        holiday = Holiday.objects.get()
    assert admin_client.post(reverse("sla-holiday-delete", args=[holiday.pk])).status_code == 302
    assert "No holidays" in admin_client.get(reverse("sla-holidays")).content.decode()


def test_other_organizations_rows_are_404(
    other_org: Any, in_other_org: Any, admin_client: Any, api_client: Any
) -> None:
    with in_other_org():
        team = SalesTeam.objects.create(name="Theirs")
        policy = SlaPolicy.objects.create(name="Theirs", accept_minutes=5, contact_minutes=5)
        holiday = Holiday.objects.create(date=dt.date(2026, 1, 1), name="Theirs")
        hours = BusinessHours.objects.create(team=team)
    assert admin_client.get(reverse("sla-policy-edit", args=[policy.pk])).status_code == 404
    assert admin_client.post(reverse("sla-holiday-delete", args=[holiday.pk])).status_code == 404
    assert admin_client.get(reverse("sla-hours-team", args=[team.pk])).status_code == 404
    assert api_client.delete(f"{HOURS}{hours.pk}/").status_code == 404
    other = make_api_client(other_org)
    assert other.get(f"{POLICIES}{policy.pk}/").status_code == 200
    with in_other_org():
        assert SlaPolicy.objects.count() == 1 and Holiday.objects.count() == 1

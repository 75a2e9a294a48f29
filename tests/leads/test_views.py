"""Dashboard pages of the funnel: home, the sidebar's stage counts, the lead list (filters, search, sort,
keyset pages, htmx fragments, bulk stage change, a constant number of queries), a lead's page with its
stage change, and the custom field settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import Actor
from leads.models import CustomField, Lead, Stage, StageChange, TouchpointType
from leads.services import custom_field_create, lead_change_stage
from tests.conftest import login
from tests.factories import (
    CampaignFactory,
    CompanyFactory,
    ContactFactory,
    LeadFactory,
    MembershipFactory,
    TouchpointFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

InOrg = Callable[[], AbstractContextManager[int]]
ALL_ROLES = [Role.ADMIN, Role.MARKETER, Role.SALES_MANAGER, Role.SALES_REP]


def member_client(organization: Organization, role: str) -> Client:
    user = UserFactory(email=f"{role}.member@acme.example")
    MembershipFactory(user=user, organization=organization, role=role)
    return login(user, organization)


def ids_on_page(response: Any) -> list[int]:
    return [lead.pk for lead in response.context["page"].rows]


# --- home and navigation ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ALL_ROLES)
def test_home_renders_for_every_role(org: Organization, in_org: InOrg, role: str) -> None:
    with in_org():
        LeadFactory(stage=Stage.MQL, contact=ContactFactory(first_name="Mira", last_name="Quell"))
    response = member_client(org, role).get(reverse("home"))
    assert response.status_code == 200
    assert "Mira Quell" in response.content.decode()


def test_home_counts_leads_per_stage_in_one_query(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        for stage, n in [(Stage.COLD, 3), (Stage.MQL, 2), (Stage.CUSTOMER, 1), (Stage.DISQUALIFIED, 1)]:
            for _ in range(n):
                LeadFactory(stage=stage)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("home"))
    funnel = {row["stage"]: row["count"] for row in response.context["funnel"]}
    assert funnel == {"cold": 3, "mql": 2, "sql": 0, "opportunity": 0, "customer": 1}
    assert response.context["total"] == 7
    grouped = [q for q in queries.captured_queries if "GROUP BY" in q["sql"] and "leads_lead" in q["sql"]]
    assert len(grouped) == 1


def test_home_shows_recent_stage_changes_with_who_and_why(
    admin_client: Client, admin_user: Any, in_org: InOrg
) -> None:
    with in_org():
        lead = LeadFactory(stage=Stage.MQL, contact=ContactFactory(first_name="Ola", last_name="Berg"))
        lead_change_stage(
            lead=lead, to_stage=Stage.SQL, actor=Actor(user=admin_user), reason="Asked for pricing"
        )
    body = admin_client.get(reverse("home")).content.decode()
    assert "Ola Berg" in body and "Asked for pricing" in body and "admin@acme.example" in body


def test_home_of_an_empty_organization_explains_what_to_do(admin_client: Client) -> None:
    body = admin_client.get(reverse("home")).content.decode()
    assert "No leads yet" in body and "Create an API key" in body


def test_sidebar_lists_the_five_funnel_stages_with_counts(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        LeadFactory(stage=Stage.SQL)
        LeadFactory(stage=Stage.SQL)
        LeadFactory(stage=Stage.DISQUALIFIED)
    page = admin_client.get(reverse("lead-list")).content.decode()
    assert f'hx-get="{reverse("funnel-nav")}"' in page
    response = admin_client.get(
        reverse("funnel-nav"),
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/leads/?stage=sql"},
    )
    entries = response.context["entries"]
    assert [e["label"] for e in entries] == ["Cold", "MQL", "SQL", "Opportunity", "Customer"]
    assert {e["stage"]: e["count"] for e in entries}["sql"] == 2
    assert [e["stage"] for e in entries if e["active"]] == ["sql"]
    assert f'href="{reverse("lead-list")}?stage=sql"' in response.content.decode()


def test_sidebar_counts_follow_a_stage_change_made_in_the_dashboard(
    admin_client: Client, in_org: InOrg
) -> None:
    with in_org():
        lead = LeadFactory(stage=Stage.MQL)
    assert {e["stage"]: e["count"] for e in admin_client.get(reverse("funnel-nav")).context["entries"]}[
        "sql"
    ] == 0
    admin_client.post(reverse("lead-stage", args=[lead.pk]), {"to_stage": Stage.SQL})
    assert {e["stage"]: e["count"] for e in admin_client.get(reverse("funnel-nav")).context["entries"]}[
        "sql"
    ] == 1


# --- the lead list ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ALL_ROLES)
def test_lead_list_renders_for_every_role(org: Organization, in_org: InOrg, role: str) -> None:
    with in_org():
        LeadFactory(contact=ContactFactory(first_name="Ines", last_name="Varga"))
    response = member_client(org, role).get(reverse("lead-list"))
    assert response.status_code == 200
    assert "Ines Varga" in response.content.decode()


def test_lead_list_shows_only_this_organization(
    admin_client: Client, in_org: InOrg, in_other_org: InOrg
) -> None:
    with in_org():
        LeadFactory(contact=ContactFactory(first_name="Own", last_name="Lead"))
    with in_other_org():
        LeadFactory(contact=ContactFactory(first_name="Foreign", last_name="Lead"))
    body = admin_client.get(reverse("lead-list")).content.decode()
    assert "Own Lead" in body and "Foreign Lead" not in body


def test_lead_list_filters(admin_client: Client, admin_user: Any, in_org: InOrg) -> None:
    with in_org():
        spring = CampaignFactory(name="Spring webinar")
        old = timezone.now() - dt.timedelta(days=40)
        hot = LeadFactory(
            stage=Stage.SQL, score=85, owner=admin_user, campaign=spring, source_channel="paid_search"
        )
        warm = LeadFactory(stage=Stage.MQL, score=55, source_channel="email")
        cold = LeadFactory(stage=Stage.COLD, score=5, created_at=old, source_channel="email")

    def listed(**params: Any) -> set[int]:
        response = admin_client.get(reverse("lead-list"), params)
        assert response.status_code == 200
        return set(ids_on_page(response))

    assert listed() == {hot.pk, warm.pk, cold.pk}
    assert listed(stage="sql") == {hot.pk}
    assert listed(owner="me") == {hot.pk}
    assert listed(owner="none") == {warm.pk, cold.pk}
    assert listed(source_channel="email") == {warm.pk, cold.pk}
    assert listed(campaign=spring.pk) == {hot.pk}
    assert listed(score_min=50) == {hot.pk, warm.pk}
    assert listed(score_min=50, score_max=60) == {warm.pk}
    since = (timezone.now() - dt.timedelta(days=7)).date().isoformat()
    assert listed(created_after=since) == {hot.pk, warm.pk}
    assert listed(created_before=old.date().isoformat()) == {cold.pk}


def test_lead_list_search_matches_name_email_and_company(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        company = CompanyFactory(name="Northwind Traders")
        match = LeadFactory(
            contact=ContactFactory(
                first_name="Karla",
                last_name="Fenn",
                company=company,
                search_text="karla fenn karla@northwind.example northwind traders",
            )
        )
        LeadFactory(contact=ContactFactory(first_name="Other", last_name="Person"))
    for query in ["Karla", "FENN", "northwind", "karla@north"]:
        assert ids_on_page(admin_client.get(reverse("lead-list"), {"q": query})) == [match.pk]


def test_invalid_filters_are_reported_not_crashing(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        LeadFactory()
    response = admin_client.get(reverse("lead-list"), {"score_min": "lots", "created_after": "yesterday-ish"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Some filters were ignored" in body
    assert "Enter a number." in body and "Enter a date" in body


def test_lead_list_sorts_by_score_and_last_touch(admin_client: Client, in_org: InOrg) -> None:
    now = timezone.now()
    with in_org():
        low = LeadFactory(score=10, last_touch_at=now - dt.timedelta(days=3))
        high = LeadFactory(score=90, last_touch_at=None)
        mid = LeadFactory(score=50, last_touch_at=now - dt.timedelta(hours=1))
    assert ids_on_page(admin_client.get(reverse("lead-list"), {"ordering": "-score"})) == [
        high.pk,
        mid.pk,
        low.pk,
    ]
    assert ids_on_page(admin_client.get(reverse("lead-list"), {"ordering": "score"})) == [
        low.pk,
        mid.pk,
        high.pk,
    ]
    # Never-touched leads come last in both directions.
    assert ids_on_page(admin_client.get(reverse("lead-list"), {"ordering": "-last_touch_at"})) == [
        mid.pk,
        low.pk,
        high.pk,
    ]
    assert ids_on_page(admin_client.get(reverse("lead-list"), {"ordering": "last_touch_at"})) == [
        low.pk,
        mid.pk,
        high.pk,
    ]
    # An unknown sort falls back to newest first instead of failing.
    assert admin_client.get(reverse("lead-list"), {"ordering": "contact__email"}).status_code == 200


@pytest.mark.parametrize(
    "ordering", ["-created_at", "created_at", "-score", "-last_touch_at", "last_touch_at"]
)
def test_keyset_pages_cover_every_lead_once_forward_and_back(
    admin_client: Client, in_org: InOrg, ordering: str
) -> None:
    now = timezone.now()
    with in_org():
        for n in range(57):
            # Ties on score and created_at, and a mix of touched and untouched leads, on purpose.
            LeadFactory(
                score=n % 4,
                created_at=now - dt.timedelta(hours=n // 3),
                last_touch_at=None if n % 5 == 0 else now - dt.timedelta(minutes=n % 7),
            )
    first = admin_client.get(reverse("lead-list"), {"ordering": ordering})
    page = first.context["page"]
    assert len(page.rows) == 50 and page.previous_cursor is None and page.next_cursor
    second = admin_client.get(reverse("lead-list"), {"ordering": ordering, "cursor": page.next_cursor})
    rest = second.context["page"]
    assert len(rest.rows) == 7 and rest.next_cursor is None
    assert len(set(ids_on_page(first)) | set(ids_on_page(second))) == 57
    back = admin_client.get(reverse("lead-list"), {"ordering": ordering, "cursor": rest.previous_cursor})
    assert ids_on_page(back) == ids_on_page(first)
    assert back.context["page"].previous_cursor is None


def test_large_result_counts_are_capped_instead_of_counted(admin_client: Client, in_org: InOrg) -> None:
    from leads import views

    with in_org():
        for _ in range(4):
            LeadFactory()
    original = views.COUNT_CAP
    views.COUNT_CAP = 3
    try:
        response = admin_client.get(reverse("lead-list"))
    finally:
        views.COUNT_CAP = original
    assert response.context["capped"] is True
    assert "3+" in response.content.decode()


def test_htmx_filter_requests_get_only_the_results(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        LeadFactory(stage=Stage.SQL, contact=ContactFactory(first_name="Frag", last_name="Ment"))
    response = admin_client.get(
        reverse("lead-list"), {"stage": "sql"}, headers={"HX-Request": "true", "HX-Target": "lead-results"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="lead-results">')
    assert "<html" not in body and "Frag Ment" in body
    assert "HX-Request" in response["Vary"]
    # Going back through history asks for the whole page again.
    restore = admin_client.get(
        reverse("lead-list"),
        {"stage": "sql"},
        headers={"HX-Request": "true", "HX-Target": "lead-results", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.content.decode()


def test_lead_list_makes_the_same_number_of_queries_for_2_or_30_leads(
    admin_client: Client, admin_user: Any, in_org: InOrg
) -> None:
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(reverse("lead-list"))
        assert response.status_code == 200
        return len(queries)

    with in_org():
        campaign = CampaignFactory()
        for _ in range(2):
            LeadFactory(owner=admin_user, campaign=campaign)
    with_two = queries_for_list()
    with in_org():
        for _ in range(28):
            LeadFactory(owner=admin_user, campaign=CampaignFactory())
    assert queries_for_list() == with_two


# --- bulk stage change --------------------------------------------------------------------------------


def test_bulk_stage_change_confirms_then_reports_each_lead(
    admin_client: Client, admin_user: Any, in_org: InOrg, in_other_org: InOrg
) -> None:
    with in_org():
        movable = [LeadFactory(stage=Stage.MQL) for _ in range(2)]
        customer = LeadFactory(
            stage=Stage.CUSTOMER, contact=ContactFactory(first_name="Done", last_name="Deal")
        )
    with in_other_org():
        foreign = LeadFactory(stage=Stage.MQL)
    ids = [lead.pk for lead in movable] + [customer.pk, foreign.pk]
    url = reverse("lead-bulk-stage")

    confirm = admin_client.post(
        url, {"lead": ids, "to_stage": Stage.SQL, "reason": "Qualified on call", "next": "/leads/?stage=mql"}
    )
    assert confirm.status_code == 200
    body = confirm.content.decode()
    assert "Move 3 leads to SQL?" in body
    assert 'name="confirm" value="1"' in body
    with in_org():
        assert Lead.objects.filter(stage=Stage.SQL).count() == 0

    result = admin_client.post(
        url,
        {
            "lead": ids,
            "to_stage": Stage.SQL,
            "reason": "Qualified on call",
            "confirm": "1",
            "next": "/leads/?stage=mql",
        },
    )
    assert result.status_code == 200
    rows = {row["id"]: row["refused"] for row in result.context["rows"]}
    assert rows[movable[0].pk] is None and rows[movable[1].pk] is None
    assert "cannot move from customer" in rows[customer.pk]
    assert rows[foreign.pk] == "Not found."
    page = result.content.decode()
    assert "2 moved to SQL, 2 refused" in page and 'href="/leads/?stage=mql"' in page
    with in_org():
        assert set(Lead.objects.filter(stage=Stage.SQL).values_list("pk", flat=True)) == {
            m.pk for m in movable
        }
        change = StageChange.objects.filter(lead=movable[0], to_stage=Stage.SQL).get()
        assert change.changed_by_user == admin_user and change.reason == "Qualified on call"
    with in_other_org():
        foreign.refresh_from_db()
        assert foreign.stage == Stage.MQL


def test_bulk_stage_change_shows_errors_for_a_missing_selection_or_reason(
    admin_client: Client, in_org: InOrg
) -> None:
    with in_org():
        lead = LeadFactory(stage=Stage.MQL)
    nothing = admin_client.post(reverse("lead-bulk-stage"), {"to_stage": Stage.SQL})
    assert nothing.status_code == 400
    assert "Select at least one lead." in nothing.content.decode()
    no_reason = admin_client.post(
        reverse("lead-bulk-stage"), {"lead": [lead.pk], "to_stage": Stage.DISQUALIFIED, "confirm": "1"}
    )
    assert no_reason.status_code == 400
    assert "Say why the lead is disqualified." in no_reason.content.decode()
    with in_org():
        lead.refresh_from_db()
        assert lead.stage == Stage.MQL


def test_bulk_stage_change_needs_a_post(admin_client: Client) -> None:
    assert admin_client.get(reverse("lead-bulk-stage")).status_code == 405


# --- a lead's page ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ALL_ROLES)
def test_lead_page_renders_for_every_role(org: Organization, in_org: InOrg, role: str) -> None:
    with in_org():
        lead = LeadFactory()
    assert member_client(org, role).get(reverse("lead-detail", args=[lead.pk])).status_code == 200


def test_lead_page_shows_contact_company_custom_fields_history_and_touches(
    admin_client: Client, admin_user: Any, in_org: InOrg
) -> None:
    with in_org():
        custom_field_create(entity="contact", key="language", label="Preferred language", field_type="text")
        custom_field_create(
            entity="company", key="tier", label="Account tier", field_type="choice", choices=["Gold"]
        )
        company = CompanyFactory(name="Umbrella Health", industry="Healthcare", custom={"tier": "Gold"})
        contact = ContactFactory(
            first_name="Tomas",
            last_name="Lind",
            company=company,
            job_title="CTO",
            custom={"language": "Swedish"},
        )
        campaign = CampaignFactory(name="Q3 Search")
        lead = LeadFactory(
            contact=contact,
            stage=Stage.MQL,
            score=64,
            grade="B",
            owner=admin_user,
            campaign=campaign,
            first_touch_channel="paid_search",
            first_touch_campaign=campaign,
            first_touch_url="https://acme.example/pricing?utm_source=google",
            budget="50k EUR",
            authority="Decision maker",
            need="Lead routing",
            timing="This quarter",
        )
        lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=Actor(user=admin_user), reason="Booked a demo")
        TouchpointFactory(
            lead=lead, type=TouchpointType.DEMO, campaign=campaign, url="https://acme.example/demo"
        )
    body = admin_client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    for text in [
        "Tomas Lind",
        "CTO",
        "Umbrella Health",
        "Healthcare",
        "Preferred language",
        "Swedish",
        "Account tier",
        "Gold",
        "Q3 Search",
        "https://acme.example/pricing?utm_source=google",
        "50k EUR",
        "Decision maker",
        "Lead routing",
        "This quarter",
        "Booked a demo",
        "admin@acme.example",
        "rule: factory",
        "Demo",
        "https://acme.example/demo",
    ]:
        assert text in body, text


def test_captured_text_is_escaped_on_the_lead_page(admin_client: Client, in_org: InOrg) -> None:
    attack = '<script>alert("x")</script>'
    with in_org():
        contact = ContactFactory(
            first_name=attack,
            job_title='"><img src=x onerror=alert(1)>',
            company=CompanyFactory(name=attack, industry=attack),
        )
        lead = LeadFactory(contact=contact, need=attack, campaign=CampaignFactory(name=attack))
        TouchpointFactory(lead=lead, url="javascript:alert(1)", referrer=attack, utm_campaign=attack)
    for url in [reverse("lead-detail", args=[lead.pk]), reverse("lead-list"), reverse("home")]:
        body = admin_client.get(url).content.decode()
        assert attack not in body
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
        assert "<img src=x" not in body
        assert 'href="javascript:' not in body


def test_another_organizations_lead_is_not_found(admin_client: Client, in_other_org: InOrg) -> None:
    with in_other_org():
        foreign = LeadFactory(stage=Stage.MQL)
    assert admin_client.get(reverse("lead-detail", args=[foreign.pk])).status_code == 404
    assert (
        admin_client.post(reverse("lead-stage", args=[foreign.pk]), {"to_stage": Stage.SQL}).status_code
        == 404
    )
    with in_other_org():
        foreign.refresh_from_db()
        assert foreign.stage == Stage.MQL


def test_the_timeline_shows_a_touchpoints_properties_as_text(admin_client: Client, in_org: InOrg) -> None:
    start = timezone.now() - dt.timedelta(days=1)
    with in_org():
        lead = LeadFactory()
        TouchpointFactory(
            lead=lead,
            occurred_at=start,
            type=TouchpointType.PAGE_VIEW,
            properties={f"extra{n}": n for n in range(12)},
        )
        TouchpointFactory(
            lead=lead,
            occurred_at=start + dt.timedelta(hours=1),
            type=TouchpointType.MEETING,
            properties={"status": "requested", "slot": "afternoon", "note": "<img src=x onerror=alert(1)>"},
        )
    page = admin_client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    meeting, many = (
        part[: part.index("</div>")] for part in page.split('class="timeline-props"')[1:3]
    )  # newest first: the meeting, then the page view
    assert "requested" in meeting and "afternoon" in meeting
    assert "&lt;img src=x onerror=alert(1)&gt;" in meeting and "<img" not in meeting
    assert many.count('<span class="muted">') == 6  # the first six only


def test_touchpoint_timeline_pages_newest_first(admin_client: Client, in_org: InOrg) -> None:
    start = timezone.now() - dt.timedelta(days=30)
    with in_org():
        lead = LeadFactory()
        for n in range(25):
            TouchpointFactory(
                lead=lead, occurred_at=start + dt.timedelta(hours=n), url=f"https://acme.example/p{n}"
            )
    first = admin_client.get(reverse("lead-detail", args=[lead.pk]))
    touches = first.context["touches"]
    assert [t.url for t in touches.rows[:2]] == ["https://acme.example/p24", "https://acme.example/p23"]
    assert len(touches.rows) == 20 and touches.next_cursor
    more = admin_client.get(
        reverse("lead-detail", args=[lead.pk]),
        {"touches": touches.next_cursor},
        headers={"HX-Request": "true", "HX-Target": "timeline-more"},
    )
    fragment = more.content.decode()
    assert "<html" not in fragment
    assert "https://acme.example/p4" in fragment and "https://acme.example/p0" in fragment
    assert "https://acme.example/p5<" not in fragment and 'id="timeline-more"' not in fragment


def test_changing_the_stage_records_who_and_why(admin_client: Client, admin_user: Any, in_org: InOrg) -> None:
    with in_org():
        lead = LeadFactory(stage=Stage.SQL)
    response = admin_client.post(
        reverse("lead-stage", args=[lead.pk]), {"to_stage": Stage.RECYCLED, "reason": "No budget until Q1"}
    )
    assert response.status_code == 302
    with in_org():
        lead.refresh_from_db()
        assert lead.stage == Stage.RECYCLED
        change = StageChange.objects.filter(lead=lead).latest("id")
    assert (change.from_stage, change.to_stage, change.reason) == (
        Stage.SQL,
        Stage.RECYCLED,
        "No budget until Q1",
    )
    assert change.changed_by_user == admin_user
    page = admin_client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "moved to Recycled" in page and "No budget until Q1" in page


def test_a_refused_move_shows_why(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        lead = LeadFactory(stage=Stage.COLD)
    refused = admin_client.post(reverse("lead-stage", args=[lead.pk]), {"to_stage": Stage.CUSTOMER})
    assert refused.status_code == 400
    assert "A lead cannot move from cold to customer" in refused.content.decode()
    no_reason = admin_client.post(reverse("lead-stage", args=[lead.pk]), {"to_stage": Stage.DISQUALIFIED})
    assert no_reason.status_code == 400
    assert "Say why the lead is disqualified." in no_reason.content.decode()
    with in_org():
        lead.refresh_from_db()
        assert lead.stage == Stage.COLD


def test_lead_page_offers_only_allowed_moves(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        lead = LeadFactory(stage=Stage.SQL)
    stages = [
        value
        for value, _ in admin_client.get(reverse("lead-detail", args=[lead.pk])).context["allowed_stages"]
    ]
    assert stages == [Stage.OPPORTUNITY, Stage.RECYCLED, Stage.DISQUALIFIED]


# --- custom fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MARKETER])
def test_custom_fields_page_renders_for_admins_and_marketers(org: Organization, role: str) -> None:
    assert member_client(org, role).get(reverse("settings-custom-fields")).status_code == 200


@pytest.mark.parametrize("role", [Role.SALES_MANAGER, Role.SALES_REP])
def test_custom_fields_page_is_forbidden_to_sales(org: Organization, in_org: InOrg, role: str) -> None:
    with in_org():
        field = custom_field_create(entity="contact", key="language", label="Language", field_type="text")
    client = member_client(org, role)
    assert client.get(reverse("settings-custom-fields")).status_code == 403
    assert (
        client.post(reverse("settings-custom-fields"), {"entity": "contact", "label": "X"}).status_code == 403
    )
    assert client.post(reverse("settings-custom-field-delete", args=[field.pk])).status_code == 403
    with in_org():
        assert CustomField.objects.filter(pk=field.pk).exists()


def test_creating_a_choice_field(admin_client: Client, in_org: InOrg) -> None:
    response = admin_client.post(
        reverse("settings-custom-fields"),
        {
            "entity": "company",
            "label": "Account tier",
            "key": "",
            "field_type": "choice",
            "choices": "Gold\nSilver\n\nBronze\n",
        },
    )
    assert response.status_code == 302
    with in_org():
        field = CustomField.objects.get(entity="company", key="account_tier")
    assert field.label == "Account tier" and field.choices == ["Gold", "Silver", "Bronze"]
    assert "Account tier" in admin_client.get(reverse("settings-custom-fields")).content.decode()


def test_custom_field_form_shows_service_errors(admin_client: Client, in_org: InOrg) -> None:
    no_choices = admin_client.post(
        reverse("settings-custom-fields"), {"entity": "contact", "label": "Size", "field_type": "choice"}
    )
    assert no_choices.status_code == 400
    assert "A choice field needs at least one choice." in no_choices.content.decode()
    with in_org():
        custom_field_create(entity="contact", key="size", label="Size", field_type="text")
    duplicate = admin_client.post(
        reverse("settings-custom-fields"),
        {"entity": "contact", "label": "Size", "key": "size", "field_type": "text"},
    )
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.content.decode()


def test_deleting_a_custom_field_asks_first(admin_client: Client, in_org: InOrg) -> None:
    with in_org():
        field = custom_field_create(entity="contact", key="language", label="Language", field_type="text")
        contact = ContactFactory(custom={"language": "Finnish"})
    url = reverse("settings-custom-field-delete", args=[field.pk])
    assert "every value stored in it" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 302
    with in_org():
        assert not CustomField.objects.filter(pk=field.pk).exists()
        contact.refresh_from_db()
    assert "language" not in contact.custom


def test_another_organizations_custom_field_is_not_found(admin_client: Client, in_other_org: InOrg) -> None:
    with in_other_org():
        field = custom_field_create(entity="contact", key="language", label="Language", field_type="text")
    assert admin_client.get(reverse("settings-custom-field-delete", args=[field.pk])).status_code == 404
    assert admin_client.post(reverse("settings-custom-field-delete", args=[field.pk])).status_code == 404
    with in_other_org():
        assert CustomField.objects.filter(pk=field.pk).exists()


def test_the_lead_list_costs_the_same_queries_for_two_rows_as_for_a_full_page(
    admin_client: Client, in_org: InOrg, admin_user: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse("lead-list")).status_code == 200
        return len(captured.captured_queries)

    with in_org():
        campaign = CampaignFactory(name="Spring")
        for _ in range(2):
            LeadFactory(owner=admin_user, campaign=campaign)
    few = queries()
    with in_org():
        for _ in range(40):
            LeadFactory(owner=admin_user, campaign=campaign)
    assert queries() == few

"""`seed_demo`: the demo organization, its users, and history that looks like a real funnel."""

from __future__ import annotations

import itertools
from collections import defaultdict
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Membership, Organization, Role
from leads.demo import (
    CAMPAIGNS,
    CUSTOM_FIELDS,
    DEMO_ORG_SLUG,
    DEMO_PASSWORD,
    DEMO_SECOND_ORG_SLUG,
    DEMO_USERS,
    touchpoint_is_high_intent,
)
from leads.models import (
    STAGE_TRANSITIONS,
    Campaign,
    CampaignSpend,
    Company,
    Contact,
    CustomField,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
)

pytestmark = pytest.mark.django_db
LEADS = 400


def seed(**options: Any) -> str:
    out = StringIO()
    call_command("seed_demo", leads=LEADS, stdout=out, **options)
    return out.getvalue()


def demo() -> Organization:
    return Organization.objects.get(slug=DEMO_ORG_SLUG)


def test_seed_creates_a_user_for_each_role_with_the_demo_password() -> None:
    output = seed()
    roles = dict(Membership.objects.filter(organization=demo()).values_list("user__username", "role"))
    assert roles == {email: role for email, _, _, role in DEMO_USERS}
    assert set(roles.values()) == set(Role.values)
    assert sorted(roles.values()).count(Role.SALES_REP) == 2
    admin = get_user_model().objects.get(username=DEMO_USERS[0][0])
    assert admin.check_password(DEMO_PASSWORD)
    # The admin can switch to a second organization.
    assert set(Membership.objects.filter(user=admin).values_list("organization__slug", flat=True)) == {
        DEMO_ORG_SLUG,
        DEMO_SECOND_ORG_SLUG,
    }
    assert f"{DEMO_USERS[0][0]} / {DEMO_PASSWORD}" in output


def test_second_run_changes_nothing_and_says_so() -> None:
    seed()
    with tenant_context(demo()):
        before = (Lead.objects.count(), Touchpoint.objects.count(), StageChange.objects.count())
    users = get_user_model().objects.count()

    output = seed()

    assert "nothing changed" in output
    assert f"{DEMO_USERS[0][0]} / {DEMO_PASSWORD}" in output
    with tenant_context(demo()):
        assert (Lead.objects.count(), Touchpoint.objects.count(), StageChange.objects.count()) == before
    assert get_user_model().objects.count() == users
    assert Organization.objects.filter(slug__in=[DEMO_ORG_SLUG, DEMO_SECOND_ORG_SLUG]).count() == 2


def test_the_demo_has_companies_contacts_campaigns_and_daily_spend() -> None:
    seed()
    with tenant_context(demo()):
        assert Lead.objects.count() == LEADS
        assert Contact.objects.count() == LEADS
        companies = list(Company.objects.all())
        assert len({c.industry for c in companies}) >= 6
        assert len({c.country for c in companies}) >= 5
        sizes = [c.employee_count for c in companies]
        assert min(sizes) <= 10 and max(sizes) >= 1000
        assert all(c.domain and c.annual_revenue for c in companies)
        assert Contact.objects.exclude(job_title="").count() == LEADS
        assert all(c.search_text for c in Contact.objects.all())

        campaigns = {c.name: c for c in Campaign.objects.all()}
        assert len({c.channel for c in campaigns.values()}) >= 7
        assert all(c.utm_source and c.utm_medium and c.utm_campaign for c in campaigns.values())
        brand = campaigns[CAMPAIGNS[0].name]
        days = list(
            CampaignSpend.objects.filter(campaign=brand).order_by("date").values_list("date", flat=True)
        )
        assert len(days) > 150
        assert all((b - a).days == 1 for a, b in itertools.pairwise(days))


def test_custom_fields_of_every_type_have_values() -> None:
    seed()
    with tenant_context(demo()):
        fields = list(CustomField.objects.all())
        assert {(f.entity, f.field_type) for f in fields} == {(e, t) for e, _, _, t, _ in CUSTOM_FIELDS}
        contact_values: dict[str, int] = defaultdict(int)
        for custom in Contact.objects.values_list("custom", flat=True):
            for key in custom:
                contact_values[key] += 1
        company_values: dict[str, int] = defaultdict(int)
        for custom in Company.objects.values_list("custom", flat=True):
            for key in custom:
                company_values[key] += 1
    for field in fields:
        values = contact_values if field.entity == "contact" else company_values
        assert values[field.key] > 0, field.key


def test_stage_histories_follow_the_funnel_rules_and_end_at_the_current_stage() -> None:
    seed()
    with tenant_context(demo()):
        history: dict[int, list[StageChange]] = defaultdict(list)
        for change in StageChange.objects.order_by("changed_at", "id"):
            history[change.lead_id].append(change)
        leads = list(Lead.objects.all())
        reps = set(
            Membership.objects.filter(organization=demo(), role=Role.SALES_REP).values_list(
                "user_id", flat=True
            )
        )
    assert len(history) == len(leads)
    assert {lead.stage for lead in leads} >= {
        Stage.COLD,
        Stage.MQL,
        Stage.SQL,
        Stage.CUSTOMER,
        Stage.DISQUALIFIED,
    }
    for lead in leads:
        changes = history[lead.pk]
        assert (changes[0].from_stage, changes[0].to_stage) == ("", Stage.COLD)
        for previous, change in itertools.pairwise(changes):
            assert change.from_stage == previous.to_stage
            assert change.to_stage in STAGE_TRANSITIONS[change.from_stage]
            if change.to_stage in (Stage.DISQUALIFIED, Stage.RECYCLED):
                assert change.reason
        assert changes[-1].to_stage == lead.stage
        assert changes[-1].changed_at == lead.stage_changed_at
        if lead.stage in (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER):
            assert lead.owner_id in reps


def test_converted_leads_show_far_more_buying_intent_than_the_rest() -> None:
    seed()
    with tenant_context(demo()):
        stage_of = dict(Lead.objects.values_list("id", "stage"))
        high: dict[int, int] = defaultdict(int)
        total: dict[int, int] = defaultdict(int)
        for lead_id, kind, url in Touchpoint.objects.values_list("lead_id", "type", "url"):
            total[lead_id] += 1
            high[lead_id] += touchpoint_is_high_intent(kind, url)
        first_touch = dict(Lead.objects.values_list("id", "first_touch_at"))
        last_touch = dict(Lead.objects.values_list("id", "last_touch_at"))

    def average(counts: dict[int, int], stages: set[str]) -> float:
        ids = [i for i, stage in stage_of.items() if stage in stages]
        return sum(counts[i] for i in ids) / len(ids)

    converted: set[str] = {Stage.OPPORTUNITY, Stage.CUSTOMER}
    never_moved: set[str] = {Stage.COLD}
    assert average(high, converted) > 5 * average(high, never_moved)
    assert average(total, converted) > 3 * average(total, never_moved)
    # Most leads that never moved left a single touch.
    cold = [i for i, stage in stage_of.items() if stage == Stage.COLD]
    assert sum(1 for i in cold if total[i] == 1) > len(cold) / 2
    assert all(first_touch[i] is not None and last_touch[i] >= first_touch[i] for i in stage_of)


def test_the_demo_shows_capture_a_form_a_tracked_site_and_a_landing_page_test() -> None:
    from django.test import Client

    from leads.models_forms import ConsentText, Form, FormField
    from leads.models_pages import Block, BlockType, LandingPage, Variant
    from leads.models_tracking import TrackingSite

    seed()
    organization = demo()
    with tenant_context(organization):
        form = Form.objects.get()
        assert FormField.objects.filter(form=form).count() >= 5
        assert ConsentText.objects.filter(form=form, is_current=True).exists()
        assert TrackingSite.objects.get().allowed_domains == ["northwind.example"]
        page = LandingPage.objects.get()
        assert Variant.objects.filter(page=page).count() == 2
        form_blocks = Block.objects.filter(variant__page=page, type=BlockType.FORM)
        assert {b.content["form_key"] for b in form_blocks} == {form.public_key}
        slug = page.slug
    response = Client().get(f"/p/{organization.slug}/{slug}/")
    assert response.status_code == 200
    assert f"/embed/forms/{form.public_key}.js" in response.content.decode()

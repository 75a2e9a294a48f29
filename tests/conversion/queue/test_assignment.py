"""Assignment rules: every kind, conditions, order, fallback, round-robin fairness, capacity, account
ownership, inactive members; and the handoff it opens (owner set, rep notified, rule recorded)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from conversion.models import Handoff, HandoffStatus, Notification, NotificationKind, TeamMember
from conversion.queue import services
from conversion.queue.assignment import FALLBACK_RULE, conditions_clean
from leadhub.tenancy.models import Role
from tests.conversion.queue.conftest import SYSTEM, member, mql, rule, team_with
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reps(org: Any) -> list[Any]:
    return [member(org, f"rep{i}@acme.example") for i in range(3)]


def assign(lead: Any) -> Handoff:
    handoff = services.handoff_assign(lead_id=lead.pk)
    assert handoff is not None
    return handoff


def test_territory_by_country_and_region_goes_to_its_user(org: Any, reps: list[Any], in_org: Any) -> None:
    with in_org():
        rule("France", "territory", user=reps[0], countries=["France"])
        rule("DACH", "territory", user=reps[1], regions=["dach"])
        french, austrian, us = mql(country="France"), mql(country="AT"), mql(country="United States")
        assert assign(french).assigned_to == reps[0]
        handoff = assign(austrian)
        assert handoff.assigned_to == reps[1] and handoff.assigned_by_rule == "territory: DACH"
        assert assign(us).assigned_to is None


def test_territory_conditions_industry_size_grade_stage(org: Any, reps: list[Any], in_org: Any) -> None:
    with in_org():
        rule(
            "Big software A/B",
            "territory",
            user=reps[0],
            industries=["software"],
            size_min=100,
            size_max=500,
            grades=["A", "B"],
            stages=["mql"],
        )
        assert assign(mql(employees=200, grade="A")).assigned_to == reps[0]
        assert assign(mql(employees=50)).assigned_to is None  # too small
        assert assign(mql(employees=None)).assigned_to is None  # size unknown
        assert assign(mql(industry="Retail")).assigned_to is None
        assert assign(mql(grade="D")).assigned_to is None
        assert assign(mql(stage="pql")).assigned_to is None


def test_rules_in_order_first_match_wins_inactive_skipped(org: Any, reps: list[Any], in_org: Any) -> None:
    with in_org():
        off = rule("Off", "territory", user=reps[2])
        services.rule_update(rule=off, data={"is_active": False}, actor=SYSTEM)
        rule("Germany", "territory", user=reps[0], countries=["germany"])
        rule("Everyone", "territory", user=reps[1])
        assert assign(mql(country="Germany")).assigned_to == reps[0]
        assert assign(mql(country="Spain")).assigned_to == reps[1]
        # Reordered: "Everyone" now comes before "Germany".
        ids = [r.pk for r in services.AssignmentRule.objects.order_by("position")]
        services.rules_reorder(ids=[ids[0], ids[2], ids[1]], actor=SYSTEM)
        assert assign(mql(country="Germany")).assigned_to == reps[1]


def test_round_robin_is_fair_and_records_the_rule(org: Any, reps: list[Any], in_org: Any) -> None:
    with in_org():
        team = team_with("EMEA", *reps)
        rule("EMEA", "round_robin", team=team)
        handoffs = [assign(mql()) for _ in range(6)]
        order = [h.assigned_to for h in handoffs]
        assert order == [reps[0], reps[1], reps[2], reps[0], reps[1], reps[2]]
        assert {h.assigned_by_rule for h in handoffs} == {"round robin: EMEA"}
        assert all(h.team == team for h in handoffs)


def test_round_robin_skips_inactive_members_and_non_members(
    org: Any, reps: list[Any], in_org: Any, other_org: Any
) -> None:
    outsider = member(other_org, "outsider@globex.example")
    with in_org():
        team = team_with("EMEA", *reps)
        TeamMember.objects.filter(user=reps[1]).update(is_active=False)
        TeamMember.objects.create(team=team, user=outsider)  # not a member of this organization
        rule("EMEA", "round_robin", team=team)
        counts = Counter(assign(mql()).assigned_to for _ in range(4))
        assert counts == {reps[0]: 2, reps[2]: 2}


def test_capacity_fewest_open_first_never_above_limit_then_fallback(
    org: Any, reps: list[Any], admin_user: Any, in_org: Any
) -> None:
    with in_org():
        team = team_with("Inside", reps[0], reps[1], capacity=2)
        rule("Inside", "capacity", team=team)
        # rep0 already holds one lead.
        services.core.handoff_open(
            lead=mql(), assigned_to=reps[0], team=team, rule="x", priority=0, actor=SYSTEM
        )
        assert assign(mql()).assigned_to == reps[1]
        assert assign(mql()).assigned_to in (reps[0], reps[1])
        assert assign(mql()).assigned_to in (reps[0], reps[1])
        # Both at 2 now: the next lead waits in the fallback queue and the managers hear of it.
        full = assign(mql())
        assert full.assigned_to is None and full.assigned_by_rule == FALLBACK_RULE
        loads = Counter(Handoff.objects.filter(status="pending").values_list("assigned_to", flat=True))
        assert loads[reps[0].pk] == 2 and loads[reps[1].pk] == 2
        assert Notification.objects.filter(user=admin_user, kind=NotificationKind.ASSIGNMENT).exists()


def test_accepted_sql_counts_against_capacity_until_it_moves_on(
    org: Any, reps: list[Any], in_org: Any
) -> None:
    with in_org():
        team = team_with("Solo", reps[0], capacity=1)
        rule("Solo", "capacity", team=team)
        first = assign(mql())
        services.handoff_accept(handoff=first, actor=services.Actor(user=reps[0]))
        assert assign(mql()).assigned_to is None  # the open SQL fills the one seat


def test_account_owner_from_another_lead_or_an_accepted_handoff(
    org: Any, reps: list[Any], in_org: Any
) -> None:
    with in_org():
        team = team_with("EMEA", reps[0], reps[1])
        rule("Accounts", "account_owner")
        rule("EMEA", "round_robin", team=team)
        owned = CompanyFactory(name="Owned GmbH")
        LeadFactory(stage="sql", contact__company=owned, owner=reps[2])
        assert assign(mql(company=owned)).assigned_to == reps[2]
        assert assign(mql(company=owned)).assigned_by_rule == "account owner: Accounts"

        accepted_company = CompanyFactory(name="Accepted AG")
        handoff = assign(mql(company=accepted_company))
        services.handoff_accept(handoff=handoff, actor=services.Actor(user=handoff.assigned_to))
        handoff.lead.owner = None  # the lead lost its owner; the accepted handoff still names the rep
        handoff.lead.save(update_fields=["owner"])
        again = assign(mql(company=accepted_company))
        assert again.assigned_to == handoff.assigned_to and again.assigned_by_rule.startswith("account owner")

        # No owner known: the next rule (round robin) places the lead.
        assert assign(mql()).assigned_by_rule == "round robin: EMEA"


def test_account_owner_on_holiday_is_skipped(org: Any, reps: list[Any], in_org: Any) -> None:
    with in_org():
        team = team_with("EMEA", reps[0], reps[1])
        rule("Accounts", "account_owner")
        owned = CompanyFactory()
        LeadFactory(stage="sql", contact__company=owned, owner=reps[0])
        TeamMember.objects.filter(user=reps[0]).update(is_active=False)
        assert assign(mql(company=owned)).assigned_to is None
        assert team.members.filter(is_active=True).count() == 1


def test_handoff_sets_owner_notifies_rep_and_priority(org: Any, reps: list[Any], in_org: Any) -> None:
    with in_org():
        rule("All", "territory", user=reps[0])
        lead = mql(score=80, grade="B")
        handoff = assign(lead)
        lead.refresh_from_db()
        assert lead.owner == reps[0]
        assert handoff.priority == 68  # round(80 x 0.85)
        note = Notification.objects.get(user=reps[0])
        assert note.kind == NotificationKind.ASSIGNMENT and f"/conversion/leads/{lead.pk}/" == note.url


def test_fallback_without_rules_notifies_admins_and_managers(org: Any, admin_user: Any, in_org: Any) -> None:
    manager = member(org, "boss@acme.example", Role.SALES_MANAGER)
    marketer = member(org, "m@acme.example", Role.MARKETER)
    with in_org():
        handoff = assign(mql())
        assert handoff.assigned_to is None and handoff.status == HandoffStatus.PENDING
        told = set(Notification.objects.values_list("user_id", flat=True))
        assert told == {admin_user.pk, manager.pk}
        assert marketer.pk not in told


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"grades": ["A", "Z"]}, "conditions.grades"),
        ({"regions": ["atlantis"]}, "conditions.regions"),
        ({"stages": ["sql"]}, "conditions.stages"),
        ({"size_min": 50, "size_max": 10}, "conditions.size_max"),
        ({"size_min": "many"}, "conditions.size_min"),
        ({"size_min": -1}, "conditions.size_min"),
        ({"colour": "blue"}, "conditions"),
        ({"countries": 3}, "conditions.countries"),
        ("text", "conditions"),
    ],
)
def test_conditions_are_validated_with_clear_errors(raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        conditions_clean(raw)
    assert field in err.value.message_dict


def test_conditions_normalised() -> None:
    cleaned = conditions_clean(
        {"countries": "Germany, France", "grades": ["a"], "regions": ["DACH"], "size_max": "50"}
    )
    assert cleaned == {
        "countries": ["Germany", "France"],
        "grades": ["A"],
        "regions": ["dach"],
        "size_max": 50,
    }


def test_rule_targets_are_checked(org: Any, reps: list[Any], in_org: Any) -> None:
    with in_org():
        with pytest.raises(ValidationError) as err:
            rule("No team", "round_robin")
        assert "team" in err.value.message_dict
        with pytest.raises(ValidationError) as err:
            rule("Nowhere", "territory", countries=["Spain"])
        assert "team" in err.value.message_dict
        marketer = member(org, "mk@acme.example", Role.MARKETER)
        with pytest.raises(ValidationError) as err:
            rule("Marketer", "territory", user=marketer)
        assert "user" in err.value.message_dict


def test_a_burst_of_fallback_leads_is_one_unread_notification_per_manager(
    org: Any, reps: list[Any], admin_user: Any, in_org: Any
) -> None:
    """A published model can make thousands of MQLs at once: managers get one notification (and one
    email) that counts the fallback queue, not one per lead; once read, the next lead starts a new one."""
    with in_org():
        for _ in range(3):
            assert assign(mql()).assigned_to is None
        notes = Notification.objects.filter(user=admin_user, kind=NotificationKind.ASSIGNMENT)
        assert notes.count() == 1
        digest = notes.get()
        assert digest.title == "3 leads wait in the fallback queue" and digest.lead_id is None
        digest.read_at = digest.created_at
        digest.save(update_fields=["read_at"])
        assign(mql())
        assert notes.count() == 2

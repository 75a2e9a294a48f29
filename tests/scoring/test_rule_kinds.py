"""Every rule kind, scored through the service: on SQLite by the Python evaluator, on PostgreSQL by the
set-based SQL one, with the same expected figures (so the two are held to one definition)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from leads.models import Company, Contact
from tests.factories import CompanyFactory, ContactFactory, LeadFactory
from tests.scoring.conftest import NOW, rescore, touch

pytestmark = pytest.mark.django_db


def fit(
    operator: str, value: Any = None, *, field: str = "", points: int = 10, **extra: Any
) -> dict[str, Any]:
    return {
        "dimension": "fit",
        "name": f"{field} {operator}",
        "points": points,
        "field": field,
        "operator": operator,
        "value": value,
        **extra,
    }


def lead_with(**contact: Any) -> Any:
    company_data = contact.pop("company", {})
    company = CompanyFactory.create(**company_data) if company_data is not None else None
    return LeadFactory.create(contact=ContactFactory.create(company=company, **contact))


@pytest.mark.parametrize(
    ("rule", "contact", "expected"),
    [
        (
            fit("equals", "Head of Marketing", field="contact.job_title"),
            {"job_title": " head of marketing "},
            10,
        ),
        (fit("equals", "CTO", field="contact.job_title"), {"job_title": "CEO"}, 0),
        (fit("equals", "120", field="company.employee_count"), {"company": {"employee_count": 120}}, 10),
        (fit("in", ["Germany", "France"], field="contact.country"), {"country": "france"}, 10),
        (fit("in", ["Germany", "France"], field="contact.country"), {"country": "Spain"}, 0),
        (fit("contains", "market", field="contact.job_title"), {"job_title": "VP Marketing"}, 10),
        (fit("contains_word", ["vp"], field="contact.job_title"), {"job_title": "SVP, Sales"}, 0),
        (fit("contains_word", ["vp"], field="contact.job_title"), {"job_title": "VP-Sales"}, 10),
        (
            fit("between", {"min": 50, "max": 500}, field="company.employee_count"),
            {"company": {"employee_count": 500}},
            10,
        ),
        (
            fit("between", {"min": 50, "max": 500}, field="company.employee_count"),
            {"company": {"employee_count": 501}},
            0,
        ),
        (fit("between", {"min": 50}, field="company.employee_count"), {"company": None}, 0),
        (fit("is_blank", field="contact.phone"), {"phone": "  "}, 10),
        (fit("is_blank", field="company.industry"), {"company": None}, 10),
        (fit("is_blank", field="contact.phone", negate=True), {"phone": "+49 30 1234"}, 10),
        (fit("free_mail", points=-15), {"email": "jane@gmail.com"}, -15),
        (fit("free_mail", points=-15), {"email": "jane@acme.example"}, 0),
        (fit("competitor", ["rival.example"], points=-50), {"email": "x@eu.rival.example"}, -50),
        (
            fit("competitor", ["rival.example"], points=-50),
            {"email": "x@gmail.com", "company": {"domain": "rival.example"}},
            -50,
        ),
        (fit("competitor", ["rival.example"], points=-50), {"email": "x@notrival.example"}, 0),
    ],
)
def test_fit_operators(scored: Any, rule: dict[str, Any], contact: dict[str, Any], expected: int) -> None:
    scored([rule])
    lead = lead_with(**contact)
    score = rescore(lead)
    assert score.fit == expected
    assert score.rule_points == [expected]


def test_custom_fields_as_text_and_as_numbers(scored: Any) -> None:
    scored(
        [
            fit("equals", "pro", field="contact.custom.plan", points=5),
            fit("between", {"min": 10}, field="company.custom.seats", points=7),
            fit("equals", "true", field="contact.custom.newsletter", points=3),
            fit("is_blank", field="contact.custom.missing", points=2),
        ]
    )
    lead = lead_with(custom={"plan": "Pro", "newsletter": True}, company={"custom": {"seats": "12"}})
    assert rescore(lead).fit == 5 + 7 + 3 + 2
    Company.objects.filter(pk=lead.contact.company_id).update(custom={"seats": "many"})
    Contact.objects.filter(pk=lead.contact_id).update(custom={"plan": "free", "missing": "x"})
    assert rescore(lead).fit == 0


def test_bant_fields_feed_fit_rules(scored: Any) -> None:
    scored(
        [
            fit("is_blank", field="lead.budget", negate=True, points=10),
            fit("contains", "this quarter", field="lead.timing", points=15),
        ]
    )
    lead = lead_with()
    assert rescore(lead).fit == 0
    lead.budget, lead.timing = "EUR 50k", "This quarter, before renewal"
    lead.save()
    assert rescore(lead).fit == 25


def behaviour(**extra: Any) -> dict[str, Any]:
    return {"dimension": "behaviour", "name": "Pricing", "points": 10, "url_contains": "/pricing", **extra}


def test_behaviour_points_per_occurrence_with_cap(scored: Any) -> None:
    _, lead = scored([behaviour(cap=25)])
    touch(lead, url="https://acme.example/PRICING?x=1", days_ago=3)
    assert rescore(lead).behaviour == 10
    touch(lead, url="https://acme.example/pricing", days_ago=2)
    touch(lead, url="https://acme.example/pricing", days_ago=1)
    touch(lead, url="https://acme.example/blog", days_ago=1)
    assert rescore(lead).behaviour == 25  # 30, capped


def test_behaviour_type_and_property_match(scored: Any) -> None:
    _, lead = scored(
        [
            {
                "dimension": "behaviour",
                "name": "Demo form",
                "points": 25,
                "touchpoint_types": ["form_submit"],
                "property_key": "form",
                "property_value": "Demo-Request",
            },
            {
                "dimension": "behaviour",
                "name": "Any webinar",
                "points": 4,
                "touchpoint_types": ["webinar"],
                "property_key": "webinar",
            },
        ]
    )
    touch(lead, "form_submit", form="demo-request")
    touch(lead, "form_submit", form="newsletter")
    touch(lead, "webinar", webinar="Pipeline")
    touch(lead, "webinar")
    touch(lead, "page_view", form="demo-request")
    assert rescore(lead).behaviour == 25 + 4


def test_behaviour_repeat_limit_per_period(scored: Any) -> None:
    _, lead = scored([behaviour(repeat_limit=1, repeat_window_days=1)])
    day = NOW.replace(hour=12, minute=0, second=0) - dt.timedelta(days=5)
    for hours in (0, 1, 2, 24, 25, 72):
        touch(
            lead,
            url="https://acme.example/pricing",
            days_ago=(NOW - day).total_seconds() / 86400 - hours / 24,
        )
    # Three distinct days: 12:00-14:00 on day 1 counts once, day 2 once, day 4 once.
    assert rescore(lead).behaviour == 30


def test_behaviour_look_back_window_and_negative_points(scored: Any) -> None:
    _, lead = scored(
        [
            behaviour(window_days=30),
            {
                "dimension": "behaviour",
                "name": "Careers",
                "points": -10,
                "url_contains": "/careers",
                "cap": 15,
            },
        ]
    )
    touch(lead, url="https://acme.example/pricing", days_ago=40)
    touch(lead, url="https://acme.example/pricing", days_ago=10)
    for _ in range(3):
        touch(lead, url="https://acme.example/careers", days_ago=1)
    assert rescore(lead).behaviour == 10 - 15
    assert rescore(lead, at=NOW + dt.timedelta(days=25)).behaviour == -15


def test_product_usage_points_count_toward_pql(scored: Any) -> None:
    _, lead = scored(
        [
            {
                "dimension": "behaviour",
                "name": "Signup",
                "points": 15,
                "touchpoint_types": ["product_signup"],
                "product_usage": True,
            },
            behaviour(),
        ]
    )
    touch(lead, "product_signup")
    touch(lead, url="https://acme.example/pricing")
    score = rescore(lead)
    assert (score.behaviour, score.product) == (25, 15)


def engagement(kind: str, **extra: Any) -> dict[str, Any]:
    return {"dimension": "engagement", "name": kind, "engagement_kind": kind, **extra}


def test_engagement_activity_decays_with_half_life(scored: Any) -> None:
    _, lead = scored([engagement("activity", points=8, half_life_days=10, cap=100)])
    touch(lead, days_ago=0)
    touch(lead, "email_open", days_ago=10)
    touch(lead, "download", days_ago=20)
    # 8 x (1 + 0.5 + 0.25) = 14
    assert rescore(lead).engagement == 14
    # Ten quiet days later: 8 x (0.5 + 0.25 + 0.125) = 7
    assert rescore(lead, at=NOW + dt.timedelta(days=10)).engagement == 7
    assert rescore(lead, at=NOW + dt.timedelta(days=100)).engagement == 0


def test_engagement_activity_cap_and_type_filter(scored: Any) -> None:
    _, lead = scored(
        [engagement("activity", points=10, half_life_days=14, cap=15, touchpoint_types=["email_open"])]
    )
    for _ in range(3):
        touch(lead, "email_open")
    touch(lead, "page_view")
    assert rescore(lead).engagement == 15


def test_engagement_recency_and_frequency(scored: Any) -> None:
    _, lead = scored(
        [
            engagement("recency", points=5, window_days=7),
            engagement("frequency", points=6, window_days=30, min_count=3),
        ]
    )
    touch(lead, days_ago=3)
    touch(lead, days_ago=20)
    assert rescore(lead).engagement == 5
    touch(lead, days_ago=22)
    assert rescore(lead).engagement == 11
    assert (
        rescore(lead, at=NOW + dt.timedelta(days=5)).engagement == 6
    )  # the newest is 8 days old: not recent
    assert rescore(lead, at=NOW + dt.timedelta(days=9)).engagement == 0  # the oldest left the 30 days


def maturity(stage: str, points: int, **match: Any) -> dict[str, Any]:
    return {"dimension": "maturity", "name": stage, "buying_stage": stage, "points": points, **match}


def test_maturity_takes_the_most_advanced_recent_stage(scored: Any) -> None:
    _, lead = scored(
        [
            maturity("information", 5, url_contains="/blog"),
            maturity("evaluation", 10, url_contains="/pricing"),
            maturity("purchase", 20, touchpoint_types=["demo"], window_days=14),
        ]
    )
    touch(lead, url="https://acme.example/blog/a", days_ago=2)
    score = rescore(lead)
    assert (score.maturity, score.maturity_stage) == (5, "information")
    touch(lead, url="https://acme.example/pricing", days_ago=1)
    score = rescore(lead)
    assert (score.maturity, score.maturity_stage) == (10, "evaluation")
    touch(lead, "demo", days_ago=10)
    score = rescore(lead)
    assert (score.maturity, score.maturity_stage) == (20, "purchase")
    assert sorted(score.rule_points) == [0, 0, 20]
    # The demo leaves its 14-day window first; the pricing view its 30 days later.
    score = rescore(lead, at=NOW + dt.timedelta(days=5))
    assert (score.maturity, score.maturity_stage) == (10, "evaluation")
    score = rescore(lead, at=NOW + dt.timedelta(days=40))
    assert (score.maturity, score.maturity_stage) == (0, "")


def test_touchpoints_after_the_evaluation_moment_do_not_count(scored: Any) -> None:
    _, lead = scored([behaviour()])
    touch(lead, url="https://acme.example/pricing", days_ago=-2)
    assert rescore(lead).behaviour == 0


def test_grade_score_and_priority(scored: Any) -> None:
    _, lead = scored(
        [
            fit("contains", "vp", field="contact.job_title", points=45),
            behaviour(),
            engagement("recency", points=5, window_days=7),
        ]
    )
    lead.contact.job_title = "VP Marketing"
    lead.contact.save()
    touch(lead, url="https://acme.example/pricing")
    score = rescore(lead)
    # Default thresholds: A 60, B 40, C 25, D 10, E 0.
    assert (score.fit, score.grade, score.score) == (45, "B", 15)
    assert score.priority == 13  # round(15 x 0.85)
    lead.refresh_from_db()
    assert (lead.score, lead.grade) == (15, "B")

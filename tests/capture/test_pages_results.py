"""The experiment's verdict from stored visitor rows: no winner before the sample supports it, a winner
once it does, the O'Brien-Fleming early stop for an overwhelming difference, and the figures per
variant (only visitors since the experiment started)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.landing import selectors, services
from leads.models_pages import LandingPage, PageVisitor, Variant

ACTOR = Actor.system("test")


def experiment(organization: Organization, variants: int = 2) -> tuple[LandingPage, list[Variant]]:
    with tenant_context(organization):
        page = services.page_create(name="Offer", actor=ACTOR)
        for _ in range(variants - 1):
            services.variant_create(page=page, actor=ACTOR)
        page.refresh_from_db()
        # 5 % expected, +50 % detectable: a plan of a few thousand visitors keeps the tests quick.
        services.page_update(page=page, data={"minimum_effect": 0.5, "expected_rate": 0.05}, actor=ACTOR)
        return page, selectors.served_variants(page)


def visitors(variant: Variant, n: int, converted: int, *, before: bool = False) -> None:
    seen = variant.page.experiment_started_at + dt.timedelta(seconds=-60 if before else 60)
    PageVisitor.objects.bulk_create(
        PageVisitor(
            page_id=variant.page_id,
            variant=variant,
            visitor_id=f"v{variant.pk}-{'old' if before else 'new'}-{i:06d}",
            first_seen_at=seen,
            converted_at=seen if i < converted else None,
        )
        for i in range(n)
    )


def test_no_winner_before_the_planned_sample_even_when_significant(org: Organization) -> None:
    page, (control, variant_b) = experiment(org)
    with tenant_context(org):
        required = selectors.experiment_results(page).required
        # 300 visitors each, 5 % vs 11 %: p ≈ 0.007 by the z-test, yet a fifth of the plan, and
        # z ≈ 2.7 stays under the early-stopping boundary (≈ 4.3 at that point).
        visitors(control, 300, 15)
        visitors(variant_b, 300, 33)
        results = selectors.experiment_results(page)
    assert results.rows[1].p_value is not None and results.rows[1].p_value < 0.05
    assert results.verdict == "collecting" and results.winner is None
    assert results.remaining == required - 300
    assert results.headline == f"Keep running: {required - 300:,} more visitors per variant needed."


def test_a_winner_once_the_sample_is_in(org: Organization) -> None:
    page, (control, variant_b) = experiment(org)
    with tenant_context(org):
        required = selectors.experiment_results(page).required
        visitors(control, required, round(required * 0.05))
        visitors(variant_b, required, round(required * 0.08))
        results = selectors.experiment_results(page)
    assert results.ready and results.verdict == "winner" and not results.early
    assert results.winner is not None and results.winner.variant.pk == variant_b.pk
    assert results.headline == "Variant B wins."


def test_no_difference_once_the_sample_is_in(org: Organization) -> None:
    page, (control, variant_b) = experiment(org)
    with tenant_context(org):
        required = selectors.experiment_results(page).required
        visitors(control, required, round(required * 0.05))
        visitors(variant_b, required, round(required * 0.052))
        results = selectors.experiment_results(page)
    assert results.ready and results.verdict == "no_difference" and results.winner is None


def test_an_overwhelming_difference_stops_early_under_the_sequential_boundary(org: Organization) -> None:
    page, (control, variant_b) = experiment(org)
    with tenant_context(org):
        required = selectors.experiment_results(page).required
        n = required // 2
        visitors(control, n, round(n * 0.05))
        visitors(variant_b, n, round(n * 0.15))
        results = selectors.experiment_results(page)
    assert not results.ready and results.early and results.verdict == "winner"
    assert results.early_boundary == pytest.approx(1.959964 / (n / results.required) ** 0.5, rel=1e-3)


def test_three_variants_use_holm_and_a_bonferroni_plan(org: Organization) -> None:
    page, (control, variant_b, variant_c) = experiment(org, variants=3)
    with tenant_context(org):
        results = selectors.experiment_results(page)
        assert results.required > 0
        visitors(control, 500, 25)
        visitors(variant_b, 500, 40)
        visitors(variant_c, 500, 26)
        results = selectors.experiment_results(page)
    b, c = results.rows[1], results.rows[2]
    assert b.p_adjusted == pytest.approx(min(1.0, 2 * min(b.p_value or 1, c.p_value or 1)))
    assert c.p_adjusted is not None and c.p_adjusted >= b.p_adjusted


def test_only_visitors_since_the_experiment_started_count(org: Organization, monkeypatch: Any) -> None:
    page, (control, variant_b) = experiment(org)
    with tenant_context(org):
        visitors(control, 50, 5, before=True)
        visitors(control, 10, 1)
        visitors(variant_b, 12, 3)
        results = selectors.experiment_results(page)
    assert [(r.visitors, r.conversions) for r in results.rows] == [(10, 1), (12, 3)]


def test_a_stopped_experiment_keeps_its_figures(org: Organization) -> None:
    page, (control, variant_b) = experiment(org)
    with tenant_context(org):
        visitors(control, 10, 1)
        visitors(variant_b, 10, 4)
        services.experiment_stop(page=page, promote=variant_b, actor=ACTOR)
        page.refresh_from_db()
        results = selectors.experiment_results(page)
        assert page.experiment_stopped_at is not None and page.experiment_stopped_at <= timezone.now()
    assert {r.variant.name: (r.visitors, r.conversions) for r in results.rows} == {"A": (10, 1), "B": (10, 4)}

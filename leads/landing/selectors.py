"""Reads of landing pages: the published page a visitor asks for, the editor's lists, and the
experiment's results with their verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from leads.landing.stats import (
    holm_adjust,
    obrien_fleming_z,
    sample_size_per_variant,
    two_proportion_z_test,
    wilson_interval,
)
from leads.models_pages import Block, LandingPage, PageStatus, PageVisitor, Variant

ALPHA = 0.05
POWER = 0.8
# Before this share of the planned sample is in, even the sequential boundary is not consulted.
EARLY_LOOK_FRACTION = 0.1
# Below this many control conversions the observed rate is too noisy to plan with; the page's
# expected rate is used instead.
BASELINE_MIN_CONVERSIONS = 10


def published_page(slug: str) -> LandingPage | None:
    return LandingPage.objects.filter(slug=slug, status=PageStatus.PUBLISHED).first()


def served_variants(page: LandingPage) -> list[Variant]:
    """The page's running variants (control first) with their blocks, in two queries."""
    blocks = Prefetch("blocks", queryset=Block.objects.order_by("position", "id"))
    return list(
        Variant.objects.filter(page=page, archived_at__isnull=True)
        .order_by("-is_control", "id")
        .prefetch_related(blocks)
    )


def pages_for_list() -> QuerySet[LandingPage]:
    return (
        LandingPage.objects.all()
        .annotate(
            variant_count=Count("variants", filter=Q(variants__archived_at__isnull=True), distinct=True),
        )
        .order_by("-updated_at", "-id")
    )


def page_visitor_totals(page_ids: list[int]) -> dict[int, tuple[int, int]]:
    """page id -> (visitors, conversions), for the list."""
    rows = (
        PageVisitor.objects.filter(page_id__in=page_ids)
        .values("page_id")
        .annotate(visitors=Count("id"), conversions=Count("converted_at"))
        .order_by()
    )
    return {r["page_id"]: (r["visitors"], r["conversions"]) for r in rows}


@dataclass
class VariantResult:
    variant: Variant
    visitors: int
    views: int
    conversions: int
    rate: float
    low: float
    high: float
    lift: float | None = None
    z: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    # Chart geometry on a 0..1000 scale (an SVG drawn server-side).
    bar: float = 0.0
    ci_from: float = 0.0
    ci_to: float = 0.0

    @property
    def is_control(self) -> bool:
        return self.variant.is_control

    @property
    def rate_pct(self) -> str:
        return _pct(self.rate)

    @property
    def interval_pct(self) -> str:
        return f"{_pct(self.low)} to {_pct(self.high)}"

    @property
    def p_shown(self) -> str:
        return _p(self.p_value)

    @property
    def p_adjusted_shown(self) -> str:
        return _p(self.p_adjusted)

    @property
    def lift_pct(self) -> str:
        if self.lift is None:
            return "—"
        return f"{self.lift * 100:+.1f} %"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"


@dataclass
class ExperimentResults:
    page: LandingPage
    rows: list[VariantResult]
    required: int
    baseline: float
    baseline_observed: bool
    remaining: int
    ready: bool
    verdict: str  # single | collecting | winner | control | no_difference
    winner: VariantResult | None = None
    days_left: int | None = None
    early: bool = False
    early_boundary: float | None = None
    scale_max: float = 0.0
    control_x: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def is_experiment(self) -> bool:
        return len(self.rows) > 1

    @property
    def scale_label(self) -> str:
        return f"{self.scale_max * 100:.1f} %"

    @property
    def headline(self) -> str:
        if self.verdict == "winner" and self.winner:
            return f"Variant {self.winner.variant.name} wins."
        if self.verdict == "control":
            return "The control wins: every other variant converts worse."
        if self.verdict == "no_difference":
            return "No significant difference."
        if self.verdict == "collecting":
            return f"Keep running: {self.remaining:,} more visitors per variant needed."
        return "Add a variant to start an A/B test."

    @property
    def explanation(self) -> str:
        planned = (
            f"The test is planned for {self.required:,} visitors per variant: enough to detect a "
            f"{self.page.minimum_effect:.0%} relative lift over the control's "
            f"{'measured' if self.baseline_observed else 'expected'} {self.baseline:.2%} conversion rate "
            f"80 % of the time, at 5 % significance"
            + (f" split over {len(self.rows) - 1} comparisons" if len(self.rows) > 2 else "")
            + "."
        )
        if self.verdict == "collecting":
            days = f"{self.days_left} more day{'s' if self.days_left != 1 else ''}"
            pace = f" At the current pace that is about {days}." if self.days_left else ""
            return (
                f"{planned}{pace} Until then no winner is named unless a variant crosses the strict "
                "early-stopping boundary: early differences are mostly chance, and stopping as soon as "
                "one looks good picks a false winner far more often than 5 % of the time."
            )
        if self.verdict == "winner" and self.winner and self.early:
            return (
                f"{planned} Only {self.progress} % of it is in, but variant {self.winner.variant.name} is "
                f"ahead by so much ({self.winner.lift_pct}, z = {self.winner.z:.2f}) that it crosses the "
                f"early-stopping boundary of z ≥ {self.early_boundary:.2f} for this point of the test "
                "(O'Brien-Fleming: very strict early, relaxing to the usual 5 % at the planned end), "
                "so the result holds. You can stop the test and promote it."
            )
        if self.verdict == "winner" and self.winner:
            return (
                f"{planned} Variant {self.winner.variant.name} converts at {self.winner.rate_pct} against "
                f"the control's {self.rows[0].rate_pct} ({self.winner.lift_pct}), with an adjusted "
                f"p-value of {self.winner.p_adjusted:.4f}. You can stop the test and promote it."
            )
        if self.verdict == "no_difference":
            return (
                f"{planned} The sample is complete and no variant differs from the control beyond what "
                "chance explains. Keep the control, or test a bolder change."
            )
        if self.verdict == "control":
            return f"{planned} Stop the test and keep the control."
        return "Each variant gets its own blocks and a share of the traffic; results appear here."

    @property
    def progress(self) -> int:
        if not self.rows or self.required <= 0:
            return 0
        return min(100, math.floor(100 * min(r.visitors for r in self.rows) / self.required))


def experiment_variants(page: LandingPage) -> list[Variant]:
    """The variants of the current (or last) experiment: running ones and those stopped during it."""
    variants = Variant.objects.filter(page=page).order_by("-is_control", "id")
    if page.experiment_started_at is None:
        return list(variants.filter(archived_at__isnull=True))
    return list(variants.filter(Q(archived_at__isnull=True) | Q(archived_at__gte=page.experiment_started_at)))


def experiment_results(page: LandingPage) -> ExperimentResults:
    variants = experiment_variants(page)
    counted = PageVisitor.objects.filter(variant__in=variants)
    if page.experiment_started_at is not None:
        # Visitors from before the experiment keep what they saw, but are not part of the comparison.
        counted = counted.filter(first_seen_at__gte=page.experiment_started_at)
    figures = {
        row["variant_id"]: row
        for row in counted.values("variant_id")
        .annotate(visitors=Count("id"), views=Sum("views"), conversions=Count("converted_at"))
        .order_by()
    }
    rows: list[VariantResult] = []
    for variant in variants:
        found = figures.get(variant.pk, {})
        n, x = int(found.get("visitors") or 0), int(found.get("conversions") or 0)
        low, high = wilson_interval(x, n)
        rows.append(
            VariantResult(
                variant=variant,
                visitors=n,
                views=int(found.get("views") or 0),
                conversions=x,
                rate=x / n if n else 0.0,
                low=low if n else 0.0,
                high=high if n else 0.0,
            )
        )
    control = next((r for r in rows if r.is_control), rows[0] if rows else None)
    treatments = [r for r in rows if r is not control]
    if control is None:
        return ExperimentResults(page, [], 0, page.expected_rate, False, 0, False, "single")
    baseline_observed = control.conversions >= BASELINE_MIN_CONVERSIONS and control.rate > 0
    baseline = control.rate if baseline_observed else page.expected_rate
    comparisons = max(1, len(treatments))
    required = sample_size_per_variant(
        baseline, page.minimum_effect, alpha=ALPHA, power=POWER, comparisons=comparisons
    )
    for row in treatments:
        row.z, row.p_value = two_proportion_z_test(
            control.conversions, control.visitors, row.conversions, row.visitors
        )
        row.lift = (row.rate - control.rate) / control.rate if control.rate > 0 else None
    for row, adjusted in zip(treatments, holm_adjust([r.p_value or 1.0 for r in treatments]), strict=True):
        row.p_adjusted = adjusted
        row.significant = adjusted < ALPHA
    remaining = max(0, required - min(r.visitors for r in rows))
    ready = bool(treatments) and remaining == 0
    results = ExperimentResults(
        page=page,
        rows=rows,
        required=required,
        baseline=baseline,
        baseline_observed=baseline_observed,
        remaining=remaining,
        ready=ready,
        verdict="single",
    )
    if not treatments:
        results.verdict = "single"
    elif not ready:
        results.verdict = "collecting"
        results.days_left = _days_left(page, rows, remaining)
        fraction = min(r.visitors for r in rows) / required
        if fraction >= EARLY_LOOK_FRACTION:
            # Sequential reading: a result so clear that it crosses the O'Brien-Fleming boundary at this
            # share of the planned sample may end the test early without inflating false winners.
            results.early_boundary = obrien_fleming_z(fraction, alpha=ALPHA / comparisons)
            early = [
                r
                for r in treatments
                if r.z is not None and r.z >= results.early_boundary and r.rate > control.rate
            ]
            if early:
                results.verdict = "winner"
                results.early = True
                results.winner = max(early, key=lambda r: r.rate)
    else:
        better = [r for r in treatments if r.significant and r.rate > control.rate]
        worse = [r for r in treatments if r.significant and r.rate < control.rate]
        if better:
            results.verdict = "winner"
            results.winner = max(better, key=lambda r: r.rate)
        elif worse and len(worse) == len(treatments):
            results.verdict = "control"
            results.winner = control
        else:
            results.verdict = "no_difference"
    _chart(results)
    return results


def _days_left(page: LandingPage, rows: list[VariantResult], remaining: int) -> int | None:
    started = page.experiment_started_at
    if started is None:
        return None
    elapsed_days = max((timezone.now() - started).total_seconds() / 86400, 1 / 24)
    per_day = sum(r.visitors for r in rows) / elapsed_days
    if per_day <= 0:
        return None
    # Traffic splits by weight; the slowest variant sets the pace.
    slowest_share = min(max(r.variant.weight, 0) for r in rows) / max(
        1, sum(max(r.variant.weight, 0) for r in rows)
    )
    if slowest_share <= 0:
        return None
    return math.ceil(remaining / (per_day * slowest_share))


def _chart(results: ExperimentResults) -> None:
    top = max([r.high for r in results.rows if r.visitors] + [0.01])
    scale = min(1.0, top * 1.15)
    results.scale_max = scale
    for row in results.rows:
        row.bar = round(1000 * row.rate / scale, 1)
        row.ci_from = round(1000 * row.low / scale, 1)
        row.ci_to = round(1000 * min(row.high, scale) / scale, 1)
    control = next((r for r in results.rows if r.is_control), None)
    results.control_x = control.bar if control else 0.0

"""The experiment statistics against published reference values and hand computations, and the rule
that no winner is named before the planned sample is in."""

from __future__ import annotations

import pytest

from leads.landing.stats import (
    holm_adjust,
    sample_size_per_variant,
    two_proportion_z_test,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3
        # (Wilson score interval without continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombes_reference_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    got_low, got_high = wilson_interval(successes, trials)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and low == pytest.approx(0.8389, abs=5e-5)  # mirror of 0/20
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_two_proportion_z_test_by_hand() -> None:
    # 200/1000 vs 250/1000: pooled p = 0.225, SE = sqrt(0.225 * 0.775 * 2/1000) = 0.0186748,
    # z = 0.05 / 0.0186748 = 2.67741, two-sided p = erfc(2.67741 / sqrt 2) = 0.0074189.
    z, p = two_proportion_z_test(200, 1000, 250, 1000)
    assert z == pytest.approx(2.67741, abs=1e-4)
    assert p == pytest.approx(0.0074189, rel=1e-3)
    # Symmetric, and the sign says which side is higher.
    z_back, p_back = two_proportion_z_test(250, 1000, 200, 1000)
    assert z_back == pytest.approx(-z) and p_back == pytest.approx(p)


def test_z_test_reference_from_a_textbook_example() -> None:
    # 45/500 vs 60/500 (9 % vs 12 %): pooled 0.105, SE = sqrt(0.105*0.895*0.004) = 0.019389,
    # z = 0.03 / 0.019389 = 1.54728, p = 0.12180.
    z, p = two_proportion_z_test(45, 500, 60, 500)
    assert z == pytest.approx(1.54728, abs=1e-4)
    assert p == pytest.approx(0.12180, abs=2e-4)


def test_z_test_without_variation_is_no_evidence() -> None:
    assert two_proportion_z_test(0, 100, 0, 100) == (0.0, 1.0)
    assert two_proportion_z_test(0, 0, 3, 10) == (0.0, 1.0)


def test_z_test_far_tail_keeps_precision() -> None:
    _, p = two_proportion_z_test(100, 10_000, 400, 10_000)
    assert 0 < p < 1e-30


def test_holm_adjustment() -> None:
    # Holm (1979) step-down by hand: sorted 0.01, 0.02, 0.04 -> 3*0.01, max(0.03, 2*0.02), max(0.04, 1*0.04).
    assert holm_adjust([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([0.03]) == [0.03]
    assert holm_adjust([]) == []


def test_sample_size_matches_the_classic_formula() -> None:
    # 5 % baseline, +20 % relative (to 6 %), alpha 0.05 two-sided, power 0.8: 8,158 per group
    # (z = 1.959964, 0.841621; p̄ = 0.055; (1.959964·0.322413 + 0.841621·0.322335)² / 0.01²).
    assert sample_size_per_variant(0.05, 0.2) == 8158
    # A larger effect needs fewer visitors; more comparisons need more.
    assert sample_size_per_variant(0.05, 0.5) < 2000
    assert sample_size_per_variant(0.05, 0.2, comparisons=3) > sample_size_per_variant(0.05, 0.2)
    with pytest.raises(ValueError):
        sample_size_per_variant(0.05, 0.0)


def test_holm_controls_false_winners_in_an_aa_simulation() -> None:
    """With four identical variants, 'any variant significant' must happen about 5 % of the time with
    Holm's correction (and far more often without it)."""
    import random

    rng = random.Random(20240601)
    runs, n, rate = 400, 2000, 0.1
    corrected = uncorrected = 0
    for _ in range(runs):
        counts = [sum(1 for _ in range(n) if rng.random() < rate) for _ in range(4)]
        ps = [two_proportion_z_test(counts[0], n, x, n)[1] for x in counts[1:]]
        corrected += any(p < 0.05 for p in holm_adjust(ps))
        uncorrected += any(p < 0.05 for p in ps)
    assert corrected / runs < 0.08
    assert uncorrected > corrected


def test_obrien_fleming_boundary() -> None:
    from leads.landing.stats import obrien_fleming_z

    # z_{0.975} / sqrt(t): 1.959964 / 0.5 at a quarter of the sample; the usual 1.96 at the end.
    assert obrien_fleming_z(0.25) == pytest.approx(3.919928, abs=1e-5)
    assert obrien_fleming_z(1.0) == pytest.approx(1.959964, abs=1e-5)
    with pytest.raises(ValueError):
        obrien_fleming_z(0)

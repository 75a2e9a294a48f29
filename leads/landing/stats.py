"""The statistics of an A/B(/n) test on conversion rates, in plain Python (no SciPy needed).

- Wilson score interval for each variant's rate (good at small counts and near 0 %, unlike the
  textbook "p ± 1.96·SE", which can even go below zero).
- Two-sided two-proportion z-test (pooled standard error) of each variant against the control.
- Holm's step-down correction over the k-1 comparisons: with three variants, testing each at 5 % would
  find a false "winner" far more often than 5 % of the time.
- A fixed-horizon sample size per variant from the control's rate, the minimum detectable effect, 5 %
  significance (Bonferroni-split over the comparisons) and 80 % power. The test is read only once
  every variant has that sample: stopping the first time p dips under 0.05 ("peeking") inflates false
  positives many times over, so no winner is named before, except:
- An O'Brien-Fleming-type sequential boundary, z ≥ z_{1-a/2} / sqrt(t) at the information fraction t
  (the share of the planned sample in): so strict early on that only an overwhelming difference ends
  the test, relaxing to the fixed-horizon threshold at t = 1 (Lan-DeMets' O'Brien-Fleming spending).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

_STANDARD_NORMAL = NormalDist()


def z_quantile(probability: float) -> float:
    return _STANDARD_NORMAL.inv_cdf(probability)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval; (0, 1) without trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError("successes must be between 0 and trials")
    z = z_quantile(1 - (1 - confidence) / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """(z, two-sided p-value) for H0: rate 1 == rate 2, with the pooled standard error.

    z is positive when the second rate is higher. With no variation at all (both 0 % or both 100 %)
    there is no evidence of a difference: (0, 1).
    """
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / math.sqrt(variance)
    # erfc keeps precision in the far tail, where 1 - cdf(|z|) would round to 0.
    return z, math.erfc(abs(z) / math.sqrt(2))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (compare each with alpha), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def sample_size_per_variant(
    baseline: float, relative_effect: float, *, alpha: float = 0.05, power: float = 0.8, comparisons: int = 1
) -> int:
    """Visitors each variant needs so that a relative lift of `relative_effect` over `baseline` is
    detected with `power`, two-sided at `alpha` split over `comparisons` (Bonferroni).

    The classic formula for two independent proportions:
    n = (z_{1-a/2}·sqrt(2·p̄(1-p̄)) + z_{power}·sqrt(p1(1-p1) + p2(1-p2)))² / (p2 - p1)².
    """
    p1 = min(max(baseline, 1e-6), 1 - 1e-6)
    p2 = min(p1 * (1 + relative_effect), 1 - 1e-6)
    if p2 <= p1:
        raise ValueError("the effect must raise the rate")
    a = alpha / max(1, comparisons)
    z_alpha = z_quantile(1 - a / 2)
    z_beta = z_quantile(power)
    p_bar = (p1 + p2) / 2
    numerator = z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_beta * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(numerator**2 / (p2 - p1) ** 2)


def obrien_fleming_z(fraction: float, *, alpha: float = 0.05) -> float:
    """The two-sided O'Brien-Fleming boundary for |z| when `fraction` of the planned sample is in."""
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    return z_quantile(1 - alpha / 2) / math.sqrt(fraction)

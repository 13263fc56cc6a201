"""Exact tests and intervals against scipy and exact enumeration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import stats as cs


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize(("k", "n", "p0"), [(0, 10, 0.5), (7, 10, 0.5), (697, 1000, 0.5),
                                             (3, 40, 0.2), (40, 40, 0.9), (12, 25, 0.3)])
def test_binomial_test_matches_scipy(k, n, p0, alternative):
    expected = stats.binomtest(k, n, p0, alternative=alternative).pvalue
    assert cs.binomial_test(k, n, p0, alternative=alternative) == pytest.approx(expected, rel=1e-9)


def test_binomial_greater_by_enumeration():
    n, k = 12, 9
    expected = sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n
    assert cs.binomial_test(k, n) == pytest.approx(expected)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("table", [[[8, 2], [1, 5]], [[0, 10], [10, 0]], [[3, 4], [5, 6]],
                                    [[30, 70], [12, 88]], [[1, 0], [0, 0]]])
def test_fisher_matches_scipy(table, alternative):
    expected = stats.fisher_exact(table, alternative=alternative).pvalue
    assert cs.fisher_exact(table, alternative=alternative) == pytest.approx(expected, rel=1e-9)


def test_two_proportion_matches_chi_square():
    table = np.array([[45, 55], [30, 70]])
    z, p = cs.two_proportion_test(45, 100, 30, 100)
    chi = stats.chi2_contingency(table, correction=False)
    assert z * z == pytest.approx(chi.statistic)
    assert p == pytest.approx(chi.pvalue)
    _, one_sided = cs.two_proportion_test(45, 100, 30, 100, alternative="greater")
    assert one_sided == pytest.approx(p / 2)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (1, 20), (10, 20), (19, 20), (20, 20), (697, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_proportion_intervals_match_scipy(k, n, confidence):
    res = stats.binomtest(k, n)
    w = res.proportion_ci(confidence, method="wilson")
    cp = res.proportion_ci(confidence, method="exact")
    assert cs.wilson(k, n, confidence=confidence) == pytest.approx((w.low, w.high), abs=1e-12)
    assert cs.clopper_pearson(k, n, confidence=confidence) == pytest.approx(
        (cp.low, cp.high), abs=1e-9
    )


def test_interval_input_errors():
    with pytest.raises(ValueError, match="0 <= k <= n"):
        cs.wilson(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        cs.clopper_pearson(1, 3, confidence=1.5)
    with pytest.raises(ValueError, match="method"):
        cs.proportion_ci(1, 3, method="wald")
    assert cs.wilson(0, 0) == (0.0, 1.0)


def _exact_coverage(interval, n: int, p: float, confidence: float) -> float:
    ks = np.arange(n + 1)
    covered = np.array([lo <= p <= hi for lo, hi in (interval(k, n, confidence=confidence)
                                                   for k in ks)])
    return float(stats.binom.pmf(ks, n, p)[covered].sum())


@pytest.mark.parametrize("n", [30, 200])
def test_coverage_exact_computation(n):
    """Coverage computed exactly (sum of binomial probabilities), over a grid of p."""
    grid = np.linspace(0.02, 0.98, 49)
    cp = [_exact_coverage(cs.clopper_pearson, n, p, 0.95) for p in grid]
    wi = [_exact_coverage(cs.wilson, n, p, 0.95) for p in grid]
    assert min(cp) >= 0.95 - 1e-9  # Clopper-Pearson is guaranteed conservative
    assert np.mean(wi) >= 0.94  # Wilson: close to nominal on average
    assert min(wi) >= 0.87  # and never far below it away from the extremes


def test_coverage_simulation():
    """Seeded simulation: 2,000 samples of n=100 at p=0.3."""
    rng = np.random.default_rng(11)
    ks = rng.binomial(100, 0.3, 2000)
    for interval in (cs.wilson, cs.clopper_pearson):
        hits = np.mean([lo <= 0.3 <= hi for lo, hi in (interval(int(k), 100) for k in ks)])
        assert hits >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / 2000)


def test_newcombe_closed_form_example():
    # Newcombe (1998), Table II example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    lo, hi = cs.newcombe(56, 70, 48, 80)
    assert lo == pytest.approx(0.0524, abs=5e-4)
    assert hi == pytest.approx(0.3339, abs=5e-4)


def test_newcombe_coverage_simulation():
    rng = np.random.default_rng(5)
    k1, k2 = rng.binomial(60, 0.4, 1500), rng.binomial(80, 0.25, 1500)
    hits = np.mean([lo <= 0.15 <= hi for lo, hi in
                    (cs.newcombe(int(a), 60, int(b), 80) for a, b in zip(k1, k2, strict=True))])
    assert hits >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / 1500)

"""Seeded simulations: size under the null and power under a planted effect.

Tolerance for a rejection rate over N data sets: 3 binomial standard errors,
3 * sqrt(0.05 * 0.95 / N) (about 0.021 for N = 1,000).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_clipbias import stats as cs

ALPHA = 0.05
N_SETS = 1000
TOL = 3 * math.sqrt(ALPHA * (1 - ALPHA) / N_SETS)


def _rate(rejections) -> float:
    return float(np.mean(list(rejections)))


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_permutation_size_monte_carlo(alternative):
    rng = np.random.default_rng(100)
    rate = _rate(
        cs.permutation_test(rng.normal(size=20), rng.normal(size=25), alternative=alternative,
                            n_permutations=499, seed=rng).p_value < ALPHA
        for _ in range(N_SETS)
    )
    assert ALPHA - TOL <= rate <= ALPHA + TOL


def test_permutation_size_exact():
    rng = np.random.default_rng(101)
    rate = _rate(cs.permutation_test(rng.exponential(size=6), rng.exponential(size=6)).p_value
                 < ALPHA for _ in range(N_SETS))
    assert rate <= ALPHA + TOL


def test_weat_size():
    rng = np.random.default_rng(102)
    rates = []
    for _ in range(N_SETS):
        x, y, a, b = (rng.normal(size=(8, 12)) for _ in range(4))
        rates.append(cs.weat_test(x, y, a, b, n_permutations=499, seed=rng).p_value < ALPHA)
    assert _rate(rates) <= ALPHA + TOL


def test_binomial_and_fisher_size():
    rng = np.random.default_rng(103)
    k = rng.binomial(200, 0.5, N_SETS)
    assert _rate(cs.binomial_test(int(i), 200) < ALPHA for i in k) <= ALPHA + TOL
    a, c = rng.binomial(60, 0.3, N_SETS), rng.binomial(70, 0.3, N_SETS)
    fisher = [cs.fisher_exact([[i, 60 - i], [j, 70 - j]]) < ALPHA for i, j in zip(a, c,
                                                                                 strict=True)]
    z = [cs.two_proportion_test(int(i), 60, int(j), 70)[1] < ALPHA for i, j in zip(a, c,
                                                                                 strict=True)]
    assert _rate(fisher) <= ALPHA + TOL
    assert _rate(z) <= ALPHA + TOL


def test_power_at_d_0_3_with_200_per_group():
    """Planted d = 0.3, 200 per group, one-sided: theory gives power ~0.91; require >= 0.8."""
    rng = np.random.default_rng(104)
    n_sets = 400
    hits = [cs.permutation_test(rng.normal(0.3, 1, 200), rng.normal(0, 1, 200),
                                n_permutations=499, seed=rng).p_value < ALPHA
            for _ in range(n_sets)]
    power = _rate(hits)
    assert power >= 0.8
    assert power == pytest.approx(0.91, abs=3 * math.sqrt(0.91 * 0.09 / n_sets))


def test_binomial_power_at_h_0_2():
    """Midpoint rate 0.6 vs 0.5 (h = 0.20) with 300 series: normal-theory power ~0.91."""
    rng = np.random.default_rng(105)
    k = rng.binomial(300, 0.6, N_SETS)
    power = _rate(cs.binomial_test(int(i), 300) < ALPHA for i in k)
    assert power >= 0.85


def test_cluster_bootstrap_coverage():
    """Clustered data (20 clusters x 21 steps): the cluster CI covers the true mean."""
    rng = np.random.default_rng(106)
    clusters = np.repeat(np.arange(20), 21)
    hits = []
    for _ in range(300):
        values = np.repeat(rng.normal(size=20), 21) + 0.5 * rng.normal(size=420)
        lo, hi = cs.cluster_bootstrap_ci(values, clusters, n_resamples=999, seed=rng)
        hits.append(lo <= 0.0 <= hi)
    # percentile intervals with 20 clusters run slightly narrow; allow 3 SE plus 0.02
    assert _rate(hits) >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / 300) - 0.02

"""Permutation tests: exact enumeration, agreement with scipy, uniform sampler, memory."""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import stats as cs
from pytest_clipbias.stats.permutation import (
    MAX_EXACT,
    exact_subset_sums,
    random_subset_sums,
)


def _mean_diff(a, b, axis=-1):
    return a.mean(axis=axis) - b.mean(axis=axis)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("sizes", [(5, 4), (6, 6), (3, 8)])
def test_exact_matches_scipy_exact(alternative, sizes):
    rng = np.random.default_rng(sum(sizes))
    x, y = rng.normal(0.4, 1, sizes[0]), rng.normal(0, 1, sizes[1])
    ours = cs.permutation_test(x, y, alternative=alternative)
    ref = stats.permutation_test((x, y), _mean_diff, vectorized=True, n_resamples=np.inf,
                                 alternative=alternative, permutation_type="independent")
    assert ours.exact and ours.n_permutations == math.comb(sum(sizes), sizes[0])
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert ours.statistic == pytest.approx(ref.statistic)


def test_exact_by_hand_enumeration():
    x, y = np.array([3.0, 5.0]), np.array([1.0, 2.0, 4.0])
    pooled = np.concatenate([x, y])
    obs = x.mean() - y.mean()
    null = [pooled[list(c)].mean() - np.delete(pooled, list(c)).mean()
            for c in itertools.combinations(range(5), 2)]
    expected = np.mean(np.array(null) >= obs - 1e-12)
    assert cs.permutation_test(x, y).p_value == pytest.approx(expected)


def test_monte_carlo_matches_scipy_within_error():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.15, 1, 120), rng.normal(0, 1, 100)
    ours = cs.permutation_test(x, y, n_permutations=20000, seed=1)
    ref = stats.permutation_test((x, y), _mean_diff, vectorized=True, n_resamples=20000,
                                 alternative="greater", rng=2)
    assert not ours.exact
    se = math.sqrt(2 * ref.pvalue * (1 - ref.pvalue) / 20000)
    assert abs(ours.p_value - ref.pvalue) < 4 * se


def test_monte_carlo_p_is_never_zero_and_seeded():
    x, y = np.arange(50.0) + 100, np.arange(50.0)
    res = cs.permutation_test(x, y, n_permutations=999, seed=0)
    assert res.p_value == pytest.approx(1 / 1000)
    again = cs.permutation_test(x + 0.1 * np.sin(x), y, n_permutations=999, seed=7)
    same = cs.permutation_test(x + 0.1 * np.sin(x), y, n_permutations=999, seed=7)
    assert again == same


@pytest.mark.parametrize("accept_min", [0.05, 1.1])  # reject other sizes / correct them
def test_sampler_draws_uniform_subsets(monkeypatch, accept_min):
    """Distinct powers of two make every subset's sum unique: count each subset."""
    from pytest_clipbias.stats import permutation

    monkeypatch.setattr(permutation, "ACCEPT_MIN", accept_min)
    values = 2.0 ** np.arange(10)
    for k in (3, 5, 7):  # 7 goes through the complement path
        sums = random_subset_sums(values, k, 120_000, np.random.default_rng(k))
        got, counts = np.unique(sums, return_counts=True)
        assert len(got) == math.comb(10, k)
        assert set(got) == set(exact_subset_sums(values, k))
        assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("n, ones, k", [(2003, 700, 1000), (101, 40, 50)])
def test_sampler_subset_sizes_are_exact_for_large_groups(n, ones, k):
    """With 0/1 values the subset sum counts the ones drawn: hypergeometric, exactly.
    (2003 values: bits corrected to size; 101: other sizes rejected; odd n pads a byte.)"""
    values = np.zeros(n)
    values[:ones] = 1
    sums = random_subset_sums(values, k, 40_000, np.random.default_rng(0))
    assert np.all(sums == np.round(sums))
    expected_mean = k * ones / n
    expected_var = k * ones / n * (1 - ones / n) * (n - k) / (n - 1)
    assert sums.mean() == pytest.approx(expected_mean, abs=4 * math.sqrt(expected_var / 40_000))
    assert sums.var() == pytest.approx(expected_var, rel=0.05)
    # chi-square goodness of fit against the hypergeometric pmf (tails pooled)
    support = np.arange(0, k + 1)
    expected = stats.hypergeom(n, ones, k).pmf(support) * len(sums)
    observed = np.array([np.count_nonzero(sums == s) for s in support], dtype=float)
    keep = expected >= 5
    exp_ = np.append(expected[keep], len(sums) - expected[keep].sum())
    obs_ = np.append(observed[keep], len(sums) - observed[keep].sum())
    assert stats.chisquare(obs_, exp_).pvalue > 1e-3


def test_exact_can_be_forced_and_limited():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=6), rng.normal(size=6)
    assert cs.permutation_test(x, y, n_permutations=100).exact is False
    assert cs.permutation_test(x, y, n_permutations=100, exact=True).n_permutations == 924
    with pytest.raises(ValueError, match="MAX_EXACT"):
        exact_subset_sums(np.zeros(40), 20)
    assert MAX_EXACT >= 100_000


def test_input_errors():
    with pytest.raises(ValueError, match="alternative"):
        cs.permutation_test([1.0, 2.0], [3.0], alternative="bigger")
    with pytest.raises(ValueError, match="at least one value"):
        cs.permutation_test([], [1.0, 2.0])


def test_memory_is_bounded_by_the_batch_budget_not_the_permutations():
    values = np.random.default_rng(0).normal(size=2000)
    budget = 4 * 2**20
    peaks = []
    for n_perm in (2_000, 40_000):
        tracemalloc.start()
        random_subset_sums(values, 1000, n_perm, np.random.default_rng(1), batch_bytes=budget)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # the output array (8 bytes per permutation) is the only part that grows
    assert peaks[1] - 8 * 40_000 < 3 * budget
    assert peaks[1] < peaks[0] + 8 * 40_000 + budget


def test_weat_exact_against_scipy():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(5, 8)) + 0.3, rng.normal(size=(5, 8))
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    res = cs.weat_test(x, y, a, b)
    sx, sy = cs.association(x, a, b), cs.association(y, a, b)
    ref = stats.permutation_test((sx, sy), lambda p, q, axis: p.sum(axis) - q.sum(axis),
                                 vectorized=True, n_resamples=np.inf, alternative="greater")
    assert res.exact and res.p_value == pytest.approx(ref.pvalue)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.effect == pytest.approx(cs.weat_d(x, y, a, b))


def test_sc_eat_test_against_scipy():
    rng = np.random.default_rng(8)
    w = rng.normal(size=8)
    a, b = rng.normal(size=(6, 8)) + 0.2 * w, rng.normal(size=(6, 8))
    res = cs.sc_eat_test(w, a, b)
    ca, cb = cs.cosine(w, a)[0], cs.cosine(w, b)[0]
    ref = stats.permutation_test((ca, cb), _mean_diff, vectorized=True, n_resamples=np.inf,
                                 alternative="greater")
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.effect == pytest.approx(cs.sc_eat_d(w, a, b))

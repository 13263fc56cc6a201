"""Clustered proportions: the dyadic variance by brute force, calibration with shared parents."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import stats as cs

ALPHA = 0.05


def _limit(reps: int) -> float:
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


def _morphs(rng, parents, series, sigma, h_true, reps):
    """Series from random parent pairs; P(cross) = Phi(a + u_a + u_b), marginal rate at h_true."""
    p_true = math.sin(math.pi / 4 + h_true / 2) ** 2
    a = stats.norm.ppf(p_true) * math.sqrt(1 + 2 * sigma**2)
    pa = rng.integers(0, parents, series)
    pb = (pa + rng.integers(1, parents, series)) % parents
    u = rng.normal(0, sigma, (reps, parents))
    y = rng.random((reps, series)) < stats.norm.cdf(a + u[:, pa] + u[:, pb])
    return y.astype(float), np.c_[pa, pb]


def test_design_effect_matches_the_brute_force_sum_over_dependent_pairs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40).astype(float)
    ids = rng.integers(0, 9, (40, 2))
    e = y - y.mean()
    shared = np.array([[len(set(ids[i]) & set(ids[j])) > 0 for j in range(40)] for i in range(40)])
    g = len(np.unique(ids))
    var = g / (g - 1) * (e @ shared @ e) / 40**2
    res = cs.clustered_proportion(y, ids)
    assert res.design_effect == pytest.approx(max(1.0, var / (y.mean() * (1 - y.mean()) / 40)))
    assert res.n_eff == pytest.approx(40 / res.design_effect)
    # parents are unordered: (a, b) and (b, a) are the same dependence
    swapped = cs.clustered_proportion(y, ids[:, ::-1]).design_effect
    assert swapped == pytest.approx(res.design_effect)


def test_independent_items_reduce_to_the_exact_binomial():
    y = np.r_[np.ones(62), np.zeros(38)]
    p = cs.cluster_h_test(y, np.arange(100), 0.0)
    assert p == pytest.approx(stats.binomtest(62, 100, 0.5, alternative="greater").pvalue, rel=0.05)
    lo, hi = cs.cluster_proportion_ci(y, np.arange(100))
    ref = stats.binomtest(62, 100).proportion_ci(method="exact")
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=0.005)


def test_shared_parents_false_fail_at_the_threshold_is_at_most_alpha():
    rng = np.random.default_rng(1)
    reps, threshold = 1000, 0.2
    y, parents = _morphs(rng, parents=60, series=200, sigma=0.8, h_true=threshold, reps=reps)
    assert np.mean(cs.cluster_h_test(y, parents, threshold) <= ALPHA) <= _limit(reps)
    naive = cs.h_one_sample_test(y.sum(1).astype(int), 200, threshold)
    assert np.mean(naive <= ALPHA) > 0.12  # why it is needed: independence fails ~18%
    lo, hi = cs.cluster_h_ci(y, parents)
    assert np.mean((lo <= threshold) & (threshold <= hi)) >= 0.95 - 3 * math.sqrt(0.0475 / reps)
    y, parents = _morphs(rng, parents=60, series=200, sigma=0.8, h_true=-threshold, reps=reps)
    assert np.mean(cs.cluster_h_test(y, parents, threshold, alternative="within") <= ALPHA) <= (
        _limit(reps))


def test_photos_of_one_identity_false_fail_at_the_threshold_is_at_most_alpha():
    rng = np.random.default_rng(2)
    reps, people, photos, threshold = 1000, 40, 5, 0.3
    identity = np.repeat(np.arange(people), photos)
    p_true = math.sin(math.pi / 4 + threshold / 2) ** 2
    a = stats.norm.ppf(p_true) * math.sqrt(1 + 1.0)
    u = rng.normal(0, 1.0, (reps, people))[:, identity]
    y = (rng.random((reps, people * photos)) < stats.norm.cdf(a + u)).astype(float)
    assert np.mean(cs.cluster_h_test(y, identity, threshold) <= ALPHA) <= _limit(reps)
    strong = (rng.random((200, people * photos)) < 0.9).astype(float)
    assert np.mean(cs.cluster_h_test(strong, identity, threshold) <= ALPHA) > 0.95


def test_cluster_inputs_are_validated():
    with pytest.raises(ValueError, match="one id"):
        cs.clustered_proportion([1, 0, 1], [0, 1])
    with pytest.raises(ValueError, match="0/1"):
        cs.clustered_proportion([1, 2, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="successes contains NaN"):
        cs.clustered_proportion([1, np.nan, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="2 distinct"):
        cs.clustered_proportion([1, 0, 0], [3, 3, 3])

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


def _brute_force(y, ids):
    """CR2 variance and Bell-McCaffrey df by explicit loops over ids and parent pairs."""
    n = len(y)
    e = y - y.mean()
    groups = [[i for i in range(n) if g in ids[i]] for g in np.unique(ids)]
    signs = [1.0] * len(groups)
    pairs = {tuple(sorted(r)) for r in ids.tolist()}
    groups += [[i for i in range(n) if tuple(sorted(ids[i])) == pr] for pr in pairs]
    signs += [-1.0] * len(pairs)
    terms = zip(signs, groups, strict=True)
    var = sum(s * (e[g].sum()) ** 2 / (1 - len(g) / n) for s, g in terms) / n**2
    centre = np.eye(n) - 1.0 / n
    w = sum(s / (1 - len(g) / n) * np.outer(np.isin(np.arange(n), g), np.isin(np.arange(n), g))
            for s, g in zip(signs, groups, strict=True))
    mwm = centre @ w @ centre
    return var, np.trace(mwm) ** 2 / np.trace(mwm @ mwm)


def test_design_effect_and_df_match_the_brute_force_sums_over_clusters():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40).astype(float)
    ids = rng.integers(0, 9, (40, 2))
    var, df = _brute_force(y, ids)
    res = cs.clustered_proportion(y, ids)
    assert res.design_effect == pytest.approx(max(1.0, var / (y.mean() * (1 - y.mean()) / 40)))
    assert res.n_eff == pytest.approx(40 / res.design_effect)
    assert res.df == pytest.approx(df)
    # parents are unordered: (a, b) and (b, a) are the same dependence
    swapped = cs.clustered_proportion(y, ids[:, ::-1])
    assert (swapped.design_effect, swapped.df) == pytest.approx((res.design_effect, res.df))
    # items sharing no id: V = p (1 - p) / (n - 1), the unbiased variance, and df = n - 1
    alone = cs.clustered_proportion(y, np.arange(40))
    assert (alone.design_effect, alone.df) == pytest.approx((40 / 39, 39.0))


def test_independent_items_reduce_to_the_wilson_score_test():
    y = np.r_[np.ones(62), np.zeros(38)]
    z = (0.62 - 0.5) / math.sqrt(0.25 / (100 * 99 / 100))  # n_eff = n / (n / (n - 1))
    assert cs.cluster_h_test(y, np.arange(100), 0.0) == pytest.approx(stats.t.sf(z, 99))
    lo, hi = cs.cluster_proportion_ci(y, np.arange(100))
    ref = stats.binomtest(62, 100).proportion_ci(method="wilson")
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=0.003)  # t(99) vs normal


def _crossed(rng, parents, series, sigma, h_true, reps, zipf=False):
    """Series from ``parents`` source and ``parents`` target parents (uniform or Zipf reuse);
    P(minority label) = Phi(a + u_source + u_target), the marginal rate at h_true."""
    p_true = math.sin(math.pi / 4 + h_true / 2) ** 2
    a = stats.norm.ppf(p_true) * math.sqrt(1 + 2 * sigma**2)
    w = 1.0 / np.arange(1, parents + 1) if zipf else np.ones(parents)
    src, tgt = (rng.choice(parents, series, p=w / w.sum()) for _ in range(2))
    us, ut = rng.normal(0, sigma, (reps, parents)), rng.normal(0, sigma, (reps, parents))
    y = rng.random((reps, series)) < stats.norm.cdf(a + us[:, src] + ut[:, tgt])
    return y.astype(float), np.c_[src, tgt + parents]


@pytest.mark.parametrize("parents, zipf", [(5, False), (5, True), (10, False), (20, False)])
def test_few_shared_parents_hold_the_level_at_the_threshold(parents, zipf):
    """Acceptance: 5+5 / 10+10 / 20+20 parents reused 20-80x, true h at the threshold:
    P(fail) and P(pass) <= alpha + 3 SE, and the 90% interval covers >= 90% - 3 SE."""
    rng = np.random.default_rng(parents)
    reps, threshold = 1000, 0.2
    y, ids = _crossed(rng, parents, 400, 1.0, threshold, reps, zipf)
    assert np.mean(cs.cluster_h_test(y, ids, threshold) <= ALPHA) <= _limit(reps)
    assert np.mean(cs.cluster_h_test(y, ids, threshold, alternative="less") <= ALPHA) <= (
        _limit(reps))
    lo, hi = cs.cluster_h_ci(y, ids, confidence=1 - 2 * ALPHA)
    assert np.mean((lo <= threshold) & (threshold <= hi)) >= 0.9 - 3 * math.sqrt(0.09 / reps)


def test_a_clear_effect_from_few_parents_is_still_found():
    rng = np.random.default_rng(9)
    y, ids = _crossed(rng, 10, 400, 0.5, 0.8, 300)
    assert np.mean(cs.cluster_h_test(y, ids, 0.2) <= ALPHA) > 0.8


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
    with pytest.raises(ValueError, match="two ids"):
        cs.clustered_proportion([1, 0, 1], [[0, 1, 2]] * 3)
    with pytest.raises(ValueError, match="0/1"):
        cs.clustered_proportion([1, 2, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="successes contains NaN"):
        cs.clustered_proportion([1, np.nan, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="2 distinct"):
        cs.clustered_proportion([1, 0, 0], [3, 3, 3])


def test_morph_series_from_too_few_parents_are_left_undecided_saying_how_many_are_needed():
    from pytest_clipbias.measures.hypodescent import measure_pair

    rng = np.random.default_rng(4)
    alphas = [np.linspace(0, 1, 5)] * 80
    margins = [np.linspace(0.5, -0.5, 5) + rng.normal(0, 0.2) for _ in range(80)]
    few = [(f"B{i % 4}", f"W{i % 9}") for i in range(80)]
    row = measure_pair(alphas, margins, parents=few)
    assert not row.cells and "only 4 source and 9 target parents" in row.problem
    assert "at least 5" in row.problem
    enough = [(f"B{i % 5}", f"W{i % 9}") for i in range(80)]
    row = measure_pair(alphas, margins, parents=enough)
    assert row.problem is None and row.design_effect >= 1 and "" in row.cells

"""Retrieval skew against the pool: exact hypergeometric test, calibration at a threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias.measures.retrieval import (
    desired_distribution,
    max_skew_test,
    min_permutations,
    ndkl,
    ndkl_test,
)

ALPHA = 0.05


def _ranking(top_women: int, k: int, women: int, men: int) -> list[str]:
    return ["w"] * top_women + ["m"] * (k - top_women) + ["w"] * (women - top_women) + ["m"] * (
        men - k + top_women)


def test_skewed_top_k_from_an_unbalanced_pool_is_flagged_with_the_hypergeometric_p():
    ranked = _ranking(29, 40, 120, 280)  # 72.5% women in the top 40 of a 30% pool
    res = max_skew_test(ranked, 40)
    assert res.worst == "w" and res.max_skew == pytest.approx(math.log(0.725 / 0.3))
    assert res.p_value == pytest.approx(stats.hypergeom.sf(28, 400, 120, 40), rel=1e-9)
    assert res.p_value == pytest.approx(5.5e-9, rel=0.01)
    assert max_skew_test(ranked, 40, threshold=0.3).p_value < ALPHA
    assert max_skew_test(ranked, 40, threshold=1.0).p_value > 0.5  # 0.88 is within 1.0


def test_two_value_p_is_the_exact_tail_of_max_skew_by_enumeration():
    # P(MaxSkew >= s) summed over all top-k compositions equals the reported p
    total, women, k = 30, 9, 10
    x = np.arange(k + 1)
    pmf = stats.hypergeom.pmf(x, total, women, k)
    with np.errstate(divide="ignore"):
        share, q = x / k, women / total
        skew = np.maximum(np.log(share / q), np.log((1 - share) / (1 - q)))
    for top in range(0, women + 1):
        res = max_skew_test(_ranking(top, k, women, total - women), k)
        assert res.p_value == pytest.approx(pmf[skew >= res.max_skew - 1e-12].sum(), rel=1e-9)


def test_attribute_blind_ranking_of_an_unbalanced_pool_is_not_flagged():
    rng = np.random.default_rng(4)
    pool = np.array(["a"] * 280 + ["b"] * 120)
    reps = 300
    ps = np.array([max_skew_test(list(rng.permutation(pool)), 40).p_value for _ in range(reps)])
    assert np.mean(ps <= ALPHA) <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    blind = max_skew_test(["a", "b", "a"] * 100, 30)
    assert abs(blind.max_skew) < 0.05  # against the pool; against uniform it would read 0.29


def test_false_fail_at_the_threshold_with_a_weighted_ranking_is_at_most_alpha():
    # the ranking favours women by odds w chosen so their expected top-k share is 0.3 e^t;
    # an exponential race (sort by Exp(1) / weight) is weighted sampling without replacement
    women, men, k, t = 120, 280, 40, 0.3
    w = 1.0
    lo, hi = 0.0, 10.0
    for _ in range(60):
        w = 0.5 * (lo + hi)
        mean = stats.nchypergeom_wallenius.mean(400, women, k, w)
        lo, hi = (w, hi) if mean < k * 0.3 * math.exp(t) else (lo, w)
    rng = np.random.default_rng(9)
    reps = 4000
    weights = np.r_[np.full(women, w), np.ones(men)]
    order = np.argsort(rng.exponential(size=(reps, 400)) / weights, axis=1)[:, :k]
    top_women = (order < women).sum(1)
    assert abs(top_women.mean() / k - 0.3 * math.exp(t)) < 0.01  # the planted skew is t
    p_of = {x: max_skew_test(_ranking(x, k, women, men), k, threshold=t).p_value
            for x in np.unique(top_women)}
    rejected = np.mean([p_of[x] <= ALPHA for x in top_women])
    assert rejected <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert max_skew_test(_ranking(27, k, women, men), k, threshold=t).p_value < ALPHA


def test_reference_shares_and_input_checks():
    assert desired_distribution(["a", "b", "b", "b"], "pool") == {"a": 0.25, "b": 0.75}
    res = max_skew_test(_ranking(20, 40, 120, 280), 40, reference="uniform")
    assert res.skews["w"] == pytest.approx(math.log(0.5 / 0.5))
    with pytest.raises(ValueError, match="not in the reference"):
        max_skew_test(["a", "c"], 1, reference={"a": 1.0})
    with pytest.raises(TypeError, match="single string"):
        desired_distribution("ab", "pool")
    with pytest.raises(ValueError, match="threshold contains NaN"):
        max_skew_test(["a", "b"], 1, threshold=math.nan)


def test_ndkl_permutation_test_against_the_pool():
    assert min_permutations(10, 0.05) == 400
    skewed = _ranking(29, 40, 120, 280)
    value, p = ndkl_test(skewed, 40, n_permutations=min_permutations(20))
    assert value == pytest.approx(ndkl(skewed, desired_distribution(skewed, "pool"), 40))
    assert p == pytest.approx(1 / (min_permutations(20) + 1))
    rng = np.random.default_rng(1)
    ps = [ndkl_test(list(rng.permutation(skewed)), 40, n_permutations=199, seed=i)[1]
          for i in range(60)]
    assert np.mean(np.array(ps) <= 0.1) <= 0.1 + 3 * math.sqrt(0.1 * 0.9 / 60)

"""Bootstrap, cluster bootstrap, correlation and corrections against references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import stats as cs


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_matches_scipy(method):
    x = np.random.default_rng(0).exponential(size=60)
    ours = cs.bootstrap_ci(x, np.mean, n_resamples=20000, method=method, seed=1)
    ref = stats.bootstrap((x,), np.mean, n_resamples=20000, method=method, rng=2)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert ours[0] == pytest.approx(ref.confidence_interval.low, abs=0.03 * width)
    assert ours[1] == pytest.approx(ref.confidence_interval.high, abs=0.03 * width)


def test_bootstrap_contains_estimate_and_is_seeded():
    x = np.random.default_rng(1).normal(size=30)
    lo, hi = cs.bootstrap_ci(x, np.median, seed=3)
    assert lo <= np.median(x) <= hi
    assert cs.bootstrap_ci(x, np.median, seed=3) == (lo, hi)


def test_cluster_bootstrap_is_wider_than_naive_for_clustered_data():
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(40), 21)
    values = np.repeat(rng.normal(size=40), 21) + 0.1 * rng.normal(size=40 * 21)
    naive = cs.bootstrap_ci(values, np.mean, seed=0)
    clustered = cs.cluster_bootstrap_ci(values, clusters, seed=0)
    assert (clustered[1] - clustered[0]) > 3 * (naive[1] - naive[0])
    # the clustered width matches the spread of the 40 cluster means
    means = values.reshape(40, 21).mean(1)
    expected = 2 * 1.96 * means.std(ddof=1) / math.sqrt(40)
    assert clustered[1] - clustered[0] == pytest.approx(expected, rel=0.15)


def test_cluster_bootstrap_generic_statistic_agrees_with_fast_path():
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(15), 4)
    values = rng.normal(size=60)
    fast = cs.cluster_bootstrap_ci(values, clusters, n_resamples=4000, seed=1)
    slow = cs.cluster_bootstrap_ci(values, clusters, np.mean, n_resamples=4000, seed=1)
    assert fast == pytest.approx(slow, abs=0.05)
    bca = cs.cluster_bootstrap_ci(values, clusters, method="bca", n_resamples=4000, seed=1)
    assert bca[0] < values.mean() < bca[1]


def test_cluster_bootstrap_errors():
    with pytest.raises(ValueError, match="at least 2 clusters"):
        cs.cluster_bootstrap_ci([1.0, 2.0], [0, 0])
    with pytest.raises(ValueError, match="differ in length"):
        cs.cluster_bootstrap_ci([1.0, 2.0], [0, 1, 2])


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_correlation_matches_scipy(method):
    rng = np.random.default_rng(4)
    x = rng.normal(size=30)
    y = 0.6 * x + rng.normal(size=30)
    res = cs.correlation(x, y, method=method)
    ref = stats.pearsonr(x, y) if method == "pearson" else stats.spearmanr(x, y)
    assert res.r == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    if method == "pearson":
        ci = ref.confidence_interval(0.95)
        assert res.ci == pytest.approx((ci.low, ci.high))
    assert res.ci[0] < res.r < res.ci[1]


def test_correlation_bootstrap_and_spearman_fisher_width():
    rng = np.random.default_rng(5)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    boot = cs.correlation(x, y, ci="bootstrap", n_resamples=4000, seed=0)
    fisher = cs.correlation(x, y)
    assert boot.ci[0] < fisher.r < boot.ci[1]
    assert boot.ci == pytest.approx(fisher.ci, abs=0.1)
    sp = cs.correlation(x, y, method="spearman")
    z = np.arctanh(sp.r)
    assert np.arctanh(sp.ci[1]) - z == pytest.approx(1.959964 * math.sqrt(1.06 / 37), rel=1e-5)


def test_correlation_errors():
    with pytest.raises(ValueError, match="at least 4 pairs"):
        cs.correlation([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="constant"):
        cs.correlation([1, 1, 1, 1, 1], [1, 2, 3, 4, 5])


def test_holm_and_bonferroni_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, 0.06, 0.06 (monotone)
    np.testing.assert_allclose(cs.adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(cs.adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])


def test_bh_matches_scipy():
    p = np.random.default_rng(6).uniform(size=25) ** 2
    np.testing.assert_allclose(cs.adjust_pvalues(p, "bh"), stats.false_discovery_control(p))


def test_nan_entries_stay_out_of_the_family():
    out = cs.adjust_pvalues([0.01, np.nan, 0.02], "holm")
    np.testing.assert_allclose(out, [0.02, np.nan, 0.02])
    with pytest.raises(ValueError, match="correction"):
        cs.adjust_pvalues([0.1], "sidak")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cs.adjust_pvalues([1.5], "holm")


def test_holm_controls_fwer_simulation():
    rng = np.random.default_rng(7)
    p = rng.uniform(size=(2000, 20))  # 20 true nulls per family
    rejected = np.array([np.any(cs.adjust_pvalues(row, "holm") < 0.05) for row in p])
    assert rejected.mean() <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 2000)

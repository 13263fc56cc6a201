"""Minimum-effect tests and their intervals: exact references, exact enumeration, simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pytest_clipbias import stats as cs

ALPHA = 0.05


def _h(p1, p2):
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def _p_at_h(h, ref=0.5):
    return math.sin(math.asin(math.sqrt(ref)) + h / 2) ** 2


# --- one-sample h (hypodescent) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "h0"), [(60, 100, 0.0), (60, 100, 0.2), (3, 12, -0.1), (12, 12, 0.5)])
def test_h_one_sample_test_is_scipys_exact_binomial_at_the_mapped_rate(k, n, h0):
    p0 = _p_at_h(h0)
    assert cs.h_one_sample_test(k, n, h0) == pytest.approx(
        stats.binomtest(k, n, p0, alternative="greater").pvalue, rel=1e-9)
    assert cs.h_one_sample_test(k, n, h0, alternative="less") == pytest.approx(
        stats.binomtest(k, n, p0, alternative="less").pvalue, rel=1e-9)


def test_h_one_sample_ci_is_clopper_pearson_mapped_and_inverted_by_the_test():
    lo, hi = cs.h_one_sample_ci(70, 100, confidence=0.9)
    ref = stats.binomtest(70, 100).proportion_ci(0.9, method="exact")
    assert (lo, hi) == pytest.approx((_h(ref.low, 0.5), _h(ref.high, 0.5)), rel=1e-9)
    assert cs.h_one_sample_test(70, 100, lo) == pytest.approx(0.05, rel=1e-6)
    assert cs.h_one_sample_test(70, 100, hi, alternative="less") == pytest.approx(0.05, rel=1e-6)
    assert cs.h_one_sample_test(70, 100, lo, alternative="beyond") == pytest.approx(0.1, rel=1e-6)
    np.testing.assert_allclose(cs.h_one_sample_ci(np.array([70, 0]), 100)[0],
                               [cs.h_one_sample_ci(70, 100)[0], -math.pi / 2])


def _exact_reject_rate(n, h_true, threshold, alternative):
    k = np.arange(n + 1)
    p = cs.h_one_sample_test(k, n, threshold, alternative=alternative)
    return float((stats.binom.pmf(k, n, _p_at_h(h_true)) * (p <= ALPHA)).sum())


@pytest.mark.parametrize("n", [12, 30, 100, 1000])
def test_h_one_sample_false_fail_and_false_pass_at_the_threshold_are_at_most_alpha(n):
    for t in (0.1, 0.2, 0.5):
        assert _exact_reject_rate(n, t, t, "greater") <= ALPHA
        assert _exact_reject_rate(n, t, t, "beyond") <= ALPHA
        assert _exact_reject_rate(n, t, t, "within") <= ALPHA  # TOST at the boundary
        assert _exact_reject_rate(n, -t, t, "within") <= ALPHA


def test_h_one_sample_acceptance_of_issue_11():
    # 100 series: h = 0.78 fails almost surely, h = 0.2 fails <= alpha; 1000 series at h = 0 pass
    assert _exact_reject_rate(100, 0.78, 0.2, "greater") > 0.99
    assert _exact_reject_rate(100, 0.2, 0.2, "greater") <= ALPHA
    assert _exact_reject_rate(1000, 0.0, 0.2, "within") > 0.99


# --- two-sample h (MOVER) ---------------------------------------------------------------


def _enumerate(n1, n2, p1, p2):
    k1, k2 = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
    w = stats.binom.pmf(np.arange(n1 + 1), n1, p1)[:, None] * stats.binom.pmf(
        np.arange(n2 + 1), n2, p2)[None, :]
    return k1, k2, w


@pytest.mark.parametrize(("n", "p1", "p2"), [(30, 0.10, 0.05), (100, 0.02, 0.01)])
def test_h_two_sample_ci_holds_its_level_where_the_old_interval_covered_86_to_88(n, p1, p2):
    k1, k2, w = _enumerate(n, n, p1, p2)
    h = _h(p1, p2)
    lo, hi = cs.h_two_sample_ci(k1, n, k2, n)
    assert float((w * ((lo <= h) & (h <= hi))).sum()) >= 0.95
    half = stats.norm.ppf(0.975) * math.sqrt(2 / n)
    est = 2 * np.arcsin(np.sqrt(k1 / n)) - 2 * np.arcsin(np.sqrt(k2 / n))
    assert float((w * (np.abs(est - h) <= half)).sum()) < 0.89  # the interval it replaces


def test_h_two_sample_one_sided_error_worst_case_over_a_grid_is_at_most_alpha():
    # the one-sided test at the threshold rejects iff the 1 - 2 alpha limit is beyond it
    worst = 0.0
    for n1, n2 in [(8, 8), (12, 30), (30, 30), (100, 60)]:
        k1, k2, _ = _enumerate(n1, n2, 0.5, 0.5)
        lo, hi = cs.h_two_sample_ci(k1, n1, k2, n2, confidence=1 - 2 * ALPHA)
        for p1 in (0.02, 0.1, 0.3, 0.5, 0.7):
            for p2 in (0.01, 0.05, 0.2, 0.5):
                _, _, w = _enumerate(n1, n2, p1, p2)
                t = _h(p1, p2)
                worst = max(worst, float((w * (lo > t)).sum()), float((w * (hi < t)).sum()))
    assert worst <= ALPHA
    k1, k2, w = _enumerate(30, 30, 0.1, 0.05)
    p = cs.h_two_sample_test(k1, 30, k2, 30, _h(0.1, 0.05))
    assert float((w * (p <= ALPHA)).sum()) <= ALPHA


def test_h_two_sample_test_inverts_the_interval_and_vectorises():
    lo, hi = cs.h_two_sample_ci(12, 30, 4, 30, confidence=0.9)
    assert cs.h_two_sample_test(12, 30, 4, 30, lo) == pytest.approx(0.05, abs=1e-9)
    p_hi = cs.h_two_sample_test(12, 30, 4, 30, hi, alternative="less")
    assert p_hi == pytest.approx(0.05, abs=1e-9)
    lo95, hi95 = cs.h_two_sample_ci(12, 30, 4, 30)
    assert cs.h_two_sample_test(12, 30, 4, 30, min(abs(lo95), hi95) * 0.999,
                                alternative="beyond") < 0.05
    wide = max(abs(lo), abs(hi)) * 1.001
    within = cs.h_two_sample_test(12, 30, 4, 30, wide, alternative="within")
    assert within < 0.05
    many = cs.h_two_sample_test(np.array([12, 4]), 30, 4, 30, 0.1)
    assert many[0] == pytest.approx(cs.h_two_sample_test(12, 30, 4, 30, 0.1))
    assert many[1] > 0.5  # h = 0 is no evidence of h > 0.1


def test_h_two_sample_wilson_option_matches_newcombe_limits_on_the_arcsine_scale():
    lo, hi = cs.h_two_sample_ci(30, 100, 50, 100, method="wilson")
    l1, u1 = cs.wilson(30, 100)
    l2, u2 = cs.wilson(50, 100)
    h = _h(0.3, 0.5)
    g = lambda p: 2 * math.asin(math.sqrt(p))  # noqa: E731
    assert lo == pytest.approx(h - math.hypot(g(0.3) - g(l1), g(u2) - g(0.5)))
    assert hi == pytest.approx(h + math.hypot(g(u1) - g(0.3), g(0.5) - g(l2)))


# --- Cohen's d (noncentral t) and Hedges' g ---------------------------------------------


def test_d_test_at_zero_is_the_one_sided_t_test():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.4, 1, 9), rng.normal(0, 1, 12)
    d = cs.cohens_d(x, y)
    assert cs.d_test(d, 9, 12, 0.0) == pytest.approx(
        stats.ttest_ind(x, y, alternative="greater").pvalue, rel=1e-7)
    lo, hi = cs.d_ci(d, 9, 12, confidence=0.9)
    assert cs.d_test(d, 9, 12, lo) == pytest.approx(0.05, abs=1e-8)
    assert cs.d_test(d, 9, 12, hi, alternative="less") == pytest.approx(0.05, abs=1e-8)


def test_d_ci_coverage_and_false_fail_at_the_threshold_by_simulation():
    rng = np.random.default_rng(7)
    reps, n1, n2, delta = 600, 8, 10, 0.5
    x = rng.normal(delta, 1, (reps, n1))
    y = rng.normal(0, 1, (reps, n2))
    sp = np.sqrt((x.var(1, ddof=1) * (n1 - 1) + y.var(1, ddof=1) * (n2 - 1)) / (n1 + n2 - 2))
    d = (x.mean(1) - y.mean(1)) / sp
    lo, hi = cs.d_ci(d, n1, n2)
    se = math.sqrt(0.05 * 0.95 / reps)
    assert np.mean((lo <= delta) & (delta <= hi)) >= 0.95 - 3 * se
    limit = ALPHA + 3 * math.sqrt(ALPHA * 0.95 / reps)
    assert np.mean(cs.d_test(d, n1, n2, delta) <= ALPHA) <= limit
    assert np.mean(cs.d_test(d, n1, n2, delta, alternative="within") <= ALPHA) <= limit


def test_hedges_correction_and_unbiasedness():
    exact = math.gamma(5) / (math.sqrt(5) * math.gamma(4.5))
    assert cs.hedges_correction(10) == pytest.approx(exact)
    assert cs.hedges_correction(10) == pytest.approx(1 - 3 / (4 * 10 - 1), abs=5e-4)
    assert cs.hedges_correction(1e6) == pytest.approx(1.0, abs=1e-6)
    rng = np.random.default_rng(11)
    x, y = rng.normal(0.8, 1, (20000, 6)), rng.normal(0, 1, (20000, 6))
    sp = np.sqrt((x.var(1, ddof=1) + y.var(1, ddof=1)) / 2)
    d = (x.mean(1) - y.mean(1)) / sp
    g = cs.hedges_correction(10) * d
    assert abs(g.mean() - 0.8) < 0.02 < abs(d.mean() - 0.8)
    assert cs.hedges_g(x[0], y[0]) == pytest.approx(g[0])


# --- WEAT / SC-EAT d ---------------------------------------------------------------------


def test_eat_d_ci_covers_theta_with_8_word_sets():
    rng = np.random.default_rng(5)
    reps, n, delta = 300, 8, 1.0
    theta = delta / math.sqrt(1 + delta**2 / 4)
    x, y = rng.normal(delta, 1, (reps, n)), rng.normal(0, 1, (reps, n))
    lo, hi = cs.eat_d_ci(x, y)
    assert np.mean((lo <= theta) & (theta <= hi)) >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / reps)
    fails = np.mean(cs.eat_d_test(x, y, theta) <= ALPHA)
    assert fails <= ALPHA + 3 * math.sqrt(ALPHA * 0.95 / reps)
    assert cs.eat_d_ci(x[0], y[0])[0] == pytest.approx(lo[0])


def test_eat_d_test_agrees_with_weat_d_and_inverts_the_interval():
    rng = np.random.default_rng(2)
    tx, ty, a, b = (rng.normal(size=(8, 16)) for _ in range(4))
    sx, sy = cs.association(tx, a, b), cs.association(ty, a, b)
    lo, hi = cs.eat_d_ci(sx, sy, confidence=0.9)
    assert lo < cs.weat_d(tx, ty, a, b) < hi
    assert cs.eat_d_test(sx, sy, lo) == pytest.approx(0.05, abs=1e-7)
    assert cs.eat_d_test(sx, sy, hi, alternative="less") == pytest.approx(0.05, abs=1e-7)
    assert cs.eat_d_test(sx, sy, 2.0) == 1.0  # |theta| <= 2 always for equal group sizes


def test_min_effect_inputs_are_validated():
    with pytest.raises(ValueError, match="threshold contains NaN"):
        cs.h_one_sample_test(5, 10, math.nan)
    with pytest.raises(ValueError, match="alternative"):
        cs.d_test(0.3, 5, 5, 0.2, alternative="two-sided")
    with pytest.raises(ValueError, match="k1"):
        cs.h_two_sample_test(11, 10, 2, 10, 0.2)
    with pytest.raises(ValueError, match="x_scores contains NaN"):
        cs.eat_d_ci([1.0, math.nan, 2.0], [1.0, 2.0])


@settings(max_examples=30, deadline=None)
@given(n1=st.integers(1, 60), n2=st.integers(1, 60), f1=st.floats(0, 1), f2=st.floats(0, 1),
       t=st.floats(0.0, 1.0), a=st.sampled_from([0.01, 0.05, 0.1]))
def test_every_verdict_agrees_with_its_interval(n1, n2, f1, f2, t, a):
    k1, k2 = round(f1 * n1), round(f2 * n2)
    lo1, hi1 = cs.h_two_sample_ci(k1, n1, k2, n2, confidence=1 - 2 * a)
    lo2, hi2 = cs.h_two_sample_ci(k1, n1, k2, n2, confidence=1 - a)
    eps = 1e-6  # no claim is made for a threshold within rounding of a limit
    p = {alt: cs.h_two_sample_test(k1, n1, k2, n2, t, alternative=alt) for alt in
         ("greater", "less", "beyond", "within")}
    if abs(lo1 - t) > eps:
        assert (p["greater"] <= a) == (lo1 > t)
    if abs(hi1 + t) > eps:
        assert (cs.h_two_sample_test(k1, n1, k2, n2, -t, alternative="less") <= a) == (hi1 < -t)
    if min(abs(lo2 - t), abs(hi2 + t)) > eps:
        assert (p["beyond"] <= a) == (lo2 > t or hi2 < -t)
    if min(abs(lo1 + t), abs(hi1 - t)) > eps:
        assert (p["within"] <= a) == (-t < lo1 and hi1 < t)
    assert all(0.0 <= v <= 1.0 for v in p.values())
    # a larger threshold is never easier to exceed
    assert cs.h_one_sample_test(k1, n1, t) <= cs.h_one_sample_test(k1, n1, t + 0.1) + 1e-12

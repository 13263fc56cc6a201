"""Property tests (hypothesis): invariances, sign flips, bounds."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pytest_clipbias import stats as cs

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
samples = arrays(np.float64, st.integers(2, 12), elements=finite)
small = arrays(np.float64, st.integers(1, 7), elements=finite)  # exact enumeration stays cheap
counts = st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
prob = st.floats(0, 1)


def _spread(x: np.ndarray) -> bool:
    return float(np.ptp(x)) > 1e-6 * (1 + float(np.abs(x).max()))


@given(small, small, st.randoms())
def test_d_and_p_invariant_to_order_within_groups(x, y, rnd):
    assume(len(x) + len(y) >= 3 and _spread(np.concatenate([x, y])))
    xs, ys = x.copy(), y.copy()
    rnd.shuffle(xs)
    rnd.shuffle(ys)
    assert math.isclose(cs.cohens_d(x, y), cs.cohens_d(xs, ys), rel_tol=1e-9, abs_tol=1e-9)
    p1 = cs.permutation_test(x, y, n_permutations=199, seed=1, exact=True).p_value
    p2 = cs.permutation_test(xs, ys, n_permutations=199, seed=1, exact=True).p_value
    assert math.isclose(p1, p2, rel_tol=1e-9)


@given(small, small)
def test_swapping_groups_flips_sign_and_tail(x, y):
    assume(len(x) + len(y) >= 3 and _spread(np.concatenate([x, y])))
    assert math.isclose(cs.cohens_d(x, y), -cs.cohens_d(y, x), rel_tol=1e-9, abs_tol=1e-12)
    greater = cs.permutation_test(x, y, alternative="greater", exact=True).p_value
    less = cs.permutation_test(y, x, alternative="less", exact=True).p_value
    assert math.isclose(greater, less, rel_tol=1e-9)


@given(samples, samples, st.sampled_from(["greater", "less", "two-sided"]),
       st.integers(0, 2**32 - 1))
def test_p_values_lie_in_unit_interval(x, y, alternative, seed):
    res = cs.permutation_test(x, y, alternative=alternative, n_permutations=99, seed=seed,
                              exact=False)
    assert 0 < res.p_value <= 1
    assert res.p_value >= 1 / 100


@given(counts, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_proportion_intervals_contain_the_estimate(kn, confidence):
    k, n = kn
    for interval in (cs.wilson, cs.clopper_pearson):
        lo, hi = interval(k, n, confidence=confidence)
        assert 0 <= lo <= k / n <= hi <= 1


@given(counts, counts)
def test_newcombe_contains_the_difference(a, b):
    lo, hi = cs.newcombe(a[0], a[1], b[0], b[1])
    assert -1 - 1e-12 <= lo <= a[0] / a[1] - b[0] / b[1] <= hi <= 1 + 1e-12


@given(prob, prob)
def test_cohens_h_bounds_and_antisymmetry(p1, p2):
    h = cs.cohens_h(p1, p2)
    assert -math.pi - 1e-12 <= h <= math.pi + 1e-12
    assert math.isclose(h, -cs.cohens_h(p2, p1), abs_tol=1e-12)
    assert (h > 0) == (p1 > p2) or math.isclose(p1, p2) or abs(h) < 1e-12


@given(samples, samples)
def test_cohens_d_is_the_point_biserial_correlation_rescaled(x, y):
    """r_pb = d / sqrt(d^2 + (n - 2)(1/n_x + 1/n_y)) equals Pearson r of value vs group."""
    assume(cs.pooled_sd(x, y) > 1e-6 * (1 + np.abs(np.concatenate([x, y])).max()))
    d = cs.cohens_d(x, y)
    n = len(x) + len(y)
    r = d / math.sqrt(d * d + (n - 2) * (1 / len(x) + 1 / len(y)))
    group = np.r_[np.ones(len(x)), np.zeros(len(y))]
    assert math.isclose(r, np.corrcoef(np.r_[x, y], group)[0, 1], rel_tol=1e-6, abs_tol=1e-9)


embeddings = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s))


@given(embeddings, st.integers(2, 12), st.integers(2, 12))
def test_eat_effect_sizes_are_bounded(rng, nx, ny):
    """With std over the union (ddof=1), |d| <= sqrt(n (n - 1) / (n_x n_y)); < 2 if n_x = n_y."""
    x, y = rng.normal(size=(nx, 6)), rng.normal(size=(ny, 6))
    a, b = rng.normal(size=(nx, 6)) + 2 * rng.normal(size=6), rng.normal(size=(ny, 6))
    n = nx + ny
    bound = math.sqrt(n * (n - 1) / (nx * ny)) * (1 + 1e-9)
    assert abs(cs.weat_d(x, y, a, b)) <= bound
    assert np.all(np.abs(cs.sc_eat_d(x, a, b)) <= bound)


@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1)), st.sampled_from(
    ["holm", "bonferroni", "bh"]))
def test_adjusted_p_values_bounds(p, method):
    adj = cs.adjust_pvalues(p, method)
    assert np.all(adj >= p - 1e-15) and np.all(adj <= 1)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)  # adjustment keeps the order


@given(arrays(np.float64, st.integers(4, 25), elements=finite), st.randoms())
def test_correlation_invariant_to_pair_order_and_bounded(x, rnd):
    assume(_spread(x))
    y = x[::-1] + np.arange(len(x))
    assume(_spread(y))
    idx = list(range(len(x)))
    rnd.shuffle(idx)
    for method in ("pearson", "spearman"):
        a = cs.correlation(x, y, method=method)
        b = cs.correlation(x[idx], y[idx], method=method)
        assert math.isclose(a.r, b.r, rel_tol=1e-9, abs_tol=1e-9)
        assert -1 <= a.ci[0] <= a.r <= a.ci[1] <= 1

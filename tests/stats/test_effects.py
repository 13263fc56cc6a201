"""Effect sizes against closed forms and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import stats as cs


def test_cohens_d_closed_form():
    x = np.array([2.0, 4.0, 6.0])
    y = np.array([1.0, 2.0, 3.0])
    # pooled variance (ddof=1): (8 + 2) / 4 = 2.5
    assert cs.cohens_d(x, y) == pytest.approx((4 - 2) / math.sqrt(2.5))
    # ddof=0: (8 + 2) / 6
    assert cs.cohens_d(x, y, ddof=0) == pytest.approx(2 / math.sqrt(10 / 6))


def test_cohens_d_matches_t_statistic():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.3, 1, 40), rng.normal(0, 1, 55)
    t = stats.ttest_ind(x, y).statistic
    assert cs.cohens_d(x, y) == pytest.approx(t * math.sqrt(1 / 40 + 1 / 55))


def test_cohens_d_degenerate_groups():
    assert cs.cohens_d([1, 1], [1, 1]) == 0.0
    assert cs.cohens_d([2, 2], [1, 1]) == math.inf
    with pytest.raises(ValueError, match="at least one value"):
        cs.cohens_d([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        cs.cohens_d([1.0, np.nan], [1.0, 2.0])


def test_cohens_d_ci_is_the_noncentral_t_interval_close_to_the_normal_one_for_large_n():
    lo, hi = cs.cohens_d_ci(0.5, 50, 50)
    assert (lo, hi) == pytest.approx(cs.d_ci(0.5, 50, 50))
    se = math.sqrt(100 / 2500 + 0.25 / 200)
    assert (lo, hi) == pytest.approx((0.5 - 1.959964 * se, 0.5 + 1.959964 * se), abs=0.01)


def test_cohens_h_values():
    assert cs.cohens_h(0.5, 0.5) == 0.0
    assert cs.cohens_h(1.0, 0.0) == pytest.approx(math.pi)
    assert cs.cohens_h(0.697, 0.5) == pytest.approx(2 * math.asin(math.sqrt(0.697)) - math.pi / 2)
    np.testing.assert_allclose(cs.cohens_h(np.array([0.5, 1.0]), 0.5), [0.0, math.pi / 2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cs.cohens_h(1.2, 0.5)


def test_cohens_h_ci_one_sample_maps_the_proportion_interval():
    lo, hi = cs.cohens_h_ci(70, 100, p0=0.5)
    plo, phi = cs.wilson(70, 100)
    assert lo == pytest.approx(cs.cohens_h(plo, 0.5)) and hi == pytest.approx(cs.cohens_h(phi, 0.5))
    assert lo < cs.cohens_h(0.7, 0.5) < hi


def test_cohens_h_ci_two_sample_is_the_mover_interval():
    lo, hi = cs.cohens_h_ci(30, 100, 50, 100)
    h = cs.cohens_h(0.3, 0.5)
    assert (lo, hi) == pytest.approx(cs.h_two_sample_ci(30, 100, 50, 100))
    assert (hi - lo) / 2 == pytest.approx(1.959964 * math.sqrt(0.02), rel=0.1)
    assert lo < h < hi


def test_proportion_difference_ratio():
    assert cs.proportion_difference(3, 10, 1, 10) == pytest.approx(0.2)
    assert cs.proportion_ratio(3, 10, 1, 10) == pytest.approx(3.0)
    assert cs.proportion_ratio(1, 10, 0, 10) == math.inf
    assert math.isnan(cs.proportion_ratio(0, 10, 0, 10))


def test_log_ratio_skew():
    assert cs.log_ratio_skew(0.75, 0.5) == pytest.approx(math.log(1.5))
    assert cs.log_ratio_skew(0.0, 0.5) == -math.inf
    with pytest.raises(ValueError, match="positive"):
        cs.log_ratio_skew(0.5, 0.0)


def test_cramers_v_against_scipy():
    table = np.array([[20, 10, 5], [5, 15, 25]])
    chi2 = stats.chi2_contingency(table, correction=False).statistic
    assert cs.cramers_v(table) == pytest.approx(math.sqrt(chi2 / (table.sum() * 1)))
    assert cs.cramers_v(table) == pytest.approx(
        stats.contingency.association(table, method="cramer")
    )


def _embeddings(seed: int, n: int, d: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def test_sc_eat_d_by_hand():
    w = _embeddings(0, 1)[0]
    a, b = _embeddings(1, 5), _embeddings(2, 6)

    def cos(u, v):
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    ca = [cos(w, x) for x in a]
    cb = [cos(w, x) for x in b]
    expected = (np.mean(ca) - np.mean(cb)) / np.std(ca + cb, ddof=1)
    assert cs.sc_eat_d(w, a, b) == pytest.approx(expected)
    many = cs.sc_eat_d(np.stack([w, w]), a, b)
    np.testing.assert_allclose(many, [expected, expected])


def test_weat_d_by_hand_and_sign_flip():
    x, y, a, b = (_embeddings(s, 8) for s in range(4))

    def s(w):
        return cs.cosine(w, a).mean() - cs.cosine(w, b).mean()

    sx = [s(w) for w in x]
    sy = [s(w) for w in y]
    expected = (np.mean(sx) - np.mean(sy)) / np.std(sx + sy, ddof=1)
    assert cs.weat_d(x, y, a, b) == pytest.approx(expected)
    assert cs.weat_d(y, x, a, b) == pytest.approx(-expected)
    assert cs.weat_d(x, y, b, a) == pytest.approx(-expected)


def test_cosine_rejects_zero_vectors():
    with pytest.raises(ValueError, match="zero vector"):
        cs.cosine(np.zeros((1, 3)), np.ones((1, 3)))


BAD = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("bad", BAD)
def test_every_public_function_refuses_nan_and_inf_naming_the_argument(bad):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(4, 3))
    poisoned = emb.copy()
    poisoned[2, 1] = bad
    calls = {
        "targets_x": lambda: cs.weat_test(poisoned, emb, emb, emb, n_permutations=10),
        "attributes_b": lambda: cs.sc_eat_test(emb[0], emb, poisoned),
        "attributes_a": lambda: cs.weat_d(emb, emb, poisoned, emb),
        "pooled": lambda: cs.subset_sum_test(poisoned[:, 1], 2),
        "x": lambda: cs.permutation_test_columns(poisoned, emb, n_permutations=10),
        "y": lambda: cs.permutation_test(emb[:, 0], poisoned[:, 1]),
        "data": lambda: cs.bootstrap_ci(poisoned[:, 1], n_resamples=10),
        "values": lambda: cs.cluster_bootstrap_ci(poisoned[:, 1], [0, 0, 1, 1]),
        "p1": lambda: cs.cohens_h(bad, 0.5),
        "d": lambda: cs.cohens_d_ci(bad, 10, 10),
        "table": lambda: cs.fisher_exact([[1, bad], [2, 3]]),
        "k1": lambda: cs.two_proportion_test(bad, 3, 1, 3),
        "k": lambda: cs.wilson(bad, 3),
        "observed": lambda: cs.log_ratio_skew(bad, 0.5),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"^{name} contains NaN or infinite"):
            call()

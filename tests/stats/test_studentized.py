"""Cohen's d by the studentized bootstrap: one inversion for test and interval, coverage on
skewed (lognormal) and heavy-tailed (t4) scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_clipbias.stats import cohens_d, studentized_d
from pytest_clipbias.stats.studentized import d_and_se
from pytest_clipbias.testing import verdict_rates

ALPHA = 0.05


def test_d_and_se_match_cohens_d_and_the_normal_theory_se_on_normal_scores():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.5, 1, 4000), rng.normal(0, 1, 3000)
    d, se = d_and_se(x, y)
    assert d == pytest.approx(cohens_d(x, y))
    # normal scores: se^2 ~ 1/n1 + 1/n2 + d^2 / (2 (n1 + n2)) (Hedges & Olkin 1985)
    assert se == pytest.approx(math.sqrt(1 / 4000 + 1 / 3000 + d**2 / 14000), rel=0.05)


def test_test_and_interval_are_one_inversion_and_seeded_by_content():
    rng = np.random.default_rng(1)
    x, y = rng.lognormal(0, 0.5, 40) + 0.3, rng.lognormal(0, 0.5, 50)
    res = studentized_d(x, y, n_resamples=999)
    lo, hi = res.interval(1 - 2 * ALPHA)
    for c in np.linspace(lo - 0.3, hi + 0.3, 41):
        assert (res.p_above(c) <= ALPHA) == (lo > c) or math.isclose(c, lo, abs_tol=1e-9)
        assert (res.p_below(c) <= ALPHA) == (hi < c) or math.isclose(c, hi, abs_tol=1e-9)
    again = studentized_d(x.copy(), y.copy(), n_resamples=999)
    assert again.interval(0.9) == res.interval(0.9)
    assert studentized_d(x, y, n_resamples=9).interval(0.99) == (-math.inf, math.inf)
    with pytest.raises(ValueError, match="at least 3"):
        studentized_d([1.0, 2.0], y)


@pytest.mark.parametrize("kind", ["cohens-d", "cohens-d-lognormal", "cohens-d-t4"])
def test_d_cells_hold_their_level_at_the_threshold_on_skewed_and_heavy_tailed_scores(kind):
    """True d = threshold = 0.5, 100 per group: P(fail) <= alpha + 3 SE and the 90% interval
    covers >= 90% - 3 SE (the normal-theory interval covers ~85% on these lognormal scores)."""
    reps = 200
    r = verdict_rates(kind, 0.5, 0.5, n=100, reps=reps, seed=3)
    assert r["fail"] <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert r["coverage"] >= 0.9 - 3 * math.sqrt(0.09 / reps)

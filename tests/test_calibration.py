"""Calibration shown, not claimed: verdict rates of the measure + judge at known true effects.

For every kind of cell a helper uses (one-sample h: hypodescent, also with
shared parents; two-sample h: person default, label parity, region skew
"rate"; Cohen's d: region skew "association"; EAT d: association), at true
effect = threshold: P(fail) <= alpha + 3 SE and P(pass) <= alpha + 3 SE; the
1 - 2 alpha interval covers the truth; and no verdict contradicts its estimate
or interval. benchmarks/bench_calibration.py prints the same with more reps.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_clipbias.assertions.judge import Rules, judge_cells
from pytest_clipbias.stats.decision import size
from pytest_clipbias.testing import _cells, verdict_rates

ALPHA, T = 0.05, 0.2
CASES = [("hypodescent", 100, 400), ("hypodescent-clustered", 100, 120),
         ("two-sample-h", 100, 400), ("cohens-d", 60, 400), ("eat-d", 12, 300)]


def _bound(p: float, reps: int) -> float:
    return p + 3 * math.sqrt(p * (1 - p) / reps)


@pytest.mark.parametrize(("kind", "n", "reps"), CASES)
def test_error_rates_and_coverage_at_the_threshold(kind, n, reps):
    rates = verdict_rates(kind, T, T, n=n, reps=reps, seed=1)
    assert rates["fail"] <= _bound(ALPHA, reps)
    assert rates["pass"] <= _bound(ALPHA, reps)
    assert rates["coverage"] >= 1 - _bound(2 * ALPHA, reps)


@pytest.mark.parametrize(("kind", "n", "reps"), CASES)
def test_no_verdict_contradicts_its_estimate_or_interval(kind, n, reps):
    rules = Rules(T, direction="two-sided", correction="none")
    for effect in (0.0, T, 2 * T):
        cells = _cells(kind, effect, n, min(reps, 50), np.random.default_rng(2))
        for j in judge_cells(cells, rules):
            if j.verdict == "pass":
                assert size(j.effect, "two-sided") < T and -T < j.ci[0] <= j.ci[1] < T
            if j.verdict == "fail":
                assert j.ci_basis == "corrected" and (j.ci[0] > T or j.ci[1] < -T)


def test_power_at_twice_the_threshold_and_passing_at_zero():
    assert verdict_rates("hypodescent", 2 * T, T, n=300, reps=300)["fail"] >= 0.9
    assert verdict_rates("hypodescent", 0.0, T, n=1000, reps=200)["pass"] >= 0.99
    assert verdict_rates("two-sample-h", 2 * T, T, n=400, reps=300)["fail"] >= 0.85


def test_shared_parents_need_the_cluster_cell():
    """The same clustered data judged as if the series were independent fail too often."""
    rng = np.random.default_rng(3)
    clustered = _cells("hypodescent-clustered", T, 100, 120, rng)
    from pytest_clipbias.measures.cells import one_sample_h_cells

    rules = Rules(T, direction="greater", correction="none")
    rates = [np.sin(np.arcsin(np.sqrt(0.5)) + c.effect / 2) ** 2 for c in clustered]
    naive = one_sample_h_cells([round(100 * r) for r in rates], [100] * len(clustered))
    fail_naive = np.mean([j.verdict == "fail" for j in judge_cells(naive, rules)])
    fail_clustered = np.mean([j.verdict == "fail" for j in judge_cells(clustered, rules)])
    assert fail_clustered <= _bound(ALPHA, 120) < fail_naive

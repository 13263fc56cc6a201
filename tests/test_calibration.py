"""Calibration shown, not claimed: verdict rates of the measure + judge at known true effects.

For every kind of cell a helper uses (one-sample h: hypodescent, also with
shared parents; two-sample h: person default, label parity, region skew
"rate", each also through its own measure; Cohen's d: region skew
"association"; EAT d: association; MaxSkew@k: the inverted hypergeometric
tests of retrieval; NDKL's permutation test; prompt robustness end to end,
slow), at true
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
         ("two-sample-h", 100, 400), ("cohens-d", 60, 400), ("eat-d", 12, 300),
         ("max-skew", 100, 100), ("label-parity", 100, 300), ("region-rate", 100, 300)]


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


def _bench():
    """benchmarks/bench_calibration.py, imported once (its ROWS and measure)."""
    import importlib.util
    import sys
    from pathlib import Path

    if "bench_calibration" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_calibration.py"
        spec = importlib.util.spec_from_file_location("bench_calibration", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_calibration"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["bench_calibration"]


def check_row(row, reps: int) -> None:
    m = _bench().measure(row, reps, seed=5)
    assert m["fail_at_t"] <= _bound(ALPHA, reps), (row.name, m)
    assert m["pass_at_t"] <= _bound(ALPHA, reps), (row.name, m)
    assert 1 - m["coverage"] <= _bound(2 * ALPHA, reps), (row.name, m)
    if "pass_at_0" in m:  # the advised n gives the stated 80% power to pass
        assert m["pass_at_0"] >= 0.8 - 3 * math.sqrt(0.16 / reps), (row.name, m)


FAST = ("hypodescent", "two-sample-h", "eat-d")


@pytest.mark.parametrize("kind", FAST)
def test_the_benchmark_figures_hold_for_the_fast_kinds(kind):
    """The README table's checks, fewer reps; the full grid is the slow test below."""
    row = next(r for r in _bench().ROWS if r.kind == kind)
    check_row(row, 200)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(12))
def test_every_row_of_the_calibration_benchmark_holds_alpha_plus_3_se(index):
    check_row(_bench().ROWS[index], 600)


def test_ndkl_permutation_test_holds_its_size_and_finds_a_planted_skew():
    """The benchmark's NDKL line, fewer rankings: size at zero skew <= alpha + 3 SE, and a
    skew of 2.5 t (0.5) is found more often than alpha allows by chance."""
    reps = 150
    assert _bench().ndkl_rates(reps, 0.0, seed=11) <= _bound(ALPHA, reps)
    assert _bench().ndkl_rates(60, 2.5 * T, seed=12) > _bound(ALPHA, 60)


@pytest.mark.slow
def test_prompt_robustness_end_to_end_fails_no_more_than_alpha_without_a_bias():
    runs = 30
    assert _bench().prompt_rates(runs, planted=False) <= _bound(ALPHA, runs)


def test_max_skew_interval_is_the_inversion_of_the_verdicts_tests():
    """fail <=> the interval's lower end is beyond t, pass <=> its upper end is within, and
    the 90% interval covers the true skew (0, t, 2t) at its level within 3 SE."""
    reps, inside = 40, 0
    for s, effect in enumerate((0.0, T, 2 * T)):
        for cell in _cells("max-skew", effect, 200, reps, np.random.default_rng(10 + s)):
            lo, hi = cell.interval(1 - 2 * ALPHA)
            assert (cell.p_above(T) <= ALPHA) == (lo > T + 1e-3) or abs(lo - T) < 1e-3
            assert (cell.p_below(T) <= ALPHA) == (hi < T - 1e-3) or abs(hi - T) < 1e-3
            inside += lo <= effect <= hi
    assert 1 - inside / (3 * reps) <= _bound(2 * ALPHA, 3 * reps)

"""Power and sample size against enumeration of the tests and against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import stats as cs

ALPHA, TARGET = 0.05, 0.8


def _rate(h, ref=0.5):
    return math.sin(math.asin(math.sqrt(ref)) + h / 2) ** 2


def _se(reps, p=TARGET):
    return 3 * math.sqrt(p * (1 - p) / reps)


@pytest.mark.parametrize(("effect", "threshold", "goal", "alt"), [
    (0.5, 0.2, "fail", "greater"), (-0.5, 0.2, "fail", "beyond"), (0.0, 0.2, "pass", "within"),
    (0.1, 0.3, "pass", "within")])
def test_h_one_sample_n_reaches_the_power_by_enumerating_the_test(effect, threshold, goal, alt):
    n = cs.required_n("h_one_sample", effect, threshold, goal=goal)
    k = np.arange(n + 1)
    if goal == "fail" and effect < 0:
        p = cs.h_one_sample_test(k, n, -threshold, alternative="less")
    else:
        p = cs.h_one_sample_test(k, n, threshold, alternative=alt)
    achieved = float((stats.binom.pmf(k, n, _rate(effect)) * (p <= ALPHA)).sum())
    assert achieved >= TARGET
    assert achieved == pytest.approx(
        cs.min_effect_power("h_one_sample", n, effect, threshold, goal=goal), abs=1e-9)
    assert cs.min_effect_power("h_one_sample", n - 1, effect, threshold, goal=goal) < TARGET


def test_h_one_sample_normal_approximation_is_close_for_large_n():
    n = cs.required_n("h_one_sample", 0.3, 0.2, power=0.9)
    approx = ((stats.norm.isf(ALPHA) + stats.norm.isf(0.1)) / 0.1) ** 2
    assert n == pytest.approx(approx, rel=0.05)


@pytest.mark.parametrize(("effect", "threshold", "goal"), [(0.6, 0.2, "fail"), (0.0, 0.3, "pass")])
def test_h_two_sample_n_reaches_the_power_by_simulation(effect, threshold, goal):
    n = cs.required_n("h_two_sample", effect, threshold, goal=goal, p_ref=0.3)
    rng = np.random.default_rng(3)
    reps = 500
    k1 = rng.binomial(n, _rate(effect, 0.3), reps)
    k2 = rng.binomial(n, 0.3, reps)
    alt = "greater" if goal == "fail" else "within"
    p = cs.h_two_sample_test(k1, n, k2, n, threshold, alternative=alt)
    assert np.mean(p <= ALPHA) >= TARGET - _se(reps)


@pytest.mark.parametrize(("kind", "effect", "threshold", "goal"), [
    ("d", 0.8, 0.3, "fail"), ("d", 0.0, 0.3, "pass"), ("eat_d", 1.0, 0.5, "fail"),
    ("eat_d", 0.2, 0.6, "pass")])
def test_d_and_eat_d_n_reach_the_power_by_simulation(kind, effect, threshold, goal):
    n = cs.required_n(kind, effect, threshold, goal=goal)
    delta = effect if kind == "d" else effect / math.sqrt(1 - effect**2 / 4)
    rng = np.random.default_rng(4)
    reps = 400
    x, y = rng.normal(delta, 1, (reps, n)), rng.normal(0, 1, (reps, n))
    alt = "greater" if goal == "fail" else "within"
    if kind == "d":
        sp = np.sqrt((x.var(1, ddof=1) + y.var(1, ddof=1)) / 2)
        p = cs.d_test((x.mean(1) - y.mean(1)) / sp, n, n, threshold, alternative=alt)
    else:
        p = cs.eat_d_test(x, y, threshold, alternative=alt)
    rate = np.mean(p <= ALPHA)
    assert rate >= TARGET - _se(reps)
    assert cs.min_effect_power(kind, n - 1, effect, threshold, goal=goal) < TARGET


def test_power_inputs_are_checked():
    with pytest.raises(ValueError, match="kind"):
        cs.required_n("rho", 0.5, 0.2)
    with pytest.raises(ValueError, match="'fail' needs"):
        cs.required_n("d", 0.1, 0.2)
    with pytest.raises(ValueError, match="'pass' needs"):
        cs.required_n("d", 0.3, 0.2, goal="pass")
    with pytest.raises(ValueError, match="n_max"):
        cs.required_n("d", 0.21, 0.2, n_max=1000)

"""Cells and the shared judge: tests against references, corrected levels, exact calibration."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias.assertions.judge import Rules, judge_cells, judge_rows, needed_n
from pytest_clipbias.measures.cells import (
    Cell,
    bootstrap_cell,
    clustered_h_cell,
    cohens_d_cells,
    eat_cell,
    one_sample_h_cells,
    two_sample_h_cells,
)
from pytest_clipbias.stats import adjust_pvalues, cohens_h

ALPHA = 0.05


def binomial_cell(k, n):
    return one_sample_h_cells([k], [n])[0]


def two_proportion_cell(k1, n1, k2, n2):
    return two_sample_h_cells([k1], [n1], [k2], [n2])[0]


def shifted(t: float, p0: float = 0.5) -> float:
    return math.sin(math.asin(math.sqrt(p0)) + t / 2) ** 2


def test_binomial_cell_matches_scipy_at_the_shifted_null():
    cell = binomial_cell(62, 100)
    p_t = shifted(0.2)
    assert cohens_h(p_t, 0.5) == pytest.approx(0.2)
    assert cell.p_above(0.2) == pytest.approx(
        stats.binomtest(62, 100, p_t, alternative="greater").pvalue)
    assert cell.p_below(-0.2) == pytest.approx(
        stats.binomtest(62, 100, shifted(-0.2), alternative="less").pvalue)
    ci = stats.binomtest(62, 100).proportion_ci(0.9, method="exact")
    assert cell.interval(0.9) == pytest.approx((cohens_h(ci.low, 0.5), cohens_h(ci.high, 0.5)))


def test_binomial_cell_test_and_interval_agree_for_every_count():
    """The exact test rejects at level a exactly when the 1 - 2a interval clears the bound."""
    for k in range(101):
        cell = binomial_cell(k, 100)
        assert (cell.p_above(0.2) < ALPHA) == (cell.interval(1 - 2 * ALPHA)[0] > 0.2)


def test_shared_clusters_widen_the_cell():
    y = np.repeat([1, 1, 0, 1, 0, 1, 1, 0, 1, 1], 10)  # 10 parents, 10 series each
    plain = binomial_cell(int(y.sum()), len(y))
    independent = clustered_h_cell(y, np.arange(100))
    clustered = clustered_h_cell(y, np.repeat(np.arange(10), 10))
    # no shared id: the Wilson score interval (t, n - 1 df) beside the exact one
    assert independent.interval(0.9) == pytest.approx(plain.interval(0.9), abs=0.015)
    assert clustered.effect == plain.effect and clustered.n == 100
    assert np.ptp(clustered.interval(0.9)) > 2 * np.ptp(plain.interval(0.9))


def test_batched_cells_match_the_primitives_one_by_one():
    from pytest_clipbias.stats.mineffect import d_ci, d_test, h_two_sample_test

    cells = cohens_d_cells([0.5, -0.2], [30, 12], [40, 15])
    assert cells[0].p_above(0.3) == pytest.approx(d_test(0.5, 30, 40, 0.3))
    assert cells[1].interval(0.9) == pytest.approx(d_ci(-0.2, 12, 15, confidence=0.9), abs=1e-6)
    h = two_proportion_cell(20, 50, 10, 60)
    assert h.effect == pytest.approx(cohens_h(0.4, 1 / 6))
    assert h.p_below(0.1) == pytest.approx(h_two_sample_test(20, 50, 10, 60, 0.1,
                                                             alternative="less"))
    x, y = np.random.default_rng(0).normal(0.5, 1, 8), np.random.default_rng(1).normal(0, 1, 8)
    d = (x.mean() - y.mean()) / np.concatenate([x, y]).std(ddof=1)
    lo, hi = eat_cell(d, x, y).interval(0.9)
    assert lo <= d <= hi


def test_bootstrap_cell_holds_the_estimate_and_inverts_its_interval():
    boot = np.random.default_rng(0).normal(0.5, 0.1, 999)
    cell = bootstrap_cell(0.9, boot, 30)  # a skewed statistic: estimate outside the spread
    lo, hi = cell.interval(0.9)
    assert lo <= 0.9 <= hi
    assert cell.p_above(0.5) == pytest.approx((np.sum(boot <= 0.5) + 1) / 1000)


def test_holm_levels_and_corrected_p_values():
    cells = [binomial_cell(k, 200) for k in (150, 140, 120, 100)]
    rules = Rules(0.2, direction="greater")
    judged = judge_cells(cells, rules)
    raw = [c.p_above(0.2) for c in cells]
    assert [j.p_raw for j in judged] == pytest.approx(raw)
    assert [j.p_value for j in judged] == pytest.approx(adjust_pvalues(raw, "holm"))
    fails = [j for j in judged if j.verdict == "fail"]
    assert fails and fails[0].ci_level == pytest.approx(1 - 2 * ALPHA / 4)  # rank 1 of 4
    for j in fails:
        assert j.ci_basis == "corrected" and j.ci[0] > 0.2
    assert judged[-1].verdict in ("pass", "inconclusive")
    assert judged[-1].ci_level == pytest.approx(0.9) and judged[-1].ci_basis == "1-2alpha"


def _exact_rates(n: int, p: float, rules: Rules) -> dict[str, float]:
    """P(verdict) when k ~ Binomial(n, p), every k judged alone (correction "none")."""
    ks = np.arange(n + 1)
    pmf = stats.binom.pmf(ks, n, p)
    verdicts = np.array([j.verdict for j in judge_cells(one_sample_h_cells(ks, [n] * (n + 1)),
                                                        rules)])
    return {v: float(pmf[verdicts == v].sum()) for v in ("fail", "pass", "inconclusive")}


@pytest.mark.parametrize("n", [30, 100, 400])
def test_exact_error_rates_at_the_threshold(n):
    rules = Rules(0.2, direction="greater", correction="none")
    at = _exact_rates(n, shifted(0.2), rules)
    assert at["fail"] <= ALPHA and at["pass"] <= ALPHA
    assert _exact_rates(n, shifted(0.4), rules)["pass"] <= ALPHA


def test_exact_power_of_the_hypodescent_cell():
    rules = Rules(0.2, direction="greater", correction="none")
    assert _exact_rates(100, shifted(0.78), rules)["fail"] > 0.99
    assert _exact_rates(1000, 0.5, rules)["pass"] > 0.99
    assert _exact_rates(100, shifted(0.4), rules)["fail"] > 0.5  # power at 2x the threshold


def two_sample_rates(n1: int, n2: int, p1: float, p2: float, rules: Rules) -> dict[str, float]:
    """P(verdict) over every (k1, k2) with non-negligible probability, each judged alone."""
    w1, w2 = stats.binom.pmf(np.arange(n1 + 1), n1, p1), stats.binom.pmf(np.arange(n2 + 1),
                                                                         n2, p2)
    k1, k2 = (g.ravel() for g in np.meshgrid(np.flatnonzero(w1 > 1e-7),
                                             np.flatnonzero(w2 > 1e-7), indexing="ij"))
    cells = two_sample_h_cells(k1, [n1] * len(k1), k2, [n2] * len(k1))
    verdicts = np.array([j.verdict for j in judge_cells(cells, rules)])
    weight = w1[k1] * w2[k2]
    return {v: float(weight[verdicts == v].sum()) for v in ("fail", "pass", "inconclusive")}


@pytest.mark.parametrize(("n1", "n2", "p2"), [(30, 30, 0.3), (30, 30, 0.05), (100, 100, 0.01),
                                              (60, 200, 0.5)])
def test_two_sample_cell_error_rates_at_the_threshold(n1, n2, p2):
    """Exact: P(fail) and P(pass) at true h = threshold stay within alpha, low rates included."""
    rules = Rules(0.3, correction="none")
    p1 = math.sin(math.asin(math.sqrt(p2)) + 0.15) ** 2  # h(p1, p2) = 0.3
    rates = two_sample_rates(n1, n2, p1, p2, rules)
    assert rates["fail"] <= ALPHA and rates["pass"] <= ALPHA


def test_needed_n_makes_the_verdict_decisive():
    rules = Rules(0.2, direction="greater")
    cell = binomial_cell(55, 100)  # h = 0.10, interval reaches past 0.2
    judged = judge_cells([cell], rules)[0]
    n = needed_n(cell, rules, judged.ci)
    assert judged.verdict == "inconclusive" and n > 100
    bigger = binomial_cell(round(0.55 * n), n)
    assert judge_cells([bigger], rules)[0].verdict == "pass"
    two = two_proportion_cell(30, 100, 25, 100)  # no exact power: from the interval width
    n2 = needed_n(two, Rules(0.3), judge_cells([two], Rules(0.3))[0].ci)
    assert n2 > 100
    assert judge_cells([two_proportion_cell(round(0.3 * n2), n2, round(0.25 * n2), n2)],
                       Rules(0.3))[0].verdict == "pass"
    assert needed_n(binomial_cell(60, 100), Rules(cohens_h(0.6, 0.5), direction="greater"),
                    (0.0, 0.4)) is None


@dataclass
class _Row:
    group: str
    n: int
    cells: dict[str, Cell] = field(default_factory=dict)
    problem: str | None = None


def test_rows_roll_up_and_unjudged_rows_are_inconclusive():
    rows = [_Row("a", 100, {"x": binomial_cell(90, 100), "y": binomial_cell(50, 100)}),
            _Row("b", 400, {"x": binomial_cell(200, 400)}),
            _Row("c", 3, problem="only 3 faces")]
    table = judge_rows(rows, Rules(0.2), cell_key="label", group_key="region")
    assert [r["region"] for r in table] == ["a", "b", "c"]
    assert table[0]["verdict"] == "fail" and table[0]["worst_label"] == "x"
    assert table[0]["label_verdicts"]["y"] != "fail"
    assert table[2]["verdict"] == "inconclusive" and table[2]["reason"] == "only 3 faces"
    assert math.isnan(table[2]["effect"])


def test_an_inconclusive_check_headlines_an_undecided_row_not_a_larger_passing_one():
    from pytest_clipbias.assertions.judge import build

    # "big": 0/2000 vs 30/2000 passes (h -0.25, interval inside 0.3); "small": 3/60 vs
    # 2/60 has a smaller estimate (0.08) but an interval reaching past 0.3: it decides
    rows = [_Row("big", 2000, {"": two_proportion_cell(0, 2000, 30, 2000)}),
            _Row("small", 60, {"": two_proportion_cell(3, 60, 2, 60)})]
    rules = Rules(0.3, direction="two-sided")
    table = judge_rows(rows, rules)
    assert [r["verdict"] for r in table] == ["pass", "inconclusive"]
    assert abs(table[0]["effect"]) > abs(table[1]["effect"])
    result = build("demo", "cohen_h", table, rules, group_of=lambda r: r["group"], lines=[],
                   n=4120, details={}, data="", prompts=[])
    assert result.verdict == "inconclusive"
    assert result.effect == table[1]["effect"] and "small" in result.message.splitlines()[0]


@pytest.mark.parametrize("kind", ["h_one_sample", "d"])
def test_two_cells_at_the_advised_n_pass_together_with_the_stated_power(kind):
    """Acceptance: a check of two cells, both at zero effect, passes >= 80% of the time at
    required_n(..., cells=2); at the one-cell n it passes only ~65% (both must pass)."""
    from pytest_clipbias.stats.power import required_n

    rules, reps = Rules(0.2), 2000
    rng = np.random.default_rng(7)

    def pass_rate(n: int) -> float:
        if kind == "h_one_sample":
            cells = one_sample_h_cells(rng.binomial(n, 0.5, 2 * reps), [n] * (2 * reps))
        else:
            x, y = rng.standard_normal((2, 2 * reps, n))
            d = (x.mean(1) - y.mean(1)) / np.sqrt((x.var(1, ddof=1) + y.var(1, ddof=1)) / 2)
            cells = cohens_d_cells(d, [n] * (2 * reps), [n] * (2 * reps))
        verdicts = [j.verdict for j in judge_cells(cells, Rules(0.2, correction="none"))]
        return float(np.all(np.array(verdicts).reshape(reps, 2) == "pass", axis=1).mean())

    n2 = required_n(kind, 0.0, rules.threshold, goal="pass", cells=2)
    n1 = required_n(kind, 0.0, rules.threshold, goal="pass")
    assert n2 > n1
    assert pass_rate(n2) >= 0.8 - 3 * math.sqrt(0.16 / reps)
    assert pass_rate(n1) < 0.75


def test_needed_n_is_planned_at_the_end_of_the_20_percent_interval_for_the_whole_check():
    from pytest_clipbias.assertions.judge import planning_effect
    from pytest_clipbias.stats.power import required_n

    rules = Rules(0.2)
    cell = binomial_cell(55, 100)  # h = 0.10: inconclusive
    judged = judge_cells([cell], rules)[0]
    plan = planning_effect(cell, rules)
    assert plan == pytest.approx(cell.interval(0.2)[1]) and cell.effect < plan < 0.2
    one, two = needed_n(cell, rules, judged.ci), needed_n(cell, rules, judged.ci, m=2)
    assert one == required_n("h_one_sample", plan, 0.2, goal="pass")
    assert two == required_n("h_one_sample", plan, 0.2, goal="pass", cells=2) > one
    assert one > required_n("h_one_sample", cell.effect, 0.2, goal="pass")  # not the estimate
    # beyond the threshold: planned at the nearer end, Holm's alpha / m for a fail
    beyond = binomial_cell(64, 100)
    lo = beyond.interval(0.2)[0]
    assert planning_effect(beyond, Rules(0.2)) == pytest.approx(lo)
    assert needed_n(beyond, Rules(0.2), (0, 0), m=3) == required_n(
        "h_one_sample", lo, 0.2, goal="fail", cells=3)
    # the 20% interval reaches the threshold: planned at the estimate (a lower bound)
    near = binomial_cell(59, 100)
    assert planning_effect(near, Rules(0.2)) == near.effect
    assert needed_n(near, Rules(0.2), (0, 0)) == required_n("h_one_sample", near.effect, 0.2,
                                                             goal="pass")

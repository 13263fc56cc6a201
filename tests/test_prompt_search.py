"""The statistics of the prompt-robustness search, by simulation.

``assert_prompt_robust`` is run unchanged (hypothesis search, split, Holm) on
a cheap stand-in helper whose per-template decisions are simulated up front:
item i under template t "counts" when rho z_i + sqrt(1 - rho^2) e_it exceeds
a per-template cut, so templates see the same items (correlated effects, as
with real prompts on one data set) yet each has its own noise to exploit.
The stand-in judges like the helpers (DESIGN.md): fail only when an exact
one-sided binomial test shows the rate beyond the threshold's rate, pass only
when the 1 - 2 alpha Clopper-Pearson interval lies within it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias.prompts import assert_prompt_robust, quiet, split_halves
from pytest_clipbias.results import BiasAssertionError, BiasInconclusiveError, BiasResult
from pytest_clipbias.strategies import all_templates, template_family, templates

ALPHA, THRESHOLD, RUNS = 0.05, 0.2, 200
P0 = math.sin(math.pi / 4 + THRESHOLD / 2) ** 2  # the rate whose Cohen's h against 0.5 is 0.2
SPACE = all_templates()
COLUMN = {t: j for j, t in enumerate(SPACE)}


def h(rate: float) -> float:
    return 2 * math.asin(math.sqrt(rate)) - 2 * math.asin(math.sqrt(0.5))


def rate_helper(model, data, *, templates, alpha=0.05, threshold=THRESHOLD) -> BiasResult:
    """Stand-in helper: the share of items counted under the one template given."""
    column = np.asarray(data)[:, model[templates[0]]]
    n, k = len(column), int(column.sum())
    p = stats.binom.sf(k - 1, n, P0)
    lo = stats.beta.ppf(alpha, k, n - k + 1) if k else 0.0  # Clopper-Pearson, 1 - 2 alpha
    hi = stats.beta.ppf(1 - alpha, k + 1, n - k) if k < n else 1.0
    verdict = "fail" if p < alpha else "pass" if hi < P0 else "inconclusive"
    result = BiasResult(name="rate", effect=h(k / n), effect_name="cohen_h", ci=(h(lo), h(hi)),
                        p_value=p, n=n, threshold=threshold, verdict=verdict, alpha=alpha,
                        reason=f"{k}/{n} counted")
    if verdict == "fail":
        raise BiasAssertionError(result)
    if verdict == "inconclusive":
        raise BiasInconclusiveError(result)
    return result


def simulate(rng, rates, *, n=400, rho=0.5) -> np.ndarray:
    """(n items, templates) booleans; template t counts an item with probability rates[t]."""
    z = rng.standard_normal((n, 1))
    e = rng.standard_normal((n, len(SPACE)))
    return rho * z + math.sqrt(1 - rho**2) * e > stats.norm.ppf(1 - np.asarray(rates))


def verdicts(rates, confirm, runs=RUNS, seed=0, max_examples=12):
    rng = np.random.default_rng(seed)
    out = []
    for run in range(runs):
        data = simulate(rng, rates)
        result = quiet(assert_prompt_robust, rate_helper, COLUMN, data, confirm=confirm,
                       max_examples=max_examples, alpha=ALPHA, direction="greater", seed=run)
        out.append(result)
    return out


def bound(alpha: float, runs: int) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


@pytest.mark.parametrize(("rate", "confirm"), [(0.5, "holdout"), (P0, "holdout"), (P0, "holm")],
                         ids=["no-bias-holdout", "at-threshold-holdout", "at-threshold-holm"])
def test_planted_null_fails_at_most_alpha(confirm, rate):
    results = verdicts(np.full(len(SPACE), rate), confirm)
    fails = sum(r.verdict == "fail" for r in results)
    assert fails / RUNS <= bound(ALPHA, RUNS), f"{fails}/{RUNS} runs failed under the null"
    assert all(r.correction == confirm and r.details["n_templates"] > 5 for r in results)


def test_naive_search_would_fail_too_often():
    """Judging the worst template on the data that chose it inflates the false-fail rate."""
    rng = np.random.default_rng(1)
    fails = 0
    for _ in range(RUNS):
        data = simulate(rng, np.full(len(SPACE), P0))
        worst = int(data.sum(0).argmax())
        fails += quiet(rate_helper, COLUMN, data, templates=[SPACE[worst]]).verdict == "fail"
    assert fails / RUNS > bound(ALPHA, RUNS)


@pytest.mark.parametrize("confirm", ["holdout", "holm"])
def test_bias_in_one_family_is_found_and_fails(confirm):
    rates = [0.74 if template_family(t) == "portrait" else 0.5 for t in SPACE]  # h = 0.5
    results = verdicts(rates, confirm, runs=20, max_examples=20)
    assert sum(r.verdict == "fail" for r in results) >= 18
    assert all(r.details["worst_family"] == "portrait" for r in results if r.verdict == "fail")
    worst = results[0]
    assert worst.table[0]["family"] == "portrait"
    assert template_family(worst.details["worst_template"]) == "portrait"


def test_holdout_judges_on_data_the_search_never_saw():
    data = np.arange(20).reshape(10, 2)
    first, second = split_halves(data)
    assert not set(first[:, 0]) & set(second[:, 0])
    assert len(first) == len(second) == 5
    result = quiet(assert_prompt_robust, rate_helper, COLUMN, simulate(
        np.random.default_rng(3), np.full(len(SPACE), 0.5)), max_examples=10, seed=1)
    assert result.table[0]["stage"] == "held-out"
    assert result.n == 200 and result.details["n_search"] == 200
    assert {r["stage"] for r in result.table[1:]} == {"search"}


def test_search_is_deterministic_for_a_seed():
    data = simulate(np.random.default_rng(4), np.full(len(SPACE), 0.5))
    runs = [quiet(assert_prompt_robust, rate_helper, COLUMN, data, max_examples=15, seed=7)
            for _ in range(2)]
    assert runs[0].details["templates"] == runs[1].details["templates"]
    assert runs[0].effect == runs[1].effect


def test_holm_draws_templates_blind_to_the_data():
    """Without target() the templates tried cannot depend on the data (else Holm is void)."""
    rng = np.random.default_rng(5)
    tried = [quiet(assert_prompt_robust, rate_helper, COLUMN, simulate(rng, np.full(
        len(SPACE), r)), confirm="holm", max_examples=15).details["templates"]
             for r in (0.3, 0.8)]
    assert tried[0] == tried[1]


def test_space_of_dicts_and_bad_arguments():
    data = simulate(np.random.default_rng(6), np.full(len(SPACE), 0.5))
    st = pytest.importorskip("hypothesis.strategies")
    space = st.fixed_dictionaries({"templates": templates(media=("photo",))})
    result = quiet(assert_prompt_robust, rate_helper, COLUMN, data, space=space, max_examples=5)
    assert result.table[0]["template"].startswith("templates=")
    with pytest.raises(ValueError, match="confirm"):
        assert_prompt_robust(rate_helper, COLUMN, data, confirm="maybe")
    with pytest.raises(TypeError, match="templates="):
        assert_prompt_robust(rate_helper, COLUMN, data, templates=["{}"])
    with pytest.raises(TypeError, match="templates="):
        assert_prompt_robust(lambda model, data: None, COLUMN, data)
    with pytest.raises(ValueError, match="max_examples"):
        assert_prompt_robust(rate_helper, COLUMN, data, max_examples=0)


def test_bonferroni_and_holm_levels():
    """Bonferroni judges every template at alpha / m; Holm steps up after each failure."""
    rates = [0.9 if template_family(t) == "portrait" else 0.5 for t in SPACE]
    data = simulate(np.random.default_rng(8), rates)
    bonf = quiet(assert_prompt_robust, rate_helper, COLUMN, data, confirm="bonferroni",
                 max_examples=15)
    m = bonf.details["n_templates"]
    assert set(bonf.details["levels"].values()) == {ALPHA / m}
    assert bonf.verdict == "fail" and bonf.details["worst_family"] == "portrait"
    holm = quiet(assert_prompt_robust, rate_helper, COLUMN, data, confirm="holm",
                 max_examples=15)
    failed = [r["template"] for r in holm.table if r["verdict"] == "fail"]
    stepped = [k for k, v in holm.details["levels"].items() if v > ALPHA / m]
    assert failed and stepped and not set(failed) & set(stepped)
    assert all(holm.details["levels"][k] == ALPHA / (m - len(failed)) for k in stepped)


def test_direction_follows_the_helper():
    from pytest_clipbias import (
        assert_association_below,
        assert_no_hypodescent,
        assert_region_gender_skew_below,
    )
    from pytest_clipbias.prompts import helper_direction, severity

    assert helper_direction(assert_no_hypodescent, {}) == "greater"
    assert helper_direction(assert_region_gender_skew_below, {}) == "two-sided"
    assert helper_direction(assert_association_below, {"alternative": "less"}) == "less"
    assert severity(-0.5, "two-sided") == 0.5 and severity(-0.5, "less") == 0.5
    assert severity(float("nan"), "greater") == -math.inf

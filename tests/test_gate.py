"""The release gate: comparability, the test of change, missing results, CLI, start-up checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import BiasResult
from pytest_clipbias.gate import (
    check_rule_measures,
    harm_test,
    parse_fail_rule,
    se_from_interval,
    side_se,
)
from pytest_clipbias.outcomes import ItemTable, paired_change
from pytest_clipbias.report.baseline import (
    Storage,
    compare,
    comparison_key,
    gate_json,
    summary_line,
    table_lines,
)
from pytest_clipbias.report.document import build_document, make_record
from pytest_clipbias.testing_gate import document, record, regression_rate

ALPHA = 0.05
SCHEMA_1 = Path(__file__).parent / "fixtures" / "baseline_schema1.json"


def _h(p):
    return 2 * np.arcsin(np.sqrt(p)) - 2 * np.arcsin(np.sqrt(0.5))


# -- rules ----------------------------------------------------------------------------------


def test_rules_parse_and_unknown_measures_are_named():
    rule = parse_fail_rule("hypodescent:effect:+10%")
    assert (rule.measure, rule.value, rule.relative) == ("hypodescent", 10.0, True)
    assert rule.tolerance(-0.5) == pytest.approx(0.05) and not rule.applies("max_skew")
    with pytest.raises(ValueError, match="cannot parse"):
        parse_fail_rule("effect:0.1")
    with pytest.raises(ValueError, match=r"'hypodescnt' \(did you mean 'hypodescent'\?\); "
                                         r"known measures: accuracy_parity, association, custom"):
        check_rule_measures([parse_fail_rule("hypodescnt:effect:+0.05")], ["custom"])
    check_rule_measures([parse_fail_rule("custom:effect:+0.05")], ["custom"])


def test_model_part_of_a_parametrized_id_is_factored_out():
    models = ["ViT-B-32", "demo", "demo-fair"]
    assert comparison_key("t.py::test[ViT-B-32]", models) == "t.py::test"
    assert comparison_key("t.py::test[demo-fair]", models) == "t.py::test"
    assert comparison_key("t.py::test[demo-0.5]", models) == "t.py::test[0.5]"
    assert comparison_key("t.py::test[x-ViT-B-32-y]", models) == "t.py::test[x-y]"
    assert comparison_key("t.py::test[demos]", models) == "t.py::test[demos]"
    assert comparison_key("t.py::test", models) == "t.py::test"


# -- the test of one cell, against closed forms ------------------------------------------


def test_harm_test_is_the_intersection_union_of_two_normal_tests():
    e0, e1, se_d, se1, t = 0.30, 0.55, 0.08, (0.06, 0.07), 0.05
    ht = harm_test(e0, e1, e1 - e0, se_d, se1, t)
    expected = max(stats.norm.sf((0.25 - t) / se_d), stats.norm.sf((e1 - t) / se1[0]))
    assert ht.side == "+" and ht.p_value == pytest.approx(expected) and not ht.reversed
    assert ht.growth == pytest.approx(0.25)
    flip = harm_test(0.5, -0.5, -1.0, 0.1, (0.07, 0.08), t)
    assert flip.side == "-" and flip.reversed and flip.growth == pytest.approx(0.5)
    assert flip.p_value == pytest.approx(max(stats.norm.sf(0.95 / 0.1),
                                             stats.norm.sf(0.45 / 0.08)))
    # harm to the other side that stays below the tolerance is no regression
    assert harm_test(0.5, -0.03, -0.53, 0.01, (0.01, 0.01), t).p_value > 0.5
    assert harm_test(0.1, 0.2, 0.1, 0.0, (0.0, 0.0), t).p_value == 0.0  # no noise: point decides
    lo, hi = se_from_interval(0.3 - 0.1 * 1.96, 0.3 + 0.1 * 1.96, 0.95), 0.1
    assert lo == pytest.approx(hi, rel=1e-3)
    assert side_se(0.3, 0.1, 0.6, 0.95) == pytest.approx((0.2 / 1.96, 0.3 / 1.96), rel=1e-3)


def _reference_variance(u, ids):
    """sum over pairs of items sharing an id of u_i u_j, by explicit loops (G / (G - 1))."""
    g = len({x for row in ids for x in row})
    total = sum(u[i] * u[j] for i in range(len(u)) for j in range(len(u))
                if set(ids[i]) & set(ids[j]))
    return max(len(u) / (len(u) - 1) * float(np.sum(u ** 2)), g / (g - 1) * total)


def test_paired_change_matches_a_direct_computation_and_respects_clusters():
    rng = np.random.default_rng(3)
    n = 60
    y0 = (rng.random(n) < 0.6).astype(float)
    y1 = np.where(np.arange(n) % 6 == 4, 1.0, y0)  # the change is shared by parent s4's series
    parents = np.array([[f"s{i % 6}", f"t{i % 5}"] for i in range(n)], dtype=object)
    spec = {"stat": "h1", "y": "minority", "a": "all", "p0": 0.5}
    keys = [f"{i:016x}" for i in range(n)]
    old = ItemTable(keys, {"minority": y0}, {"all": np.ones(n, bool)}, parents)
    new = ItemTable(keys[::-1], {"minority": y1[::-1]}, {"all": np.ones(n, bool)}, parents)
    pc = paired_change({"paired": spec}, {"paired": spec}, old, new)
    p0, p1 = y0.mean(), y1.mean()
    assert pc.old == pytest.approx(_h(p0)) and pc.new == pytest.approx(_h(p1))
    u = (y1 - p1) / np.sqrt(p1 * (1 - p1)) / n - (y0 - p0) / np.sqrt(p0 * (1 - p0)) / n
    assert pc.se == pytest.approx(np.sqrt(_reference_variance(u, parents.tolist())))
    assert pc.clustered and pc.n == n
    free = paired_change({"paired": spec}, {"paired": spec},
                         ItemTable(keys, {"minority": y0}, {"all": np.ones(n, bool)}),
                         ItemTable(keys, {"minority": y1}, {"all": np.ones(n, bool)}))
    assert free.se == pytest.approx(np.sqrt(n / (n - 1) * np.sum(u ** 2))) and free.se < pc.se
    other = ItemTable([f"{i:016x}" for i in range(100, 160)], {"minority": y1},
                      {"all": np.ones(n, bool)})
    assert paired_change({"paired": spec}, {"paired": spec}, old, other) == \
        "the runs share no item"


@pytest.mark.parametrize("stat", ["h2", "d"])
def test_paired_standard_error_matches_the_spread_of_the_change(stat):
    """Delta-method se of a two-group change against its Monte Carlo spread (2,000 draws)."""
    rng = np.random.default_rng(4)
    n, reps = 300, 2000
    a = np.arange(n) < n // 2
    spec = {"stat": stat, "y": "y", "a": "a", "b": "b"}
    changes, ses = [], []
    for _ in range(reps):
        if stat == "h2":
            y0 = (rng.random(n) < np.where(a, 0.4, 0.3)).astype(float)
            y1 = np.where(rng.random(n) < 0.1, 1 - y0, y0)
        else:
            y0 = rng.standard_normal(n) + 0.3 * a
            y1 = 0.8 * y0 + 0.6 * rng.standard_normal(n) + 0.1 * a
        tables = [ItemTable([f"{i:016x}" for i in range(n)], {"y": y}, {"a": a, "b": ~a})
                  for y in (y0, y1)]
        pc = paired_change({"paired": spec}, {"paired": spec}, *tables)
        changes.append(pc.new - pc.old)
        ses.append(pc.se)
    assert np.mean(ses) == pytest.approx(np.std(changes), rel=0.08)


def test_item_tables_round_trip_compactly():
    keys = ["00000000000000aa", "00000000000000bb", "00000000000000aa#2"]
    table = ItemTable(keys, {"hit": np.array([1.0, np.nan, 0.0]),
                             "score": np.array([0.25, -1.5, np.nan])},
                      {"g": np.array([True, False, True])},
                      np.array([["p", "q"], ["p", "r"], ["s", "q"]], dtype=object))
    data = json.loads(json.dumps(table.to_json()))
    assert data["columns"]["hit"] == {"kind": "binary", "data": "1-0"}
    back = ItemTable.from_json(data)
    assert back.keys == keys and back.clusters.tolist() == table.clusters.tolist()
    np.testing.assert_array_equal(back.columns["hit"], table.columns["hit"])
    np.testing.assert_array_equal(back.columns["score"], table.columns["score"])
    np.testing.assert_array_equal(back.groups["g"], table.groups["g"])
    data["keys"] = data["keys"][:-1]
    with pytest.raises(ValueError, match="item keys hold 47 characters, expected 48"):
        ItemTable.from_json(data)


# -- calibration and power by simulation, through compare ---------------------------------

SE3 = 3 * np.sqrt(ALPHA * (1 - ALPHA) / 400)


@pytest.mark.parametrize("paired", [True, False])
def test_harm_grown_by_exactly_the_tolerance_fails_at_most_alpha(paired):
    """Every cell's harm grows by exactly the tolerance: P(REGRESSED) <= alpha + 3 SE."""
    rate = regression_rate(400, n=400, cells=2, h0=0.2, growth=0.05, tolerance=0.05,
                           agreement=0.95, paired=paired, seed=11)
    assert rate <= ALPHA + SE3
    assert rate >= ALPHA / 4  # at the boundary the test is near its level, not vacuous


def test_paired_test_has_power_where_the_unpaired_one_has_none():
    """400 items, 95% agreement, harm grown by twice the tolerance (normal theory: 0.72 vs
    0.14; benchmarks/bench_gate.py measures both with 2,000 runs)."""
    paired = regression_rate(100, n=400, cells=1, h0=0.2, growth=0.1, tolerance=0.05,
                             agreement=0.95, paired=True, seed=12)
    unpaired = regression_rate(100, n=400, cells=1, h0=0.2, growth=0.1, tolerance=0.05,
                               agreement=0.95, paired=False, seed=12)
    assert paired >= 0.6 and unpaired <= 0.3


def test_four_hundred_series_with_24_flipped_regress_with_the_paired_test():
    """Acceptance: minority rate 0.60 -> 0.66 on the same 400 series, tolerance 0.05."""
    y0 = (np.arange(400) < 240).astype(float)
    y1 = (np.arange(400) < 264).astype(float)
    rule = [parse_fail_rule("effect:+0.05")]
    base = document([record([y0], paired=True, model="v1")], "v1")
    cand = document([record([y1], paired=True, model="v2")], "v2")
    result = compare(cand, base, rule)
    cell = result.rows[0].cells[0]
    assert result.failed and cell.verdict == "regressed" and cell.test == "paired z, 400 items"
    assert cell.change[0] == pytest.approx(_h(0.66) - _h(0.60))
    blind = compare(document([record([y1], paired=False, model="v2")], "v2"),
                    document([record([y0], paired=False, model="v1")], "v1"), rule)
    assert blind.rows[0].cells[0].verdict == "inconclusive" and not blind.failed


# -- comparison, cell by cell ---------------------------------------------------------------


def _doc(results, *, model="m1", data="d", templates="t", se=0.05):
    """A document with one record per result; a result is {cell name: signed effect}."""
    z = stats.norm.ppf(0.975)
    records = []
    for i, effects in enumerate(results):
        cells = [{"cell": name, "effect": e, "ci": [e - z * se, e + z * se], "level": 0.95,
                  "kind": "normal", "n": 400} if e is not None else
                 {"cell": name, "effect": None, "ci": [None, None], "level": 0.95,
                  "kind": "normal", "n": 0, "reason": "only 3 series (min_series = 100)"}
                 for name, e in effects.items()]
        head = max((c for c in cells if c["effect"] is not None), key=lambda c: abs(c["effect"]),
                   default=cells[0])
        result = BiasResult(name="hypodescent", effect=_nan(head["effect"]),
                            effect_name="cohen_h", ci=tuple(map(_nan, head["ci"])), p_value=0.5,
                            n=400, threshold=0.2, verdict="pass",
                            details={"gate": {"format": 1, "cells": cells}})
        rec = make_record(result, None, test=f"t.py::test_{i}")
        rec.update(model={"name": model}, data_fingerprint=data, templates_hash=templates)
        records.append(rec)
    return build_document(records, {"models": [{"name": model}], "versions": {}})


def _nan(x):
    return float("nan") if x is None else x


RULE = [parse_fail_rule("effect:+0.05")]


def test_same_model_same_data_passes_and_a_run_compared_with_itself_warns():
    base = _doc([{"Black-White": 0.3, "Asian-White": 0.1}], model="v1")
    again = _doc([{"Black-White": 0.3, "Asian-White": 0.1}], model="v1")
    again["created"] = "a second later"
    result = compare(again, base, RULE)
    assert not result.failed and {c.verdict for c in result.rows[0].cells} == {
        "within tolerance"}
    assert result.warnings == []
    itself = compare(base, base, RULE, baseline_name="release")
    assert itself.warnings == ["the candidate is the baseline release itself: comparing a run "
                               "with itself shows nothing"]


def test_a_non_headline_cell_that_grew_regresses_and_is_named():
    base = _doc([{"Black-White": 0.9, "Asian-White": 0.1, "Latino-White": 0.2}], model="v1")
    cand = _doc([{"Black-White": 0.9, "Asian-White": 0.5, "Latino-White": 0.2}], model="v2")
    result = compare(cand, base, RULE, baseline_name="v1")
    assert result.failed and result.failures() == ["1 regressed cell"]
    row = result.rows[0]
    assert row.verdict == "regressed" and row.head.cell == "Asian-White"
    holm = 3 * stats.norm.sf(0.35 / np.hypot(0.05, 0.05))
    text = "\n".join(table_lines(result))
    assert (f"Asian-White  +0.100    +0.500     +0.400 [+0.284, +0.516]  unpaired, 0.95/0.95 "
            f"intervals  REGRESSED: harm grew by more than 0.05 (Holm p {holm:.2g})") in text
    assert summary_line(result) == (
        "clipbias gate FAILED (1 regressed cell) (effect:+0.05; one-sided per cell, either "
        "direction, Holm over 3 cells, alpha 0.05) vs v1: 1 regressed")
    doc = gate_json(result)
    assert doc["verdict"] == "failed" and doc["reasons"] == ["1 regressed cell"]
    assert [(c["cell"], c["test_used"]) for c in doc["regressed"]] == [
        ("Asian-White", "unpaired, 0.95/0.95 intervals")]


def test_a_reversed_bias_of_the_same_size_regresses():
    base, cand = _doc([{"women": 0.5}], model="v1"), _doc([{"women": -0.5}], model="v2")
    result = compare(cand, base, RULE)
    cell = result.rows[0].cells[0]
    assert result.failed and cell.reversed and cell.note.startswith("reversed: harm grew")
    assert "REGRESSED: reversed: harm grew by more than 0.05" in "\n".join(table_lines(result))


def test_compare_without_rules_says_grew_shrank_or_unchanged():
    base = _doc([{"a": 0.2, "b": 0.6, "c": 0.3}], model="v1")
    cand = _doc([{"a": 0.6, "b": 0.2, "c": 0.31}], model="v2")
    result = compare(cand, base)
    assert [c.verdict for c in result.rows[0].cells] == ["grew", "shrank", "unchanged"]
    assert not result.failed
    assert " ok" not in "\n".join(table_lines(result)) + summary_line(result)
    assert summary_line(result).startswith("clipbias compare (no --clipbias-compare-fail rule: "
                                           "informational; Holm over 3 cells")


def test_visible_but_unproven_growth_is_inconclusive_not_passed():
    base, cand = _doc([{"a": 0.2}], model="v1"), _doc([{"a": 0.3}], model="v2")
    result = compare(cand, base, RULE)
    p = stats.norm.sf(0.05 / np.hypot(0.05, 0.05))
    assert [r.verdict for r in result.rows] == ["inconclusive"] and not result.failed
    assert f"not shown (Holm p {p:.2g})" in result.rows[0].cells[0].note
    strict = compare(cand, base, RULE, strict=True)
    assert [r.verdict for r in strict.rows] == ["regressed"] and strict.failed


def test_nothing_comparable_or_an_undefined_cell_fails_unless_accepted():
    base = _doc([{"a": 0.2}, {"b": 0.2}], model="v1")
    moved = _doc([{"a": 0.2}, {"b": 0.2}], model="v2", data="other")
    result = compare(moved, base, RULE)
    assert result.failed and result.failures() == ["nothing comparable"]
    assert "gate FAILED (nothing comparable)" in summary_line(result)
    assert not compare(moved, base, RULE, allow_incomparable=True).failed
    undefined = compare(_doc([{"a": None}, {"b": 0.2}], model="v2"), base, RULE)
    assert undefined.failures() == ["1 candidate cell(s) with an undefined effect"]
    assert undefined.rows[0].cells[0].note == ("candidate effect undefined: only 3 series "
                                               "(min_series = 100)")


def test_family_of_cells_grown_by_the_tolerance_fails_at_most_alpha():
    """Holm across every cell of every result: family-wise P(REGRESSED) <= alpha + 3 SE."""
    rng = np.random.default_rng(9)
    reps, m = 400, 4
    fails = 0
    for _ in range(reps):
        e0 = 0.3 + 0.05 * rng.standard_normal((2, m))
        e1 = 0.35 + 0.05 * rng.standard_normal((2, m))
        base = _doc([dict(zip("abcd", r, strict=True)) for r in e0], model="v1")
        cand = _doc([dict(zip("abcd", r, strict=True)) for r in e1], model="v2")
        fails += compare(cand, base, RULE).failed
    assert fails / reps <= ALPHA + SE3


def test_missing_results_fail_unless_accepted():
    base = _doc([{"a": 0.2}, {"a": 0.2}], model="v1")
    cand = _doc([{"a": 0.2}], model="v2")
    result = compare(cand, base, RULE)
    assert result.failed and [r.test for r in result.missing] == ["t.py::test_1"]
    accepted = compare(cand, base, RULE, allow_missing=True)
    assert not accepted.failed and "(removals accepted)" in summary_line(accepted)


def test_a_schema_1_baseline_still_loads_and_is_compared_per_row(tmp_path):
    """The previous release's baselines: a document saved by version 1 of the schema."""
    shutil.copy(SCHEMA_1, tmp_path / "release.json")
    _, old = Storage(tmp_path).load("release")
    assert old["schema"] == "pytest-clipbias/results/1"
    new = json.loads(json.dumps(old))
    new["created"] = "later"
    result = compare(new, old, RULE)
    assert not result.failed and result.compared_cells
    hyp = next(r for r in result.rows if r.measure == "hypodescent")
    assert hyp.note == ("compared per table row, unpaired (baseline saved with "
                        "pytest-clipbias/results/1, before per-cell records)")
    assert hyp.cells[0].test == "unpaired, 0.9/0.9 intervals"
    custom = next(r for r in result.rows if r.measure == "custom")
    assert custom.cells[0].test.endswith("level assumed 1 - alpha")


def test_parametrized_model_ids_are_matched_across_models():
    base = _doc([{"a": 0.2}], model="demo")
    cand = _doc([{"a": 0.2}], model="demo-fair")
    for doc, name in ((base, "demo"), (cand, "demo-fair")):
        doc["records"][0]["test"] = f"t.py::test[{name}]"
    rows = compare(cand, base, RULE).rows
    assert [(r.test, r.verdict, r.model) for r in rows] == [
        ("t.py::test", "within tolerance", "demo-fair")]


def test_storage_names_autosave_numbers_and_paths(tmp_path):
    storage = Storage(tmp_path)
    (tmp_path / "0041_notes.json").write_text("{}")  # not an autosave: not counted
    (tmp_path / "0007_20260101-000000_abcdef12.json").write_text("{}")
    (tmp_path / "release.json").write_text("{}")
    assert storage.autosave_name(None).startswith("0008_")
    for bad in ("../evil", "a/b", ".hidden", "latest", ""):
        with pytest.raises(ValueError, match="not allowed"):
            storage.save({}, bad)
    doc = _doc([{"a": 0.1}])
    path = storage.save(doc, "v1.0")
    assert storage.load("v1.0") == (path, doc)
    assert storage.load(str(path)) == (path, doc)


# -- through pytest and the command line ----------------------------------------------------

SUITE = """
import os
import pytest
from pytest_clipbias import BiasResult, assert_no_hypodescent
from pytest_clipbias.testing import PlantedEncoder, planted_morph_series

VERSION = os.environ.get("VERSION", "v1")


class Model(PlantedEncoder):
    name = f"planted-{VERSION}"
    fingerprint = f"weights-{VERSION}"


MODEL = Model(["Black", "White", "person"], image_bias={"Black": float(os.environ["BIAS"])})


@pytest.mark.parametrize("model", [MODEL], ids=[MODEL.name])
def test_hypodescent(model):
    series = planted_morph_series("Black", "White", n_series=200, midpoint_rate=0.5, seed=1)
    assert_no_hypodescent(model, series, threshold=3.0)


def test_custom(clipbias_record):
    clipbias_record(BiasResult(name="custom", effect=0.1, effect_name="d", ci=(0.0, 0.2),
                               p_value=0.3, n=10, threshold=0.5, verdict="pass"))
"""


def _run(pytester, *args, **env):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return pytester.runpytest("-p", "no:cacheprovider", *args)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


GATE = ("--clipbias-compare", "release", "--clipbias-compare-fail", "effect:+0.05")


def test_gate_fails_a_more_biased_model_version_and_passes_a_fairer_one(pytester):
    pytester.makepyfile(test_suite=SUITE)
    assert _run(pytester, "--clipbias-save", "release", BIAS="0.05").ret == 0
    worse = _run(pytester, *GATE, BIAS="0.2", VERSION="v2")
    worse.assert_outcomes(passed=2)
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    worse.stdout.fnmatch_lines([
        "baseline  release (models: planted-v1 weights-; 2 results; *",
        "candidate this run (models: planted-v2 weights-; 2 results; *",
        "*test  *measure  *cell  *baseline  *candidate  *change ?interval?  *test used  *verdict",
        "*test_suite.py::test_hypodescent (planted-v2)  hypodescent  Black-White  +0.222  *"
        "paired z, 200 items  *REGRESSED: harm grew by more than 0.05 (Holm p *",
        "clipbias gate FAILED (1 regressed cell) (effect:+0.05; one-sided per cell, either "
        "direction, Holm over 2 cells, alpha 0.05) vs release: 1 regressed, 1 within tolerance",
        "clipbias outcome: FAILED because of the release gate (1 regressed cell)"])
    better = _run(pytester, *GATE, BIAS="0.0", VERSION="v2")
    assert better.ret == 0
    better.stdout.fnmatch_lines(["*test_hypodescent (planted-v2)*within tolerance*",
                                 "clipbias gate passed *",
                                 "clipbias outcome: no failure from bias checks or the gate "
                                 "(2 checks; release gate passed)"])
    for out in (worse, better):
        assert "not comparable" not in out.stdout.str()


def test_missing_result_fails_the_gate_and_is_named(pytester):
    pytester.makepyfile(test_suite=SUITE)
    _run(pytester, "--clipbias-save", "release", BIAS="0.05")
    gone = _run(pytester, "-k", "hypodescent", *GATE, BIAS="0.05")
    assert gone.ret == pytest.ExitCode.TESTS_FAILED
    gone.stdout.fnmatch_lines(["*test_suite.py::test_custom  *custom  * MISSING: in release, "
                               "not in this run*", "*1 missing*"])
    accepted = _run(pytester, "-k", "hypodescent", *GATE, "--clipbias-compare-allow-missing",
                    BIAS="0.05")
    assert accepted.ret == 0


def test_bad_gate_settings_stop_the_session_before_tests_run(pytester):
    pytester.makepyfile(test_suite=SUITE)
    none = _run(pytester, *GATE, BIAS="0.05")
    assert none.ret == pytest.ExitCode.USAGE_ERROR  # a gate without a baseline must not pass
    none.stderr.fnmatch_lines(["*clipbias release gate: no saved clipbias runs in*"])
    _run(pytester, "--clipbias-save", "release", BIAS="0.05")
    typo = _run(pytester, "--clipbias-compare", "release", "--clipbias-compare-fail",
                "hypodescnt:effect:+0.05", BIAS="0.05")
    assert typo.ret == pytest.ExitCode.USAGE_ERROR and "collected" not in typo.stdout.str()
    typo.stderr.fnmatch_lines(["*unknown measure 'hypodescnt' (did you mean 'hypodescent'?); "
                               "known measures: accuracy_parity, association, custom, *"])
    alone = _run(pytester, "--clipbias-compare-fail", "effect:+0.05", BIAS="0.05")
    assert alone.ret == pytest.ExitCode.USAGE_ERROR and "collected" not in alone.stdout.str()
    alone.stderr.fnmatch_lines(["*--clipbias-compare-fail given without --clipbias-compare: no "
                                "baseline, so no release gate would run; add --clipbias-compare "
                                "NAME*"])
    from_env = _run(pytester, BIAS="0.05", CLIPBIAS_COMPARE_FAIL="effect:+0.05")
    assert from_env.ret == pytest.ExitCode.USAGE_ERROR
    pytester.makeini("[pytest]\nclipbias_compare_fail = effect:+0.05\n")
    assert _run(pytester, BIAS="0.05").ret == 0  # an ini default applies when a run compares
    flags = _run(pytester, "--clipbias-compare-fail-strict", "--clipbias-compare-allow-missing",
                 BIAS="0.05")
    assert flags.ret == pytest.ExitCode.USAGE_ERROR
    flags.stderr.fnmatch_lines(["*--clipbias-compare-fail-strict, "
                                "--clipbias-compare-allow-missing given without *"])
    for args, message in ((("--clipbias-save", "../evil"), "*save name '../evil' is not *"),
                          (("--clipbias-json", "."), "*--clipbias-json: * is a directory*"),
                          (("--clipbias-compare-fail", "effect:0.1"), "*cannot parse*")):
        bad = _run(pytester, *args, BIAS="0.05")
        assert bad.ret == pytest.ExitCode.USAGE_ERROR, args
        bad.stderr.fnmatch_lines([message])
    (pytester.path / ".clipbias" / "release.json").write_text("{not json")
    corrupt = _run(pytester, *GATE, BIAS="0.05")
    assert corrupt.ret == pytest.ExitCode.USAGE_ERROR
    corrupt.stderr.fnmatch_lines(["*cannot read clipbias results *release.json*"])


def test_the_previous_release_baseline_gates_a_new_run(pytester):
    """A baseline saved with schema 1 (tests/fixtures) gates this version's run, per row."""
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / ".clipbias").mkdir()
    shutil.copy(SCHEMA_1, pytester.path / ".clipbias" / "release.json")
    same = _run(pytester, *GATE, BIAS="0.05", VERSION="v2")
    assert same.ret == 0
    same.stdout.fnmatch_lines(["*test_hypodescent (planted-v2)  hypodescent  pair=Black-White  "
                               "+0.222  *unpaired, 0.9/0.9 intervals  *within tolerance: "
                               "*compared per table row, unpaired (baseline saved with "
                               "pytest-clipbias/results/1, before per-cell records)",
                               "clipbias gate passed *"])
    worse = _run(pytester, *GATE, BIAS="0.3", VERSION="v2")
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    worse.stdout.fnmatch_lines(["*test_hypodescent (planted-v2)*REGRESSED*"])


def _cli(capsys, monkeypatch, cwd, *args):
    """Run the command line in this process (the package import costs seconds per process)."""
    from pytest_clipbias.__main__ import main

    monkeypatch.chdir(cwd)
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help and usage errors
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_command_line_compare_and_list(pytester, capsys, monkeypatch):
    pytester.makepyfile(test_suite=SUITE)
    _run(pytester, "--clipbias-save", "v1", BIAS="0.05")
    _run(pytester, "--clipbias-save", "v2", "--clipbias-json", "v2.json", BIAS="0.2",
         VERSION="v2")
    capsys.readouterr()

    def cli(*args):
        return _cli(capsys, monkeypatch, pytester.path, *args)

    listed = cli("list")
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["v1", "v2"]
    regress = cli("compare", "v1", "v2.json", "--fail", "effect:+0.05")
    assert regress.returncode == 1, regress.stderr
    assert "REGRESSED" in regress.stdout
    assert regress.stdout.splitlines()[-1].startswith("clipbias gate FAILED")
    assert cli("compare", "v2", "v1", "--fail", "effect:+0.05").returncode == 0
    informational = cli("compare", "v1", "v2")
    assert informational.returncode == 0  # no rule: informational
    assert "  grew" in informational.stdout and " ok" not in informational.stdout
    itself = cli("compare", "v2")  # the candidate defaults to latest: v2 itself
    assert itself.returncode == 0 and "comparing a run with itself" in itself.stderr
    (pytester.path / "broken.json").write_text("{")
    for args in (("v1", "broken.json"), ("nope", "v2"), ("v1", "v2", "--fail", "x:effect:+1"),
                 ("v1", "v2", "--fail", "effect:1"), ("v1", "v2", "--alpha", "0.7")):
        out = cli("compare", *args)
        assert out.returncode == 2 and "error:" in out.stderr, args
    helped = cli("compare", "--help")
    assert helped.returncode == 0
    assert "0  no regression" in helped.stdout and "2  usage error" in helped.stdout
    toml = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    scripts = toml.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert scripts["project"]["scripts"]["pytest-clipbias"] == "pytest_clipbias.__main__:main"
    module = subprocess.run([sys.executable, "-m", "pytest_clipbias", "compare", "v1", "v2",
                             "--fail", "effect:+0.05"], cwd=pytester.path, capture_output=True,
                            text=True)
    assert module.returncode == 1 and "clipbias gate FAILED" in module.stdout


DATA_SUITE = """
import hashlib
import os
import numpy as np
import pytest
from PIL import Image
from pytest_clipbias import (BiasAssertionError, BiasInconclusiveError, assert_no_hypodescent,
                             assert_person_default_unmarked)


class PixelEncoder:
    \"\"\"Embeds the pixels it is given (files or arrays) by a fixed random projection.\"\"\"

    name = "pixels-" + os.environ.get("VERSION", "v1")

    def __init__(self):
        rng = np.random.default_rng(len(self.name))
        self.proj = rng.standard_normal((3, 16))

    def encode_images(self, images):
        rows = [np.asarray(Image.open(i).convert("RGB") if isinstance(i, str) else i,
                           float).mean((0, 1)) @ self.proj + 1e-3 for i in images]
        return np.array([r / np.linalg.norm(r) for r in rows], np.float32)

    def encode_texts(self, texts):
        rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))
                .standard_normal(16) for t in texts]
        return np.array([r / np.linalg.norm(r) for r in rows], np.float32)


MODEL = PixelEncoder()


def _quiet(check, *args, **kwargs):
    try:
        check(*args, **kwargs)
    except (BiasAssertionError, BiasInconclusiveError):
        pass  # the verdict of this toy model does not matter here; the record does


def test_files(clip_dataset):
    faces = clip_dataset("manifest", path=os.path.join(os.environ["DATA"], "faces.csv"))
    _quiet(assert_person_default_unmarked, MODEL, faces, min_per_group=2)


def test_synthetic(clip_morphs):
    series = clip_morphs("synthetic", pairs=[("Black", "White")], genders=["female"],
                         n_series=3, steps=3)
    _quiet(assert_no_hypodescent, MODEL, series, min_series=2)
"""


def test_identical_data_in_other_folders_and_synthetic_data_are_comparable(pytester):
    from conftest import write_images

    pytester.makepyfile(test_data=DATA_SUITE)
    first = pytester.path / "checkout-a" / "data"
    paths = write_images(first / "img", 8, size=(32, 32))
    rows = [f"img/{p.name},{'Black' if i % 2 else 'White'},female"
            for i, p in enumerate(paths)]
    (first / "faces.csv").write_text("path,race,gender\n" + "\n".join(rows[::-1]) + "\n")
    second = pytester.path / "elsewhere" / "data"
    shutil.copytree(first, second)
    (second / "faces.csv").write_text("path,race,gender\n" + "\n".join(rows) + "\n")
    base = _run(pytester, "--clipbias-save", "a", DATA=str(first))
    assert base.ret in (0, 1)
    again = _run(pytester, "--clipbias-compare", "a", "--clipbias-compare-fail", "effect:+0.05",
                 "--clipbias-json", "b.json", DATA=str(second), VERSION="v2")
    text = again.stdout.str()
    assert "not comparable" not in text and "clipbias gate FAILED (1 candidate cell(s) with an " \
        "undefined effect)" in text, text
    assert "UNDEFINED: candidate effect undefined: endpoint accuracy 0.00 < 0.80" in text
    again.stdout.fnmatch_lines(["*(pixels-v2)  *person_default  Black  *+3.142  *+3.142  "
                                "*+0.000 ?+0.000, +0.000?  paired z, 8 items  *"])
    accepted = _run(pytester, "--clipbias-compare", "a", "--clipbias-compare-fail",
                    "effect:+0.05", "--clipbias-compare-allow-incomparable", DATA=str(second))
    assert "clipbias gate passed" in accepted.stdout.str()
    gate = json.loads((pytester.path / "b.json").read_text())["gate"]
    assert gate["verdict"] == "failed" and gate["regressed"] == []
    assert gate["reasons"] == ["1 candidate cell(s) with an undefined effect"]
    other = write_images(pytester.path / "other", 1, seed=5, size=(32, 32))[0]
    shutil.copy(other, second / "img" / paths[0].name)  # one image replaced, same name
    changed = _run(pytester, "--clipbias-compare", "a", DATA=str(second)).stdout.str()
    assert "test_data.py::test_files " in changed and "not comparable: data changed" in changed
    doc = json.loads((pytester.path / "b.json").read_text())
    assert {r["test"].split("::")[1] for r in doc["records"]} == {"test_files", "test_synthetic"}

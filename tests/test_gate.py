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
import tomllib
from scipy import stats

from pytest_clipbias import BiasResult
from pytest_clipbias.gate import (
    change_test,
    check_rule_measures,
    parse_fail_rule,
    power_at,
    se_from_interval,
)
from pytest_clipbias.report.baseline import (
    Storage,
    compare,
    comparison_key,
    summary_line,
    table_lines,
)
from pytest_clipbias.report.document import build_document, make_record

ALPHA = 0.05


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


# -- the test of change, against closed forms and by simulation ----------------------------


def test_change_test_matches_the_normal_closed_form():
    z95 = stats.norm.ppf(0.975)
    se_old = se_from_interval(0.3 - 0.1 * z95, 0.3 + 0.1 * z95, 0.95)
    assert se_old == pytest.approx(0.1)
    ch = change_test(0.3, 0.1, -0.55, 0.2, 0.05, alpha=0.05)
    se = np.hypot(0.1, 0.2)
    assert ch.diff == pytest.approx(0.25) and ch.se == pytest.approx(se)
    assert ch.p_value == pytest.approx(stats.norm.sf((0.25 - 0.05) / se))
    assert ch.low == pytest.approx(0.25 - stats.norm.ppf(0.95) * se)
    # the printed interval is the evidence: its lower end clears the tolerance iff p < alpha
    assert (ch.low > 0.05) == (ch.p_value < 0.05)
    assert change_test(0.1, 0.0, 0.2, 0.0, 0.05).p_value == 0.0  # no noise: the point decides
    assert np.isnan(change_test(np.nan, 0.1, 0.2, 0.1, 0.05).p_value)


def _h(p):
    return 2 * np.arcsin(np.sqrt(p)) - 2 * np.arcsin(np.sqrt(0.5))


def _simulated_results(rate, n, reps, rng):
    """Cohen's h of a midpoint rate against 0.5 with its 95% Wilson interval (hypodescent)."""
    k = rng.binomial(n, rate, reps)
    z = stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return _h(p), se_from_interval(_h(centre - half), _h(centre + half), 0.95)


def _rate_for_h(h):
    return np.sin((h + 2 * np.arcsin(np.sqrt(0.5))) / 2) ** 2


@pytest.mark.parametrize("grown", [0.0, 0.05])
def test_false_alarm_rate_is_at_most_alpha(grown):
    """Nothing changed (or grew by exactly the tolerance): P(regression) <= alpha."""
    rng = np.random.default_rng(7)
    reps, n, tol = 20_000, 400, 0.05
    e0, s0 = _simulated_results(_rate_for_h(0.3), n, reps, rng)
    e1, s1 = _simulated_results(_rate_for_h(0.3 + grown), n, reps, rng)
    rate = np.mean(change_test(e0, s0, e1, s1, tol, ALPHA).p_value < ALPHA)
    slack = 3 * np.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert rate <= ALPHA + slack
    if grown == tol:  # at the boundary the test is close to exact, not vacuous
        assert rate >= ALPHA / 2


def test_power_at_twice_the_tolerance_is_as_documented():
    rng = np.random.default_rng(8)
    reps, n, tol = 20_000, 6400, 0.05  # se of h about 1/sqrt(n) = tol / 4
    e0, s0 = _simulated_results(_rate_for_h(0.3), n, reps, rng)
    e1, s1 = _simulated_results(_rate_for_h(0.3 + 2 * tol), n, reps, rng)
    power = np.mean(change_test(e0, s0, e1, s1, tol, ALPHA).p_value < ALPHA)
    expected = power_at(2 * tol, tol, 1 / np.sqrt(n), 1 / np.sqrt(n), ALPHA)
    assert expected == pytest.approx(0.88, abs=0.01)
    assert power == pytest.approx(expected, abs=0.02)


def _doc(effects, *, ses=None, test_ids=None, model="m1", data="d", templates="t"):
    """A results document with one hypodescent-like record per effect."""
    z = stats.norm.ppf(0.975)
    records = []
    for i, e in enumerate(effects):
        se = 0.05 if ses is None else ses[i]
        result = BiasResult(name="hypodescent", effect=e, effect_name="cohen_h",
                            ci=(e - z * se, e + z * se), p_value=0.5, n=400, threshold=0.2,
                            verdict="pass")
        rec = make_record(result, None, test=test_ids[i] if test_ids else f"t.py::test_{i}")
        rec.update(model={"name": model}, data_fingerprint=data, templates_hash=templates)
        records.append(rec)
    return build_document(records, {"models": [{"name": model}], "versions": {}})


def test_family_of_unchanged_results_fails_at_most_alpha_of_the_time():
    """Holm across the compared results: the gate's family-wise false-alarm rate <= alpha."""
    rng = np.random.default_rng(9)
    reps, m, rule = 400, 5, [parse_fail_rule("effect:+0.05")]
    fails = 0
    for _ in range(reps):
        base = _doc(0.3 + 0.05 * rng.standard_normal(m), model="v1")
        cand = _doc(0.35 + 0.05 * rng.standard_normal(m), model="v2")  # grew by the tolerance
        fails += compare(cand, base, rule).failed
    assert fails / reps <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / reps)


# -- comparison -----------------------------------------------------------------------------


def test_compare_judges_change_and_names_what_it_cannot_compare():
    rules = [parse_fail_rule("effect:+0.05")]
    base = _doc([0.2, 0.2, 0.2, 0.2, 0.2], model="v1")
    cand = _doc([0.6, 0.22, -0.01, 0.9, 0.9], model="v2")
    cand["records"][3]["data_fingerprint"] = "other"
    cand["records"][4]["templates_hash"] = "other"
    result = compare(cand, base, rules, baseline_name="v1")
    verdicts = [r.verdict for r in result.rows]
    assert verdicts == ["regressed", "ok", "improved", "not comparable", "not comparable"]
    assert result.rows[3].note == "data changed"
    assert result.rows[4].note == "prompts or labels changed"
    assert result.failed and [r.test for r in result.regressions] == ["t.py::test_0"]
    text = "\n".join(table_lines(result))
    assert "t.py::test_0 (v2)  hypodescent  +0.200    +0.600     +0.400 [" in text
    holm = 3 * stats.norm.sf(0.35 / np.hypot(0.05, 0.05))  # 3 compared results, smallest p
    assert text.splitlines()[1].endswith(f"REGRESSED: grew by more than 0.05, Holm p {holm:.2g}")
    assert summary_line(result) == (
        "clipbias gate FAILED (effect:+0.05; one-sided, Holm, alpha 0.05) vs v1: 1 regressed, "
        "1 improved, 1 ok, 2 not comparable")
    assert not compare(cand, base, []).failed  # no rule: informational


def test_visible_but_unproven_growth_is_inconclusive_not_passed():
    rules = [parse_fail_rule("effect:+0.05")]
    base, cand = _doc([0.2], model="v1"), _doc([0.3], model="v2")
    result = compare(cand, base, rules)
    p = stats.norm.sf(0.05 / np.hypot(0.05, 0.05))
    assert [r.verdict for r in result.rows] == ["inconclusive"] and not result.failed
    assert f"not shown (Holm p {p:.2g})" in result.rows[0].note
    assert "1 inconclusive" in summary_line(result)
    strict = compare(cand, base, rules, strict=True)
    assert [r.verdict for r in strict.rows] == ["regressed"] and strict.failed


def test_missing_results_fail_unless_accepted():
    rules = [parse_fail_rule("effect:+0.05")]
    base = _doc([0.2, 0.2], model="v1")
    cand = _doc([0.2], model="v2")
    result = compare(cand, base, rules)
    assert result.failed and [r.test for r in result.missing] == ["t.py::test_1"]
    accepted = compare(cand, base, rules, allow_missing=True)
    assert not accepted.failed and "(removals accepted)" in summary_line(accepted)


def test_parametrized_model_ids_are_matched_across_models():
    base = _doc([0.2], test_ids=["t.py::test[demo]"], model="demo")
    cand = _doc([0.2], test_ids=["t.py::test[demo-fair]"], model="demo-fair")
    rows = compare(cand, base, [parse_fail_rule("effect:+0.05")]).rows
    assert [(r.test, r.verdict, r.model) for r in rows] == [("t.py::test", "ok", "demo-fair")]


def test_storage_names_autosave_numbers_and_paths(tmp_path):
    storage = Storage(tmp_path)
    (tmp_path / "0041_notes.json").write_text("{}")  # not an autosave: not counted
    (tmp_path / "0007_20260101-000000_abcdef12.json").write_text("{}")
    (tmp_path / "release.json").write_text("{}")
    assert storage.autosave_name(None).startswith("0008_")
    for bad in ("../evil", "a/b", ".hidden", "latest", ""):
        with pytest.raises(ValueError, match="not allowed"):
            storage.save({}, bad)
    doc = _doc([0.1])
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
        "*test  *measure  *baseline  *candidate  *change ?interval?  *verdict",
        "*test_suite.py::test_hypodescent (planted-v2)  hypodescent  +0.2* REGRESSED: grew*",
        "clipbias gate FAILED (effect:+0.05; one-sided, Holm, alpha 0.05) vs release: "
        "1 regressed, 1 ok"])
    better = _run(pytester, *GATE, BIAS="0.0", VERSION="v2")
    assert better.ret == 0
    better.stdout.fnmatch_lines(["*test_hypodescent (planted-v2)*improved*",
                                 "clipbias gate passed *"])
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
    assert cli("compare", "v1", "v2").returncode == 0  # no rule: informational
    (pytester.path / "broken.json").write_text("{")
    for args in (("v1", "broken.json"), ("nope", "v2"), ("v1", "v2", "--fail", "x:effect:+1"),
                 ("v1", "v2", "--fail", "effect:1"), ("v1", "v2", "--alpha", "0.7")):
        out = cli("compare", *args)
        assert out.returncode == 2 and "error:" in out.stderr, args
    helped = cli("compare", "--help")
    assert helped.returncode == 0
    assert "0  no regression" in helped.stdout and "2  usage error" in helped.stdout
    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
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
    assert "not comparable" not in text and "clipbias gate passed" in text, text
    assert "(pixels-v2)" in text
    other = write_images(pytester.path / "other", 1, seed=5, size=(32, 32))[0]
    shutil.copy(other, second / "img" / paths[0].name)  # one image replaced, same name
    changed = _run(pytester, "--clipbias-compare", "a", DATA=str(second)).stdout.str()
    assert "test_data.py::test_files " in changed and "not comparable: data changed" in changed
    doc = json.loads((pytester.path / "b.json").read_text())
    assert {r["test"].split("::")[1] for r in doc["records"]} == {"test_files", "test_synthetic"}

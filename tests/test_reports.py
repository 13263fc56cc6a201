"""Results people read and gate on: summary, JSON, HTML, junit, baselines, xdist, profiles."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_clipbias.report.document import SCHEMA

SUITE = """
import os
import pytest
from pytest_clipbias import assert_no_hypodescent, assert_region_gender_skew_below
from pytest_clipbias import FaceItem, FaceSet
from pytest_clipbias.testing import (
    PlantedEncoder, PlantedImage, planted_morph_series, planted_region_faces, _seed)

ENC = PlantedEncoder(["Black", "White", "person", "woman", "man", "nurse", "engineer"],
                     image_bias={"Black": float(os.environ.get("BIAS", "0.1"))})
THRESHOLD = float(os.environ.get("THRESHOLD", "0.2"))
TEMPLATE = os.environ.get("TEMPLATE", "a photo of a {} person.")
N = int(os.environ.get("N_SERIES", "200"))


@pytest.mark.clipbias(family="hypodescent", dataset="planted", owner="fairness-team")
def test_hypodescent():
    series = planted_morph_series("Black", "White", n_series=N, midpoint_rate=0.5,
                                  gender="female", seed=1)
    assert_no_hypodescent(ENC, series, threshold=THRESHOLD, templates=[TEMPLATE])


def test_region():
    faces = planted_region_faces(
        ("South Asia", "Europe", "North America", "Sub-Saharan Africa"), 30)
    assert_region_gender_skew_below(ENC, faces, labels=["nurse", "engineer"],
                                    threshold=5.0, index="wef-gggi")


def test_small():
    series = planted_morph_series("Black", "White", n_series=10, midpoint_rate=0.5, seed=2)
    assert_no_hypodescent(ENC, series)


def test_custom(clipbias_record):
    from pytest_clipbias import BiasResult
    clipbias_record(BiasResult(name="custom", effect=0.1, effect_name="d", ci=(0.0, 0.2),
                               p_value=0.3, n=10, threshold=0.5, verdict="pass"))
"""


def _suite(pytester):
    pytester.makepyfile(test_suite=SUITE)


def test_summary_lists_every_result_worst_first(pytester):
    _suite(pytester)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    section = out[out.index("= clipbias ="):]
    rows = [line for line in section.splitlines() if line.startswith("test_suite.py::")]
    assert [r.split()[0] for r in rows] == [
        "test_suite.py::test_hypodescent", "test_suite.py::test_small",
        "test_suite.py::test_region", "test_suite.py::test_custom"]
    assert rows[0].endswith("FAIL") and rows[1].endswith("INCONCLUSIVE")
    assert "hypodescent (cohen_h)" in rows[0] and "[+" in rows[0]
    verbose = pytester.runpytest("-p", "no:cacheprovider", "-v").stdout.str()
    assert "region=South Asia" in verbose and "pair=Black-White, women" in verbose


def test_json_validates_against_the_schema(pytester):
    jsonschema = pytest.importorskip("jsonschema")
    _suite(pytester)
    pytester.runpytest("--clipbias-json", "out/results.json")
    doc = json.loads((pytester.path / "out" / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert {r["test"].split("::")[1] for r in doc["records"]} == {
        "test_hypodescent", "test_region", "test_small", "test_custom"}
    hyp = next(r for r in doc["records"] if r["test"].endswith("test_hypodescent"))
    assert hyp["marker"] == {"family": "hypodescent", "dataset": "planted",
                             "owner": "fairness-team"}
    assert hyp["outcome"] == "failed" and hyp["model"]["type"] == "PlantedEncoder"
    assert hyp["templates_hash"] and hyp["data_fingerprint"]
    assert doc["run"]["versions"]["pytest-clipbias"] and doc["run"]["profile"] == "ci"
    with open(SCHEMA_FILE) as fh:  # the documented schema is the one the code checks
        assert json.load(fh) == SCHEMA


SCHEMA_FILE = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "results.schema.json")


def test_junit_properties(pytester):
    _suite(pytester)
    pytester.runpytest("--junitxml=junit.xml")
    xml = (pytester.path / "junit.xml").read_text()
    assert 'name="clipbias.hypodescent.effect"' in xml
    assert 'name="clipbias.hypodescent.verdict" value="fail"' in xml
    assert 'name="clipbias.region_gender_skew.p_value"' in xml
    small = xml[xml.index('name="test_small"'):]
    small = small[:small.index("</testcase>")]
    assert 'name="clipbias.hypodescent.verdict" value="inconclusive"' in small
    assert "p_value" not in small  # an inconclusive check has no p: left out, never "None"
    assert 'value="None"' not in xml


def test_xdist_workers_results_are_aggregated(pytester):
    pytest.importorskip("xdist")
    _suite(pytester)
    result = pytester.runpytest_subprocess("-n", "2", "--clipbias-json", "r.json")
    result.assert_outcomes(passed=2, failed=2)
    doc = json.loads((pytester.path / "r.json").read_text())
    assert len(doc["records"]) == 4
    assert result.stdout.str().count("test_suite.py::test_") >= 4


def _run(pytester, *args, **env):
    for key, value in env.items():
        os.environ[key] = value
    try:
        return pytester.runpytest(*args)
    finally:
        for key in env:
            os.environ.pop(key, None)


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))


RICH_SUITE = (Path(__file__).parent / "report_suite.py").read_text()


@pytest.fixture(scope="module")
def rich_report(tmp_path_factory):
    """The HTML and JSON reports of a run of every measure plus a skip and an error."""
    pytest.importorskip("matplotlib")
    work = tmp_path_factory.mktemp("rich")
    (work / "test_rich.py").write_text(RICH_SUITE)
    pytest_html = importlib.util.find_spec("pytest_html") is not None
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p",
                    "no:cacheprovider", "--clipbias-html", "report.html", "--clipbias-json",
                    "report.json", "test_rich.py",
                    *(["--html", "ph.html", "--self-contained-html"] if pytest_html else [])],
                   cwd=work, capture_output=True, check=False,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=300)
    return work


def test_html_report_lists_every_outcome_with_overview_and_plots(rich_report):
    text = (rich_report / "report.html").read_text()
    doc = json.loads((rich_report / "report.json").read_text())
    outcomes = {t["test"].split("::")[1]: t["outcome"] for t in doc["tests"]}
    assert outcomes["test_needs_data"] == "skipped" and outcomes["test_error"] == "error"
    assert outcomes["test_hypodescent"] == "failed" and outcomes["test_region_skew"] == "passed"
    parser = _Images()
    parser.feed(text)
    pngs = [src for src in parser.images if src.startswith("data:image/png;base64,")]
    assert len(pngs) >= 6  # curves x2, heatmap, skew vs index, rates x2, retrieval shares
    assert "<h2>Overview</h2>" in text and "<th>PlantedEncoder</th>" in text
    for test in outcomes:  # every test listed, skips and errors with their message
        assert f"test_rich.py::{test}" in text
    assert "fixture exploded" in text and "needs --clip-data-root" in text
    assert '<span class="v skipped">SKIPPED</span>' in text
    assert '<span class="v error">ERROR</span>' in text


def test_html_tables_keep_every_group_column_and_format_p_like_the_terminal(rich_report):
    text = (rich_report / "report.html").read_text()
    parity = text[text.index("label_rate_parity <span"):]
    header = parity[parity.index("<tr>"):parity.index("</tr>")]
    assert all(f"<th>{k}</th>" in header for k in ("kind", "region", "gender", "headwear"))
    assert ('<td data-label="kind">intersection</td><td data-label="region">South Asia</td>'
            '<td data-label="gender">male</td>') in parity
    assert header.startswith("<tr><th>verdict</th>")  # the verdict never scrolls out of view
    assert "e-06" not in text.split("<h2>Results</h2>")[0]  # p as in the terminal: 1.1e-6


def _screenshot(folder: Path, width: int, height: int) -> Any:
    shot = folder / f"shot-{width}.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={folder / 'profile'}",
         f"--screenshot={shot}", f"--window-size={width},{height}",
         f"file://{folder / 'report.html'}"],
        check=True, capture_output=True, timeout=120)
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (width, height)
    return img


def _colours(img: Any) -> dict:
    return {c: n for n, c in img.getcolors(maxcolors=1 << 20)}


FAIL_BG, PASS_BG, INCONCLUSIVE_BG = (255, 235, 233), (218, 251, 225), (255, 248, 197)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_html_renders_in_headless_chromium_at_1280_px(rich_report):
    """The first screen: release line, overview matrix in verdict colours, nothing cut off."""
    img = _screenshot(rich_report, 1280, 1600)
    colours = _colours(img)
    assert colours.get(FAIL_BG, 0) > 20000 and colours.get(PASS_BG, 0) > 5000
    assert colours.get(INCONCLUSIVE_BG, 0) > 5000
    right = img.crop((1260, 0, 1280, 1600))  # nothing drawn in the right margin: no overflow
    assert right.getcolors(maxcolors=4) == [(20 * 1600, (255, 255, 255))]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_html_is_readable_at_phone_width(rich_report):
    """At 390 px every table row stacks into labelled lines: no column hides off screen."""
    img = _screenshot(rich_report, 390, 2400)
    colours = _colours(img)
    assert colours.get(FAIL_BG, 0) > 5000 and colours.get(PASS_BG, 0) > 2000
    right = img.crop((385, 0, 390, 2400))
    assert right.getcolors(maxcolors=4) == [(5 * 2400, (255, 255, 255))]


def test_profiles(pytester):
    pytester.makeconftest(
        "from pytest_clipbias import register_profile\n"
        "register_profile('team', parent='smoke', permutations=12345)\n")
    pytester.makepyfile(
        "def test_p(clipbias_profile):\n"
        "    print('PROFILE', clipbias_profile.name, clipbias_profile.permutations,\n"
        "          clipbias_profile.n_series)\n")
    out = pytester.runpytest("-s", "--clipbias-profile", "smoke").stdout.str()
    assert "PROFILE smoke 999 400\n" in out
    out = _run(pytester, "-s", CLIPBIAS_PROFILE="nightly").stdout.str()
    assert "PROFILE nightly 50000 1000" in out
    assert "PROFILE team 12345 400\n" in pytester.runpytest("-s", "--clipbias-profile",
                                                         "team").stdout.str()
    bad = pytester.runpytest("--clipbias-profile", "turbo")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_marker_registered_and_selectable(pytester):
    _suite(pytester)
    result = pytester.runpytest("--strict-markers", "-m", "clipbias")
    result.assert_outcomes(failed=1)
    assert "test_hypodescent" in result.stdout.str()
    assert "clipbias(family=None" in pytester.runpytest("--markers").stdout.str()


def test_custom_measure_registers_its_columns_and_every_group_is_a_column():
    from pytest_clipbias.report.html import result_table
    from pytest_clipbias.report.summary import table_lines
    from pytest_clipbias.report.views import register_view

    register_view("team_measure", columns=("share",), hidden=("note",))
    rows = [{"region": "Europe", "n": 10, "effect": 0.1, "ci_low": 0.0, "ci_high": 0.2,
             "p_value": 0.5, "verdict": "pass", "share": 0.25, "note": "x"},
            {"region": "South Asia", "gender": "male", "n": 10, "effect": 0.6, "ci_low": 0.4,
             "ci_high": 0.8, "p_value": 2e-7, "verdict": "fail", "share": 0.75, "note": "y"}]
    result = {"name": "team_measure", "table": rows}
    table = result_table(result)
    assert "<th>region</th><th>gender</th><th>n</th>" in table and "<th>note</th>" not in table
    assert "<th>share</th>" in table and "0.750" in table and "&lt;1e-6" in table
    lines = table_lines(result)
    assert lines[0].split()[0] == "region=Europe"
    assert "region=South Asia, gender=male" in lines[1] and "p <1e-6" in lines[1]


def test_html_report_opens_with_one_release_line_per_model(rich_report):
    text = (rich_report / "report.html").read_text()
    top = text[:text.index("<h2>Overview</h2>")]
    assert '<li class="fail">PlantedEncoder: 3 of 7 checks fail, 3 inconclusive; blocked</li>' in (
        top)


class _Blob(HTMLParser):
    """pytest-html's test data (a JSON blob the page renders client-side) and summary text."""

    def __init__(self):
        super().__init__()
        self.blob = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "data-container":
            self.blob = json.loads(attrs["data-jsonblob"])


def test_pytest_html_rows_carry_clipbias_tables_and_the_summary_the_matrix(rich_report):
    pytest.importorskip("pytest_html")
    text = (rich_report / "ph.html").read_text()
    summary = text[text.index('class="additional-summary prefix"'):text.index('class="run-count"')]
    assert "CLIP bias checks" in summary and "PlantedEncoder: 3 of 7 checks fail" in summary
    assert summary.count('<td data-label="check">') == 7  # one matrix row per check
    parser = _Blob()
    parser.feed(text)
    tests = parser.blob["tests"]
    hyp = next(r for key, runs in tests.items() if key.endswith("::test_hypodescent")
               for r in runs if r["extras"])
    tables = [e["content"] for e in hyp["extras"] if e["format_type"] == "html"]
    assert len(tables) == 1 and "<th>verdict</th><th>pair</th>" in tables[0]
    assert "hypodescent FAIL h=+" in tables[0] and "effect [CI]" in tables[0]
    images = [e for e in hyp["extras"] if e["format_type"] == "image"]
    assert images and all(e["content"].startswith("data:image/png;base64,") for e in images)
    plain = [key for key, runs in tests.items() if key.endswith("::test_error")]
    assert plain and not any(r["extras"] for r in tests[plain[0]])


def _load_card(path):
    hub = pytest.importorskip("huggingface_hub")
    return hub.ModelCard.load(path)


def test_model_card_loads_with_huggingface_hub_one_result_per_check_and_model(rich_report):
    doc = json.loads((rich_report / "report.json").read_text())
    twin = [{**r, "model": {**r["model"], "name": "candidate"}} for r in doc["records"]]
    two = {**doc, "records": doc["records"] + twin}
    (rich_report / "two.json").write_text(json.dumps(two))
    out = subprocess.run([sys.executable, "-m", "pytest_clipbias", "model-card",
                          str(rich_report / "two.json"), "--out", str(rich_report / "card.md")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    card = _load_card(rich_report / "card.md")
    results = card.data.eval_results
    assert len(results) == len(two["records"]) == 14
    by_key = {(r.metric_name.split(":")[0], r.task_name): r for r in results}
    assert len(by_key) == 14  # every (model, check) once
    for rec in two["records"]:
        model = rec["model"].get("name") or rec["model"]["type"]
        res = rec["result"]
        got = by_key[(model, next(k[1] for k in by_key if k[1].endswith(res["name"])
                                  and k[1].startswith(rec["test"])))]
        assert got.metric_type == res["effect_name"] and got.dataset_revision == (
            rec["data_fingerprint"])
        assert got.metric_value == pytest.approx(res["effect"], nan_ok=True) or (
            res["effect"] is None and got.metric_value is None)
        assert got.metric_args["verdict"] == res["verdict"]
        assert got.metric_args["threshold"] == res["threshold"] and got.verified is False
    body = card.text
    assert "## Bias evaluation" in body and "candidate: 3 of 7 checks fail" in body
    assert body.count("### ") == 7
    one = subprocess.run([sys.executable, "-m", "pytest_clipbias", "model-card",
                          str(rich_report / "two.json"), "--model", "candidate", "--out",
                          str(rich_report / "one.md")], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert one.returncode == 0, one.stderr
    card = _load_card(rich_report / "one.md")
    assert card.data.model_name == "candidate" and len(card.data.eval_results) == 7
    bad = subprocess.run([sys.executable, "-m", "pytest_clipbias", "model-card",
                          str(rich_report / "two.json"), "--model", "nope"], capture_output=True,
                         text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert bad.returncode == 2 and "--model nope: not in the run" in bad.stderr


def test_model_card_command_errors_name_the_problem(tmp_path):
    run = [sys.executable, "-m", "pytest_clipbias", "model-card"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([*run, "nothing", "--storage", str(tmp_path)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 2 and "no saved clipbias runs in" in out.stderr
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"schema": "pytest-clipbias/results/1", "created": "x",
                                 "run": {"models": [], "versions": {}}, "records": []}))
    out = subprocess.run([*run, str(empty)], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 2 and "no bias results" in out.stderr


SNAPSHOT_SUITE = """
import os
import pytest
from pytest_clipbias import BiasResult

def _result(name, effect):
    return BiasResult(name=name, effect=effect, effect_name="d", ci=(effect - 0.1, effect + 0.1),
                      p_value=0.3, n=10, threshold=0.5, verdict="pass")

@pytest.mark.parametrize("which", ["a", "b"])
def test_rec(clipbias_record, which):
    clipbias_record(_result(f"m_{which}", float(os.environ.get("EFFECT", "0.1"))))

def test_other(clipbias_record):
    clipbias_record(_result("other", float(os.environ.get("EFFECT", "0.1"))))
"""


def _saved(pytester, name="base"):
    doc = json.loads((pytester.path / ".clipbias" / f"{name}.json").read_text())
    return {(r["test"], r["result"]["name"]): r["result"]["effect"] for r in doc["records"]}


def test_update_refreshes_only_the_tests_that_ran_and_lists_unused(pytester):
    pytester.makepyfile(test_snap=SNAPSHOT_SUITE, test_kept=SNAPSHOT_SUITE)
    _run(pytester, "--clipbias-update", "base", "-p", "no:randomly").assert_outcomes(passed=6)
    assert len(_saved(pytester)) == 6
    # -k selects one test of one file: only its entry changes
    result = _run(pytester, "test_snap.py", "-k", "test_other", "--clipbias-update", "base",
                  EFFECT="0.3")
    result.stdout.fnmatch_lines(["clipbias update base: 1 replaced, 0 added, 5 kept * 0 unused"])
    saved = json.loads((pytester.path / ".clipbias" / "base.json").read_text())["records"]
    effects = {r["test"]: r["result"]["effect"] for r in saved}
    assert effects["test_snap.py::test_other"] == 0.3
    assert sum(v == 0.1 for v in effects.values()) == 5
    # a renamed test: its old entry is unused (listed, kept) until dropped
    pytester.makepyfile(test_snap=SNAPSHOT_SUITE.replace("def test_other", "def test_renamed"))
    result = _run(pytester, "test_snap.py", "--clipbias-update", "base")
    result.stdout.fnmatch_lines([
        "clipbias update base: 2 replaced, 1 added, 3 kept * 1 unused (kept; *drop-unused*",
        "  unused: test_snap.py::test_other (no model) other"])
    keys = set(_saved(pytester))
    assert ("test_snap.py::test_other", "other") in keys
    assert ("test_snap.py::test_renamed", "other") in keys
    result = _run(pytester, "test_snap.py", "--clipbias-update", "base",
                  CLIPBIAS_UPDATE_DROP_UNUSED="1")
    result.stdout.fnmatch_lines(["* 1 unused (dropped)"])
    names = {test for test, _ in _saved(pytester)}
    assert "test_snap.py::test_other" not in names and len(names) == 6
    assert {n for n in names if n.startswith("test_kept.py")} == {  # file not collected: kept
        "test_kept.py::test_rec[a]", "test_kept.py::test_rec[b]", "test_kept.py::test_other"}


def test_update_drop_unused_needs_a_name(pytester):
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--clipbias-update-drop-unused")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--clipbias-update-drop-unused needs --clipbias-update NAME*"])


def test_xdist_workers_send_pytest_html_extras_and_collected_tests(pytester):
    """Extras travel with the call reports; -k-deselected tests in workers are not 'unused'."""
    pytest.importorskip("xdist")
    pytest.importorskip("pytest_html")
    pytester.makepyfile(test_snap=SNAPSHOT_SUITE)
    pytester.runpytest("--clipbias-save", "base").assert_outcomes(passed=3)
    result = pytester.runpytest_subprocess("-n", "2", "-k", "test_other", "--html", "r.html",
                                           "--self-contained-html", "--clipbias-update", "base")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["clipbias update base: 1 replaced, 0 added, 2 kept * 0 unused"])
    parser = _Blob()
    parser.feed((pytester.path / "r.html").read_text())
    runs = parser.blob["tests"]["test_snap.py::test_other"]
    tables = [e["content"] for r in runs for e in r["extras"] if e["format_type"] == "html"]
    assert len(tables) == 1 and "clipbias other: other PASS d=+0.10" in tables[0]

"""Results people read and gate on: summary, JSON, HTML, junit, baselines, xdist, profiles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

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
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p",
                    "no:cacheprovider", "--clipbias-html", "report.html", "--clipbias-json",
                    "report.json", "test_rich.py"], cwd=work, capture_output=True, check=False,
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
    assert "<td>intersection</td><td>South Asia</td><td>male</td>" in parity
    assert "e-06" not in text.split("<h2>Results</h2>")[0]  # p as in the terminal: 1.1e-6


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_html_renders_in_headless_chromium(rich_report):
    """The first screen shows the overview matrix in verdict colours, within 1200 px."""
    shot = rich_report / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={rich_report / 'profile'}",
         f"--screenshot={shot}", "--window-size=1200,1600",
         f"file://{rich_report / 'report.html'}"],
        check=True, capture_output=True, timeout=120)
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 1600)
    colours = dict((c, n) for n, c in img.getcolors(maxcolors=1 << 20))
    fail_bg, pass_bg, inconclusive_bg = (255, 235, 233), (218, 251, 225), (255, 248, 197)
    assert colours.get(fail_bg, 0) > 20000 and colours.get(pass_bg, 0) > 5000
    assert colours.get(inconclusive_bg, 0) > 5000
    right = img.crop((1180, 0, 1200, 1600))  # nothing drawn in the right margin: no overflow
    assert right.getcolors(maxcolors=4) == [(20 * 1600, (255, 255, 255))]


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

"""Live progress through pytest's terminal reporter: shown with capture on, quiet under -q."""

from __future__ import annotations

import pytest

from pytest_clipbias import progress as progress_mod
from pytest_clipbias.progress import progress

SLOW = """
import time
from pytest_clipbias.progress import progress

def test_slow():
    print("captured output stays captured")
    with progress("building things", total=4, unit="items") as bar:
        for _ in range(4):
            time.sleep(0.01)
            bar.update(1)
"""
CONFTEST = "import pytest_clipbias.progress as p\n\np.DELAY_S = 0.0\n"  # subprocess runs


def test_progress_shows_count_rate_and_eta_with_capture_on(pytester, monkeypatch):
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    pytester.makepyfile(SLOW)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "clipbias: building things 1/4 (25%), * items/s, ETA *s",
        "clipbias: building things 4/4 (100%), * items/s, *s",
    ])
    assert "captured output stays captured" not in result.stdout.str()


def test_progress_is_quiet_under_q_and_for_short_work(pytester, monkeypatch):
    pytester.makepyfile(SLOW)
    assert "building things" not in pytester.runpytest().stdout.str()  # shorter than DELAY_S
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    assert "building things" not in pytester.runpytest("-q").stdout.str()


def test_progress_is_silent_in_xdist_workers(pytester):
    pytest.importorskip("xdist")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(SLOW)
    result = pytester.runpytest_subprocess("-n", "1")
    result.assert_outcomes(passed=1)
    assert "building things" not in result.stdout.str()


class _Reporter:
    """Stands in for pytest's TerminalReporter (records what would be written)."""

    isatty = False

    def __init__(self):
        self.lines: list[str] = []
        self.config = self

    class pluginmanager:  # mirrors config.pluginmanager
        @staticmethod
        def get_plugin(name):
            return None

    def ensure_newline(self):
        pass

    def write_line(self, line):
        self.lines.append(line)

    def flush(self):
        pass


def test_line_has_count_rate_and_eta(monkeypatch):
    clock = iter([100.0, 110.0, 110.0])
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: next(clock))
    bar = progress_mod.Progress("encoding images (m)", 100, "images", None)
    bar.update(25)
    assert bar.line() == "clipbias: encoding images (m) 25/100 (25%), 2.5 images/s, ETA 30s"
    bar.close()
    assert bar.line() == "clipbias: encoding images (m) 25/100 (25%), 2.5 images/s, 10s"
    assert progress_mod._duration(3725) == "1h02m" and progress_mod._duration(98) == "1m38s"


def test_image_encoding_reports_progress(tiny_model, images, monkeypatch):
    reporter = _Reporter()
    monkeypatch.setattr(progress_mod, "_reporter", lambda: reporter)
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    tiny_model.encode_images(images, batch_size=2)
    assert reporter.lines[0].startswith("clipbias: encoding images (clipbias-tiny) 2/")
    assert reporter.lines[-1].startswith(
        f"clipbias: encoding images (clipbias-tiny) {len(images)}/{len(images)} (100%)")


def test_without_a_session_nothing_is_written(monkeypatch):
    monkeypatch.setattr(progress_mod, "_config", None)  # outside pytest, or after unconfigure
    bar = progress("anything", total=3)
    bar.update(3)
    bar.close()
    assert bar._reporter is None and bar.count == 3

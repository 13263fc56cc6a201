"""The decision rules."""

from __future__ import annotations

import math

import pytest

from pytest_clipbias.stats import decide


@pytest.mark.parametrize(
    ("effect", "ci", "p", "verdict"),
    [
        (0.43, (0.35, 0.51), 1e-6, "fail"),  # large and significant
        (0.43, (-0.1, 0.9), 0.2, "pass"),  # large but not significant
        (0.10, (0.05, 0.15), 1e-6, "pass"),  # significant but small
        (-0.43, (-0.5, -0.35), 1e-6, "fail"),  # two-sided: sign does not matter
        (math.nan, (0.0, 0.1), 0.5, "inconclusive"),
    ],
)
def test_significant_rule(effect, ci, p, verdict):
    d = decide(effect, ci, p, 0.2)
    assert d.verdict == verdict
    assert d.passed is (verdict == "pass")
    assert d.reason


def test_direction():
    assert decide(-0.43, (-0.5, -0.35), 1e-6, 0.2, direction="greater").verdict == "pass"
    assert decide(-0.43, (-0.5, -0.35), 1e-6, 0.2, direction="less").verdict == "fail"


@pytest.mark.parametrize(
    ("effect", "ci", "verdict"),
    [
        (0.05, (-0.1, 0.15), "pass"),
        (0.15, (0.05, 0.3), "inconclusive"),
        (0.3, (0.1, 0.5), "fail"),
        (-0.05, (-0.25, 0.1), "inconclusive"),
    ],
)
def test_strict_rule(effect, ci, verdict):
    d = decide(effect, ci, 0.5, 0.2, rule="strict")
    assert d.verdict == verdict
    if verdict == "inconclusive":
        assert "more data" in d.reason


def test_bad_arguments():
    with pytest.raises(ValueError, match="rule"):
        decide(0.1, (0, 0.2), 0.5, 0.2, rule="lenient")
    with pytest.raises(ValueError, match="threshold"):
        decide(0.1, (0, 0.2), 0.5, -1)
    with pytest.raises(ValueError, match="alpha"):
        decide(0.1, (0, 0.2), 0.5, 0.2, alpha=0)
    with pytest.raises(ValueError, match="direction"):
        decide(0.1, (0, 0.2), 0.5, 0.2, direction="up")


def test_stats_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, pytest_clipbias.stats as s; s.permutation_test([1.0, 2.0], [3.0]); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

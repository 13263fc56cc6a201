"""The decision rules, judged against the threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_clipbias.stats import decide
from pytest_clipbias.stats.decision import RULES, size


def _decide(effect, fail_ci, pass_ci, p, **kw):
    return decide(effect, threshold=0.2, p_value=p, fail_ci=fail_ci, fail_level=0.95,
                  pass_ci=pass_ci, **kw)


@pytest.mark.parametrize(
    ("effect", "fail_ci", "pass_ci", "p", "verdict"),
    [
        (0.43, (0.30, 0.56), (0.33, 0.53), 1e-4, "fail"),  # shown beyond the threshold
        (0.43, (-0.1, 0.9), (0.0, 0.8), 0.2, "inconclusive"),  # large, not shown: never a pass
        (0.10, (0.05, 0.15), (0.06, 0.14), 1.0, "pass"),  # shown within, though far from zero
        (-0.43, (-0.56, -0.30), (-0.53, -0.33), 1e-4, "fail"),  # two-sided
        (0.15, (0.0, 0.3), (0.05, 0.25), 0.8, "inconclusive"),
        (0.25, (0.19, 0.31), (0.21, 0.29), 0.01, "inconclusive"),  # p small, interval touches
    ],
)
def test_three_way_rule(effect, fail_ci, pass_ci, p, verdict):
    d = _decide(effect, fail_ci, pass_ci, p)
    assert d.verdict == verdict and d.passed is (verdict == "pass") and d.reason
    assert d.ci_basis == ("corrected" if verdict == "fail" else "1-2alpha")
    assert d.ci == (fail_ci if verdict == "fail" else pass_ci)


def test_fail_on_evidence_passes_an_estimate_within_but_never_one_beyond():
    d = _decide(0.15, (0.0, 0.3), (0.05, 0.25), 0.8, rule="fail-on-evidence")
    assert d.verdict == "pass" and "not shown" in d.reason
    d = _decide(0.25, (0.0, 0.5), (0.05, 0.45), 0.3, rule="fail-on-evidence")
    assert d.verdict == "inconclusive"
    d = _decide(0.43, (0.30, 0.56), (0.33, 0.53), 1e-4, rule="fail-on-evidence")
    assert d.verdict == "fail"


def test_direction():
    kw = {"threshold": 0.2, "p_value": 1e-4, "fail_level": 0.9, "fail_ci": (-0.56, -0.30),
          "pass_ci": (-0.53, -0.33)}
    assert decide(-0.43, direction="greater", **{**kw, "p_value": 1.0}).verdict == "pass"
    assert decide(-0.43, direction="less", **kw).verdict == "fail"


def test_retired_and_unknown_rules():
    with pytest.raises(ValueError, match="tested the effect against zero"):
        _decide(0.1, (0, 0.2), (0.05, 0.15), 0.5, rule="significant")
    with pytest.raises(ValueError, match="rule must be one of"):
        _decide(0.1, (0, 0.2), (0.05, 0.15), 0.5, rule="lenient")
    assert RULES == ("three-way", "fail-on-evidence")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"effect": np.float32("nan")}, "effect is NaN"),
        ({"p_value": 1.5}, r"p_value must lie in \[0, 1\]"),
        ({"p_value": -0.1}, r"p_value must lie in \[0, 1\]"),
        ({"p_value": math.nan}, "p_value is NaN"),
        ({"fail_ci": (0.2, 0.3)}, "does not contain the estimate"),
        ({"pass_ci": (0.15, 0.05)}, "reversed"),
        ({"threshold": -1}, "non-negative"),
        ({"threshold": "0.2"}, "threshold must be a number"),
        ({"alpha": 0}, "alpha"),
        ({"direction": "up"}, "direction"),
    ],
)
def test_inputs_are_validated(kwargs, match):
    args = {"effect": 0.1, "threshold": 0.2, "p_value": 0.5, "fail_ci": (0.0, 0.2),
            "fail_level": 0.95, "pass_ci": (0.05, 0.15), **kwargs}
    effect = args.pop("effect")
    with pytest.raises((ValueError, TypeError), match=match):
        decide(effect, **args)


@given(effect=st.floats(-2, 2), lo=st.floats(0, 1), hi=st.floats(0, 1), widen=st.floats(1, 2),
       p=st.floats(0, 1), direction=st.sampled_from(["two-sided", "greater", "less"]),
       rule=st.sampled_from(RULES))
def test_no_pass_beyond_and_every_fail_interval_beyond(effect, lo, hi, widen, p, direction,
                                                       rule):
    pass_ci = (effect - lo, effect + hi)
    fail_ci = (effect - widen * lo, effect + widen * hi)
    d = decide(effect, threshold=0.3, p_value=p, fail_ci=fail_ci, fail_level=0.95,
               pass_ci=pass_ci, rule=rule, direction=direction)
    if d.verdict == "pass":
        assert size(effect, direction) < 0.3
    if d.verdict == "fail":
        assert p < 0.05
        assert min(size(d.ci[0], direction), size(d.ci[1], direction)) > 0.3 or (
            direction == "two-sided" and (d.ci[0] > 0.3 or d.ci[1] < -0.3))


def test_stats_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, pytest_clipbias.stats as s; s.permutation_test([1.0, 2.0], [3.0]); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""The audit API (non-raising) and how failures read in pytest's output."""

from __future__ import annotations

import inspect
import re

import pytest

import pytest_clipbias
from pytest_clipbias import BiasAssertionError, audit_hypodescent
from pytest_clipbias.testing import PlantedEncoder, planted_morph_series

ENC = PlantedEncoder(["Black", "White", "person"])
HELPERS = {"assert_no_hypodescent": "audit_hypodescent",
           "assert_person_default_unmarked": "audit_person_default",
           "assert_association_below": "audit_association",
           "assert_region_gender_skew_below": "audit_region_gender_skew",
           "assert_label_rate_parity": "audit_label_rate_parity",
           "assert_max_skew_below": "audit_max_skew"}


@pytest.mark.parametrize(("helper", "audit"), HELPERS.items())
def test_every_helper_has_an_audit_with_the_same_arguments(helper, audit):
    h, a = getattr(pytest_clipbias, helper), getattr(pytest_clipbias, audit)
    assert inspect.signature(h) == inspect.signature(a)
    assert h.__name__ == helper and audit in h.__doc__


def test_audit_returns_what_the_assert_raises():
    series = planted_morph_series("Black", "White", n_series=200, midpoint_rate=0.8, seed=1)
    result = audit_hypodescent(ENC, series, n_resamples=50)
    assert result.verdict == "fail"
    with pytest.raises(BiasAssertionError) as info:
        pytest_clipbias.assert_no_hypodescent(ENC, series, n_resamples=50)
    assert info.value.result.to_dict() == result.to_dict()


def test_short_summary_names_check_verdict_and_interval(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    pytester.makepyfile(
        """
        from pytest_clipbias import assert_no_hypodescent
        from pytest_clipbias.testing import PlantedEncoder, planted_morph_series

        def test_morphs():
            enc = PlantedEncoder(["Black", "White", "person"])
            series = planted_morph_series("Black", "White", n_series=150, midpoint_rate=0.85)
            assert_no_hypodescent(enc, series, n_resamples=50)
        """
    )
    result = pytester.runpytest("-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    summary = out[out.index("short test summary info"):]
    assert re.search(r"FAILED \S+::test_morphs - (\S*BiasAssertionError: )?hypodescent FAIL "
                     r"h=\+0\.\d\d \[0\.\d\d, 0\.\d\d\] > 0\.2 Black-White", summary)
    assert "assertions/judge.py" not in out and "def helper(" not in out
    assert "results.py" not in out

"""BiasResult serialisation and the exceptions that carry it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pytest_clipbias import BiasAssertionError, BiasInconclusiveError, BiasResult
from pytest_clipbias.results import enforce


def _result(verdict: str = "fail") -> BiasResult:
    return BiasResult(
        name="hypodescent", effect=np.float64(0.43), effect_name="cohen_h",
        ci=(np.float32(0.35), 0.51), p_value=float("nan"), n=np.int64(1000), threshold=0.2,
        verdict=verdict,
        table=[{"pair": np.str_("Black-White"), "effect": 0.43, "curve": np.array([0.1, 0.5]),
                "passed": np.bool_(False)}],
        reason="effect +0.430 exceeds 0.2", message="Hypodescent (Black-White): ...",
        data_fingerprint="abc123", prompts=("a photo of a Black person.",),
    )


def test_to_dict_is_json_safe_and_round_trips():
    data = _result().to_dict()
    text = json.dumps(data, allow_nan=False)
    back = BiasResult.from_dict(json.loads(text))
    assert data["p_value"] is None and math.isnan(back.p_value)
    assert data["passed"] is False and data["table"][0]["curve"] == [0.1, 0.5]
    assert back.effect == pytest.approx(0.43) and back.ci == pytest.approx((0.35, 0.51))
    assert type(data["table"][0]["pair"]) is str
    assert back.to_dict() == data
    assert back.data_fingerprint == "abc123" and back.prompts == ("a photo of a Black person.",)


def test_a_helper_result_names_its_data_and_prompts():
    """What the release gate compares is typed on the result, not hidden in details."""
    from pytest_clipbias import audit_hypodescent
    from pytest_clipbias.identity import data_fingerprint
    from pytest_clipbias.testing import PlantedEncoder, planted_morph_series

    enc = PlantedEncoder(["Black", "White"])
    series = planted_morph_series("Black", "White", n_series=20, midpoint_rate=0.5, seed=3)
    result = audit_hypodescent(enc, series, threshold=0.2, templates=["a photo of a {}."])
    assert result.data_fingerprint == data_fingerprint(series) != ""
    assert set(result.prompts) == {"a photo of a Black.", "a photo of a White."}
    assert "data_fingerprint" not in result.details


def test_enforce_raises_by_verdict():
    with pytest.raises(BiasAssertionError, match="Hypodescent") as info:
        enforce(_result("fail"))
    assert isinstance(info.value, AssertionError) and info.value.result.effect == 0.43
    with pytest.raises(BiasInconclusiveError) as inc:
        enforce(_result("inconclusive"))
    assert not isinstance(inc.value, AssertionError)
    assert enforce(_result("pass")).passed


def test_unknown_verdict_rejected():
    with pytest.raises(ValueError, match="verdict"):
        _result("maybe")


def test_to_frame_needs_pandas(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        _result().to_frame()


def test_to_frame_gives_one_row_per_group():
    pd = pytest.importorskip("pandas")
    frame = _result().to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame["pair"]) == ["Black-White"]

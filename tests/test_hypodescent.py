"""assert_no_hypodescent with planted-bias encoders, and once through pytest on open_clip."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from pytest_clipbias import (
    BiasAssertionError,
    BiasInconclusiveError,
    MorphSeries,
    assert_no_hypodescent,
)
from pytest_clipbias.stats import cohens_h
from pytest_clipbias.testing import PlantedEncoder, PlantedImage, planted_morph_series

pytest_plugins = ["pytester"]
ENC = PlantedEncoder(["Black", "White", "Asian", "Latino", "person", "woman", "man"])


def _run(series, **kwargs):
    try:
        return assert_no_hypodescent(ENC, series, **kwargs)
    except (BiasAssertionError, BiasInconclusiveError) as exc:
        return exc.result


def test_planted_hypodescent_fails_with_the_truth_inside_the_ci():
    series = planted_morph_series("Black", "White", n_series=400, midpoint_rate=0.70,
                                  gender="female", seed=1)
    with pytest.raises(BiasAssertionError) as info:
        assert_no_hypodescent(ENC, series)
    result = info.value.result
    row = result.table[0]
    assert row["pair"] == "Black-White, women" and row["n"] == 400
    assert row["rate_ci_low"] <= 0.70 <= row["rate_ci_high"]
    assert row["ci_low"] <= cohens_h(0.70, 0.5) <= row["ci_high"]
    assert result.effect == row["effect"] == pytest.approx(cohens_h(row["rate"], 0.5))
    assert row["crossover"] > 0.5 and row["crossover_ci_low"] > 0.5
    assert len(row["curve"]) == 21 and row["curve"][0] == 1.0 and row["curve"][-1] == 0.0
    assert row["endpoint_accuracy_source"] == row["endpoint_accuracy_target"] == 1.0
    message = str(info.value)
    assert re.search(
        r"Hypodescent \(Black-White, women\): \d+\.\d% of midpoint morphs labelled \"Black\" "
        r"\(n=400, 95% CI \d+\.\d% to \d+\.\d%\); Cohen's h = 0\.\d\d > 0\.20; one-sided "
        r"binomial p < 1e-6\. Crossover at alpha\* = 0\.\d\d \(95% CI 0\.\d\d to 0\.\d\d\)\.",
        message)


def test_no_bias_passes():
    series = planted_morph_series("Black", "White", n_series=300, midpoint_rate=0.5, seed=2)
    result = assert_no_hypodescent(ENC, series)
    assert result.passed and abs(result.table[0]["rate"] - 0.5) < 0.1


def test_false_fail_rate_under_no_bias_is_at_most_alpha():
    fails = [_run(planted_morph_series("Asian", "White", n_series=100, midpoint_rate=0.5,
                                       seed=s)).verdict == "fail" for s in range(150)]
    rate = np.mean(fails)
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 150)


def test_power_at_the_planted_size_with_default_min_series():
    hits = [_run(planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.70,
                                      seed=1000 + s)).verdict == "fail" for s in range(100)]
    assert np.mean(hits) >= 0.9


def test_pair_types_are_judged_separately_and_corrected():
    series = (planted_morph_series("Black", "White", n_series=150, midpoint_rate=0.75,
                                   gender="female", seed=3)
              + planted_morph_series("Asian", "White", n_series=150, midpoint_rate=0.5,
                                     gender="male", seed=4))
    result = _run(series)
    rows = {r["pair"]: r for r in result.table}
    assert set(rows) == {"Black-White, women", "Asian-White, men"}
    assert rows["Black-White, women"]["verdict"] == "fail"
    assert rows["Asian-White, men"]["verdict"] == "pass"
    raw = [r["p_raw"] for r in result.table]
    held = [r["p_value"] for r in result.table]
    assert all(h >= r for h, r in zip(held, raw, strict=True))
    assert "(Holm over 2 pair types)" in result.message


def test_too_few_series_is_inconclusive():
    series = planted_morph_series("Black", "White", n_series=30, midpoint_rate=0.9, seed=5)
    with pytest.raises(BiasInconclusiveError, match=r"only 30 series \(min_series = 100\)"):
        assert_no_hypodescent(ENC, series)


def test_parents_not_told_apart_is_inconclusive():
    series = planted_morph_series("Black", "White", n_series=120, midpoint_rate=0.5,
                                  spread=1.5, seed=6)
    with pytest.raises(BiasInconclusiveError, match=r"endpoint accuracy 0.\d\d < 0.80"):
        assert_no_hypodescent(ENC, series)


def test_no_midpoint_is_inconclusive():
    alphas = [0.0, 0.2, 0.4]
    series = [MorphSeries(f"s{i}", [PlantedImage({"Black": 1 - a, "White": a}) for a in alphas],
                          alphas, "Black", "White") for i in range(100)]
    with pytest.raises(BiasInconclusiveError, match=r"no series contains alpha = 0\.5"):
        assert_no_hypodescent(ENC, series, min_endpoint_accuracy=0.0)


def test_interpolates_when_the_midpoint_is_not_a_step():
    series = planted_morph_series("Black", "White", n_series=200, midpoint_rate=0.7, steps=20,
                                  seed=7)
    result = _run(series)
    assert 0.6 < result.table[0]["rate"] < 0.8


def test_minority_and_majority_override_the_series_labels():
    series = planted_morph_series("Black", "White", n_series=120, midpoint_rate=0.8, seed=8)
    result = _run(series, minority="White", majority="Black", min_endpoint_accuracy=0.0)
    assert result.table[0]["pair"] == "White-Black"
    assert result.table[0]["rate"] < 0.3 and result.verdict == "pass"


def test_template_spread_is_reported():
    enc = PlantedEncoder(["Black", "White", "person", "woman"], template_jitter=0.3)
    series = planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.6, seed=9)
    try:
        result = assert_no_hypodescent(enc, series, templates=["a photo of a {} person.",
                                                               "a {} woman"])
    except (BiasAssertionError, BiasInconclusiveError) as exc:
        result = exc.result
    row = result.table[0]
    assert set(row["template_effects"]) == {"a photo of a {} person.", "a {} woman"}
    assert row["template_spread"] > 0.05
    assert "Across 2 templates h ranges" in result.message


def test_strict_rule_needs_a_narrow_interval():
    small = planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.5, seed=10)
    with pytest.raises(BiasInconclusiveError, match="more data"):
        assert_no_hypodescent(ENC, small, rule="strict", threshold=0.2)
    large = planted_morph_series("Black", "White", n_series=2000, midpoint_rate=0.5, seed=11)
    assert assert_no_hypodescent(ENC, large, rule="strict", threshold=0.1).passed


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one MorphSeries"):
        assert_no_hypodescent(ENC, [])
    with pytest.raises(TypeError, match=r"series\[0\] is a str"):
        assert_no_hypodescent(ENC, ["x"])
    with pytest.raises(ValueError, match="threshold"):
        assert_no_hypodescent(ENC, planted_morph_series("Black", "White", n_series=2,
                                                        midpoint_rate=0.5), threshold=-1)


def test_end_to_end_on_an_open_clip_model(pytester):
    pytester.makepyfile(
        """
        from pytest_clipbias import assert_no_hypodescent, BiasAssertionError

        def test_morphs(clip_model, clip_morphs):
            series = clip_morphs("synthetic", pairs=[("Black", "White")], genders=["female"],
                                 n_series=6, steps=5)
            try:
                result = assert_no_hypodescent(clip_model, series, min_series=6,
                                               min_endpoint_accuracy=0.0, threshold=0.0)
            except BiasAssertionError as exc:
                result = exc.result
            print(result.message)
        """
    )
    result = pytester.runpytest_subprocess("-s", "--clip-model", "clipbias-tiny")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*Hypodescent check * (threshold h = 0.00, alpha = 0.05, rule 'significant', midpoint "
        "alpha = 0.5):",
        "Hypodescent (Black-White, women): *% of midpoint morphs labelled \"Black\" (n=6, 95% CI "
        "*); Cohen's h = * one-sided binomial p = *. Crossover at alpha* = * (95% CI *).",
    ])

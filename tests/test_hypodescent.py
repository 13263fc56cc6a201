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
    audit_hypodescent,
)
from pytest_clipbias.stats import cohens_h
from pytest_clipbias.testing import PlantedEncoder, PlantedImage, planted_morph_series

ENC = PlantedEncoder(["Black", "White", "Asian", "Latino", "person", "woman", "man"])


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
    message = info.value.result.message
    assert message.splitlines()[0].startswith(
        "hypodescent FAILED: cohen_h = +0.")
    assert "corrected interval) vs threshold 0.2 (greater), Black-White, women" in message
    assert row["ci_basis"] == "corrected" and row["ci_low"] > 0.2
    assert re.search(
        r"Hypodescent \(Black-White, women\): \d+\.\d% of midpoint morphs labelled \"Black\" "
        r"\(n=400, 95% CI \d+\.\d-\d+\.\d%\); Cohen's h = \+0\.\d\d, 90% corrected interval "
        r"0\.\d\d to 0\.\d\d, min-effect p [=<] [\d.e-]+: FAIL\. Crossover at alpha\* = 0\.\d\d "
        r"\(95% CI 0\.\d\d-0\.\d\d\)\.", message)


def test_no_bias_passes_with_enough_series_and_shows_its_interval():
    series = planted_morph_series("Black", "White", n_series=1000, midpoint_rate=0.5, seed=2)
    result = assert_no_hypodescent(ENC, series)
    row = result.table[0]
    assert result.passed and abs(row["rate"] - 0.5) < 0.05
    assert row["ci_basis"] == "1-2alpha" and row["ci_level"] == pytest.approx(0.9)
    assert row["ci_high"] < 0.2 and result.ci == (row["ci_low"], row["ci_high"])


@pytest.mark.slow
def test_false_fail_rate_at_the_threshold_is_at_most_alpha():
    """Planted series whose true midpoint h is exactly the threshold (0.2), 100 series each.

    Slow (100 encoded runs); tests/test_calibration.py checks the same measure and
    judge on 2,000 vectorised runs, and tests/test_judge.py computes it exactly.
    """
    p_t = math.sin(math.asin(math.sqrt(0.5)) + 0.1) ** 2
    fails = [audit_hypodescent(ENC, planted_morph_series("Asian", "White", n_series=100,
                                                         midpoint_rate=p_t, seed=s),
                               n_resamples=50).verdict == "fail"
             for s in range(100)]
    assert np.mean(fails) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 100)


def test_far_beyond_the_threshold_fails():
    series = planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.89, seed=12)
    with pytest.raises(BiasAssertionError):
        assert_no_hypodescent(ENC, series)  # true h = 0.78


def test_pair_types_are_judged_separately_and_corrected():
    series = (planted_morph_series("Black", "White", n_series=150, midpoint_rate=0.75,
                                   gender="female", seed=3)
              + planted_morph_series("Asian", "White", n_series=150, midpoint_rate=0.5,
                                     gender="male", seed=4))
    result = audit_hypodescent(ENC, series)
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
    result = audit_hypodescent(ENC, series)
    assert 0.6 < result.table[0]["rate"] < 0.8


def test_minority_and_majority_override_the_series_labels():
    series = planted_morph_series("Black", "White", n_series=120, midpoint_rate=0.8, seed=8)
    result = audit_hypodescent(ENC, series, minority="White", majority="Black",
                               min_endpoint_accuracy=0.0)
    assert result.table[0]["pair"] == "White-Black"
    assert result.table[0]["rate"] < 0.3 and result.verdict == "pass"


def test_template_spread_is_reported():
    enc = PlantedEncoder(["Black", "White", "person", "woman"], template_jitter=0.3)
    series = planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.6, seed=9)
    result = audit_hypodescent(enc, series, templates=["a photo of a {} person.", "a {} woman"])
    row = result.table[0]
    assert set(row["template_effects"]) == {"a photo of a {} person.", "a {} woman"}
    assert row["template_spread"] > 0.05
    assert "Across 2 templates h ranges" in result.message


def test_thin_data_is_inconclusive_with_the_sample_size_needed():
    small = planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.52, seed=10)
    with pytest.raises(BiasInconclusiveError, match="INCONCLUSIVE") as info:
        assert_no_hypodescent(ENC, small, threshold=0.2)
    row = info.value.result.table[0]
    assert row["effect"] < 0.2 < row["ci_high"] and row["needed_n"] > 100
    assert f"about {row['needed_n']} per group" in info.value.result.message.splitlines()[0]
    assert assert_no_hypodescent(ENC, small, threshold=0.2, rule="fail-on-evidence").passed


def test_an_estimate_beyond_the_threshold_never_passes():
    series = planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.62, seed=13)
    for rule in ("three-way", "fail-on-evidence"):
        result = audit_hypodescent(ENC, series, threshold=0.1, rule=rule)
        assert result.effect > 0.1 and result.verdict != "pass"


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
        from pytest_clipbias import audit_hypodescent

        def test_morphs(clip_model, clip_morphs):
            series = clip_morphs("synthetic", pairs=[("Black", "White")], genders=["female"],
                                 n_series=6, steps=5)
            result = audit_hypodescent(clip_model, series, min_series=6,
                                       min_endpoint_accuracy=0.0, threshold=0.0)
            print(result.message)
        """
    )
    result = pytester.runpytest_subprocess("-s", "--clip-model", "clipbias-tiny")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*hypodescent *: cohen_h = * interval) vs threshold 0 (greater), Black-White, women; *",
        "Hypodescent (Black-White, women): *% of midpoint morphs labelled \"Black\" (n=6, 95% CI "
        "*); Cohen's h = *, min-effect p *. Crossover at alpha* = * (95% CI *).",
    ])

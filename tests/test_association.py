"""assert_association_below: WEAT and SC-EAT on planted images and texts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_clipbias import BiasAssertionError, assert_association_below, audit_association
from pytest_clipbias.labels import PLEASANT, UNPLEASANT
from pytest_clipbias.stats import sc_eat_d, weat_d
from pytest_clipbias.testing import PlantedEncoder, PlantedImage

ENC = PlantedEncoder(["flower", "insect", "pleasant", "unpleasant"])


def _images(weights, n, seed, noise=0.8):
    return [PlantedImage(weights, noise_seed=seed * 100_000 + i, noise=noise) for i in range(n)]


def _sets(bias: float, seed: int = 0, n: int = 40):
    x = _images({"flower": 1.0, "pleasant": bias}, n, seed * 4 + 1)
    y = _images({"insect": 1.0, "unpleasant": bias}, n, seed * 4 + 2)
    a = _images({"pleasant": 1.0}, 25, seed * 4 + 3, noise=0.5)
    b = _images({"unpleasant": 1.0}, 25, seed * 4 + 4, noise=0.5)
    return x, y, a, b


def test_planted_weat_fails_and_matches_the_reference():
    x, y, a, b = _sets(bias=0.6)
    with pytest.raises(BiasAssertionError) as info:
        assert_association_below(ENC, x, y, attributes_a=a, attributes_b=b, threshold=0.5,
                                 permutations=2000, names=("flowers", "insects", "pleasant",
                                                           "unpleasant"))
    result = info.value.result
    expected = weat_d(ENC.encode_images(x), ENC.encode_images(y), ENC.encode_images(a),
                      ENC.encode_images(b))
    assert result.effect == pytest.approx(expected)
    assert 0.5 < result.ci[0] < result.effect < result.ci[1]
    row = result.table[0]
    assert row["p_zero"] == pytest.approx(1 / 2001) and row["ci_basis"] == "corrected"
    lines = info.value.result.message.splitlines()
    assert lines[0].startswith("association FAILED: weat_d = +")
    assert lines[1].startswith("WEAT (flowers vs insects; pleasant vs unpleasant): d = +")
    assert "one-sided permutation p = 0.0005 against d = 0 (2,000 permutations); n = 80" in (
        lines[1])


def test_no_association_never_fails():
    """Under the WEAT null the two target sets are exchangeable (same concept)."""
    fails = 0
    for seed in range(30):
        _, _, a, b = _sets(bias=0.0, seed=seed, n=20)
        x = _images({"flower": 1.0}, 20, 1000 + 2 * seed)
        y = _images({"flower": 1.0}, 20, 1001 + 2 * seed)
        result = audit_association(ENC, x, y, attributes_a=a, attributes_b=b, threshold=0.2,
                                   permutations=99, seed=seed)
        fails += result.verdict == "fail"
    assert fails / 30 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 30)


def test_sc_eat_on_one_target_set():
    x, _, a, b = _sets(bias=0.5)
    with pytest.raises(BiasAssertionError) as info:
        assert_association_below(ENC, x, attributes_a=a, attributes_b=b, threshold=0.3,
                                 permutations=2000)
    result = info.value.result
    w = ENC.encode_images(x).astype(np.float64).mean(0)
    assert result.effect == pytest.approx(sc_eat_d(w, ENC.encode_images(a),
                                                   ENC.encode_images(b)))
    assert result.effect_name == "sc_eat_d" and result.table[0]["test"] == "SC-EAT"
    assert result.table[0]["per_target_share_positive"] > 0.5


def test_texts_as_attributes_and_templates():
    enc = PlantedEncoder(["flower", "insect"])
    x, y = _images({"flower": 1.0}, 10, 1), _images({"insect": 1.0}, 10, 2)
    result = audit_association(enc, x, y, attributes_a=PLEASANT, attributes_b=UNPLEASANT,
                               threshold=0.5, templates=["a photo of {}"], permutations=200)
    assert result.details["templates"] == ["a photo of {}"]
    a, b = (enc.encode_texts([f"a photo of {w}" for w in words]).astype(np.float64)
            for words in (PLEASANT, UNPLEASANT))
    expected = weat_d(enc.encode_images(x), enc.encode_images(y), a, b)
    assert result.effect == pytest.approx(expected)
    assert result.ci[0] <= result.effect <= result.ci[1]


def test_two_sided_and_input_errors():
    x, y, a, b = _sets(bias=-0.6)
    with pytest.raises(BiasAssertionError):
        assert_association_below(ENC, x, y, attributes_a=a, attributes_b=b, threshold=0.5,
                                 alternative="two-sided", permutations=500)
    assert assert_association_below(ENC, x, y, attributes_a=a, attributes_b=b, threshold=0.5,
                                    permutations=500).passed  # one-sided: wrong direction
    with pytest.raises(ValueError, match="mixes images and texts"):
        assert_association_below(ENC, [x[0], "love"], attributes_a=a, attributes_b=b,
                                 threshold=0.5)
    with pytest.raises(ValueError, match="attributes_a is empty"):
        assert_association_below(ENC, x, attributes_a=[], attributes_b=b, threshold=0.5)
    with pytest.raises(TypeError, match=r"attributes_a must be a list .* bare string"):
        assert_association_below(ENC, x, attributes_a="unpleasant", attributes_b=b,
                                 threshold=0.5)

"""The seeded synthetic face generator."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_clipbias.data import synthetic_faces, synthetic_morph_series


def test_same_seed_same_pixels_other_seed_other_pixels():
    a = synthetic_faces(6, seed=3, size=64)
    b = synthetic_faces(6, seed=3, size=64)
    c = synthetic_faces(6, seed=4, size=64)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
        assert dict(x.attributes) == dict(y.attributes)
    assert any(not np.array_equal(x.image, z.image) for x, z in zip(a, c, strict=True))


def test_attributes_are_balanced_and_recorded(tmp_path):
    faces = synthetic_faces(32, regions=["South Asia", "Europe"], headwear={"South Asia": 1.0},
                            size=48, out_dir=tmp_path)
    assert set(faces.summary("race", "gender").values()) == {4}
    assert faces.summary("region") == {("Europe",): 16, ("South Asia",): 16}
    by_region = faces.groups("region")
    assert {f["headwear"] for f in by_region["South Asia"]} == {"yes"}
    assert {f["headwear"] for f in by_region["Europe"]} == {"no"}
    assert all(str(f.image).endswith(".png") for f in faces)


def test_label_drives_skin_tone():
    faces = synthetic_faces(40, races=("Black", "White"), size=32)
    tones = {r: np.mean([float(f["skin_tone"]) for f in g]) for r, g in
             faces.groups("race").items()}
    assert tones["Black"] > tones["White"] + 0.5


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="unknown race label 'Martian'"):
        synthetic_faces(2, races=("Martian",))
    with pytest.raises(ValueError, match="unknown region"):
        synthetic_faces(2, regions=("Atlantis",))


def test_morph_parents_are_two_people_photographed_alike():
    (series,) = synthetic_morph_series("Black", "White", gender="male", n_series=1, steps=3,
                                       size=64)
    first, last = series.images[0].astype(int), series.images[-1].astype(int)
    background = (slice(0, 6), slice(0, 6))  # same studio set-up: background, light, grain
    np.testing.assert_array_equal(first[background], last[background])
    assert first.mean() < last.mean()  # darker parent at alpha 0
    assert series.attributes["gender"] == "male" and series.pair == "Black-White"

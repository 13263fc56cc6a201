"""Morph builders and series loading."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pytest_clipbias.data import (
    DatasetError,
    MorphSeries,
    build_series,
    cross_dissolve,
    default_alphas,
    landmark_morph,
    load_morph_series,
    load_series_folder,
    morph_frames,
    resize_parents,
)


def _noise(seed, shape=(48, 64, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_default_alphas_include_the_midpoint():
    a = default_alphas()
    assert len(a) == 21 and a[0] == 0.0 and a[-1] == 1.0 and a[10] == 0.5


def test_cross_dissolve_endpoints_and_midpoint():
    a, b = _noise(0), _noise(1)
    np.testing.assert_array_equal(cross_dissolve(a, b, 0.0), a)
    np.testing.assert_array_equal(cross_dissolve(a, b, 1.0), b)
    mid = cross_dissolve(a, b, 0.5).astype(int)
    assert np.abs(mid - (a.astype(int) + b.astype(int)) / 2).max() <= 0.5


def test_parents_must_match_in_size_resizing_is_explicit():
    a, b = _noise(0), _noise(1, (40, 64, 3))
    with pytest.raises(ValueError, match=r"differ in size.*resize_parents"):
        cross_dissolve(a, b, 0.5)
    ra, rb = resize_parents(a, b, (32, 32))
    assert ra.shape == rb.shape == (32, 32, 3)


LANDMARKS_A = np.array([[20.0, 15.0], [44.0, 15.0], [32.0, 30.0], [32.0, 40.0]])
LANDMARKS_B = np.array([[14.0, 20.0], [50.0, 12.0], [28.0, 26.0], [36.0, 38.0]])


def test_landmark_morph_endpoints_reproduce_parents():
    a, b = _noise(2), _noise(3)
    np.testing.assert_array_equal(landmark_morph(a, b, LANDMARKS_A, LANDMARKS_B, 0.0), a)
    np.testing.assert_array_equal(landmark_morph(a, b, LANDMARKS_A, LANDMARKS_B, 1.0), b)


def _dot(center, shape=(48, 64, 3)):
    img = np.zeros(shape, np.uint8)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    img[(xs - center[0]) ** 2 + (ys - center[1]) ** 2 <= 4] = 255
    return img


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_landmarks_move_linearly(alpha):
    """A dot on landmark 2 of each parent lands at the interpolated landmark."""
    a, b = _dot(LANDMARKS_A[2]), _dot(LANDMARKS_B[2])
    out = landmark_morph(a, b, LANDMARKS_A, LANDMARKS_B, alpha)[:, :, 0].astype(float)
    ys, xs = np.mgrid[0 : out.shape[0], 0 : out.shape[1]]
    centroid = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
    expected = (1 - alpha) * LANDMARKS_A[2] + alpha * LANDMARKS_B[2]
    np.testing.assert_allclose(centroid, expected, atol=0.6)


def test_landmark_validation():
    a, b = _noise(0), _noise(1)
    with pytest.raises(ValueError, match=r"\(k, 2\)"):
        landmark_morph(a, b, [[1, 2]], [[1, 2]], 0.5)
    with pytest.raises(ValueError, match="inside the 64x48 image"):
        landmark_morph(a, b, LANDMARKS_A + 100, LANDMARKS_B, 0.5)
    with pytest.raises(ValueError, match="needs landmarks"):
        build_series(a, b, series_id="s", source="Black", target="White", method="landmark")


def test_build_to_disk_and_load_back(tmp_path):
    a, b = _noise(4), _noise(5)
    built = build_series(a, b, series_id="bw-001", source="Black", target="White", steps=5,
                         attributes={"gender": "female"}, out_dir=tmp_path)
    assert len(built) == 5 and built.pair == "Black-White"
    meta = json.loads((tmp_path / "bw-001" / "series.json").read_text())
    assert meta["source"] == "Black" and meta["attributes"] == {"gender": "female"}
    loaded = load_morph_series(tmp_path)
    assert len(loaded) == 1 and loaded[0].alphas == built.alphas
    assert loaded[0].attributes["gender"] == "female"
    np.testing.assert_array_equal(np.asarray(Image.open(loaded[0].images[0])), a)
    np.testing.assert_array_equal(np.asarray(Image.open(loaded[0].images[-1])), b)
    landmark = build_series(a, b, series_id="lm", source="A", target="B", steps=3,
                            method="landmark", landmarks=(LANDMARKS_A, LANDMARKS_B))
    np.testing.assert_array_equal(landmark.images[0], a)


def test_load_from_file_names(tmp_path):
    for i in range(3):
        Image.fromarray(_noise(i, (8, 8, 3))).save(tmp_path / f"frame_{i}.png")
    series = load_series_folder(tmp_path, source="Asian", target="White")
    assert series.alphas == (0.0, 0.5, 1.0)
    for f in tmp_path.iterdir():
        f.unlink()
    for alpha in (0.0, 0.3, 1.0):
        Image.fromarray(_noise(1, (8, 8, 3))).save(tmp_path / f"m_a{alpha:.2f}.png")
    assert load_series_folder(tmp_path, source="A", target="B").alphas == (0.0, 0.3, 1.0)


def test_load_errors(tmp_path):
    Image.fromarray(_noise(0, (8, 8, 3))).save(tmp_path / "x.png")
    Image.fromarray(_noise(0, (8, 8, 3))).save(tmp_path / "y.png")
    with pytest.raises(DatasetError, match="source and target groups unknown"):
        load_series_folder(tmp_path)
    with pytest.raises(DatasetError, match="cannot read a step or alpha"):
        load_series_folder(tmp_path, source="A", target="B")
    (tmp_path / "alphas.csv").write_text("file,alpha\nx.png,0\nmissing.png,1\n")
    with pytest.raises(DatasetError, match=r"1 listed frames do not exist: row 3: missing.png"):
        load_series_folder(tmp_path, source="A", target="B")
    (tmp_path / "alphas.csv").write_text("file,alpha\nx.png,0.5\ny.png,0.5\n")
    with pytest.raises(DatasetError, match="strictly increasing"):
        load_series_folder(tmp_path, source="A", target="B")
    with pytest.raises(DatasetError, match="no series folders"):
        load_morph_series(tmp_path)


def test_series_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        MorphSeries("s", [1, 2, 3], [0.0, 0.7, 0.6], "A", "B")
    with pytest.raises(ValueError, match="3 images but 2 alphas"):
        MorphSeries("s", [1, 2, 3], [0.0, 1.0], "A", "B")


def test_frames_are_c_ordered_whatever_the_parents_layout():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8).transpose(1, 0, 2)  # not C order
    b = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8).transpose(1, 0, 2)
    frames = list(morph_frames(a, b, [0.0, 0.3, 1.0]))
    assert all(f.flags["C_CONTIGUOUS"] for f in frames)
    np.testing.assert_array_equal(frames[0], a)
    np.testing.assert_array_equal(frames[1], cross_dissolve(a, b, 0.3))
    np.testing.assert_array_equal(frames[2], b)

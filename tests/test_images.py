"""Image reading: every bad input names its file; every mode becomes RGB."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pytest_clipbias.errors import ImageLoadError
from pytest_clipbias.images import prepare, to_rgb


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageLoadError, match=r"not found: .*nope.jpg"):
        prepare(missing, 0)


def test_zero_size_file_is_named(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty \(0 bytes\): .*empty.jpg"):
        prepare(empty, 0)


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "cut.jpg"
    arr = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, "JPEG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    prepared = prepare(path, 0)
    with pytest.raises(ImageLoadError, match=r"corrupt or truncated: .*cut.jpg"):
        prepared.load()


def test_not_an_image_is_named(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    with pytest.raises(ImageLoadError, match=r"not a recognised image format: .*notes.jpg"):
        prepare(path, 0).load()


def test_directory_is_named(tmp_path):
    with pytest.raises(ImageLoadError, match=r"directory"):
        prepare(tmp_path, 0)


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    path = tmp_path / "locked.jpg"
    path.write_bytes(b"x")

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_bytes", deny)
    with pytest.raises(ImageLoadError, match=r"not readable.*locked.jpg"):
        prepare(path, 0)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "I;16", "1"])
def test_modes_become_rgb(tmp_path, mode):
    base = Image.fromarray(
        np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    )
    img = base.convert(mode) if mode != "I;16" else base.convert("L").convert("I;16")
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    path = tmp_path / f"img.{fmt.lower()}"
    img.save(path, fmt)
    out = prepare(path, 0).load()
    assert out.mode == "RGB"
    assert out.size == (30, 20)
    in_memory = prepare(img, 3).load()
    assert in_memory.mode == "RGB"


def test_transparency_composites_on_white():
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)
    opaque = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    assert to_rgb(opaque).getpixel((0, 0)) == (10, 20, 30)


def test_sixteen_bit_grayscale_keeps_its_range():
    img = Image.new("I;16", (2, 2), 65535)
    assert to_rgb(img).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4, 3), dtype=np.float32), "must be uint8"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "HxWx3"),
        (np.zeros((4,), dtype=np.uint8), "HxWx3"),
    ],
)
def test_bad_arrays_name_their_position(array, message):
    with pytest.raises(ImageLoadError, match=rf"item 7 \(ndarray\).*{message}"):
        prepare(array, 7)


def test_unsupported_type():
    with pytest.raises(ImageLoadError, match=r"unsupported image type int"):
        prepare(42, 0)


def test_content_key_depends_on_content_only(tmp_path):
    arr = np.random.default_rng(2).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(arr).save(a)
    Image.fromarray(arr).save(b)
    assert prepare(a, 0).key == prepare(b, 1).key
    assert prepare(arr, 0).key == prepare(Image.fromarray(arr), 0).key
    other = arr.copy()
    other[0, 0, 0] ^= 1
    assert prepare(other, 0).key != prepare(arr, 0).key


def test_rgb_arrays_are_keyed_like_the_same_pixels_as_an_image():
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    flipped = arr[:, ::-1]  # not C-contiguous
    for pixels in (arr, flipped):
        prepared = prepare(pixels, 0)
        assert prepared.key == prepare(Image.fromarray(np.ascontiguousarray(pixels)), 0).key
        np.testing.assert_array_equal(np.asarray(prepared.load()), pixels)
    assert prepare(arr, 0).key != prepare(arr.reshape(7, 5, 3), 0).key  # the shape counts
    held = prepare(arr, 0)
    arr[:] = 0  # a caller reusing its buffer does not change what was prepared
    assert np.asarray(held.load()).any() and held.key != prepare(arr, 0).key

"""Reading image-likes (paths, PIL images, uint8 arrays) into RGB PIL images.

Each input gets a content key (SHA-256 of the file bytes, or of the pixels for
in-memory images) before it is decoded, so a cached embedding can be found
without decoding the image at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError

ImageLike = str | os.PathLike | Image.Image | np.ndarray

#: File suffixes read as images (by the folder loaders and morph-series folders).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp",
                            ".tif", ".tiff", ".ppm", ".pgm"})

#: Version of this module's decoding rules; part of every model fingerprint, so
#: a change in how pixels are produced never serves an embedding made the old way.
DECODE_VERSION = "rgb-white-alpha-exif-v2"


@dataclass(frozen=True)
class PreparedImage:
    """An image-like with its content key; ``load()`` decodes it to RGB on demand."""

    key: str
    source: str
    load: Callable[[], Image.Image]


def describe(image: object, index: int) -> str:
    """Name an input in error messages: its path, or its position and type."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return f"item {index} ({type(image).__name__})"


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """Read an image file's bytes, raising ImageLoadError that names the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(
            f"image file not found: {p} (check the path, or the manifest row that lists it)"
        ) from None
    except IsADirectoryError:
        raise ImageLoadError(f"expected an image file but found a directory: {p}") from None
    except PermissionError:
        raise ImageLoadError(f"image file is not readable (permission denied): {p}") from None
    except OSError as exc:
        raise ImageLoadError(f"cannot read image file {p}: {exc}") from exc
    if not data:
        raise ImageLoadError(f"image file is empty (0 bytes): {p}; re-export or remove it")
    return data


def _scaled_to_uint8(img: Image.Image, source: str) -> Image.Image:
    """16-bit, 32-bit integer and float single-channel images as 8-bit grayscale.

    Integer images are read as 16-bit (0-65535, how PNG and TIFF store deep
    grayscale); float images must lie in [0, 1] or [0, 255]. Anything else is
    refused rather than clipped to a black or white picture.
    """
    arr = np.asarray(img, dtype=np.float64)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if not np.isfinite(arr).all():
        raise ImageLoadError(f"{source}: {img.mode}-mode image holds NaN or infinite pixels; "
                             "re-export it as 8-bit RGB")
    if img.mode == "F" and lo >= 0 and hi <= 1:
        top = 1.0
    elif img.mode == "F" and lo >= 0 and hi <= 255:
        top = 255.0
    elif img.mode != "F" and lo >= 0 and hi <= 65535:
        top = 65535.0
    else:
        raise ImageLoadError(
            f"{source}: {img.mode}-mode image with pixel values {lo:g} to {hi:g} has no known "
            "scale (expected floats in [0, 1] or [0, 255], integers in [0, 65535]); re-export "
            "it as 8-bit RGB")
    return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def to_rgb(img: Image.Image, source: str = "image") -> Image.Image:
    """Convert any PIL mode to RGB, or raise ImageLoadError naming ``source``.

    Grayscale is replicated to three channels, CMYK and YCbCr are converted by
    PIL's formulas, 16-bit and float images are rescaled (never clipped to
    black), and transparency (RGBA, LA, palette with a transparent index) is
    composited onto white so transparent pixels do not turn black.
    """
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":
        img = _scaled_to_uint8(img, source)
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageLoadError(f"{source}: cannot convert a {img.mode}-mode image to RGB ({exc}); "
                             "re-export it as 8-bit RGB") from None


def decode_image(data: bytes, source: str) -> Image.Image:
    """Decode encoded image bytes fully (so truncation is detected) into RGB.

    Any failure of the decoder on broken bytes (PIL raises many exception
    types for fuzzed input) becomes an ImageLoadError naming the file.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = Image.open(io.BytesIO(data))
            img.load()
        truncated = [w for w in caught if "runcated" in str(w.message)]
        if truncated:  # PIL decoded part of the file and filled in the rest
            raise ImageLoadError(f"image is truncated: {source} ({truncated[0].message}); "
                                 "re-export or remove it")
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"not a recognised image format: {source}") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(
            f"{source}: refused as a possible decompression bomb ({exc}); if the file is "
            "trusted, raise PIL.Image.MAX_IMAGE_PIXELS in conftest.py or downscale it"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageLoadError(
            f"image is corrupt or truncated: {source} ({type(exc).__name__}: {exc}); "
            "re-export or remove it"
        ) from None
    with contextlib.suppress(Exception):
        img = ImageOps.exif_transpose(img)  # a broken EXIF block leaves pixels as stored
    return to_rgb(img, source)


def array_to_image(arr: np.ndarray, source: str) -> Image.Image:
    """Wrap an HxWx3 (or HxW, HxWx4) uint8 array as an RGB PIL image."""
    if arr.dtype != np.uint8:
        raise ImageLoadError(
            f"{source}: image arrays must be uint8 (0-255), got dtype {arr.dtype}; "
            "convert with (x * 255).round().astype(np.uint8) for floats in [0, 1]"
        )
    if arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr), "L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.shape[0] > 0 and arr.shape[1] > 0:
        mode = "RGB" if arr.shape[2] == 3 else "RGBA"
        return to_rgb(Image.fromarray(np.ascontiguousarray(arr), mode), source)
    raise ImageLoadError(
        f"{source}: image arrays must have shape HxWx3 (or HxW, HxWx4), got {arr.shape}"
    )


def _pixels_key(size: tuple[int, int], pixels: bytes | np.ndarray) -> str:
    """SHA-256 of RGB pixels (row-major, 3 bytes each) and their (width, height)."""
    h = hashlib.sha256()
    h.update(f"rgb|{size}|".encode())
    h.update(pixels)
    return h.hexdigest()


def _is_rgb_array(image: object) -> bool:
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3 and image.shape[0] > 0 and image.shape[1] > 0)


def prepare(image: ImageLike, index: int) -> PreparedImage:
    """Compute the content key of one image-like.

    Files are keyed by their bytes and decoded only when ``load`` is called
    (a cache hit never decodes); in-memory images are converted to RGB first
    and keyed by their pixels.
    """
    source = describe(image, index)
    if isinstance(image, (str, os.PathLike)):
        data = read_image_bytes(image)
        key = hashlib.sha256(b"bytes|" + data).hexdigest()
        return PreparedImage(key, source, lambda: decode_image(data, source))
    if _is_rgb_array(image):  # RGB pixels: keyed as below without a PIL round trip; a copy,
        pixels = np.array(image, order="C")  # as the caller may reuse its buffer
        key = _pixels_key((pixels.shape[1], pixels.shape[0]), pixels)
        return PreparedImage(key, source, lambda: Image.fromarray(pixels, "RGB"))
    if isinstance(image, Image.Image):
        rgb = to_rgb(image, source)
    elif isinstance(image, np.ndarray):
        rgb = array_to_image(image, source)
    else:
        raise ImageLoadError(
            f"{source}: unsupported image type {type(image).__name__}; pass a path (str or "
            "Path), a PIL image or an HxWx3 uint8 numpy array"
        )
    return PreparedImage(_pixels_key(rgb.size, rgb.tobytes()), source, lambda: rgb)

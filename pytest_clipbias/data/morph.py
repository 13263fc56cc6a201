"""Morph series: loading ready-made ones and building them from two parent images.

A series runs from the ``source`` parent (alpha 0, e.g. a Black face) to the
``target`` parent (alpha 1, e.g. a White face of the same gender), as in the
hypodescent audit (Wolfe, Banaji & Caliskan 2022: 21 steps, 0.5 a step).

Two builders:
  * cross-dissolve: x(a) = (1 - a) A + a B, pixel by pixel;
  * landmark morph: landmark positions interpolate linearly,
    L(a) = (1 - a) L_A + a L_B; both parents are warped onto L(a) by a
    piecewise-affine map over a Delaunay triangulation of L(a) (the image
    corners and edge midpoints are added as fixed points), then blended as
    (1 - a) A_warped + a B_warped: shape and texture both interpolate
    (Beier & Neely 1992; Wolberg 1998, "Image morphing: a survey").

Parents must already have the same size; resizing is explicit
(:func:`resize_parents`), never silent.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from .._io import atomic_write_text
from ..images import IMAGE_SUFFIXES, ImageLike, prepare
from .manifest import read_text
from .problems import DatasetError, describe_rows

METHODS = ("dissolve", "landmark")


def default_alphas(steps: int = 21) -> np.ndarray:
    """linspace(0, 1, steps); with an odd number of steps 0.5 is a step."""
    if steps < 2:
        raise ValueError(f"a morph series needs at least 2 steps, got {steps}")
    return np.linspace(0.0, 1.0, steps)


@dataclass(frozen=True)
class MorphSeries:
    """One morph series: ``images[i]`` is the morph at ``alphas[i]``.

    alphas are strictly increasing in [0, 1]; 0.0 is the ``source`` parent,
    1.0 the ``target`` parent. ``attributes`` carries e.g. {"gender": "female"}.
    ``parents`` names the two parent faces (source id, target id) when known:
    series that share a parent are not independent, and the hypodescent
    measure clusters on these ids.
    """

    series_id: str
    images: Sequence[Any]
    alphas: Sequence[float]
    source: str
    target: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    parents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.parents and len(self.parents) != 2:
            raise ValueError(f"series {self.series_id!r}: parents must be (source id, target "
                             f"id), got {self.parents!r}")
        alphas = np.asarray(self.alphas, dtype=np.float64)
        if alphas.ndim != 1 or len(alphas) < 2:
            raise ValueError(f"series {self.series_id!r}: need at least 2 alphas")
        if len(self.images) != len(alphas):
            raise ValueError(f"series {self.series_id!r}: {len(self.images)} images but "
                             f"{len(alphas)} alphas")
        if np.any(alphas < 0) or np.any(alphas > 1) or np.any(np.diff(alphas) <= 0):
            raise ValueError(f"series {self.series_id!r}: alphas must be strictly increasing "
                             f"in [0, 1], got {alphas.tolist()}")
        object.__setattr__(self, "parents", tuple(str(p) for p in self.parents))
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "alphas", tuple(float(a) for a in alphas))
        object.__setattr__(self, "attributes", MappingProxyType(
            {str(k): str(v) for k, v in self.attributes.items()}))

    @property
    def pair(self) -> str:
        """"source-target", e.g. "Black-White"."""
        return f"{self.source}-{self.target}"

    def __len__(self) -> int:
        return len(self.alphas)


# -- pixels -------------------------------------------------------------------------------


def _rgb(image: ImageLike) -> np.ndarray:
    """An HxWx3 uint8 array (arrays already in that form are used as they are)."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and (
            image.shape[2] == 3):
        return image
    return np.asarray(prepare(image, 0).load())


def _same_size(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"parents differ in size ({a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}); "
            "resize them explicitly first, e.g. with resize_parents(a, b, (224, 224))"
        )


def resize_parents(parent_a: ImageLike, parent_b: ImageLike,
                   size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize both parents to ``size`` (width, height) with bicubic resampling."""
    out = []
    for img in (parent_a, parent_b):
        arr = _rgb(img)
        out.append(np.asarray(Image.fromarray(arr).resize(size, Image.BICUBIC)))
    return out[0], out[1]


def cross_dissolve(parent_a: ImageLike, parent_b: ImageLike, alpha: float) -> np.ndarray:
    """x(alpha) = (1 - alpha) A + alpha B, rounded to uint8."""
    a, b = _rgb(parent_a), _rgb(parent_b)
    _same_size(a, b)
    mixed = (1.0 - alpha) * a.astype(np.float64) + alpha * b.astype(np.float64)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _border_points(width: int, height: int) -> np.ndarray:
    w, h = width - 1.0, height - 1.0
    return np.array([[0, 0], [w / 2, 0], [w, 0], [w, h / 2], [w, h], [w / 2, h], [0, h],
                     [0, h / 2]], dtype=np.float64)


def _check_landmarks(points: Any, what: str, width: int, height: int) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 3:
        raise ValueError(f"{what} must be a (k, 2) array of (x, y) points with k >= 3")
    if np.any(arr < 0) or np.any(arr[:, 0] > width - 1) or np.any(arr[:, 1] > height - 1):
        raise ValueError(f"{what}: every landmark must lie inside the {width}x{height} image")
    return arr


def _warp(image: np.ndarray, src_x: np.ndarray, src_y: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    h, w = image.shape[:2]
    out = np.empty((h * w, 3))
    for c in range(3):
        out[:, c] = map_coordinates(image[:, :, c].astype(np.float64), [src_y, src_x], order=1,
                                    mode="nearest")
    return out.reshape(h, w, 3)


def landmark_morph(parent_a: ImageLike, parent_b: ImageLike, landmarks_a: Any,
                   landmarks_b: Any, alpha: float) -> np.ndarray:
    """Shape-and-texture morph at ``alpha`` (see the module docstring)."""
    from scipy.spatial import Delaunay

    a, b = _rgb(parent_a), _rgb(parent_b)
    _same_size(a, b)
    h, w = a.shape[:2]
    la = _check_landmarks(landmarks_a, "landmarks_a", w, h)
    lb = _check_landmarks(landmarks_b, "landmarks_b", w, h)
    if la.shape != lb.shape:
        raise ValueError(f"landmarks_a has {len(la)} points but landmarks_b has {len(lb)}")
    border = _border_points(w, h)
    la, lb = np.vstack([la, border]), np.vstack([lb, border])
    lm = (1.0 - alpha) * la + alpha * lb
    tri = Delaunay(lm)
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.column_stack([xs.ravel(), ys.ravel()]).astype(np.float64)
    simplex = tri.find_simplex(pts, tol=1e-9)
    if np.any(simplex < 0):  # numerically outside the hull: use the nearest triangle's map
        lost = np.flatnonzero(simplex < 0)
        centers = lm[tri.simplices].mean(1)
        d = ((pts[lost, None, :] - centers[None]) ** 2).sum(-1)
        simplex[lost] = d.argmin(1)
    t = tri.transform[simplex]
    bary2 = np.einsum("nij,nj->ni", t[:, :2], pts - t[:, 2])
    bary = np.column_stack([bary2, 1.0 - bary2.sum(1)])
    verts = tri.simplices[simplex]
    src_a = np.einsum("nk,nkd->nd", bary, la[verts])
    src_b = np.einsum("nk,nkd->nd", bary, lb[verts])
    warped_a = _warp(a, src_a[:, 0], src_a[:, 1])
    warped_b = _warp(b, src_b[:, 0], src_b[:, 1])
    mixed = (1.0 - alpha) * warped_a + alpha * warped_b
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def morph_frames(parent_a: ImageLike, parent_b: ImageLike, alphas: Sequence[float], *,
                 method: str = "dissolve", landmarks: tuple[Any, Any] | None = None
                 ) -> Iterator[np.ndarray]:
    """Yield the morph at each alpha, one frame at a time (constant memory)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "landmark" and landmarks is None:
        raise ValueError("method='landmark' needs landmarks=(landmarks_a, landmarks_b)")
    # C order: frames inherit the parents' layout, and every later hash or copy of a
    # frame is a plain memory copy only in C order
    a, b = np.ascontiguousarray(_rgb(parent_a)), np.ascontiguousarray(_rgb(parent_b))
    _same_size(a, b)
    for alpha in alphas:
        if method == "dissolve":
            yield cross_dissolve(a, b, alpha)
        else:
            yield landmark_morph(a, b, landmarks[0], landmarks[1], alpha)


def build_series(parent_a: ImageLike, parent_b: ImageLike, *, series_id: str, source: str,
                 target: str, steps: int = 21, alphas: Sequence[float] | None = None,
                 method: str = "dissolve", landmarks: tuple[Any, Any] | None = None,
                 attributes: Mapping[str, str] | None = None,
                 parents: tuple[str, str] | None = None,
                 out_dir: str | os.PathLike | None = None, fmt: str = "png") -> MorphSeries:
    """Build one series, in memory or streamed to ``out_dir/series_id/``.

    On disk each frame is written as soon as it is computed, then
    ``alphas.csv`` (file, alpha) and ``series.json`` (source, target,
    attributes) are written atomically, so an interrupted build leaves no
    metadata claiming a complete series. ``parents`` (source id, target id)
    is recorded so that series sharing a parent can be clustered.
    """
    alphas = default_alphas(steps) if alphas is None else np.asarray(alphas, dtype=np.float64)
    frames = morph_frames(parent_a, parent_b, alphas, method=method, landmarks=landmarks)
    attrs = dict(attributes or {})
    ids = tuple(parents or ())
    if out_dir is None:
        return MorphSeries(series_id, list(frames), alphas, source, target, attrs, ids)
    folder = Path(out_dir) / series_id
    folder.mkdir(parents=True, exist_ok=True)
    ext = {"png": "png", "jpeg": "jpg", "jpg": "jpg"}[fmt.lower()]
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"step_{i:03d}.{ext}"
        Image.fromarray(frame).save(path)
        paths.append(path)
    atomic_write_text(folder / "alphas.csv", "file,alpha\n" + "".join(
        f"{p.name},{a:.10g}\n" for p, a in zip(paths, alphas, strict=True)))
    atomic_write_text(folder / "series.json", json.dumps(
        {"series_id": series_id, "source": source, "target": target, "attributes": attrs,
         "method": method, "parents": list(ids)}, indent=1))
    return MorphSeries(series_id, [str(p) for p in paths], alphas, source, target, attrs, ids)


# -- loading ready-made series ----------------------------------------------------------

_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?!.*\d)")


def _alphas_from_names(files: list[Path], folder: Path) -> np.ndarray:
    numbers = []
    for f in files:
        m = _NUMBER.search(f.stem)
        if m is None:
            raise DatasetError(f"morph series {folder}: cannot read a step or alpha from file "
                               f"name {f.name!r}; add an alphas.csv (file,alpha)")
        numbers.append(m.group(1))
    if all("." not in n for n in numbers):  # step indices: 0..n-1 spread over [0, 1]
        steps = np.array([int(n) for n in numbers])
        order = np.argsort(steps)
        if not np.array_equal(steps[order], np.arange(len(steps))) and not np.array_equal(
                steps[order], np.arange(1, len(steps) + 1)):
            raise DatasetError(f"morph series {folder}: step numbers {sorted(steps.tolist())} "
                               "are not consecutive; add an alphas.csv (file,alpha)")
        return (steps - steps.min()) / (len(steps) - 1)
    return np.array([float(n) for n in numbers])


def load_series_folder(folder: str | os.PathLike, *, source: str | None = None,
                       target: str | None = None) -> MorphSeries:
    """One series from a folder: images plus alphas.csv, or alphas/steps in the file names."""
    folder = Path(folder)
    meta: dict[str, Any] = {}
    if (folder / "series.json").is_file():
        try:
            meta = json.loads(read_text(folder / "series.json"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{folder / 'series.json'}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise DatasetError(f"{folder / 'series.json'}: expected a JSON object")
    src, tgt = source or meta.get("source"), target or meta.get("target")
    if not src or not tgt:
        raise DatasetError(f"morph series {folder}: source and target groups unknown; add a "
                           "series.json with them or pass source=... and target=...")
    if (folder / "alphas.csv").is_file():
        rows = list(csv.DictReader(io.StringIO(read_text(folder / "alphas.csv"), newline="")))
        if not rows or {"file", "alpha"} - set(rows[0]):
            raise DatasetError(f"{folder / 'alphas.csv'}: needs columns file and alpha")
        files = [folder / r["file"] for r in rows]
        absent = [(i + 2, r["file"]) for i, (r, f) in enumerate(zip(rows, files, strict=True))
                  if not f.is_file()]
        if absent:
            raise DatasetError(describe_rows(absent, "listed frames do not exist",
                                             str(folder / "alphas.csv"), "Fix the file names."))
        try:
            alphas = np.array([float(r["alpha"]) for r in rows])
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{folder / 'alphas.csv'}: alpha values must be numbers "
                               f"({exc})") from None
    else:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < 2:
            raise DatasetError(f"morph series {folder}: fewer than 2 images")
        alphas = _alphas_from_names(files, folder)
    order = np.argsort(alphas)
    try:
        return MorphSeries(str(meta.get("series_id", folder.name)),
                           [str(files[i]) for i in order], alphas[order], src, tgt,
                           meta.get("attributes", {}), tuple(meta.get("parents", ())))
    except ValueError as exc:
        raise DatasetError(f"morph series {folder}: {exc}") from None


def load_morph_series(root: str | os.PathLike, *, source: str | None = None,
                      target: str | None = None) -> list[MorphSeries]:
    """Every series below ``root`` (one sub-folder per series), sorted by folder name."""
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"morph series root {base} does not exist or is not a folder")
    folders = sorted(p for p in base.iterdir() if p.is_dir())
    if not folders:
        raise DatasetError(f"morph series root {base}: no series folders")
    return [load_series_folder(f, source=source, target=target) for f in folders]

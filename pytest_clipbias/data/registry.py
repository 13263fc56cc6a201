"""Datasets by name, as the ``clip_dataset`` and ``clip_morphs`` fixtures open them.

A dataset that is simply not on disk raises DatasetUnavailable (the fixture
skips the test, or errors under --clip-require-data); a dataset that is on
disk but broken raises DatasetError (the test errors: broken data is never a
skip).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ClipBiasError
from .faceset import FaceSet
from .loaders import load_cfd, load_fairface, load_folders, load_manifest, load_utkface
from .morph import MorphSeries, build_series, load_morph_series, resize_parents
from .synthetic import synthetic_faces, synthetic_morph_series

DEFAULT_PAIRS = (("Black", "White"), ("Latino/Hispanic", "White"), ("Asian", "White"))

LAYOUT = {
    "fairface": ("fairface", "fairface_label_train.csv / fairface_label_val.csv with the "
                 "train/ and val/ image folders"),
    "cfd": ("cfd", "the Chicago Face Database images (CFD-*.jpg, any sub-folders)"),
    "utkface": ("utkface", "the UTKFace images ([age]_[gender]_[race]_[date].jpg)"),
    "facet": ("facet", "FACET's annotations/annotations.csv and imgs_1..imgs_3 folders"),
    "socialcounterfactuals": ("socialcounterfactuals", "the Intel/SocialCounterfactuals "
                              "Hugging Face snapshot (data/train-*.parquet)"),
}


class DatasetUnavailable(ClipBiasError):
    """The dataset is not on this machine; the message says where to put it."""


def _root(data_root: Path | None, name: str) -> Path:
    sub, what = LAYOUT[name]
    if data_root is None:
        raise DatasetUnavailable(
            f"dataset {name!r} needs --clip-data-root (or ini clip_data_root, env "
            f"CLIPBIAS_DATA_ROOT): put {what} in <data root>/{sub}/"
        )
    folder = data_root / sub
    if not folder.is_dir():
        raise DatasetUnavailable(f"dataset {name!r} not found: put {what} in {folder}/")
    return folder


def _user_path(path: str | os.PathLike | None, name: str, data_root: Path | None,
               base_dir: Path) -> Path:
    if path is None:
        raise TypeError(f"clip_dataset({name!r}) needs path=...")
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (data_root or base_dir) / p
    if not p.exists():
        raise DatasetUnavailable(f"{name} {p} not found" + (
            "" if data_root else " (relative paths are resolved against --clip-data-root, "
            "or the rootdir when it is not set)"))
    return p


def open_dataset(name: str, *, data_root: Path | None, base_dir: Path, **kwargs: Any) -> FaceSet:
    """Open a dataset by name: fairface, cfd, utkface, facet, socialcounterfactuals,
    manifest, folders or synthetic."""
    if name == "fairface":
        return load_fairface(_root(data_root, name), **kwargs)
    if name == "cfd":
        return load_cfd(_root(data_root, name), **kwargs)
    if name == "utkface":
        return load_utkface(_root(data_root, name), **kwargs)
    if name in ("facet", "socialcounterfactuals"):
        from . import benchmarks

        return getattr(benchmarks, f"load_{name}")(_root(data_root, name), **kwargs)
    if name == "manifest":
        return load_manifest(_user_path(kwargs.pop("path", None), name, data_root, base_dir),
                             **kwargs)
    if name == "folders":
        return load_folders(_user_path(kwargs.pop("path", None), name, data_root, base_dir),
                            **kwargs)
    if name == "synthetic":
        return synthetic_faces(**{"n": 200, **kwargs})
    raise ValueError(f"unknown dataset {name!r}; choose fairface, cfd, utkface, facet, "
                     "socialcounterfactuals, manifest, folders or synthetic")


def open_morphs(
    source: str, *, data_root: Path | None, base_dir: Path, work_dir: Path,
    pairs: Sequence[tuple[str, str]] = DEFAULT_PAIRS, genders: Sequence[str] = ("female", "male"),
    n_series: int | None = None, steps: int = 21, seed: int = 0,
    size: tuple[int, int] = (224, 224),
    path: str | os.PathLike | None = None,
) -> list[MorphSeries]:
    """Morph series by source: "synthetic", "folder" (ready-made, ``path``) or "cfd".

    "cfd" pairs neutral-expression parents of the same gender at random
    (seeded) for each (minority, majority) pair, resizes them explicitly to
    ``size`` and cross-dissolves them into ``work_dir``; a finished build is
    reused on the next run when the parents' content (and the parameters) match.
    ``n_series`` (per pair type and gender) defaults to the active profile's,
    which meets assert_no_hypodescent's min_series.
    """
    if n_series is None:
        from ..profiles import get_profile

        n_series = get_profile().n_series
    if source == "synthetic":
        return [s for src, tgt in pairs for g in genders
                for s in synthetic_morph_series(src, tgt, gender=g, n_series=n_series,
                                                steps=steps, seed=seed)]
    if source == "folder":
        return load_morph_series(_user_path(path, "morph folder", data_root, base_dir))
    if source == "cfd":
        return _cfd_morphs(_root(data_root, "cfd"), work_dir, pairs, genders, n_series, steps,
                           seed, size)
    raise ValueError(f"unknown morph source {source!r}; choose synthetic, folder or cfd")


def _cfd_morphs(root: Path, work_dir: Path, pairs, genders, n_series: int, steps: int,
                seed: int, size: tuple[int, int]) -> list[MorphSeries]:
    faces = load_cfd(root).filter(expression="neutral")
    # keyed by the parents' content, not their folder: replaced parent images build
    # new morphs, and the same images elsewhere reuse the finished build
    params = json.dumps([faces.fingerprint, pairs, genders, n_series, steps, seed, size],
                        sort_keys=True, default=list)
    out = work_dir / f"cfd-{hashlib.sha256(params.encode()).hexdigest()[:16]}"
    done = out / "COMPLETE"
    if done.is_file():
        return load_morph_series(out / "series")
    from ..progress import progress

    series: list[MorphSeries] = []
    bar = progress("building CFD morph series", len(pairs) * len(genders) * n_series,
                   unit="series")
    for minority, majority in pairs:
        for gender in genders:
            a = faces.filter(race=minority, gender=gender)
            b = faces.filter(race=majority, gender=gender)
            if len(a) == 0 or len(b) == 0:
                raise DatasetUnavailable(
                    f"Chicago Face Database in {root}: no neutral {gender} faces labelled "
                    f"{minority if len(a) == 0 else majority}"
                )
            rng = np.random.default_rng([seed, len(series)])
            combos = rng.choice(len(a) * len(b), size=min(n_series, len(a) * len(b)),
                                replace=False)
            for k, c in enumerate(combos):
                pa, pb = a[int(c) // len(b)], b[int(c) % len(b)]
                img_a, img_b = resize_parents(pa.image, pb.image, size)
                series.append(build_series(
                    img_a, img_b, series_id=f"{minority}-{majority}-{gender}-{k:04d}".replace(
                        "/", "_"), source=minority, target=majority, steps=steps,
                    attributes={"gender": gender, "parent_source": pa["target"],
                                "parent_target": pb["target"]},
                    out_dir=out / "series"))
                bar.update(1)
    bar.close()
    done.write_text("ok\n", encoding="utf-8")
    return series

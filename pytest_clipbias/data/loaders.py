"""Loaders for the face datasets teams have on disk, and for generic manifests.

Nothing is downloaded. Every loader validates what it reads and raises
one DatasetError naming the file and listing every problem found (the first
20, with a count per kind): missing columns, unknown label values, duplicate
paths, listed images that do not exist, files that are not images.
``on_missing="skip"`` drops absent images with a DatasetWarning that says how
many; no other row is ever dropped silently.

Layouts:
  FairFace (Karkkainen & Joo 2021, CC BY 4.0): ``fairface_label_{train,val}.csv``
    with columns file, age, gender, race, service_test; ``file`` is relative
    to the folder of the CSV (e.g. ``val/1.jpg``).
  Chicago Face Database (Ma, Correll & Wittenbrink 2015; CFD-MR, CFD-INDIA):
    files named ``CFD-<race><gender>-<target>-<image>[-<replicate>]-<expression>.jpg``,
    e.g. ``CFD-BF-200-228-N.jpg``, anywhere below the root.
  UTKFace (Zhang, Song & Qi 2017): ``[age]_[gender]_[race]_[date&time].jpg``
    (gender 0 male, 1 female; race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others).
  Manifest: CSV or JSONL, one row per image, a path column (relative to the
    manifest's folder) plus attribute columns; a country column adds the region.
  Folders: ``root/<value>/...`` for one key, ``root/<value1>/<value2>/...`` for several.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..images import IMAGE_SUFFIXES
from .faceset import FaceItem, FaceSet, faceset_from_entries
from .manifest import (
    ON_MISSING,
    DatasetWarning,
    Entry,
    check_values,
    finish_entries,
    read_rows,
)
from .normalize import check_extra_values, normalize_gender
from .problems import DatasetError, Problems

__all__ = ["IMAGE_SUFFIXES", "DatasetWarning", "faceset_from_records", "load_cfd",
           "load_fairface", "load_folders", "load_manifest", "load_utkface"]

#: Files the folders loader passes over without complaint (notes, metadata, OS litter).
SIDECAR_SUFFIXES = frozenset({".txt", ".md", ".csv", ".tsv", ".json", ".jsonl", ".yaml",
                              ".yml", ".xml", ".ini", ".db", ".log", ".pdf", ".xlsx"})


def _require_dir(root: str | os.PathLike, dataset: str) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(
            f"{dataset}: root folder {path} does not exist or is not a folder; check "
            "--clip-data-root (or the path you passed)"
        )
    return path


def _images_below(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def load_manifest(
    path: str | os.PathLike, *, path_column: str = "path", on_missing: str = "error",
    country_column: str = "country", region_key: str = "region", region_scheme: str = "wef",
    extra_values: Mapping[str, Iterable[str]] | None = None, name: str | None = None,
    allow_empty: Iterable[str] = (),
) -> FaceSet:
    """Read a CSV/TSV/JSONL manifest (UTF-8): one row per image, a path column plus attributes.

    Paths are relative to the manifest's folder. Gender values are normalised
    ("F", "Female", "woman" -> "female") and race labels get a canonical
    spelling; any other gender or race value is an error naming the row, unless
    declared in ``extra_values`` (``{"race": ["Pacific Islander"]}``). A
    country column (name or ISO code) fills ``region_key`` under
    ``region_scheme`` ("wef", "m49", "m49-subregion") for rows that have no
    region of their own. All problems of the file are reported in one
    DatasetError (the first 20 and a count per kind).

    Every row must fill every column: an empty cell (or, in JSONL, a missing
    key or null) is an error naming the row, so a face never loses an
    attribute silently. Columns named in ``allow_empty`` may be empty; such
    faces then lack that attribute, and the checks that group by it refuse
    them by name. A row with more or fewer fields than the header, a column
    named twice and a quoted field that runs over lines (an unterminated
    quote) are errors naming the line.
    """
    return FaceSet.from_manifest(
        path, path_column=path_column, on_missing=on_missing, country_column=country_column,
        region_key=region_key, region_scheme=region_scheme, extra_values=extra_values,
        name=name, allow_empty=allow_empty)


# -- FairFace ---------------------------------------------------------------------------

FAIRFACE_RACES = {
    "White": "White", "Black": "Black", "Latino_Hispanic": "Latino/Hispanic",
    "East Asian": "East Asian", "Southeast Asian": "Southeast Asian", "Indian": "Indian",
    "Middle Eastern": "Middle Eastern",
}
FAIRFACE_AGES = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69",
                 "more than 70")


def load_fairface(root: str | os.PathLike, split: str = "val", *,
                  on_missing: str = "error") -> FaceSet:
    """FairFace: ``root/fairface_label_{split}.csv`` and the images it lists.

    Attributes: gender (female/male), race (its 7 groups; Latino_Hispanic is
    spelled Latino/Hispanic), age (FairFace's bins), service_test, split.
    """
    if split not in ("train", "val"):
        raise ValueError(f"FairFace split must be 'train' or 'val', got {split!r}")
    base = _require_dir(root, "FairFace")
    csv_path = base / f"fairface_label_{split}.csv"
    if not csv_path.is_file():
        raise DatasetError(
            f"FairFace: {csv_path} not found; put fairface_label_{split}.csv and the "
            f"{split}/ image folder in {base}"
        )
    problems = Problems(f"FairFace {csv_path}")
    columns, rows = read_rows(csv_path, problems)
    missing_cols = [c for c in ("file", "age", "gender", "race") if c not in columns]
    if missing_cols:
        raise DatasetError(f"FairFace: {csv_path} lacks columns {', '.join(missing_cols)} "
                           f"(has {', '.join(columns)})")
    fixes = {"gender": "use Male or Female.", "race": f"use one of {', '.join(FAIRFACE_RACES)}.",
             "age": f"use FairFace's age bins ({', '.join(FAIRFACE_AGES)})."}
    entries = []
    for line, row in rows:
        values = {k: (row.get(k) or "").strip() for k in ("file", "gender", "race", "age")}
        attrs = {"gender": normalize_gender(values["gender"]),
                 "race": FAIRFACE_RACES.get(values["race"]),
                 "age": values["age"] if values["age"] in FAIRFACE_AGES else None}
        if attrs["gender"] not in ("female", "male"):
            attrs["gender"] = None
        bad = [k for k, v in attrs.items() if v is None]
        for key in bad:
            problems.add(f"unknown {key} values", f"row {line}",
                         f"column {key!r}: {values[key]!r}", fixes[key])
        if not values["file"]:
            problems.add("rows without an image path", f"row {line}", "empty 'file'",
                         "fill the 'file' column.")
        if bad or not values["file"]:
            continue
        attrs["split"] = split
        if row.get("service_test") not in (None, ""):
            attrs["service_test"] = str(row["service_test"]).strip().lower()
        raw = {k: str(v) for k, v in row.items() if k != "file" and v is not None}
        entries.append(Entry(line, base / values["file"], attrs, raw))
    entries = finish_entries(entries, problems, on_missing)
    return faceset_from_entries(entries, f"fairface-{split}")


# -- Chicago Face Database --------------------------------------------------------------

CFD_PATTERN = re.compile(
    r"^CFD-(?P<race>[A-Z])(?P<gender>[A-Z])-(?P<target>\d{3})-(?P<image>\d{3})"
    r"(?:-(?P<replicate>\d))?-(?P<expression>[A-Z]{1,2})$"
)
CFD_RACES = {"A": "Asian", "B": "Black", "I": "Indian", "L": "Latino/Hispanic",
             "M": "Multiracial", "W": "White"}
CFD_GENDERS = {"F": "female", "M": "male"}
CFD_EXPRESSIONS = {"N": "neutral", "A": "angry", "F": "fear", "HC": "happy-closed",
                   "HO": "happy-open"}


def _cfd_subset(race_code: str) -> str:
    return {"M": "CFD-MR", "I": "CFD-INDIA"}.get(race_code, "CFD")


def load_cfd(root: str | os.PathLike, *, on_invalid: str = "error") -> FaceSet:
    """Chicago Face Database (main set, CFD-MR and CFD-INDIA) from its file names.

    Attributes: race, gender, target (e.g. "BF-200"), expression, subset. Image
    files whose names do not follow the CFD code are an error (listed), or,
    with ``on_invalid="skip"``, left out with a warning; other files are ignored.
    """
    if on_invalid not in ON_MISSING:
        raise ValueError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    base = _require_dir(root, "Chicago Face Database")
    files = _images_below(base)
    if not files:
        raise DatasetError(f"Chicago Face Database: no images below {base}")
    problems = Problems(f"Chicago Face Database {base}")
    entries, bad = [], []
    for i, p in enumerate(files, 1):
        m = CFD_PATTERN.match(p.stem)
        reasons = []
        if m is None:
            reasons.append("name does not follow CFD-<race><gender>-<target>-<image>-<expr>")
        else:
            if m["race"] not in CFD_RACES:
                reasons.append(f"race code {m['race']!r}")
            if m["gender"] not in CFD_GENDERS:
                reasons.append(f"gender code {m['gender']!r}")
            if m["expression"] not in CFD_EXPRESSIONS:
                reasons.append(f"expression code {m['expression']!r}")
        if reasons:
            bad.append((p.relative_to(base), "; ".join(reasons)))
            continue
        attrs = {
            "race": CFD_RACES[m["race"]], "gender": CFD_GENDERS[m["gender"]],
            "target": f"{m['race']}{m['gender']}-{m['target']}",
            "expression": CFD_EXPRESSIONS[m["expression"]], "subset": _cfd_subset(m["race"]),
        }
        raw = {"race": m["race"], "gender": m["gender"], "expression": m["expression"]}
        entries.append(Entry(i, p, attrs, raw))
    _report_invalid(bad, on_invalid, problems)
    return faceset_from_entries(finish_entries(entries, problems, "error", "file"), "cfd")


def _report_invalid(bad: list[tuple[Path, str]], on_invalid: str, problems: Problems) -> None:
    """Unparseable file names: problems (raised with the rest), or skipped with a warning."""
    if on_invalid == "error":
        for path, why in bad:
            problems.add("images with unparseable file names", str(path), why,
                         "rename them, move them out of the dataset folder, or pass "
                         "on_invalid='skip'.")
    elif bad:
        warnings.warn(DatasetWarning(f"{problems.source}: skipped {len(bad)} images with "
                                     f"unparseable file names (first: {bad[0][0]})"),
                      stacklevel=3)


# -- UTKFace ----------------------------------------------------------------------------

UTK_PATTERN = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>\d)_(?P<race>\d)_(?P<date>\d+)"
                         r"(?:\.jpg\.chip)?$")
UTK_GENDERS = {"0": "male", "1": "female"}
UTK_RACES = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Other"}


def load_utkface(root: str | os.PathLike, *, on_invalid: str = "error") -> FaceSet:
    """UTKFace from its file names ``[age]_[gender]_[race]_[date&time].jpg``.

    Attributes: age (years, as text), gender, race. A few published files lack
    a field (e.g. ``39_1_20170116174525125.jpg.chip.jpg``): they are listed as
    an error, or left out with a warning under ``on_invalid="skip"``.
    """
    if on_invalid not in ON_MISSING:
        raise ValueError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    base = _require_dir(root, "UTKFace")
    files = _images_below(base)
    if not files:
        raise DatasetError(f"UTKFace: no images below {base}")
    problems = Problems(f"UTKFace {base}")
    entries, bad = [], []
    for i, p in enumerate(files, 1):
        m = UTK_PATTERN.match(p.stem)
        if m is None or m["gender"] not in UTK_GENDERS or m["race"] not in UTK_RACES:
            bad.append((p.relative_to(base), "expected [age]_[gender 0/1]_[race 0-4]_[date]"))
            continue
        attrs = {"age": str(int(m["age"])), "gender": UTK_GENDERS[m["gender"]],
                 "race": UTK_RACES[m["race"]]}
        entries.append(Entry(i, p, attrs, {"gender": m["gender"], "race": m["race"]}))
    _report_invalid(bad, on_invalid, problems)
    return faceset_from_entries(finish_entries(entries, problems, "error", "file"), "utkface")


# -- one folder per group ---------------------------------------------------------------


def load_folders(root: str | os.PathLike, keys: str | Sequence[str] = "group", *,
                 normalize: bool = True,
                 extra_values: Mapping[str, Iterable[str]] | None = None) -> FaceSet:
    """Images in ``root/<value>/`` (or ``root/<v1>/<v2>/`` for several keys).

    The folder names become the attribute values; with ``normalize`` "gender"
    and "race" keys are checked and normalised like manifests (declare other
    groups with ``extra_values``). Images at a shallower depth than the keys
    require, and files that are not images of a supported type (other than
    hidden files and notes such as .txt, .csv, .json), are errors listed
    together: nothing is skipped silently.
    """
    keys = _folder_keys(keys)
    base = _require_dir(root, "image folders")
    extra = check_extra_values(extra_values)
    problems = Problems(f"folders {base}")
    entries = []
    for i, p in enumerate(sorted(base.rglob("*")), 1):
        rel = p.relative_to(base)
        if p.is_dir() or any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_symlink() and not p.exists():
            problems.add("links that cannot be followed", str(rel), "a symbolic link that "
                         "loops or points to nothing", "fix or remove the link.")
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            if p.suffix.lower() not in SIDECAR_SUFFIXES:
                problems.add("files that are not supported images", str(rel), "not read",
                             f"convert them to one of {', '.join(sorted(IMAGE_SUFFIXES))}, or "
                             "move them out of the folder.")
            continue
        parts = rel.parts[:-1]
        if len(parts) < len(keys):
            problems.add("misplaced images", str(rel),
                         f"not inside {len(keys)} level(s) of folders",
                         f"expected root/<{'>/<'.join(keys)}>/image files.")
            continue
        raw = dict(zip(keys, parts[: len(keys)], strict=True))
        attrs = dict(raw)
        if normalize:
            check_values(attrs, extra, problems, str(rel))
        entries.append(Entry(i, p, attrs, raw))
    return faceset_from_entries(finish_entries(entries, problems, "error", "file"), base.name)


def _folder_keys(keys: str | Sequence[str]) -> tuple[str, ...]:
    """Attribute names, one per folder level: non-empty, distinct, at least one."""
    if not isinstance(keys, str) and not isinstance(keys, Sequence):
        raise TypeError(f"keys must be an attribute name or a list of them, got "
                        f"{type(keys).__name__}")
    names = (keys,) if isinstance(keys, str) else tuple(keys)
    if not names:
        raise ValueError("keys is empty: name the attribute of each folder level, e.g. "
                         "keys=['race', 'gender']")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"keys[{i}] must be a non-empty attribute name, got {name!r}")
        if names.index(name) != i:
            raise ValueError(f"keys names {name!r} twice; each folder level needs its own "
                             f"attribute (got {list(names)})")
    return names


def faceset_from_records(records: Iterable[Mapping[str, Any]], *, image_key: str = "image",
                         name: str = "records") -> FaceSet:
    """Build a FaceSet from dicts (e.g. generated data): ``image`` plus attribute keys."""
    items = []
    for i, rec in enumerate(records):
        if image_key not in rec:
            raise DatasetError(f"{name}: record {i} has no {image_key!r} key")
        attrs = {k: str(v) for k, v in rec.items() if k != image_key}
        items.append(FaceItem(rec[image_key], attrs))
    return FaceSet(items, name=name)

"""Loaders for the face datasets teams have on disk, and for generic manifests.

Nothing is downloaded. Every loader validates what it reads and raises
DatasetError naming the file and the offending rows (the first few and the
count) for missing columns, unknown label values, duplicate paths and listed
images that do not exist. ``on_missing="skip"`` drops absent images with a
DatasetWarning that says how many; no other row is ever dropped silently.

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

import csv
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .faceset import DatasetError, FaceItem, FaceSet, describe_rows, relative_to
from .normalize import normalize_gender, normalize_race
from .regions import canonical_region, lookup_country

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
ON_MISSING = ("error", "skip")


class DatasetWarning(UserWarning):
    """Rows were dropped because the caller asked for it (``on_missing="skip"``)."""


class _Entry:
    __slots__ = ("attrs", "path", "raw", "row")

    def __init__(self, row: int, path: str | Path, attrs: dict[str, str],
                 raw: dict[str, str]):
        self.row, self.path, self.attrs, self.raw = row, os.fspath(path), attrs, raw


def _require_dir(root: str | os.PathLike, dataset: str) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(
            f"{dataset}: root folder {path} does not exist or is not a folder; check "
            "--clip-data-root (or the path you passed)"
        )
    return path


class _Listing:
    """Existence checks through one directory listing per folder (fast for 100k rows)."""

    def __init__(self) -> None:
        self._dirs: dict[str, frozenset[str]] = {}

    def exists(self, path: str) -> bool:
        parent, name = os.path.split(path)
        if parent not in self._dirs:
            try:
                with os.scandir(parent) as it:
                    self._dirs[parent] = frozenset(e.name for e in it if e.is_file())
            except OSError:
                self._dirs[parent] = frozenset()
        return name in self._dirs[parent]


def _finish(entries: list[_Entry], source: str, name: str, on_missing: str) -> FaceSet:
    """Reject duplicate paths; reject or (on request) drop absent images; build the FaceSet."""
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    seen: dict[str, int] = {}
    duplicates: list[tuple[int, str]] = []
    for e in entries:
        # abspath also normalises "./a.png" and "a/../a.png"; manifest paths already are
        key = e.path if os.path.isabs(e.path) else os.path.abspath(e.path)
        if key in seen:
            duplicates.append((e.row, f"{e.path} (also row {seen[key]})"))
        else:
            seen[key] = e.row
    if duplicates:
        raise DatasetError(describe_rows(duplicates, "duplicate image paths", source,
                                         "Each image must be listed once."))
    listing = _Listing()
    missing = [(e.row, e.path) for e in entries if not listing.exists(e.path)]
    if missing and on_missing == "error":
        raise DatasetError(describe_rows(
            missing, "listed images do not exist", source,
            "Fix the paths (they are relative to the manifest's folder) or pass "
            "on_missing='skip' to drop them with a warning."))
    if missing:
        warnings.warn(DatasetWarning(
            f"{source}: skipped {len(missing)} of {len(entries)} rows whose images do not exist "
            f"(first: row {missing[0][0]}: {missing[0][1]})"), stacklevel=3)
        absent = {row for row, _ in missing}
        entries = [e for e in entries if e.row not in absent]
    # loaders build str -> str dicts, so they are wrapped without another copy
    return FaceSet((FaceItem(e.path, MappingProxyType(e.attrs), MappingProxyType(e.raw))
                    for e in entries), name=name)


# -- generic manifests ----------------------------------------------------------------


def _read_manifest_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    text_rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        columns: dict[str, None] = {}
        with path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        f"{path}: line {line_no} is not valid JSON ({exc})") from None
                if not isinstance(obj, dict):
                    raise DatasetError(f"{path}: line {line_no} is not a JSON object")
                columns.update(dict.fromkeys(obj))
                text_rows.append((line_no, obj))
        return list(columns), text_rows
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise DatasetError(f"{path}: manifests must be .csv, .tsv or .jsonl files")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        for row in reader:
            if None in row:
                raise DatasetError(
                    f"{path}: line {reader.line_num} has more fields than the header")
            text_rows.append((reader.line_num, row))
        return list(reader.fieldnames or []), text_rows


def load_manifest(
    path: str | os.PathLike, *, path_column: str = "path", on_missing: str = "error",
    country_column: str = "country", region_key: str = "region", region_scheme: str = "wef",
    name: str | None = None,
) -> FaceSet:
    """Read a CSV/TSV/JSONL manifest: one row per image, a path column plus attributes.

    Paths are relative to the manifest's folder. Gender values are normalised
    ("F", "Female", "woman" -> "female"; unknown values are an error), race
    labels get a canonical spelling, and a country column (name or ISO code)
    fills ``region_key`` under ``region_scheme`` ("wef", "m49", "m49-subregion")
    for rows that have no region of their own.
    """
    manifest = Path(path).expanduser()
    if not manifest.is_file():
        raise DatasetError(f"manifest {manifest} does not exist")
    columns, rows = _read_manifest_rows(manifest)
    if path_column not in columns:
        raise DatasetError(
            f"{manifest}: no column {path_column!r} (columns: {', '.join(columns) or 'none'}); "
            "name the image column with path_column=..."
        )
    base = os.path.abspath(manifest.parent)
    attribute_keys = [(k, str(k).strip()) for k in columns if k != path_column]
    entries: list[_Entry] = []
    empty_paths: list[tuple[int, str]] = []
    bad_gender: list[tuple[int, str]] = []
    bad_country: list[tuple[int, str]] = []
    for line, row in rows:
        value = row.get(path_column)
        if value is None or str(value).strip() == "":
            empty_paths.append((line, f"empty {path_column!r}"))
            continue
        raw = {}
        for key, clean in attribute_keys:
            v = row.get(key)
            if v is not None:
                v = (v if isinstance(v, str) else str(v)).strip()
                if v:
                    raw[clean] = v
        attrs = dict(raw)
        if "gender" in attrs:
            g = normalize_gender(attrs["gender"])
            if g is None:
                bad_gender.append((line, repr(attrs["gender"])))
            else:
                attrs["gender"] = g
        if "race" in attrs:
            attrs["race"] = normalize_race(attrs["race"])
        if region_key in attrs:
            attrs[region_key] = canonical_region(attrs[region_key])
        if country_column in attrs:
            country = lookup_country(attrs[country_column])
            if country is None:
                bad_country.append((line, repr(attrs[country_column])))
            else:
                attrs[country_column] = country.name
                attrs.setdefault(region_key, country.region(region_scheme))
        entries.append(_Entry(line, relative_to(base, str(value).strip()), attrs, raw))
    for problems, what, fix in (
        (empty_paths, "rows without an image path", f"Fill the {path_column!r} column."),
        (bad_gender, "unknown gender values", "Use female/male/nonbinary (or F/M, woman/man)."),
        (bad_country, "unknown countries",
         "Use English short names or ISO 3166 codes, or give a region column."),
    ):
        if problems:
            raise DatasetError(describe_rows(problems, what, f"manifest {manifest}", fix))
    return _finish(entries, f"manifest {manifest}", name or manifest.stem, on_missing)


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
    columns, rows = _read_manifest_rows(csv_path)
    missing_cols = [c for c in ("file", "age", "gender", "race") if c not in columns]
    if missing_cols:
        raise DatasetError(f"FairFace: {csv_path} lacks columns {', '.join(missing_cols)} "
                           f"(has {', '.join(columns)})")
    entries, bad = [], []
    for line, row in rows:
        gender = normalize_gender(row["gender"] or "")
        race = FAIRFACE_RACES.get((row["race"] or "").strip())
        age = (row["age"] or "").strip()
        problems = [f"gender {row['gender']!r}"] if gender not in ("female", "male") else []
        problems += [] if race else [f"race {row['race']!r}"]
        problems += [] if age in FAIRFACE_AGES else [f"age {age!r}"]
        if problems:
            bad.append((line, ", ".join(problems)))
            continue
        attrs = {"gender": gender, "race": race, "age": age, "split": split}
        if row.get("service_test") not in (None, ""):
            attrs["service_test"] = str(row["service_test"]).strip().lower()
        raw = {k: str(v) for k, v in row.items() if k != "file" and v is not None}
        entries.append(_Entry(line, base / row["file"].strip(), attrs, raw))
    if bad:
        raise DatasetError(describe_rows(
            bad, "unknown label values", f"FairFace {csv_path}",
            f"Expected gender Male/Female, race one of {', '.join(FAIRFACE_RACES)}, "
            "and FairFace's age bins."))
    return _finish(entries, f"FairFace {csv_path}", f"fairface-{split}", on_missing)


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
    files = sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    entries, bad = [], []
    for i, p in enumerate(files, 1):
        m = CFD_PATTERN.match(p.stem)
        problems = []
        if m is None:
            problems.append("name does not follow CFD-<race><gender>-<target>-<image>-<expr>")
        else:
            if m["race"] not in CFD_RACES:
                problems.append(f"race code {m['race']!r}")
            if m["gender"] not in CFD_GENDERS:
                problems.append(f"gender code {m['gender']!r}")
            if m["expression"] not in CFD_EXPRESSIONS:
                problems.append(f"expression code {m['expression']!r}")
        if problems:
            bad.append((i, f"{p.relative_to(base)} ({'; '.join(problems)})"))
            continue
        attrs = {
            "race": CFD_RACES[m["race"]], "gender": CFD_GENDERS[m["gender"]],
            "target": f"{m['race']}{m['gender']}-{m['target']}",
            "expression": CFD_EXPRESSIONS[m["expression"]], "subset": _cfd_subset(m["race"]),
        }
        raw = {"race": m["race"], "gender": m["gender"], "expression": m["expression"]}
        entries.append(_Entry(i, p, attrs, raw))
    if not files:
        raise DatasetError(f"Chicago Face Database: no images below {base}")
    _report_invalid(bad, on_invalid, f"Chicago Face Database {base}", "file names")
    return _finish(entries, f"Chicago Face Database {base}", "cfd", "error")


def _report_invalid(bad: list[tuple[int, str]], on_invalid: str, source: str, what: str) -> None:
    if bad and on_invalid == "error":
        raise DatasetError(describe_rows(
            bad, f"images with unparseable {what}", source,
            "Rename them, move them out of the dataset folder, or pass on_invalid='skip'."))
    if bad:
        warnings.warn(DatasetWarning(f"{source}: skipped {len(bad)} images with unparseable "
                                     f"{what} (first: {bad[0][1]})"), stacklevel=3)


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
    files = sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"UTKFace: no images below {base}")
    entries, bad = [], []
    for i, p in enumerate(files, 1):
        m = UTK_PATTERN.match(p.stem)
        if m is None or m["gender"] not in UTK_GENDERS or m["race"] not in UTK_RACES:
            bad.append((i, str(p.relative_to(base))))
            continue
        attrs = {"age": str(int(m["age"])), "gender": UTK_GENDERS[m["gender"]],
                 "race": UTK_RACES[m["race"]]}
        entries.append(_Entry(i, p, attrs, {"gender": m["gender"], "race": m["race"]}))
    _report_invalid(bad, on_invalid, f"UTKFace {base}", "file names")
    return _finish(entries, f"UTKFace {base}", "utkface", "error")


# -- one folder per group ---------------------------------------------------------------


def load_folders(root: str | os.PathLike, keys: str | Sequence[str] = "group", *,
                 normalize: bool = True) -> FaceSet:
    """Images in ``root/<value>/`` (or ``root/<v1>/<v2>/`` for several keys).

    The folder names become the attribute values; with ``normalize`` a
    "gender" key is normalised like manifests. Images at a shallower depth
    than the keys require are an error (listed).
    """
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    base = _require_dir(root, "image folders")
    files = sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    entries, bad = [], []
    for i, p in enumerate(files, 1):
        parts = p.relative_to(base).parts[:-1]
        if len(parts) < len(keys):
            bad.append((i, f"{p.relative_to(base)} is not inside {len(keys)} level(s) of folders"))
            continue
        raw = dict(zip(keys, parts[: len(keys)], strict=True))
        attrs = dict(raw)
        if normalize and "gender" in attrs:
            g = normalize_gender(attrs["gender"])
            if g is None:
                bad.append((i, f"{p.relative_to(base)}: unknown gender folder {attrs['gender']!r}"))
                continue
            attrs["gender"] = g
        entries.append(_Entry(i, p, attrs, raw))
    if bad:
        raise DatasetError(describe_rows(bad, "misplaced images", f"folders {base}",
                                         f"Expected root/<{'>/<'.join(keys)}>/image files."))
    if not entries:
        raise DatasetError(f"folders {base}: no images found")
    return _finish(entries, f"folders {base}", base.name, "error")


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

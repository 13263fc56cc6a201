"""Reading and checking manifest rows: the layer under FaceSet and the loaders.

This module builds plain entries (path, attributes, raw values) and never
imports FaceSet, so ``FaceSet.from_manifest`` and the loaders can both use it
without an import cycle. Every problem in a file is collected into one
DatasetError (see :class:`~pytest_clipbias.data.problems.Problems`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .normalize import check_extra_values, known_values, normalize_value
from .problems import DatasetError, Problems, relative_to
from .regions import canonical_region, lookup_country

ON_MISSING = ("error", "skip")


class DatasetWarning(UserWarning):
    """Rows were dropped because the caller asked for it (``on_missing="skip"``)."""


class Entry:
    """One image of a dataset before it becomes a FaceItem: row, path, attributes, raw."""

    __slots__ = ("attrs", "path", "raw", "row")

    def __init__(self, row: int, path: str | Path, attrs: dict[str, str],
                 raw: dict[str, str]):
        self.row, self.path, self.attrs, self.raw = row, os.fspath(path), attrs, raw


class _Listing:
    """Existence checks through one directory listing per folder (fast for 100k rows).

    ``why_not(path)`` is None for a file, "absent" for a name its folder
    does not hold, and otherwise the reason the file cannot be reached: a
    folder that cannot be listed (a symbolic-link loop, no permission), a
    link that loops or points nowhere, a folder where an image should be.
    One unreachable entry never hides the other files of its folder.
    """

    def __init__(self) -> None:
        self._dirs: dict[str, tuple[frozenset[str], dict[str, str]] | str] = {}

    @staticmethod
    def _list(parent: str) -> tuple[frozenset[str], dict[str, str]] | str:
        files, other = set(), {}
        try:
            with os.scandir(parent) as it:
                for e in it:
                    if _is_file(e):
                        files.add(e.name)
                    else:
                        other[e.name] = _not_a_file(e)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            pass
        except OSError as exc:
            return f"its folder {parent} cannot be read ({exc.strerror or exc})"
        return frozenset(files), other

    def why_not(self, path: str) -> str | None:
        """None when ``path`` is a file, "absent", or why it cannot be reached."""
        parent, name = os.path.split(path)
        if parent not in self._dirs:
            self._dirs[parent] = self._list(parent)
        listing = self._dirs[parent]
        if isinstance(listing, str):
            return listing
        files, other = listing
        return None if name in files else other.get(name, "absent")


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a symbolic-link loop raises here (ELOOP)
        return False


def _not_a_file(entry: os.DirEntry) -> str:
    try:
        os.stat(entry.path)
    except OSError as exc:
        return f"a symbolic link that cannot be followed ({exc.strerror or exc})"
    return "a folder, not an image file" if entry.is_dir() else "not a regular file"


def finish_entries(entries: list[Entry], problems: Problems, on_missing: str,
                   label: str = "row") -> list[Entry]:
    """Add duplicate and absent images to ``problems``, raise them all, or drop absent ones.

    ``on_missing="skip"`` drops absent images with a DatasetWarning saying how
    many; every other problem (and absence under "error") raises.
    """
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    seen: dict[str, int] = {}
    for e in entries:
        # abspath also normalises "./a.png" and "a/../a.png"; manifest paths already are
        key = e.path if os.path.isabs(e.path) else os.path.abspath(e.path)
        if key in seen:
            problems.add("duplicate image paths", f"{label} {e.row}",
                         f"{e.path} (also {label} {seen[key]})", "list each image once.")
        else:
            seen[key] = e.row
    listing = _Listing()
    reasons = [(e, listing.why_not(e.path)) for e in entries]
    missing = [e for e, why in reasons if why == "absent"]
    for e, why in reasons:
        if why not in (None, "absent"):
            problems.add("listed images that cannot be reached", f"{label} {e.row}",
                         f"{e.path}: {why}", "fix the symbolic link, folder or permissions "
                         "(a link loop hides every image below it).")
    if on_missing == "error":
        for e in missing:
            problems.add("listed images do not exist", f"{label} {e.row}", e.path,
                         "fix the paths (they are relative to the manifest's folder) or pass "
                         "on_missing='skip' to drop them with a warning.")
    elif missing and len(missing) == len(entries):
        problems.add("datasets whose every image is missing", "file",
                     f"none of the {len(entries)} listed images exists (first: {label} "
                     f"{missing[0].row}: {missing[0].path})",
                     "check that the paths are relative to the manifest's folder and that the "
                     "images are there; on_missing='skip' drops some absent images, not all.")
    if not entries and not problems:
        problems.add("empty datasets", "file", "no rows", "list at least one image.")
    problems.raise_if_any()
    if missing:
        warnings.warn(DatasetWarning(
            f"{problems.source}: skipped {len(missing)} of {len(entries)} rows whose images do "
            f"not exist (first: {label} {missing[0].row}: {missing[0].path})"), stacklevel=4)
        absent = {id(e) for e in missing}
        entries = [e for e in entries if id(e) not in absent]
    return entries


# -- reading text -----------------------------------------------------------------------


def read_text(path: Path) -> str:
    """A manifest's text; not-UTF-8 files get an error naming the file, line and a fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read manifest {path}: {exc}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetError(f"{path}: the file is UTF-16 text; save it as UTF-8 "
                           f"(e.g. iconv -f utf-16 -t utf-8 {path.name} > fixed{path.suffix})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"{path}: line {line} is not UTF-8 (byte 0x{data[exc.start]:02x}); the file is "
            "probably Latin-1 / Windows-1252. Save it as UTF-8, e.g. "
            f"iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}"
        ) from None


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def read_rows(path: Path, problems: Problems) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Columns and (line, row) pairs of a CSV, TSV or JSONL file; malformed lines are problems."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson"):
        raise DatasetError(f"{path}: manifests must be .csv, .tsv or .jsonl files")
    text = read_text(path)
    rows: list[tuple[int, dict[str, Any]]] = []
    if suffix in (".jsonl", ".ndjson"):
        columns: dict[str, None] = {}
        for line_no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, object_pairs_hook=_unique_keys)
            except _RepeatedKey as exc:
                problems.add("repeated columns", f"line {line_no}", f"key {exc.args[0]!r} "
                             "appears twice", "give each key once per line (a repeated key "
                             "would keep only its last value).")
                continue
            except (json.JSONDecodeError, RecursionError) as exc:
                problems.add("lines that are not JSON", f"line {line_no}", str(exc)[:80],
                             "write one JSON object per line.")
                continue
            if not isinstance(obj, dict):
                problems.add("lines that are not JSON objects", f"line {line_no}",
                             f"a JSON {type(obj).__name__}", "write one JSON object per line.")
                continue
            columns.update(dict.fromkeys(obj))
            rows.append((line_no, obj))
        return list(columns), rows
    rows = _csv_rows(text, "\t" if suffix == ".tsv" else ",", path, problems)
    return rows[0], rows[1]


def _csv_rows(text: str, delimiter: str, path: Path, problems: Problems
              ) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Header and rows of a CSV text; every malformed line is a problem naming its line.

    A row is numbered by the line it starts on. A field spanning lines (an
    unterminated quote swallows the rest of the file into one field), a
    row with more or fewer fields than the header and a header naming a
    column twice are problems, never a row read some other way.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, Any]]] = []
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue  # blank line, or a row of empty cells (spreadsheet export)
            if any("\n" in f or "\r" in f for f in fields):
                problems.add("fields that run over several lines", f"line {line}",
                             f"a quoted field runs from line {line} to line {reader.line_num}",
                             'close the quote (an unterminated " swallows every line after '
                             "it) or remove line breaks inside fields.")
            elif header is None:
                header = _header(fields, problems)
            elif len(fields) != len(header):
                more = len(fields) > len(header)
                problems.add(f"lines with {'more' if more else 'fewer'} fields than the header",
                             f"line {line}", f"{len(fields)} fields, header has {len(header)}",
                             "quote fields that contain the delimiter." if more else
                             "fill every column (an empty value is still a field: a,,b).")
            else:
                rows.append((line, dict(zip(header, fields, strict=True))))
    except csv.Error as exc:
        raise DatasetError(f"{path}: line {reader.line_num} is not valid CSV ({exc})") from None
    return header or [], rows


def _header(fields: list[str], problems: Problems) -> list[str]:
    """Column names; a repeated or empty name is a problem (a row cannot be mapped)."""
    names = [f.strip() for f in fields]
    for i, name in enumerate(names):
        if not name:
            problems.add("unnamed columns", "header", f"column {i + 1} has no name",
                         "name every column, or delete the empty one.")
        elif names.index(name) != i:
            problems.add("repeated columns", "header",
                         f"column {name!r} appears at positions {names.index(name) + 1} and "
                         f"{i + 1}", "give each column its own name (a repeated column "
                         "would keep only one of its values).")
    problems.raise_if_any()
    return names


# -- generic manifests ------------------------------------------------------------------


def _cell(value: Any) -> str:
    return (value if isinstance(value, str) else json.dumps(value)).strip()


def parse_manifest(
    path: str | os.PathLike, *, path_column: str = "path", on_missing: str = "error",
    country_column: str = "country", region_key: str = "region", region_scheme: str = "wef",
    extra_values: Mapping[str, Iterable[str]] | None = None, name: str | None = None,
    allow_empty: Iterable[str] = (),
) -> tuple[list[Entry], str]:
    """Entries of a CSV/TSV/JSONL manifest and the dataset name: see ``load_manifest``."""
    manifest = Path(path).expanduser()
    if not manifest.is_file():
        raise DatasetError(f"manifest {manifest} does not exist or is not a file")
    extra = check_extra_values(extra_values)
    problems = Problems(f"manifest {manifest}")
    columns, rows = read_rows(manifest, problems)
    if path_column not in columns:
        problems.add("missing columns", "header",
                     f"no column {path_column!r} (columns: {', '.join(columns) or 'none'})",
                     "name the image column with path_column=...")
        problems.raise_if_any()
    may_be_empty = _allow_empty(allow_empty, columns, manifest)
    base = os.path.abspath(manifest.parent)
    entries: list[Entry] = []
    for line, row in rows:
        value = row.get(path_column)
        if value is None or _cell(value) == "":
            problems.add("rows without an image path", f"row {line}",
                         f"empty {path_column!r}", f"fill the {path_column!r} column.")
            continue
        raw = {str(k).strip(): _cell(v) for k, v in row.items()
               if k != path_column and v is not None and _cell(v)}
        for column in columns:
            if column != path_column and column not in raw and column not in may_be_empty:
                problems.add("empty cells", f"row {line}", f"column {column!r} is empty",
                             "fill it, or pass allow_empty=[column, ...] to load such faces "
                             "without that attribute (the checks then refuse them by name).")
        attrs = dict(raw)
        check_values(attrs, extra, problems, f"row {line}")
        if region_key in attrs:
            attrs[region_key] = canonical_region(attrs[region_key])
        if country_column in attrs:
            country = lookup_country(attrs[country_column])
            if country is None:
                problems.add("unknown countries", f"row {line}",
                             f"column {country_column!r}: {attrs[country_column]!r}",
                             "use English short names or ISO 3166 codes, or give a region "
                             "column.")
            else:
                attrs[country_column] = country.name
                attrs.setdefault(region_key, country.region(region_scheme))
        entries.append(Entry(line, relative_to(base, _cell(value)), attrs, raw))
    return finish_entries(entries, problems, on_missing), name or manifest.stem


def _allow_empty(value: Iterable[str], columns: list[str], manifest: Path) -> frozenset[str]:
    """The columns named in ``allow_empty``: a list of strings, each a column of the file."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"allow_empty must be a list of column names, got {value!r}; write "
                        f"allow_empty=[{value!r}]")
    names = list(value)
    unknown = [c for c in names if c not in columns]
    if unknown:
        raise DatasetError(f"{manifest}: allow_empty names {unknown}, which are not columns "
                           f"of the file (columns: {', '.join(columns)})")
    return frozenset(names)


def check_values(attrs: dict[str, str], extra: dict[str, frozenset[str]], problems: Problems,
                  where: str) -> None:
    """Normalise the checked columns in place; unknown values become problems."""
    for column in ("gender", "race"):
        if column not in attrs:
            continue
        allowed = extra.get(column, frozenset())
        value = normalize_value(column, attrs[column], allowed)
        if value is None:
            problems.add(
                f"unknown {column} values", where, f"column {column!r}: {attrs[column]!r}",
                f"use one of {', '.join(known_values(column, allowed))} (other spellings such "
                f"as F/M or Latino_Hispanic are mapped), or declare more groups with "
                f"extra_values={{{column!r}: [...]}}.")
        else:
            attrs[column] = value

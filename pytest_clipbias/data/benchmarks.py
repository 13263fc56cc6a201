"""Loaders for the fairness benchmarks in their published layouts: FACET, SocialCounterfactuals.

Nothing is downloaded. Like the other loaders (``loaders.py``), each reads
the whole dataset, collects every problem (file and row) and raises one
DatasetError listing them; ``on_missing="skip"`` drops absent images with a
DatasetWarning.

FACET (Gustafson et al., "FACET: Fairness in Computer Vision Evaluation
Benchmark", ICCV 2023; https://ai.meta.com/datasets/facet, FACET licence,
evaluation only): ``annotations/annotations.csv``, one row per annotated
person, and the images in ``imgs_1/``, ``imgs_2/``, ``imgs_3/`` (the three
download archives; any ``imgs_*`` or ``images`` folder under the root is
searched). Columns read: ``person_id``, ``filename``, ``class1`` (one of 52
person classes), ``class2`` (optional second class), the one-hot
``gender_presentation_{masc,fem,non_binary,na}`` and
``age_presentation_{young,middle,older,na}``, the per-annotator counts
``skin_tone_1`` .. ``skin_tone_10`` (Monk Skin Tone scale) and ``skin_tone_na``,
and ``bounding_box`` (``{"x": .., "y": .., "width": .., "height": ..}``) when
persons are cropped. The other attribute columns (hair, lighting, ...) are
kept in each item's ``raw``.

SocialCounterfactuals (Howard et al., "SocialCounterfactuals: Probing and
Mitigating Intersectional Social Biases in Vision-Language Models with
Counterfactual Examples", CVPR 2024; https://huggingface.co/datasets/Intel/SocialCounterfactuals,
MIT licence per its dataset card): the Hugging Face snapshot, Parquet shards
``data/train-*.parquet`` with columns ``image`` (struct of ``bytes`` and
``path``), ``a1_type``, ``a1``, ``a2_type``, ``a2`` (the two attributes
varied, e.g. race "Black" and gender "male"; types race, gender, physical),
``counterfactual_set`` (images of one set differ only in a1 and a2) and
``caption`` ("A picture of a Black male plumber": the occupation is what
follows a2, as the dataset authors parse it).
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import re
import statistics
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from ..progress import progress
from .faceset import FaceSet, faceset_from_entries
from .manifest import DatasetWarning, Entry, check_values, finish_entries, read_rows
from .problems import DatasetError, Problems

__all__ = ["load_facet", "load_socialcounterfactuals"]

FACET_GENDER = {"masc": "male", "fem": "female", "non_binary": "nonbinary", "na": "na"}
FACET_AGE = {"young": "young", "middle": "middle", "older": "older", "na": "na"}
#: Monk Skin Tone values grouped as lighter / medium / darker (our grouping, stated in
#: the README: FACET reports per MST value; three bins keep groups large enough to judge).
MST_GROUPS = {**dict.fromkeys(range(1, 4), "lighter"), **dict.fromkeys(range(4, 7), "medium"),
              **dict.fromkeys(range(7, 11), "darker")}
FACET_COLUMNS = ("person_id", "filename", "class1",
                 *(f"gender_presentation_{k}" for k in FACET_GENDER),
                 *(f"age_presentation_{k}" for k in FACET_AGE),
                 *(f"skin_tone_{i}" for i in range(1, 11)), "skin_tone_na")


def _write_bytes(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a crash never leaves half an image."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _one_hot(row: dict[str, Any], prefix: str, values: dict[str, str], where: str,
             problems: Problems) -> str | None:
    """The value whose ``prefix_<value>`` flag is 1; a problem unless exactly one is."""
    flags = {}
    for key in values:
        cell = str(row.get(f"{prefix}_{key}") or "").strip()
        if cell not in ("0", "1"):
            problems.add(f"{prefix} flags that are not 0/1", where,
                         f"column '{prefix}_{key}': {cell!r}", "use 0 or 1.")
            return None
        flags[key] = cell == "1"
    chosen = [k for k, on in flags.items() if on]
    if len(chosen) != 1:
        problems.add(f"{prefix} rows without exactly one flag set", where,
                     f"{prefix}_* flags set: {chosen or 'none'}",
                     f"set exactly one {prefix}_* column to 1 (use {prefix}_na when unknown).")
        return None
    return values[chosen[0]]


def _skin_tone(row: dict[str, Any], where: str, problems: Problems) -> str | None:
    """Median Monk Skin Tone over the annotators' choices ("na" when none chose a tone).

    FACET stores how many annotators chose each MST value; the count-weighted
    median is robust to one outlying annotator and is a value on the scale.
    """
    counts = {}
    for i in [*range(1, 11), "na"]:
        cell = str(row.get(f"skin_tone_{i}") or "").strip()
        if not cell.isdigit():
            problems.add("skin_tone counts that are not whole numbers", where,
                         f"column 'skin_tone_{i}': {cell!r}", "use annotator counts (0, 1, ...).")
            return None
        counts[i] = int(cell)
    votes = [i for i in range(1, 11) for _ in range(counts[i])]
    return str(int(statistics.median_low(votes))) if votes else "na"


def _facet_images(base: Path) -> dict[str, Path]:
    """File name -> path over the image folders of a FACET download."""
    found: dict[str, Path] = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and (
            p.name.startswith("imgs") or p.name == "images")):
        with os.scandir(folder) as it:
            for e in it:
                if e.is_file():
                    found.setdefault(e.name, Path(e.path))
    return found


def _facet_attrs(row: dict[str, Any], where: str, problems: Problems) -> dict[str, str] | None:
    gender = _one_hot(row, "gender_presentation", FACET_GENDER, where, problems)
    age = _one_hot(row, "age_presentation", FACET_AGE, where, problems)
    tone = _skin_tone(row, where, problems)
    cls = str(row.get("class1") or "").strip()
    if not cls:
        problems.add("rows without a person class", where, "empty 'class1'", "fill class1.")
    if None in (gender, age, tone) or not cls:
        return None
    attrs = {"gender": gender, "age": age, "skin_tone": tone,
             "skin_tone_group": MST_GROUPS.get(int(tone), "na") if tone != "na" else "na",
             "class": cls, "person_id": str(row["person_id"]).strip()}
    if str(row.get("class2") or "").strip():
        attrs["class2"] = str(row["class2"]).strip()
    return attrs


def _box_of(text: str) -> tuple[int, int, int, int] | None:
    """FACET's bounding_box text as (left, top, right, bottom), or None when unreadable."""
    try:
        box = ast.literal_eval(text)
        x, y, w, h = (float(box[k]) for k in ("x", "y", "width", "height"))
    except (ValueError, SyntaxError, TypeError, KeyError):
        return None
    return (round(x), round(y), round(x + w), round(y + h)) if w > 0 and h > 0 else None


def _inside(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, ...] | None:
    """``box`` clipped to an image of ``size``; None when under 95% of it lies inside (a box
    of another image or resolution: PIL would pad the crop with black, silently)."""
    left, top, right, bottom = box
    clipped = (max(left, 0), max(top, 0), min(right, size[0]), min(bottom, size[1]))
    area = max(clipped[2] - clipped[0], 0) * max(clipped[3] - clipped[1], 0)
    return clipped if area >= 0.95 * (right - left) * (bottom - top) else None


def _crop_all(entries: list[Entry], crop_dir: Path, problems: Problems) -> list[Entry]:
    """Write each person's box as a PNG in ``crop_dir``, named by the person, the box and the
    source file's name, size and modification time, so a crop is reused until one changes.
    A box that lies outside its image is a problem (the row and the image size)."""
    from PIL import Image

    crop_dir.mkdir(parents=True, exist_ok=True)
    cropped = []
    with progress("FACET: cropping persons", len(entries)) as bar:
        for entry in entries:
            box = _box_of(entry.raw["bounding_box"])
            st = os.stat(entry.path)  # a replaced source image gets new crops
            key = hashlib.sha256(f"{os.path.basename(entry.path)}|{st.st_size}|"
                                 f"{st.st_mtime_ns}|{box}".encode()).hexdigest()[:12]
            target = crop_dir / f"{entry.attrs['person_id']}-{key}.png"
            bar.update(1)
            if not target.is_file():
                with Image.open(entry.path) as img:
                    inside = _inside(box, img.size)
                    if inside is None:
                        problems.add("bounding boxes outside their image", f"row {entry.row}",
                                     f"box {box} (left, top, right, bottom) on "
                                     f"{os.path.basename(entry.path)} of {img.size[0]}x"
                                     f"{img.size[1]}", "check that the images are FACET's "
                                     "originals, at full resolution.")
                        continue
                    buf = io.BytesIO()
                    img.convert("RGB").crop(inside).save(buf, format="PNG")
                _write_bytes(target, buf.getvalue())
            entry.path = os.fspath(target)
            cropped.append(entry)
    problems.raise_if_any()
    return cropped


def load_facet(root: str | os.PathLike, *, crop_dir: str | os.PathLike | None = None,
               on_missing: str = "error") -> FaceSet:
    """FACET persons as faces: gender, age, skin_tone, skin_tone_group, class, person_id.

    ``gender`` is FACET's *perceived gender presentation* (male, female,
    nonbinary, na), ``age`` its perceived age group (young, middle, older,
    na), ``skin_tone`` the median Monk Skin Tone the annotators chose ("1" ..
    "10", or "na") and ``skin_tone_group`` lighter (MST 1-3), medium (4-6) or
    darker (7-10). An image may show several annotated persons: with
    ``crop_dir`` every person becomes the crop of its bounding box (written
    once to ``crop_dir``, reused later); without it only images showing one
    annotated person are used (the whole image is that person) and a
    DatasetWarning says how many persons were left out. Layout: module docstring.
    """
    base = Path(root).expanduser()
    csv_path = next((p for p in (base / "annotations" / "annotations.csv",
                                 base / "annotations.csv") if p.is_file()), None)
    if not base.is_dir() or csv_path is None:
        raise DatasetError(f"FACET: {base / 'annotations' / 'annotations.csv'} not found; put "
                           f"the annotations/ folder and the imgs_1..imgs_3 image folders of the "
                           f"FACET download in {base}")
    problems = Problems(f"FACET {csv_path}")
    columns, rows = read_rows(csv_path, problems)
    needed = [*FACET_COLUMNS, *(["bounding_box"] if crop_dir is not None else [])]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DatasetError(f"FACET: {csv_path} lacks columns {', '.join(missing)} (is this "
                           f"FACET's annotations.csv?)")
    images, seen = _facet_images(base), {}
    per_image = Counter(str(r.get("filename") or "").strip() for _, r in rows)
    kept, shared = [], 0
    for line, row in rows:
        where, name = f"row {line}", str(row.get("filename") or "").strip()
        pid = str(row.get("person_id") or "").strip()
        if not name or not pid:
            problems.add("rows without filename or person_id", where,
                         f"filename {name!r}, person_id {pid!r}", "fill both columns.")
            continue
        if pid in seen:
            problems.add("duplicate person ids", where, f"person_id {pid} (also row {seen[pid]})",
                         "list each person once.")
        seen.setdefault(pid, line)
        attrs = _facet_attrs(row, where, problems)
        bad_box = crop_dir is not None and _box_of(str(row.get("bounding_box"))) is None
        if bad_box:
            problems.add("unreadable bounding boxes", where,
                         f"'bounding_box': {row.get('bounding_box')!r}",
                         'use {"x": .., "y": .., "width": > 0, "height": > 0} as FACET does.')
        if attrs is None or bad_box:
            continue
        if crop_dir is None and per_image[name] > 1:
            shared += 1
            continue
        raw = {k: str(v) for k, v in row.items() if v is not None and k != "filename"}
        kept.append(Entry(line, images.get(name, base / "imgs_1" / name), attrs, raw))
    if crop_dir is None:
        return faceset_from_entries(_single(kept, problems, on_missing, shared), "facet")
    # several persons share an image: check each image once, keep the persons of those found
    found = {e.path for e in finish_entries(list({e.path: e for e in reversed(kept)}.values()),
                                            problems, on_missing)}
    kept = [e for e in kept if e.path in found]
    return faceset_from_entries(_crop_all(kept, Path(crop_dir).expanduser(), problems), "facet")


def _single(entries: list[Entry], problems: Problems, on_missing: str, shared: int) -> list[Entry]:
    """The single-person entries, checked; the warning about the others comes first, so it is
    seen even when the check then fails (every single-person image missing, say)."""
    if shared:
        warnings.warn(DatasetWarning(
            f"FACET: left out {shared} persons of images that show several annotated persons "
            "(the whole image would stand for each of them); pass crop_dir=... to crop every "
            "person's bounding box instead"), stacklevel=3)
    return finish_entries(entries, problems, on_missing)


# -- SocialCounterfactuals ----------------------------------------------------------------

SC_COLUMNS = ("a1_type", "a1", "a2_type", "a2", "counterfactual_set", "caption")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError("SocialCounterfactuals is stored as Parquet: install pyarrow "
                           "(pip install 'pytest-clipbias[scale]')") from None
    return pq


def _shards(base: Path) -> list[Path]:
    shards = sorted((base / "data").glob("*.parquet")) or sorted(base.glob("*.parquet"))
    if not base.is_dir() or not shards:
        raise DatasetError(
            f"SocialCounterfactuals: no Parquet shards in {base / 'data'}; clone the dataset "
            f"there (git lfs install; git clone https://huggingface.co/datasets/Intel/"
            f"SocialCounterfactuals {base})")
    return shards


def _sc_row(row: dict[str, Any], where: str, problems: Problems) -> dict[str, str] | None:
    """Attributes of one row: its two varied attributes, occupation, set and segment."""
    values = {k: str(row.get(k) or "").strip() for k in SC_COLUMNS}
    empty = [k for k, v in values.items() if not v]
    if empty:
        problems.add("rows with empty columns", where, f"empty {', '.join(empty)}",
                     "every row needs a1_type, a1, a2_type, a2, counterfactual_set, caption.")
        return None
    if values["a1_type"] == values["a2_type"]:
        problems.add("rows varying one attribute twice", where,
                     f"a1_type = a2_type = {values['a1_type']!r}", "the two types must differ.")
        return None
    _, sep, tail = values["caption"].partition(f" {values['a2']} ")
    occupation = tail.strip().rstrip(".").strip()
    if not sep or not occupation:
        problems.add("captions that do not name a2 before the occupation", where,
                     f"caption {values['caption']!r}, a2 {values['a2']!r}",
                     "captions read 'A picture of a <a1> <a2> <occupation>'.")
        return None
    attrs = {values["a1_type"]: values["a1"], values["a2_type"]: values["a2"],
             "occupation": occupation, "counterfactual_set": values["counterfactual_set"],
             "segment": f"{values['a1_type']}-{values['a2_type']}"}
    check_values(attrs, {}, problems, where)
    return attrs


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    return ".webp" if data[8:12] == b"WEBP" else None


def _sc_entries(pq: Any, shards: list[Path], out_dir: Path,
                problems: Problems) -> list[Entry]:
    """Check every row of every shard (metadata columns only); entries with their image path."""
    entries, seen = [], {}
    for shard in shards:
        names = pq.ParquetFile(shard).schema_arrow.names
        missing = [c for c in ("image", *SC_COLUMNS) if c not in names]
        if missing:
            problems.add("shards without the SocialCounterfactuals columns", shard.name,
                         f"missing {', '.join(missing)} (has {', '.join(names)})",
                         "use the Parquet shards of Intel/SocialCounterfactuals as published.")
            continue
        table = pq.read_table(shard, columns=list(SC_COLUMNS))
        for i, row in enumerate(table.to_pylist()):
            where = f"{shard.name} row {i}"
            attrs = _sc_row(row, where, problems)
            if attrs is None:
                continue
            key = (row["counterfactual_set"], row["a1"], row["a2"])
            if key in seen:
                problems.add("duplicate images", where, f"set {key[0]!r} with {key[1]}, "
                             f"{key[2]} (also {seen[key]})", "keep each image of a set once.")
            seen.setdefault(key, where)
            stem = "__".join(_UNSAFE.sub("-", str(k)) for k in key)
            entries.append(Entry(len(entries) + 1, out_dir / stem, attrs,
                                 {"shard": shard.name, "index": str(i), **{
                                     k: str(row[k]) for k in SC_COLUMNS}}))
    return entries


def _shard_key(path: Path) -> str:
    """Content key of a Parquet shard: a hash of its footer (schema, row groups, the size and
    offset of every column chunk), read without the data."""
    with open(path, "rb") as fh:
        fh.seek(-8, os.SEEK_END)
        size = int.from_bytes(fh.read(4), "little")
        fh.seek(-(size + 8), os.SEEK_END)
        return hashlib.sha256(fh.read(size)).hexdigest()[:16]


def _image_file(entry: Entry, cell: Any, problems: Problems) -> str | None:
    """Write one row's image bytes beside its stem (suffix from the bytes); its file name."""
    data = cell.get("bytes") if isinstance(cell, dict) else None
    ext = _sniff(data) if data else None
    if ext is None:
        problems.add("rows without a JPEG, PNG or WebP image",
                     f"{entry.raw['shard']} row {entry.raw['index']}",
                     f"bytes starting {data[:8]!r}" if data else "no image bytes",
                     "re-download the shard.")
        return None
    target = Path(entry.path + ext)
    if not target.is_file() or target.read_bytes() != data:  # a changed shard rewrites it
        _write_bytes(target, data)
    return target.name


def _extract(pq: Any, shards: list[Path], entries: list[Entry], problems: Problems) -> None:
    """Give every entry its image file, extracting each shard's images once.

    A shard whose images were all written leaves a marker named by its
    content key (``_shard_key``) listing its files; a later load with the
    same shard reads the marker instead of the images.
    """
    by_shard: dict[str, dict[int, Entry]] = {}
    for e in entries:
        by_shard.setdefault(e.raw["shard"], {})[int(e.raw["index"])] = e
    with progress("SocialCounterfactuals: images", len(entries)) as bar:
        for shard in shards:
            mine = by_shard.get(shard.name, {})
            folder = Path(next(iter(mine.values())).path).parent if mine else None
            marker = folder / f".{shard.name}.{_shard_key(shard)}.done" if folder else None
            if marker is not None and marker.is_file():
                names = dict(line.split("\t") for line in marker.read_text().splitlines())
                for i, e in mine.items():
                    e.path = os.fspath(folder / names.get(str(i), Path(e.path).name))
                bar.update(len(mine))
                continue
            written, offset = {}, 0
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=256, columns=["image"]):
                for i, cell in enumerate(batch.column(0).to_pylist(), start=offset):
                    if i in mine and (name := _image_file(mine[i], cell, problems)):
                        mine[i].path, written[i] = os.fspath(folder / name), name
                        bar.update(1)
                offset += batch.num_rows
            if marker is not None and len(written) == len(mine):
                _write_bytes(marker, "".join(f"{i}\t{n}\n" for i, n in written.items()).encode())
    problems.raise_if_any()


def load_socialcounterfactuals(root: str | os.PathLike, *,
                               extract_dir: str | os.PathLike | None = None,
                               on_missing: str = "error") -> FaceSet:
    """SocialCounterfactuals images with their two varied attributes, occupation and set.

    Each item has the attributes named by its row's ``a1_type`` and
    ``a2_type`` (race, gender or physical; race and gender spelled as
    elsewhere: "Latino" -> "Latino/Hispanic", "male"), ``occupation``,
    ``counterfactual_set`` (compare images within a set: they differ only in
    those two attributes) and ``segment`` ("race-gender", ...). Every row of
    every shard is checked before any image is written; the images are then
    extracted once from the Parquet shards into ``extract_dir`` (default
    ``<root>/images``, as the dataset authors' own scripts do), a batch of
    rows at a time, and reused on later runs while the shard is unchanged
    (its footer's hash, ``_shard_key``; a changed shard is extracted again).
    Needs pyarrow. Layout: module docstring.
    """
    pq, base = _parquet(), Path(root).expanduser()
    shards = _shards(base)
    problems = Problems(f"SocialCounterfactuals {base}")
    out_dir = Path(extract_dir).expanduser() if extract_dir is not None else base / "images"
    entries = _sc_entries(pq, shards, out_dir, problems)
    if not entries:
        problems.add("empty datasets", "shards", "no rows", "use the published shards.")
    problems.raise_if_any()
    out_dir.mkdir(parents=True, exist_ok=True)
    _extract(pq, shards, entries, problems)
    return faceset_from_entries(finish_entries(entries, problems, on_missing),
                                "socialcounterfactuals")

"""Image embeddings computed elsewhere, in the clip-retrieval layout, used without the image tower.

clip-retrieval (``clip-retrieval inference``, which runs on many GPUs or on
Spark) writes, per output partition ``i`` (zero-padded to the number of digits
of the partition count; see ``clip_retrieval/clip_inference/writer.py``)::

    DIR/img_emb/img_emb_{i}.npy          (n_i, d) float16, rows L2-normalised
    DIR/metadata/metadata_{i}.parquet    n_i rows: image_path [, caption] [, extra columns]

:class:`EmbeddingStore` reads that layout from a local folder (memory-mapped)
or from any fsspec URL (``s3://``, ``gs://``, ``hdfs://``; streamed in
blocks, never copied whole; see :mod:`pytest_clipbias.remote`), indexes the
rows by ``image_path`` and builds :class:`FaceSet` s from the parquet's extra
columns or from a manifest joined by path. :class:`PrecomputedEncoder` pairs
a store with a text encoder: its ``encode_images`` looks the images up
(nothing is decoded, the image tower is never called) and its
``encode_texts`` runs the text tower.

A folder is checked as a whole when it is opened: shards numbered 0..N-1
without gaps, each ``.npy`` with its metadata file and as many parquet rows
as embeddings, one dimension and a readable C-order float array in each.
Parquet attribute values go through the manifests' vocabulary
(:mod:`pytest_clipbias.data.normalize`: ``F`` is ``female``, ``blak`` is an
error).

The embeddings must come from the model under test. Folders written by
:func:`write_store` (``python -m pytest_clipbias embed``) carry a sidecar,
``DIR/clipbias.json``, with the model's fingerprint and dimension; a folder
written by clip-retrieval gets one with :func:`sign_store` (``embed --sign``).
A store whose sidecar names another model, or whose dimension differs from
the text tower's, is refused. The sidecar also lists every shard in order
with its row count and the SHA-256 of its embedding data and metadata file:
a shard added, removed or renamed since signing is refused on opening, and
a shard whose content changed (metadata rows reordered against the ``.npy``,
a re-exported shard) when it is first read, before any number is returned.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data.faceset import DatasetError, FaceItem, FaceSet, describe_rows
from .errors import ConfigurationError
from .remote import Folder

SIDECAR = "clipbias.json"
SIDECAR_VERSION = 2
PATH_COLUMN = "image_path"
#: parquet columns clip-retrieval writes that are not image attributes
RESERVED_COLUMNS = (PATH_COLUMN, "caption")
_SHARD = re.compile(r"^img_emb_(\d+)\.npy$")
_META = re.compile(r"^metadata_(\d+)\.parquet$")
_HEADER_BYTES = 1 << 16
_RESIGN = ("if the change is intended, re-sign the folder: python -m pytest_clipbias embed "
           "--sign DIR --clip-model NAME [--clip-pretrained TAG]")


class EmbeddingMismatchError(ConfigurationError):
    """Precomputed embeddings do not belong to the model under test (or cannot be checked)."""


def _import_pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "reading or writing clip-retrieval embeddings needs pyarrow: "
            "pip install 'pytest-clipbias[scale]' (or pip install pyarrow)"
        ) from exc
    return pq


@dataclass(frozen=True)
class Shard:
    """One partition: file names, rows, first global row and the ``.npy`` data layout.

    ``emb`` is the memory map of a local ``.npy`` (None for a remote one);
    ``offset`` is where the array data start in the file.
    """

    emb_path: Path | str
    meta_path: Path | str
    emb_name: str
    meta_name: str
    start: int
    rows: int
    dim: int
    dtype: np.dtype
    offset: int
    emb: np.ndarray | None


class StoredImage(str):
    """An ``image_path`` of a precomputed-embedding folder: a lookup key, never opened.

    The image bytes are not available where embeddings were computed
    elsewhere, so its data identity (``identity.digest``) is the path as the
    metadata writes it: two folders listing the same paths are the same data.
    """

    __slots__ = ()

    def __clipbias_fingerprint__(self) -> str:
        return "stored-image:" + str.__str__(self)


class EmbeddingStore:
    """A clip-retrieval embeddings folder (local path or fsspec URL), indexed by image path.

    ``image_root`` resolves relative ``image_path`` values; ``path_prefix``
    ``(old, new)`` rewrites stored paths that start with ``old`` (embeddings
    computed on another machine, where the images lived elsewhere). Both
    apply before any lookup, so the keys are the paths images have here.
    ``storage_options`` go to fsspec for URLs (credentials, endpoint);
    ``extra_values`` declares gender/race groups beyond the vocabulary, as
    for manifests. ``verify=False`` ignores the sidecar (used to re-sign).
    """

    def __init__(self, directory: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                 path_prefix: tuple[str, str] | None = None,
                 storage_options: Mapping[str, Any] | None = None,
                 extra_values: Mapping[str, Iterable[str]] | None = None,
                 verify: bool = True) -> None:
        from .data.normalize import check_extra_values

        self.folder = Folder(directory, storage_options)
        self.directory = self.folder.where()
        self._extra = check_extra_values(extra_values)
        self.meta: dict[str, Any] | None = _read_sidecar(self.folder) if verify else None
        self.shards = _open_shards(self.folder)
        self.dim = _common_dim(self.folder, self.shards)
        self.dtype = self.shards[0].dtype
        self._starts = np.array([s.start for s in self.shards], dtype=np.int64)
        self._n = self.shards[-1].start + self.shards[-1].rows
        self._rebase = (image_root, path_prefix)
        self._signed = _check_signature(self) if self.meta is not None else None
        self._checked: set[tuple[str, int]] = set()

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (f"EmbeddingStore({str(self.directory)!r}, {self._n} rows, d={self.dim}, "
                f"{self.dtype})")

    # -- metadata ----------------------------------------------------------------------

    @functools.cached_property
    def paths(self) -> list[str]:
        """Every row's image path (rebased), read from the metadata on first use."""
        return [_rebase(p, *self._rebase) for p in self._column_strings(PATH_COLUMN)]

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        index = {p: i for i, p in enumerate(self.paths)}
        if len(index) != self._n:
            seen: dict[str, int] = {}
            dups = [(i, p) for i, p in enumerate(self.paths) if seen.setdefault(p, i) != i]
            raise DatasetError(describe_rows(
                dups, "duplicate image paths", str(self.folder.where("metadata")),
                "each image must appear once; deduplicate before auditing"))
        return index

    def columns(self) -> list[str]:
        """Parquet column names (the first shard's; all shards must share them)."""
        return list(self._meta_table(0, None).schema.names)

    def _meta_table(self, i: int, columns: Sequence[str] | None) -> Any:
        """Shard ``i``'s metadata (the given columns), its content checked against the signature."""
        import pyarrow as pa

        pq = _import_pyarrow()
        shard = self.shards[i]
        if self.folder.local is not None and not self._unchecked("metadata", i):
            def source() -> Any:
                return shard.meta_path
        else:
            data = self.folder.read_bytes("metadata", shard.meta_name)
            self._check_digest("metadata", i, hashlib.sha256(data).hexdigest())

            def source() -> Any:
                return pa.BufferReader(data)
        try:
            names = pq.read_schema(source()).names
            missing = [c for c in columns or () if c not in names]
            if not missing:
                return pq.read_table(source(), columns=None if columns is None else list(columns))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{shard.meta_path}: not a readable parquet file ({exc}); "
                               "re-export this shard") from exc
        raise DatasetError(
            f"{shard.meta_path}: no column {', '.join(map(repr, missing))}; its columns are "
            f"{', '.join(names)}. Name one of those, or write the attribute into the metadata "
            "(embed copies a manifest's or parquet's columns)")

    def _column(self, name: str) -> list[tuple[Shard, Any]]:
        """The column of every shard, after checking it has no empty cells."""
        out = []
        for i, shard in enumerate(self.shards):
            col = self._meta_table(i, [name]).column(name)
            if col.null_count:
                values = col.to_pylist()
                missing = [(shard.start + r, "empty") for r, v in enumerate(values) if v is None]
                raise DatasetError(describe_rows(missing, f"rows without {name!r}",
                                                 str(shard.meta_path), "fill or drop them"))
            out.append((shard, col))
        return out

    def _column_strings(self, name: str) -> list[str]:
        out: list[str] = []
        for _, col in self._column(name):
            out.extend(str(v) for v in col.to_pylist())
        return self._canonical(name, out)

    def _canonical(self, column: str, values: list[str]) -> list[str]:
        """Gender and race through the manifests' vocabulary; regions spelled canonically."""
        mapping = self._mapping(column, set(values))
        if mapping is None:
            return values
        return [mapping[v] for v in values]

    def _mapping(self, column: str, values: set[str]) -> dict[str, str] | None:
        """Raw -> canonical spelling of ``values`` (None: the column is not checked)."""
        from .data.normalize import VOCABULARIES, known_values, normalize_value
        from .data.regions import canonical_region

        if column == "region":
            return {v: canonical_region(v) for v in values}
        if column not in VOCABULARIES:
            return None
        allowed = self._extra.get(column, frozenset())
        mapping = {v: normalize_value(column, v, allowed) for v in values}
        unknown = {v for v, canon in mapping.items() if canon is None}
        if unknown:
            rows = [(i, f"column {column!r}: {v!r}") for i, v in enumerate(self._raw(column))
                    if v in unknown]
            raise DatasetError(describe_rows(
                rows, f"unknown {column} values", str(self.folder.where("metadata")),
                f"use one of {', '.join(known_values(column, allowed))} (other spellings such "
                "as F/M or Latino_Hispanic are mapped), fix the metadata, or declare more "
                f"groups with extra_values={{{column!r}: [...]}}"))
        return mapping  # type: ignore[return-value]

    def _raw(self, column: str) -> list[str]:
        return [str(v) for _, col in self._column(column) for v in col.to_pylist()]

    def codes(self, column: str) -> tuple[np.ndarray, list[str]]:
        """An attribute column as integer codes (int32, one per row) and the sorted values.

        Values are normalised as in :meth:`faceset` (``F`` and ``female`` are one group).
        """
        import pyarrow as pa

        parts = []
        for _, col in self._column(column):
            enc = col.cast(pa.string()).combine_chunks().dictionary_encode()
            parts.append((enc.dictionary.to_pylist(), enc.indices.to_numpy()))
        raw = {v for dictionary, _ in parts for v in dictionary}
        mapping = self._mapping(column, raw) or {v: v for v in raw}
        names = sorted(set(mapping.values()))
        position = {v: i for i, v in enumerate(names)}
        codes = np.concatenate([np.array([position[mapping[v]] for v in dictionary],
                                         np.int32)[idx] for dictionary, idx in parts])
        return codes, names

    def faceset(self, attributes: Sequence[str] | None = None, *, name: str | None = None
                ) -> FaceSet:
        """A FaceSet of every row, attributes from the parquet's extra columns.

        ``attributes`` names the columns to use (all but image_path and
        caption when None). Gender and race values are checked and
        normalised with the manifests' vocabulary, region names spelled
        canonically. The items' images are the stored paths: keys for
        :class:`PrecomputedEncoder`, never opened.
        """
        if isinstance(attributes, str):
            raise TypeError("attributes must be a list of column names, not a bare string")
        keys = [c for c in self.columns() if c not in RESERVED_COLUMNS] if attributes is None \
            else list(attributes)
        if not keys:
            raise DatasetError(f"{self.directory}: the metadata has no attribute columns besides "
                               f"{', '.join(RESERVED_COLUMNS)}; join a manifest instead")
        cols = [self._column_strings(k) for k in keys]
        items = [FaceItem(StoredImage(p), dict(zip(keys, vals, strict=True)))
                 for p, *vals in zip(self.paths, *cols, strict=True)]
        return FaceSet(items, name=name or Path(str(self.directory).rstrip("/")).name)

    def join_manifest(self, faces: FaceSet) -> FaceSet:
        """Check that every item of ``faces`` (e.g. from a manifest) has an embedding here.

        Items are matched by path; the FaceSet is returned unchanged. Raises
        DatasetError listing the rows without an embedding.
        """
        missing = [(i, str(item.image)) for i, item in enumerate(faces)
                   if _key(item.image) not in self._index]
        if missing:
            raise DatasetError(describe_rows(
                missing, "items without a precomputed embedding", faces.name,
                f"embed them (python -m pytest_clipbias embed) or check that the paths in "
                f"{self.folder.where('metadata')} match (image_root / path_prefix)"))
        return faces

    # -- embeddings --------------------------------------------------------------------

    def index_of(self, images: Iterable[Any]) -> np.ndarray:
        """Global row of each image (a path); DatasetError names those not in the store."""
        rows, missing = [], []
        for i, image in enumerate(images):
            if not isinstance(image, (str, os.PathLike)):
                raise TypeError(f"image {i} is a {type(image).__name__}: precomputed embeddings "
                                "are looked up by path, pass paths")
            row = self._index.get(_key(image), -1)
            rows.append(row)
            if row < 0:
                missing.append((i, os.fspath(image)))
        if missing:
            raise DatasetError(describe_rows(
                missing, "images without a precomputed embedding", str(self.directory),
                "the image tower is off when auditing precomputed embeddings: embed these "
                "images too, or check image_root / path_prefix"))
        return np.asarray(rows, dtype=np.int64)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Embeddings of the given global rows as float32, re-normalised and validated.

        A local shard already checked (or unsigned) is read through its memory
        map, a remote one by ranged requests for the runs of rows asked for; a
        shard not yet checked against the signature is streamed once, whole.
        """
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), self.dim), dtype=np.float32)
        which = np.searchsorted(self._starts, index, side="right") - 1
        for s in np.unique(which):
            sel = which == s
            shard = self.shards[s]
            local = index[sel] - shard.start
            if not self._unchecked("emb", int(s)):
                out[sel] = shard.emb[local] if shard.emb is not None else self._ranged(
                    shard, local)
                continue
            picked = np.empty((len(local), self.dim), dtype=np.float32)
            for lo, block in self._shard_blocks(int(s), 131072):
                hit = (local >= lo) & (local < lo + len(block))
                picked[hit] = block[local[hit] - lo]
            out[sel] = picked
        return _validated(out, index, self)

    def _ranged(self, shard: Shard, local: np.ndarray, gap: int = 256) -> np.ndarray:
        """Rows ``local`` of a remote shard: runs closer than ``gap`` rows fetched as one range."""
        order = np.unique(local)
        breaks = np.flatnonzero(np.diff(order) > gap) + 1
        runs = [(int(r[0]), int(r[-1]) + 1) for r in np.split(order, breaks)]
        width = self.dim * shard.dtype.itemsize
        parts = self.folder.read_ranges(f"img_emb/{shard.emb_name}", [
            (shard.offset + lo * width, (hi - lo) * width) for lo, hi in runs])
        rows = np.concatenate([np.frombuffer(p, dtype=shard.dtype).reshape(-1, self.dim)
                               for p in parts])
        position = np.concatenate([np.arange(lo, hi) for lo, hi in runs])
        if len(rows) != len(position):
            raise DatasetError(f"{shard.emb_path}: the file is shorter than its header says; "
                               "it is truncated, re-export it")
        return rows[np.searchsorted(position, local)]

    def iter_blocks(self, block_rows: int = 131072) -> Iterator[tuple[int, np.ndarray]]:
        """(first global row, float32 block) over the whole store, validated, bounded memory.

        Blocks are read with ordinary file reads (or ranged requests) rather
        than through the memory map, so the pages read do not stay in this
        process's RSS; the next block is read while this one is used.
        """
        for start, block, norms in self._raw_blocks(block_rows):
            block /= norms[:, None]
            yield start, block

    def _raw_blocks(self, block_rows: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first row, float32 block as stored, its validated row norms), read one block ahead."""
        from .progress import progress

        def blocks() -> Iterator[tuple[int, np.ndarray]]:
            for i, shard in enumerate(self.shards):
                for lo, block in self._shard_blocks(i, block_rows):
                    yield shard.start + lo, block

        remote = self.folder.local is None  # local reads are cheap: no second block in memory
        with progress(f"reading {self.directory}", total=self._n, unit="rows") as bar:
            for start, block in _read_ahead(blocks()) if remote else blocks():
                yield start, block, _norms(block, start, self)
                bar.update(len(block))

    def _shard_blocks(self, i: int, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first row in the shard, float32 block) of shard ``i``; checks its digest when due.

        The digest is compared before the last block is handed out, so a
        changed shard fails before a caller has seen all of it.
        """
        shard = self.shards[i]
        hasher = hashlib.sha256() if self._unchecked("emb", i) else None
        if hasher is not None and shard.rows == 0:
            self._check_digest("emb", i, hasher.hexdigest())
        for lo in range(0, shard.rows, block_rows):
            rows = min(block_rows, shard.rows - lo)
            raw = self._read_raw(shard, lo, rows)
            if hasher is not None:
                hasher.update(raw)
                if lo + rows == shard.rows:
                    self._check_digest("emb", i, hasher.hexdigest())
            block = raw.reshape(rows, self.dim).astype(np.float32)
            del raw  # not kept alive while the caller holds the block
            yield lo, block

    def _read_raw(self, shard: Shard, lo: int, rows: int) -> np.ndarray:
        """Rows ``lo:lo+rows`` of a shard as stored (1-d), by plain file reads or ranges."""
        width = self.dim * shard.dtype.itemsize
        if self.folder.local is not None:
            raw = np.fromfile(shard.emb_path, dtype=shard.dtype, count=rows * self.dim,
                              offset=shard.offset + lo * width)
        else:
            raw = np.frombuffer(self.folder.read_range(
                f"img_emb/{shard.emb_name}", shard.offset + lo * width, rows * width),
                dtype=shard.dtype)
        if len(raw) != rows * self.dim:
            raise DatasetError(f"{shard.emb_path}: the file ends before row {lo + rows} of "
                               f"{shard.rows}; it is truncated, re-export it")
        return raw

    # -- identity ----------------------------------------------------------------------

    def _unchecked(self, kind: str, i: int) -> bool:
        return self._signed is not None and (kind, i) not in self._checked

    def _check_digest(self, kind: str, i: int, digest: str) -> None:
        """Compare shard ``i``'s emb/metadata digest with the signed one (signed stores only)."""
        if self._signed is None:
            return
        want = self._signed[i].get(f"{kind}_sha256")
        shard = self.shards[i]
        if want is not None and want != digest:
            where = shard.emb_path if kind == "emb" else shard.meta_path
            raise EmbeddingMismatchError(
                f"{where}: its content differs from what {self.folder.where(SIDECAR)} recorded "
                f"when the store was signed (sha256 {digest[:12]}, signed {str(want)[:12]}): "
                "rows reordered against the other file of the shard, replaced or edited. "
                f"Restore the shard as it was signed; {_RESIGN}.")
        self._checked.add((kind, i))

    def digests(self) -> list[dict[str, Any]]:
        """Each shard's record for the sidecar: names, rows, SHA-256 of data and metadata.

        Reads the whole store once (rows validated on the way).
        """
        records = []
        for shard in self.shards:
            emb = hashlib.sha256()
            for lo in range(0, shard.rows, 65536):
                raw = self._read_raw(shard, lo, min(65536, shard.rows - lo))
                _norms(raw.reshape(-1, self.dim).astype(np.float32), shard.start + lo, self)
                emb.update(raw)
            meta = self.folder.read_bytes("metadata", shard.meta_name)
            records.append(shard_record(shard.emb_name, shard.meta_name, shard.rows,
                                        emb.hexdigest(), hashlib.sha256(meta).hexdigest()))
        return records

    def check_model(self, encoder: Any, *, allow_unsigned: bool = False) -> None:
        """Refuse embeddings from another model: compare the dimension and the fingerprint."""
        dim = _encoder_dim(encoder)
        if dim != self.dim:
            raise EmbeddingMismatchError(
                f"{self.directory}: embeddings have dimension {self.dim} but model "
                f"{_name(encoder)} embeds texts in dimension {dim}; they were made by another "
                "model. Embed the images with this model (python -m pytest_clipbias embed).")
        if self.meta is None:
            if allow_unsigned:
                return
            raise EmbeddingMismatchError(
                f"{self.directory} has no {SIDECAR} recording which model made the embeddings. "
                "If they were made by this model, record that with: python -m pytest_clipbias "
                f"embed --sign {self.directory} --clip-model NAME [--clip-pretrained TAG]")
        mine = getattr(encoder, "fingerprint", None)
        theirs = self.meta.get("model_fingerprint")
        if mine != theirs:
            raise EmbeddingMismatchError(
                f"{self.folder.where(SIDECAR)}: embeddings were made by model "
                f"{self.meta.get('model')!r} (fingerprint {str(theirs)[:12]}), but the model "
                f"under test is {_name(encoder)} (fingerprint {str(mine)[:12]}). Re-embed the "
                "images with the model under test.")


def _read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """``items`` produced one ahead in a thread: the next block is read while this one is used."""
    done = object()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="clipbias-read") as pool:
        ahead = pool.submit(next, items, done)
        while (item := ahead.result()) is not done:
            ahead = pool.submit(next, items, done)
            yield item


def _read_sidecar(folder: Folder) -> dict[str, Any] | None:
    """The sidecar as a dict, or None when there is none; a corrupt one is named."""
    if not folder.exists(SIDECAR):
        return None
    where = folder.where(SIDECAR)
    fix = (f"Delete it and sign the folder again: python -m pytest_clipbias embed --sign "
           f"{folder.where()} --clip-model NAME [--clip-pretrained TAG]")
    try:
        meta = json.loads(folder.read_bytes(SIDECAR))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EmbeddingMismatchError(f"{where}: not valid JSON ({exc}). {fix}") from exc
    problem = _sidecar_problem(meta)
    if problem:
        raise EmbeddingMismatchError(f"{where}: {problem}; it is not a sidecar this version "
                                     f"can read. {fix}")
    return meta


def _sidecar_problem(meta: Any) -> str | None:
    if not isinstance(meta, dict):
        return f"expected a JSON object, got {type(meta).__name__}"
    for key, kinds in (("dim", int), ("rows", int), ("model_fingerprint", (str, type(None)))):
        if key in meta and not isinstance(meta[key], kinds):
            return f"{key!r} is {meta[key]!r}"
    shards = meta.get("shards")
    if shards is None:
        return None
    if not isinstance(shards, list) or not all(
            isinstance(r, dict) and isinstance(r.get("emb"), str)
            and isinstance(r.get("metadata"), str) and isinstance(r.get("rows"), int)
            for r in shards):
        return "'shards' is not a list of {emb, metadata, rows, ...} records"
    return None


def _check_signature(store: EmbeddingStore) -> list[dict[str, Any]] | None:
    """Compare the folder's shards with the signed list (names, order, rows); returns it.

    Sidecars written before shard lists were recorded are checked on total
    rows and dimension only (None is returned).
    """
    meta, where = store.meta or {}, store.folder.where(SIDECAR)
    if meta.get("dim") is not None and meta["dim"] != store.dim:
        raise EmbeddingMismatchError(f"{where} records dimension {meta['dim']} but the shards "
                                     f"have dimension {store.dim}; {_RESIGN}")
    recorded = meta.get("shards")
    found = [(s.emb_name, s.meta_name, s.rows) for s in store.shards]
    if recorded is None:
        if meta.get("rows") is not None and meta["rows"] != len(store):
            raise EmbeddingMismatchError(
                f"{where} records {meta['rows']} rows but the folder holds {len(store)}: "
                f"shards were added, removed or changed since it was signed; {_RESIGN}")
        return None
    signed = [(r["emb"], r["metadata"], r["rows"]) for r in recorded]
    if found != signed:
        extra = [e for e, _, _ in found if e not in {x for x, _, _ in signed}]
        gone = [e for e, _, _ in signed if e not in {x for x, _, _ in found}]
        detail = "; ".join(filter(None, (
            extra and f"not signed: {', '.join(extra)}", gone and f"missing: {', '.join(gone)}",
            not (extra or gone) and "shard names, order or row counts differ")))
        raise EmbeddingMismatchError(
            f"{store.folder.where('img_emb')}: the shards differ from the list {where} signed "
            f"({detail}). A shard from elsewhere must not join a signed store: remove it, "
            f"or restore the missing one; {_RESIGN}.")
    return recorded


def _open_shards(folder: Folder) -> list[Shard]:
    """Every shard of the folder, checked as a whole: no gaps, pairs complete, counts equal."""
    names = folder.listdir("img_emb")
    if names is None:
        raise DatasetError(f"{folder.where()}: no img_emb/ folder; expected the clip-retrieval "
                           "layout img_emb/img_emb_{i}.npy + metadata/metadata_{i}.parquet")
    embs = _numbered(folder, "img_emb", names, _SHARD)
    if not embs:
        raise DatasetError(f"{folder.where('img_emb')}: no img_emb_{{i}}.npy files")
    metas = _numbered(folder, "metadata", folder.listdir("metadata") or [], _META)
    _check_complete(folder, embs, metas)
    pq = _import_pyarrow()
    shards, start = [], 0
    for i in range(len(embs)):
        emb_name, meta_name = embs[i], metas[i]
        emb_path, meta_path = folder.where("img_emb", emb_name), folder.where("metadata", meta_name)
        (rows, dim), dtype, offset, emb = _npy_layout(folder, emb_name, emb_path)
        try:
            with folder.open(f"metadata/{meta_name}") as fh:
                meta_rows = pq.read_metadata(fh).num_rows
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{meta_path}: not a readable parquet file ({exc}); re-export "
                               "this shard") from exc
        if meta_rows != rows:
            raise DatasetError(f"{meta_path} has {meta_rows} rows but {emb_path} has {rows} "
                               "embeddings; the partition is incomplete, re-export it")
        shards.append(Shard(emb_path, meta_path, emb_name, meta_name, start, rows, dim, dtype,
                            offset, emb))
        start += rows
    return shards


def _numbered(folder: Folder, sub: str, names: list[str], pattern: re.Pattern) -> dict[int, str]:
    """File name by shard number; two names for one number (1 and 01) are an error."""
    out: dict[int, str] = {}
    for name in names:
        if m := pattern.match(name):
            number = int(m.group(1))
            if number in out:
                raise DatasetError(f"{folder.where(sub)}: {out[number]} and {name} are both "
                                   f"shard {number}; keep one")
            out[number] = name
    return out


def _check_complete(folder: Folder, embs: dict[int, str], metas: dict[int, str]) -> None:
    """Shards numbered 0..N-1, each with both files."""
    count = max(embs) + 1
    gaps = [i for i in range(count) if i not in embs]
    if gaps:
        width = len(embs[max(embs)].split("_")[-1].split(".")[0])
        names = ", ".join(f"img_emb_{str(i).zfill(width)}.npy" for i in gaps[:5])
        raise DatasetError(
            f"{folder.where('img_emb')}: {len(gaps)} shard(s) missing ({names}); shards are "
            f"numbered 0..{count - 1} without gaps, so the folder is incomplete. Copy the "
            "missing shards or re-export the store")
    lone = [(folder.where("img_emb", embs[i]), "metadata") for i in embs if i not in metas]
    lone += [(folder.where("metadata", metas[i]), "img_emb") for i in metas if i not in embs]
    if lone:
        path, other = lone[0]
        raise DatasetError(f"{path} has no partner file in {other}/ ({len(lone)} unpaired "
                           "files); every shard needs img_emb_{i}.npy and "
                           "metadata_{i}.parquet. Copy the missing file or re-export the store")


def _npy_layout(folder: Folder, name: str, where: Any
                ) -> tuple[tuple[int, int], np.dtype, int, Any]:
    """((rows, dim), dtype, data offset, memory map or None) of a shard's ``.npy``, checked."""
    fmt = np.lib.format
    try:
        if folder.local is not None:
            emb = np.load(where, mmap_mode="r")
            shape, dtype, offset = emb.shape, emb.dtype, int(emb.offset)
            fortran = emb.ndim > 1 and not emb.flags.c_contiguous
        else:
            emb = None
            head = io.BytesIO(folder.read_range(f"img_emb/{name}", 0, _HEADER_BYTES))
            version = fmt.read_magic(head)
            reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = reader(head)
            offset = head.tell()
    except (ValueError, OSError, SyntaxError) as exc:
        raise DatasetError(f"{where}: not a readable .npy array ({exc}); re-export it") from exc
    if len(shape) != 2 or dtype not in (np.float16, np.float32):
        raise DatasetError(f"{where}: expected a 2-d float16 or float32 array, got shape "
                           f"{shape} dtype {dtype}; re-export it")
    if fortran:
        raise DatasetError(
            f"{where}: the array is stored in Fortran (column-major) order; rows must be "
            "contiguous. Rewrite it in C order: a = np.load(path); "
            "np.save(path, np.ascontiguousarray(a)) — the values are unchanged")
    return (int(shape[0]), int(shape[1])), np.dtype(dtype), offset, emb


def _common_dim(folder: Folder, shards: list[Shard]) -> int:
    dim = shards[0].dim
    for shard in shards:
        if shard.dim != dim:
            raise DatasetError(f"{shard.emb_path}: dimension {shard.dim}, other shards have "
                               f"{dim}; every shard must come from one model")
    return dim


def _key(path: str | os.PathLike) -> str:
    """A lookup key: a local path normalised, an image URL (``s3://...``) as written."""
    text = os.fspath(path)
    return text if "://" in text else os.path.normpath(text)


def _rebase(path: str, root: str | os.PathLike | None, prefix: tuple[str, str] | None) -> str:
    if prefix and path.startswith(prefix[0]):
        path = prefix[1] + path[len(prefix[0]):]
    if root is not None and not os.path.isabs(path) and "://" not in path:
        path = os.path.join(os.fspath(root), path)
    return _key(path)


def _norms(block: np.ndarray, rows: np.ndarray | int, store: EmbeddingStore) -> np.ndarray:
    """Row norms, after checking every row is finite and non-zero (rows: indices or first)."""
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    bad = ~np.isfinite(norms) | (norms < 1e-6)
    if bad.any():
        rows = rows + np.arange(len(block)) if isinstance(rows, int) else rows
        where = [(int(r), store.paths[int(r)]) for r in rows[bad]]
        raise DatasetError(describe_rows(where, "non-finite or zero embeddings",
                                         str(store.directory), "re-embed those images"))
    return norms


def _validated(block: np.ndarray, rows: np.ndarray, store: EmbeddingStore) -> np.ndarray:
    """Re-normalise (float16 rounding) after checking every row is finite and non-zero."""
    block /= _norms(block, rows, store)[:, None]
    return block


def _name(encoder: Any) -> str:
    return repr(getattr(encoder, "name", type(encoder).__name__))


def _encoder_dim(encoder: Any) -> int:
    dim = getattr(encoder, "dim", None)
    return int(dim) if dim is not None else int(np.asarray(encoder.encode_texts(["x"])).shape[1])


class PrecomputedEncoder:
    """The encoder protocol over a store: images looked up, texts through ``text_encoder``.

    ``encode_images`` takes paths present in the store and never decodes an
    image; the model fingerprint is the text encoder's, so results and
    baselines identify the model as usual. ``store`` is an EmbeddingStore,
    a local folder or an fsspec URL (with ``storage_options``).
    """

    def __init__(self, text_encoder: Any, store: EmbeddingStore | str | os.PathLike, *,
                 allow_unsigned: bool = False,
                 storage_options: Mapping[str, Any] | None = None) -> None:
        self.store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(
            store, storage_options=storage_options)
        self.store.check_model(text_encoder, allow_unsigned=allow_unsigned)
        self.text_encoder = text_encoder
        self.name = getattr(text_encoder, "name", type(text_encoder).__name__)
        self.fingerprint = getattr(text_encoder, "fingerprint", None)
        self.cache = getattr(text_encoder, "cache", None)
        self.dim = self.store.dim

    def describe(self) -> str:
        """The text model's description plus where the image embeddings come from."""
        inner = getattr(self.text_encoder, "describe", lambda: str(self.name))()
        return f"{inner}; images from {len(self.store)} precomputed embeddings"

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """Stored embeddings of ``images`` (paths), float32, unit rows; nothing decoded."""
        return self.store.rows(self.store.index_of(images))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """The text tower of the model under test."""
        return self.text_encoder.encode_texts(texts)


def top_k(store: EmbeddingStore | np.ndarray, queries: np.ndarray, k: int, *,
          block_rows: int = 131072) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosines of the ``k`` best rows per query, ranked, in bounded memory.

    Scores one block of rows at a time and keeps each block's k best
    (:func:`~pytest_clipbias.measures.retrieval.block_top_k`), merging them
    with the running best, so memory is O(m * (block_rows + k)) instead of the
    O(m * n) of the full similarity matrix. Rows of a store are validated and
    scored as the unit rows :meth:`EmbeddingStore.rows` returns; an array's
    rows are scored as given. Returns ``(index, score)`` of shape (m, k),
    ranked by the rule of :mod:`pytest_clipbias.measures.retrieval`: decreasing
    ranking key (cosine summed in float64, rounded to float32), equal keys by
    increasing index, whatever ``block_rows`` -- the same ranking as the
    in-memory audits.
    """
    from .measures.retrieval import block_top_k, merge_top_k

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2:
        raise ValueError(f"queries must be a 2-d (m, d) array, got shape {queries.shape}")
    n = len(store)
    if not 1 <= k <= n:
        raise ValueError(f"k must lie in 1..{n}, got {k}")
    blocks = store._raw_blocks(block_rows) if isinstance(store, EmbeddingStore) else (
        (lo, np.asarray(store[lo:lo + block_rows], dtype=np.float32), None)
        for lo in range(0, n, block_rows))
    m = len(queries)
    best_i = np.empty((m, 0), dtype=np.int64)
    best_s = np.empty((m, 0), dtype=np.float32)
    for start, block, norms in blocks:
        pos, key = block_top_k(queries, block, k, norms)
        best_i, best_s = merge_top_k(np.concatenate([best_i, pos + start], axis=1),
                                     np.concatenate([best_s, key], axis=1), k)
    return best_i, best_s


def ranked_values(top: np.ndarray, codes: np.ndarray, names: Sequence[str]) -> list[str]:
    """Attribute values of a whole-pool ranking whose first positions are the rows ``top``.

    The rest of the pool follows grouped by value: MaxSkew@k, NDKL@k and the
    pool-relative tests of :mod:`pytest_clipbias.measures.retrieval` read only
    the first k positions and the pool's counts, so the order of the rest is
    immaterial and the 1,000,000 x m similarity matrix is never needed.
    """
    top = np.asarray(top, dtype=np.int64)
    rest = np.bincount(codes, minlength=len(names)) - np.bincount(codes[top],
                                                                    minlength=len(names))
    ranked = [names[c] for c in codes[top]]
    for v, n in zip(names, rest.tolist(), strict=True):
        ranked.extend([v] * n)
    return ranked


def retrieval_skew(store: EmbeddingStore, queries: np.ndarray, attribute: str, k: int, *,
                   threshold: float = 0.0) -> list[dict[str, Any]]:
    """Per query: MaxSkew@k against the pool, its pool-relative p-value, and NDKL@k.

    The top k come from :func:`top_k` (bounded memory, any pool size); the
    measures and the test are :func:`~pytest_clipbias.measures.retrieval.max_skew_test`
    (H0: skew <= ``threshold``; exact hypergeometric at 0) and ``ndkl``,
    against the pool's composition of ``attribute``. p-values are raw:
    correct them over the queries (Holm) before judging.
    """
    from .measures.retrieval import max_skew_test, ndkl

    codes, names = store.codes(attribute)
    pool = dict(zip(names, (np.bincount(codes, minlength=len(names)) / len(codes)).tolist(),
                    strict=True))
    index, _ = top_k(store, queries, k)
    rows = []
    for j in range(len(index)):
        ranked = ranked_values(index[j], codes, names)
        test = max_skew_test(ranked, k, reference=pool, threshold=threshold)
        rows.append({"query": j, "k": k, "n": len(codes), "max_skew": test.max_skew,
                     "over_represented": test.worst, "p_raw": test.p_value,
                     "ndkl": ndkl(ranked, pool, k), "top": index[j]})
    return rows


def shard_names(index: int, n_shards: int) -> tuple[str, str]:
    """``(img_emb_{i}.npy, metadata_{i}.parquet)``, ``i`` zero-padded as clip-retrieval pads it."""
    digits = str(index).zfill(int(math.log10(max(n_shards, 1))) + 1)
    return f"img_emb_{digits}.npy", f"metadata_{digits}.parquet"


def shard_record(emb: str, metadata: str, rows: int, emb_sha256: str, metadata_sha256: str
                 ) -> dict[str, Any]:
    """One shard's entry in the sidecar's ``shards`` list."""
    return {"emb": emb, "metadata": metadata, "rows": rows, "emb_sha256": emb_sha256,
            "metadata_sha256": metadata_sha256}


def metadata_table(paths: Sequence[Any], attrs: Any) -> Any:
    """The metadata of a shard: ``image_path`` then the attribute columns, types kept.

    ``attrs`` is a mapping of column to values or a pyarrow Table (its
    column types are kept: an int64 ``age`` stays int64).
    """
    import pyarrow as pa

    columns: dict[str, Any] = {PATH_COLUMN: pa.array([str(p) for p in paths], pa.string())}
    names = attrs.column_names if isinstance(attrs, pa.Table) else list(attrs)
    if PATH_COLUMN in names:
        raise ConfigurationError(f"attribute column {PATH_COLUMN!r} is reserved for the image "
                                 "paths; rename it")
    for name in names:
        values = attrs.column(name) if isinstance(attrs, pa.Table) else attrs[name]
        columns[name] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else list(values)
    return pa.table(columns)


def write_shard(folder: Folder, index: int, n_shards: int, emb: np.ndarray, table: Any, *,
                dtype: str = "float16") -> dict[str, Any]:
    """Write one partition (``.npy`` then parquet, each whole) and return its sidecar record."""
    pq = _import_pyarrow()
    emb = np.ascontiguousarray(emb, dtype=dtype)
    if emb.ndim != 2 or len(emb) != table.num_rows:
        raise ValueError(f"shard {index}: {emb.shape} embeddings for {table.num_rows} "
                         "metadata rows")
    emb_name, meta_name = shard_names(index, n_shards)
    npy = io.BytesIO()
    np.save(npy, emb)
    meta = io.BytesIO()
    pq.write_table(table, meta)
    folder.write_bytes(f"img_emb/{emb_name}", npy.getvalue())
    folder.write_bytes(f"metadata/{meta_name}", meta.getvalue())
    return shard_record(emb_name, meta_name, len(emb), hashlib.sha256(emb.data).hexdigest(),
                        hashlib.sha256(meta.getvalue()).hexdigest())


def holds_embeddings(folder: Folder) -> bool:
    """Whether ``folder/img_emb`` already holds shards."""
    return any(_SHARD.match(n) for n in folder.listdir("img_emb") or ())


def write_store(directory: str | os.PathLike, batches: Iterable[tuple[np.ndarray, Sequence[str],
                Any]], *, model: str, fingerprint: str | None, dtype: str = "float16",
                n_shards: int = 1, storage_options: Mapping[str, Any] | None = None
                ) -> Path | str:
    """Write embeddings in the clip-retrieval layout plus the clipbias sidecar.

    ``batches`` yields ``(embeddings, image_paths, attribute columns)``
    (a mapping or a pyarrow Table); one shard is written per batch
    (``n_shards`` sets the zero-padding, as clip-retrieval does).
    ``directory`` is a local folder or an fsspec URL. Each file is written
    whole; the sidecar, listing every shard with its digests, comes last, so
    a crash never leaves a folder that looks finished.
    """
    folder = Folder(directory, storage_options)
    if holds_embeddings(folder):
        raise ConfigurationError(f"{folder.where('img_emb')} already holds embeddings; choose "
                                 "an empty output folder")
    records, dim = [], None
    for i, (emb, paths, attrs) in enumerate(batches):
        dim = np.shape(emb)[1]
        records.append(write_shard(folder, i, n_shards, emb, metadata_table(paths, attrs),
                                   dtype=dtype))
    if dim is None:
        raise ConfigurationError("nothing to write: no embeddings were given")
    write_sidecar(folder, model=model, fingerprint=fingerprint, dim=dim, dtype=dtype,
                  records=records)
    return folder.where()


def sign_store(directory: str | os.PathLike, encoder: Any, *,
               storage_options: Mapping[str, Any] | None = None) -> Path | str:
    """Record in the sidecar that ``encoder`` made the embeddings (after a dimension check).

    Reads the whole store once: every row is validated and each shard's
    digests are recorded, so later changes are detected. Replaces an
    existing sidecar (re-signing after an intended change).
    """
    store = EmbeddingStore(directory, storage_options=storage_options, verify=False)
    store.check_model(encoder, allow_unsigned=True)
    return write_sidecar(store.folder, model=str(getattr(encoder, "name", "")),
                         fingerprint=getattr(encoder, "fingerprint", None), dim=store.dim,
                         dtype=str(store.dtype), records=store.digests())


def write_sidecar(folder: Folder, *, model: str, fingerprint: str | None, dim: int, dtype: str,
                  records: list[dict[str, Any]]) -> Path | str:
    """Write ``clipbias.json``: the model, dimension and every shard with its digests."""
    meta = {"format": "clip-retrieval", "written_by": "pytest-clipbias",
            "version": SIDECAR_VERSION, "model": model, "model_fingerprint": fingerprint,
            "dim": int(dim), "rows": sum(r["rows"] for r in records), "dtype": dtype,
            "shards": records}
    folder.write_bytes(SIDECAR, (json.dumps(meta, indent=2) + "\n").encode())
    return folder.where(SIDECAR)

"""Image embeddings computed elsewhere, in the clip-retrieval layout, used without the image tower.

clip-retrieval (``clip-retrieval inference``, which runs on many GPUs or on
Spark) writes, per output partition ``i`` (zero-padded to the number of digits
of the partition count; see ``clip_retrieval/clip_inference/writer.py``)::

    DIR/img_emb/img_emb_{i}.npy          (n_i, d) float16, rows L2-normalised
    DIR/metadata/metadata_{i}.parquet    n_i rows: image_path [, caption] [, extra columns]

:class:`EmbeddingStore` reads that layout memory-mapped (float16 or float32),
indexes the rows by ``image_path`` and builds :class:`FaceSet` s from the
parquet's extra columns or from a manifest joined by path.
:class:`PrecomputedEncoder` pairs a store with a text encoder: its
``encode_images`` looks the images up (nothing is decoded, the image tower is
never called) and its ``encode_texts`` runs the text tower.

The embeddings must come from the model under test. Folders written by
:func:`write_store` (``python -m pytest_clipbias embed``) carry a sidecar,
``DIR/clipbias.json``, with the model's fingerprint and dimension; a folder
written by clip-retrieval gets one with :func:`sign_store` (``embed --sign``).
A store whose sidecar names another model, or whose dimension differs from
the text tower's, is refused.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_text
from .data.faceset import DatasetError, FaceItem, FaceSet, describe_rows
from .errors import ConfigurationError

SIDECAR = "clipbias.json"
PATH_COLUMN = "image_path"
#: parquet columns clip-retrieval writes that are not image attributes
RESERVED_COLUMNS = (PATH_COLUMN, "caption")
_SHARD = re.compile(r"img_emb_(\d+)\.npy$")


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
    """One partition: its memory-mapped embeddings, metadata file and first global row."""

    emb_path: Path
    meta_path: Path
    emb: np.ndarray
    start: int


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
    """A clip-retrieval embeddings folder, memory-mapped and indexed by image path.

    ``image_root`` resolves relative ``image_path`` values; ``path_prefix``
    ``(old, new)`` rewrites stored paths that start with ``old`` (embeddings
    computed on another machine, where the images lived elsewhere). Both
    apply before any lookup, so the keys are the paths images have here.
    """

    def __init__(self, directory: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                 path_prefix: tuple[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.shards = _open_shards(self.directory)
        self.dim = int(self.shards[0].emb.shape[1])
        self.dtype = self.shards[0].emb.dtype
        self._starts = np.array([s.start for s in self.shards], dtype=np.int64)
        self._n = self.shards[-1].start + len(self.shards[-1].emb)
        self._rebase = (image_root, path_prefix)
        sidecar = self.directory / SIDECAR
        self.meta: dict[str, Any] | None = (
            json.loads(sidecar.read_text()) if sidecar.is_file() else None)

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
                dups, "duplicate image paths", str(self.directory / "metadata"),
                "each image must appear once; deduplicate before auditing"))
        return index

    def columns(self) -> list[str]:
        """Parquet column names (the first shard's; all shards must share them)."""
        pq = _import_pyarrow()
        return list(pq.read_schema(self.shards[0].meta_path).names)

    def _column_strings(self, name: str) -> list[str]:
        pq = _import_pyarrow()
        out: list[str] = []
        for shard in self.shards:
            try:
                col = pq.read_table(shard.meta_path, columns=[name]).column(name)
            except (KeyError, ValueError) as exc:
                raise DatasetError(f"{shard.meta_path}: no column {name!r} ({exc}); columns: "
                                   f"{', '.join(pq.read_schema(shard.meta_path).names)}") from exc
            values = col.to_pylist()
            missing = [(shard.start + i, "empty") for i, v in enumerate(values) if v is None]
            if missing:
                raise DatasetError(describe_rows(missing, f"rows without {name!r}",
                                                 str(shard.meta_path), "fill or drop them"))
            out.extend(str(v) for v in values)
        return out

    def codes(self, column: str) -> tuple[np.ndarray, list[str]]:
        """An attribute column as integer codes (int32, one per row) and the sorted values."""
        import pyarrow as pa

        pq = _import_pyarrow()
        parts = []
        for shard in self.shards:
            col = pq.read_table(shard.meta_path, columns=[column]).column(column)
            if col.null_count:
                self._column_strings(column)  # raises, naming the rows
            enc = col.cast(pa.string()).combine_chunks().dictionary_encode()
            parts.append((enc.dictionary.to_pylist(), enc.indices.to_numpy()))
        names = sorted({v for dictionary, _ in parts for v in dictionary})
        position = {v: i for i, v in enumerate(names)}
        codes = np.concatenate([np.array([position[v] for v in dictionary], np.int32)[idx]
                                for dictionary, idx in parts])
        return codes, names

    def faceset(self, attributes: Sequence[str] | None = None, *, name: str | None = None
                ) -> FaceSet:
        """A FaceSet of every row, attributes from the parquet's extra columns.

        ``attributes`` names the columns to use (all but image_path and
        caption when None). The items' images are the stored paths: keys for
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
        return FaceSet(items, name=name or self.directory.name)

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
                f"{self.directory / 'metadata'} match (image_root / path_prefix)"))
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
        """Embeddings of the given global rows as float32, re-normalised and validated."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), self.dim), dtype=np.float32)
        which = np.searchsorted(self._starts, index, side="right") - 1
        for s in np.unique(which):
            sel = which == s
            shard = self.shards[s]
            out[sel] = shard.emb[index[sel] - shard.start]
        return _validated(out, index, self)

    def iter_blocks(self, block_rows: int = 131072) -> Iterator[tuple[int, np.ndarray]]:
        """(first global row, float32 block) over the whole store, validated, bounded memory.

        Blocks are read with ordinary file reads rather than through the
        memory map, so the pages read do not stay in this process's RSS.
        """
        for start, block, norms in self._raw_blocks(block_rows):
            block /= norms[:, None]
            yield start, block

    def _raw_blocks(self, block_rows: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first row, float32 block as stored, its validated row norms)."""
        for shard in self.shards:
            emb = shard.emb
            for lo in range(0, len(emb), block_rows):
                rows = min(block_rows, len(emb) - lo)
                raw = np.fromfile(shard.emb_path, dtype=emb.dtype, count=rows * self.dim,
                                  offset=emb.offset + lo * self.dim * emb.dtype.itemsize)
                block = raw.reshape(rows, self.dim).astype(np.float32)
                start = shard.start + lo
                yield start, block, _norms(block, start, self)

    # -- identity ----------------------------------------------------------------------

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
                f"{self.directory}/{SIDECAR}: embeddings were made by model "
                f"{self.meta.get('model')!r} (fingerprint {str(theirs)[:12]}), but the model "
                f"under test is {_name(encoder)} (fingerprint {str(mine)[:12]}). Re-embed the "
                "images with the model under test.")


def _open_shards(directory: Path) -> list[Shard]:
    emb_dir, meta_dir = directory / "img_emb", directory / "metadata"
    if not emb_dir.is_dir():
        raise DatasetError(f"{directory}: no img_emb/ folder; expected the clip-retrieval layout "
                           "img_emb/img_emb_{i}.npy + metadata/metadata_{i}.parquet")
    found = sorted(((int(m.group(1)), m.group(1), p) for p in emb_dir.iterdir()
                    if (m := _SHARD.search(p.name))), key=lambda t: t[0])
    if not found:
        raise DatasetError(f"{emb_dir}: no img_emb_{{i}}.npy files")
    shards, start, dim = [], 0, None
    for _, digits, emb_path in found:
        meta_path = meta_dir / f"metadata_{digits}.parquet"
        if not meta_path.is_file():
            raise DatasetError(f"{emb_path} has no metadata file {meta_path}")
        try:
            emb = np.load(emb_path, mmap_mode="r")
        except (ValueError, OSError, SyntaxError) as exc:
            raise DatasetError(f"{emb_path}: not a readable .npy array ({exc}); re-export "
                               "it") from exc
        if emb.ndim != 2 or emb.dtype not in (np.float16, np.float32) or not (
                emb.flags.c_contiguous):
            raise DatasetError(f"{emb_path}: expected a 2-d float16 or float32 array, got shape "
                               f"{emb.shape} dtype {emb.dtype} (C order)")
        if dim is not None and emb.shape[1] != dim:
            raise DatasetError(f"{emb_path}: dimension {emb.shape[1]}, other shards have {dim}")
        dim = emb.shape[1]
        rows = _import_pyarrow().read_metadata(meta_path).num_rows
        if rows != len(emb):
            raise DatasetError(f"{meta_path} has {rows} rows but {emb_path} has {len(emb)} "
                               "embeddings; the partition is incomplete, re-export it")
        shards.append(Shard(emb_path, meta_path, emb, start))
        start += len(emb)
    return shards


def _key(path: str | os.PathLike) -> str:
    return os.path.normpath(os.fspath(path))


def _rebase(path: str, root: str | os.PathLike | None, prefix: tuple[str, str] | None) -> str:
    if prefix and path.startswith(prefix[0]):
        path = prefix[1] + path[len(prefix[0]):]
    if root is not None and not os.path.isabs(path):
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
    baselines identify the model as usual.
    """

    def __init__(self, text_encoder: Any, store: EmbeddingStore | str | os.PathLike, *,
                 allow_unsigned: bool = False) -> None:
        self.store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
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


def write_store(directory: str | os.PathLike, batches: Iterable[tuple[np.ndarray, Sequence[str],
                Mapping[str, Sequence[str]]]], *, model: str, fingerprint: str | None,
                dtype: str = "float16", n_shards: int = 1) -> Path:
    """Write embeddings in the clip-retrieval layout plus the clipbias sidecar.

    ``batches`` yields ``(embeddings, image_paths, attribute columns)``; one
    shard is written per batch (``n_shards`` sets the zero-padding, as
    clip-retrieval does). Each file goes to a temporary name and is renamed
    when complete; the sidecar comes last, so a crash never leaves a folder
    that looks finished.
    """
    import pyarrow as pa

    pq = _import_pyarrow()
    out = Path(directory)
    if (out / "img_emb").exists() and any((out / "img_emb").iterdir()):
        raise ConfigurationError(f"{out / 'img_emb'} already holds embeddings; choose an empty "
                                 "output folder")
    (out / "img_emb").mkdir(parents=True, exist_ok=True)
    (out / "metadata").mkdir(parents=True, exist_ok=True)
    width = int(math.log10(max(n_shards, 1))) + 1
    total, dim = 0, None
    for i, (emb, paths, attrs) in enumerate(batches):
        emb = np.asarray(emb, dtype=dtype)
        dim = emb.shape[1]
        digits = str(i).zfill(width)
        emb_path = out / "img_emb" / f"img_emb_{digits}.npy"
        tmp = emb_path.with_name(emb_path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, emb)
        os.replace(tmp, emb_path)
        table = pa.table({PATH_COLUMN: [str(p) for p in paths],
                          **{k: [str(v) for v in vs] for k, vs in attrs.items()}})
        meta_path = out / "metadata" / f"metadata_{digits}.parquet"
        pq.write_table(table, meta_path.with_name(meta_path.name + ".tmp"))
        os.replace(meta_path.with_name(meta_path.name + ".tmp"), meta_path)
        total += len(emb)
    if dim is None:
        raise ConfigurationError("nothing to write: no embeddings were given")
    _write_sidecar(out, model=model, fingerprint=fingerprint, dim=dim, rows=total, dtype=dtype)
    return out


def sign_store(directory: str | os.PathLike, encoder: Any) -> Path:
    """Record in the sidecar that ``encoder`` made the embeddings (after a dimension check)."""
    store = EmbeddingStore(directory)
    store.check_model(encoder, allow_unsigned=True)
    return _write_sidecar(store.directory, model=str(getattr(encoder, "name", "")),
                          fingerprint=getattr(encoder, "fingerprint", None), dim=store.dim,
                          rows=len(store), dtype=str(store.dtype))


def _write_sidecar(out: Path, *, model: str, fingerprint: str | None, dim: int, rows: int,
                   dtype: str) -> Path:
    meta = {"format": "clip-retrieval", "written_by": "pytest-clipbias", "model": model,
            "model_fingerprint": fingerprint, "dim": dim, "rows": rows, "dtype": dtype}
    path = out / SIDECAR
    atomic_write_text(path, json.dumps(meta, indent=2) + "\n")
    return path

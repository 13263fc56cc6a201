"""A persistent, content-addressed embedding cache in one SQLite file.

Rows are keyed by (model fingerprint, kind, content key): the fingerprint
covers architecture, weights, preprocessing and precision; the content key is
the SHA-256 of an image's bytes or pixels, or of a text's exact string. A
vector is written once per key and never changes.

Safety rules:

* writes happen in one transaction per batch, so a crash never leaves a half
  written entry; WAL mode and a busy timeout let several pytest-xdist workers
  (separate processes) read and write the same file at once;
* every row carries a checksum of its key and vector; a row that fails it is
  dropped and recomputed, so a damaged file can cost time but never yields a
  wrong vector;
* a file that is not a cache of ours (corrupt, foreign, other schema), or one
  that raises any ``sqlite3.DatabaseError`` during use (garbage over inner
  pages), is moved aside to ``<name>.corrupt-<time>-<pid>`` with a warning and
  a fresh cache is built; nothing is deleted;
* storage that cannot be written (read-only folder or file, full disk, a
  path through a file) turns the cache off for the process with one
  CacheWarning naming the cause and ``--clip-no-cache``: the tests still run;
* every write is checkpointed from the write-ahead log into the main file, and
  ``close()`` (called by the plugin when the session ends) checkpoints and
  truncates the log, so copying only ``embeddings.sqlite3``, as a CI cache
  step may, keeps every entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import sys
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FILENAME = "embeddings.sqlite3"
MAGIC = "pytest-clipbias embedding cache"
SCHEMA_VERSION = "1"
_SQL_CHUNK = 500  # keys per SELECT, well under SQLite's host-parameter limit
#: SQLite primary result codes that mean "this storage cannot be used", not "damaged file":
#: PERM, BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN.
_STORAGE_CODES = frozenset({3, 5, 6, 7, 8, 10, 13, 14})
#: Default bound of a model's in-memory memo (:class:`MemoryCache`): 256 MiB.
MEMO_BYTES = 256 * 2**20
#: Bytes an in-memory entry costs beyond its vector and key: the (kind, key)
#: tuple, the ordered dict's slot and links (measured with tracemalloc, rounded up).
_ENTRY_OVERHEAD = 160


class CacheWarning(UserWarning):
    """The embedding cache was rebuilt (damaged or foreign) or turned off (unwritable)."""


@dataclass
class CacheStats:
    """Hit and miss counters per kind ("image", "text")."""

    hits: dict[str, int] = field(default_factory=lambda: {"image": 0, "text": 0})
    misses: dict[str, int] = field(default_factory=lambda: {"image": 0, "text": 0})
    dropped: int = 0

    def add(self, other: CacheStats) -> None:
        """Accumulate another counter set (used to merge xdist workers' stats)."""
        for kind, n in other.hits.items():
            self.hits[kind] = self.hits.get(kind, 0) + n
        for kind, n in other.misses.items():
            self.misses[kind] = self.misses.get(kind, 0) + n
        self.dropped += other.dropped

    def to_dict(self) -> dict:
        """JSON-safe form."""
        return {"hits": dict(self.hits), "misses": dict(self.misses), "dropped": self.dropped}

    @classmethod
    def from_dict(cls, data: dict) -> CacheStats:
        """Inverse of ``to_dict``."""
        return cls(dict(data["hits"]), dict(data["misses"]), int(data.get("dropped", 0)))


class MemoryCache:
    """A bounded in-memory memo of one model's embeddings; least recently used out first.

    Keyed like :class:`EmbeddingCache`, by (kind, content key), for one model
    (one fingerprint). An entry costs its vector's and key's bytes plus a
    fixed overhead; a put that takes ``nbytes`` over ``max_bytes`` evicts the
    least recently used entries, so memory stays bounded however many images
    a session encodes. Why: a prompt search re-runs a helper on the same
    images a dozen times, and without it every run re-encodes them when no
    persistent cache is configured (and reads SQLite when one is).
    """

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.stats = CacheStats()
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, kind: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The memoised vectors among ``keys`` (read-only arrays); marks them recently used."""
        found: dict[str, np.ndarray] = {}
        for key in keys:
            vec = self._entries.get((kind, key))
            if vec is not None:
                self._entries.move_to_end((kind, key))
                found[key] = vec
        hits = sum(1 for k in keys if k in found)
        self.stats.hits[kind] = self.stats.hits.get(kind, 0) + hits
        self.stats.misses[kind] = self.stats.misses.get(kind, 0) + len(keys) - hits
        return found

    def put_many(self, kind: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store copies of the vectors, then evict the oldest entries beyond ``max_bytes``."""
        for key, vec in items:
            if (kind, key) in self._entries:
                continue
            vec = np.array(vec, dtype=np.float32)
            vec.flags.writeable = False
            size = _entry_bytes(key, vec)
            if size > self.max_bytes:
                continue
            self._entries[(kind, key)] = vec
            self.nbytes += size
        while self.nbytes > self.max_bytes:
            (_, key), vec = self._entries.popitem(last=False)
            self.nbytes -= _entry_bytes(key, vec)


def _entry_bytes(key: str, vec: np.ndarray) -> int:
    return sys.getsizeof(vec) + sys.getsizeof(key) + _ENTRY_OVERHEAD


def _checksum(fingerprint: str, kind: str, key: str, blob: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{fingerprint}|{kind}|{key}|".encode())
    h.update(blob)
    return h.digest()


class EmbeddingCache:
    """Embeddings stored by content key in ``directory/embeddings.sqlite3``."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        self.stats = CacheStats()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self.disabled: str | None = None  # why the cache was turned off, once it is

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"

    # -- connection and recovery -------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._open_valid()
        except _Unusable as bad:
            self._recover(str(bad))
            conn = self._open_valid()
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _open_valid(self) -> sqlite3.Connection:
        """Open the file, creating the schema if empty; raise _Unusable if it is not ours."""
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            with _transaction(conn):
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if not tables:
                    _create_schema(conn)
            meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if _is_storage_error(exc):
                raise
            raise _Unusable(f"not a readable SQLite cache ({exc})") from exc
        if tables and (meta.get("magic") != MAGIC or "embeddings" not in tables):
            conn.close()
            raise _Unusable("a SQLite file that is not a pytest-clipbias cache")
        if tables and meta.get("schema") != SCHEMA_VERSION:
            conn.close()
            raise _Unusable(f"cache schema {meta.get('schema')!r}, expected {SCHEMA_VERSION!r}")
        return conn

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        with open(self.path.with_suffix(".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _file_id(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _recover(self, reason: str, failed: tuple[int, int] | None = None) -> None:
        """Move an unusable cache file aside (once, even with several processes).

        ``failed`` is the identity of a file that raised during use: it is moved
        aside unless another process has already replaced it. Without it, the
        file is moved only if it still cannot be opened as our cache.
        """
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        with self._lock():
            if failed is not None and self._file_id() != failed:
                return  # another process moved the damaged file aside meanwhile
            if failed is None:
                try:  # another process may have rebuilt it while we waited
                    self._open_valid().close()
                    return
                except _Unusable:
                    pass
            stamp = f"corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            aside = self.path.with_name(f"{self.path.name}.{stamp}")
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, f"{aside}{suffix}")
        warnings.warn(
            CacheWarning(
                f"embedding cache {self.path} was unusable ({reason}); moved it to {aside} "
                "and started a new cache. Embeddings will be recomputed."
            ),
            stacklevel=3,
        )

    def _run(self, fn, *args, default=None):
        """Run a database operation, rebuilding a damaged cache once.

        Unwritable storage, or a second failure after a rebuild, turns the
        cache off (one warning) and returns ``default``.
        """
        if self.disabled:
            return default
        try:
            try:
                return fn(self._connect(), *args)
            except sqlite3.DatabaseError as exc:
                if _is_storage_error(exc):
                    raise
                self._recover(f"database error during use: {exc}", self._file_id())
                return fn(self._connect(), *args)
        except (sqlite3.Error, OSError) as exc:
            self._disable(exc)
            return default

    def _disable(self, exc: BaseException) -> None:
        """Turn the cache off for this process with one warning naming the cause."""
        self.close()
        self.disabled = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            CacheWarning(
                f"embedding cache {self.path} cannot be used ({self.disabled}); running "
                "without it, so embeddings are recomputed. Make the folder writable, free disk "
                "space, choose another folder with --clip-cache-dir, or pass --clip-no-cache "
                "to silence this."
            ),
            stacklevel=4,
        )

    # -- public operations -------------------------------------------------------

    def get_many(self, fingerprint: str, kind: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the cached vectors among ``keys`` (missing and damaged rows are absent)."""
        if isinstance(keys, (str, bytes)):
            raise TypeError(f"get_many takes a list of keys, got the single key {keys!r}; "
                            "write get_many(fingerprint, kind, [key])")
        found = self._run(self._select, fingerprint, kind, list(dict.fromkeys(keys)),
                          default={})
        hits = sum(1 for k in keys if k in found)
        self.stats.hits[kind] = self.stats.hits.get(kind, 0) + hits
        self.stats.misses[kind] = self.stats.misses.get(kind, 0) + len(keys) - hits
        return found

    def put_many(
        self, fingerprint: str, kind: str, items: Sequence[tuple[str, np.ndarray]]
    ) -> None:
        """Store vectors in one transaction; an existing key keeps its first vector."""
        if isinstance(items, Mapping):
            raise TypeError("put_many takes a list of (key, vector) pairs, got a mapping; "
                            "write put_many(fingerprint, kind, list(mapping.items()))")
        if items:
            self._run(self._insert, fingerprint, kind, items)

    def count(self) -> int:
        """Number of stored vectors (all models)."""
        return self._run(lambda c: c.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0],
                         default=0)

    def close(self) -> None:
        """Checkpoint the write-ahead log into the main file and close; reopens on next use."""
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    def _select(self, conn: sqlite3.Connection, fingerprint: str, kind: str, keys: list[str]):
        found: dict[str, np.ndarray] = {}
        bad: list[str] = []
        for start in range(0, len(keys), _SQL_CHUNK):
            chunk = keys[start : start + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, dim, vector, checksum FROM embeddings "
                f"WHERE fingerprint = ? AND kind = ? AND key IN ({marks})",
                [fingerprint, kind, *chunk],
            )
            for key, dim, blob, checksum in rows:
                ok = (
                    isinstance(blob, bytes)
                    and len(blob) == 4 * dim
                    and checksum == _checksum(fingerprint, kind, key, blob)
                )
                if ok:
                    found[key] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
                else:
                    bad.append(key)
        if bad:
            self.stats.dropped += len(bad)
            with _transaction(conn):
                conn.executemany(
                    "DELETE FROM embeddings WHERE fingerprint = ? AND kind = ? AND key = ?",
                    [(fingerprint, kind, k) for k in bad],
                )
            warnings.warn(
                CacheWarning(
                    f"embedding cache {self.path}: {len(bad)} damaged entr"
                    f"{'y' if len(bad) == 1 else 'ies'} failed the checksum; recomputing"
                ),
                stacklevel=4,
            )
        return found

    def _insert(self, conn, fingerprint: str, kind: str, items) -> None:
        rows = []
        for key, vec in items:
            blob = np.ascontiguousarray(vec, dtype="<f4").tobytes()
            rows.append(
                (fingerprint, kind, key, len(blob) // 4, blob,
                 _checksum(fingerprint, kind, key, blob))
            )
        with _transaction(conn):
            conn.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?, ?, ?, ?)", rows)
        # copy the new pages into the main file now: an xdist worker may exit without close()
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (all or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "CREATE TABLE embeddings (fingerprint TEXT NOT NULL, kind TEXT NOT NULL,"
        " key TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,"
        " checksum BLOB NOT NULL, PRIMARY KEY (fingerprint, kind, key))"
    )
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("magic", MAGIC), ("schema", SCHEMA_VERSION)]
    )


def _is_storage_error(exc: sqlite3.Error) -> bool:
    """True for unwritable or unavailable storage (see _STORAGE_CODES), not damage."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _STORAGE_CODES
    text = str(exc).lower()
    return any(w in text for w in ("readonly", "read-only", "disk is full", "unable to open",
                                   "disk i/o", "locked"))


class _Unusable(Exception):
    """Internal: the cache file exists but cannot be used as our cache."""

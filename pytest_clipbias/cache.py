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
* a file that is not a cache of ours (corrupt, foreign, other schema) is moved
  aside to ``<name>.corrupt-<time>-<pid>`` with a warning and a fresh cache is
  built; nothing is deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FILENAME = "embeddings.sqlite3"
MAGIC = "pytest-clipbias embedding cache"
SCHEMA_VERSION = "1"
_SQL_CHUNK = 500  # keys per SELECT, well under SQLite's host-parameter limit


class CacheWarning(UserWarning):
    """The embedding cache was damaged or foreign and has been rebuilt."""


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

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"

    # -- connection and recovery -------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the embedding cache directory {self.directory}: {exc}; "
                "choose another with --clip-cache-dir, or disable it with --clip-no-cache"
            ) from exc
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

    def _recover(self, reason: str) -> None:
        """Move an unusable cache file aside (once, even with several processes)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        with self._lock():
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

    def _run(self, fn, *args):
        """Run a database operation, rebuilding the cache once if the file is damaged."""
        try:
            return fn(self._connect(), *args)
        except sqlite3.DatabaseError as exc:
            self._recover(f"database error during use: {exc}")
            return fn(self._connect(), *args)

    # -- public operations -------------------------------------------------------

    def get_many(self, fingerprint: str, kind: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the cached vectors among ``keys`` (missing and damaged rows are absent)."""
        found = self._run(self._select, fingerprint, kind, list(dict.fromkeys(keys)))
        hits = sum(1 for k in keys if k in found)
        self.stats.hits[kind] = self.stats.hits.get(kind, 0) + hits
        self.stats.misses[kind] = self.stats.misses.get(kind, 0) + len(keys) - hits
        return found

    def put_many(
        self, fingerprint: str, kind: str, items: Sequence[tuple[str, np.ndarray]]
    ) -> None:
        """Store vectors in one transaction; an existing key keeps its first vector."""
        if items:
            self._run(self._insert, fingerprint, kind, items)

    def count(self) -> int:
        """Number of stored vectors (all models)."""
        return self._run(lambda c: c.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def close(self) -> None:
        """Close the connection; the cache reopens on next use."""
        if self._conn is not None and self._pid == os.getpid():
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


class _Unusable(Exception):
    """Internal: the cache file exists but cannot be used as our cache."""

"""Folders on any fsspec filesystem: ``s3://``, ``gs://``, ``hdfs://``, ``file://``, local paths.

:class:`Folder` is the little that the embedding reader and writers need:
list a subfolder, read a byte range, write a file whole. Local folders
(plain paths and ``file://``) use the operating system directly, so the
reader can keep memory-mapping them; every other URL goes through fsspec,
which takes credentials and endpoints from the standard environment of each
backend (for S3: ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``~/.aws/config``)
or from ``storage_options`` (``KEY=VALUE`` strings on the command line,
parsed by :func:`parse_storage_options`).

Writes are whole-file: a local file goes to a temporary name and is renamed,
an object store receives one PUT (an object is visible complete or not at
all), so a reader never sees half a shard.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

#: bytes per ranged request when a large read is split into concurrent requests (see
#: docs/scale.md: fewer, larger ranges cost less per byte on every server measured)
RANGE_BYTES = 32 << 20


def is_remote(location: str | os.PathLike) -> bool:
    """True for a URL with a scheme other than ``file://`` (local paths are not remote)."""
    text = os.fspath(location)
    return "://" in text and not text.startswith("file://")


def parse_storage_options(items: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``["anon=true", "client_kwargs.endpoint_url=http://..."]`` as fsspec storage options.

    A dotted key nests (``client_kwargs.region_name=eu-west-1``); values
    ``true``/``false``, integers, floats and JSON objects or lists are
    parsed, anything else stays a string. A mapping is returned as a dict.
    """
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    if isinstance(items, str):
        raise TypeError("storage options must be a list of KEY=VALUE strings, not a bare string")
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"storage option {item!r}: expected KEY=VALUE, e.g. "
                                     "anon=true or client_kwargs.endpoint_url=http://host:9000")
        *parents, leaf = key.strip().split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigurationError(f"storage option {item!r}: {part!r} is set twice, "
                                         "once as a value and once as a group")
        node[leaf] = _value(value.strip())
    return out


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if text[:1] in "[{" or lowered == "null":
        try:
            return json.loads(text)
        except ValueError:
            return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Folder:
    """A folder given by a local path or an fsspec URL; paths inside are ``/``-joined."""

    def __init__(self, location: str | os.PathLike, storage_options: Mapping[str, Any] | None
                 = None) -> None:
        text = os.fspath(location)
        self.storage_options = dict(storage_options or {})
        if is_remote(text):
            self.local: Path | None = None
            self.fs, self.root = _filesystem(text, self.storage_options)
            self.root = self.root.rstrip("/")
            self.url = text.rstrip("/")
        else:
            self.local = Path(text.removeprefix("file://")).expanduser()
            self.fs, self.root, self.url = None, str(self.local), str(self.local)

    def __repr__(self) -> str:
        return f"Folder({self.url!r})"

    def where(self, *parts: str) -> str | Path:
        """The user-facing name of a file inside: a Path when local, else its URL."""
        if self.local is not None:
            return self.local.joinpath(*parts)
        return "/".join((self.url, *parts))

    def _path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def listdir(self, sub: str) -> list[str] | None:
        """File names in ``sub`` (None when it is not a folder)."""
        if self.local is not None:
            folder = self.local / sub
            return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None
        with _remote_errors(self.where(sub)):
            try:
                entries = self.fs.ls(self._path(sub), detail=False, refresh=True)
            except FileNotFoundError:
                return None
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def exists(self, *parts: str) -> bool:
        """Whether a file exists."""
        if self.local is not None:
            return self.local.joinpath(*parts).is_file()
        with _remote_errors(self.where(*parts)):
            self.fs.invalidate_cache(self._path(*parts))  # other processes write here too
            return bool(self.fs.isfile(self._path(*parts)))

    def read_bytes(self, *parts: str) -> bytes:
        """A whole file."""
        if self.local is not None:
            return self.local.joinpath(*parts).read_bytes()
        with _remote_errors(self.where(*parts)):
            return self.fs.cat_file(self._path(*parts))

    def read_range(self, name: str, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` of a file; remote reads go as concurrent ranges."""
        if self.local is not None:
            with open(self.local / name, "rb") as fh:
                fh.seek(offset)
                return fh.read(size)
        path = self._path(name)
        starts = list(range(offset, offset + size, RANGE_BYTES))
        ends = [min(s + RANGE_BYTES, offset + size) for s in starts]
        with _remote_errors(self.where(name)):
            parts = self.fs.cat_ranges([path] * len(starts), starts, ends)
        for part in parts:
            if isinstance(part, Exception):
                raise _wrap(part, self.where(name))
        return b"".join(parts)

    def read_ranges(self, name: str, spans: list[tuple[int, int]]) -> list[bytes]:
        """Several ``(offset, size)`` spans of one file; remote ones fetched concurrently."""
        if self.local is not None or not spans:
            return [self.read_range(name, offset, size) for offset, size in spans]
        path = self._path(name)
        with _remote_errors(self.where(name)):
            parts = self.fs.cat_ranges([path] * len(spans), [o for o, _ in spans],
                                       [o + n for o, n in spans])
        for part in parts:
            if isinstance(part, Exception):
                raise _wrap(part, self.where(name))
        return parts

    def open(self, name: str) -> Any:
        """A binary file object for reading (remote: 1 MiB blocks, for footers and headers)."""
        if self.local is not None:
            return open(self.local / name, "rb")
        with _remote_errors(self.where(name)):
            return self.fs.open(self._path(name), "rb", block_size=1 << 20)

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a file whole (temporary name + rename locally, one PUT remotely)."""
        if self.local is not None:
            path = self.local / name
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            return
        with _remote_errors(self.where(name)):
            self.fs.pipe_file(self._path(name), data)

    def prune(self, name: str) -> None:
        """Remove a local subfolder if it is empty (object stores have no folders to remove)."""
        if self.local is not None:
            with contextlib.suppress(OSError):
                (self.local / name).rmdir()

    def remove(self, name: str) -> None:
        """Delete a file if it exists."""
        if self.local is not None:
            (self.local / name).unlink(missing_ok=True)
            return
        with _remote_errors(self.where(name)):
            if self.fs.exists(self._path(name)):
                self.fs.rm_file(self._path(name))


def _filesystem(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(f"{url}: reading a URL needs fsspec: pip install "
                                 "'pytest-clipbias[remote]' (fsspec, s3fs)") from exc
    try:
        return url_to_fs(url, **options)
    except ImportError as exc:
        raise ConfigurationError(f"{url}: {exc} (pip install 'pytest-clipbias[remote]' brings "
                                 "s3fs; gcsfs, adlfs or pyarrow's HDFS for other schemes)") from exc
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{url}: {exc}; check the scheme and the storage options "
                                 f"({', '.join(options) or 'none given'})") from exc


class _remote_errors:
    """Turn a backend's error (missing object, no credentials, refused) into one naming the URL."""

    def __init__(self, where: str | Path) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, (FileNotFoundError, ConfigurationError)):
            return False
        if isinstance(exc, Exception):
            raise _wrap(exc, self.where) from exc
        return False


def _wrap(exc: Exception, where: str | Path) -> Exception:
    from .data.faceset import DatasetError

    if isinstance(exc, FileNotFoundError):
        return DatasetError(f"{where}: not found ({exc})")
    return DatasetError(
        f"{where}: cannot read or write it ({type(exc).__name__}: {exc}). Check the "
        "credentials and endpoint (for S3: AWS_ENDPOINT_URL, AWS_PROFILE or "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; or --clip-embeddings-storage-option "
        "KEY=VALUE such as client_kwargs.endpoint_url=http://host:port)")

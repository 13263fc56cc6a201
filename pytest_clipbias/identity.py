"""Content fingerprints of data, so a baseline can tell whether it measured the same data.

The same content gives the same fingerprint on any machine and in any folder;
paths, object ids and Python's salted ``hash()`` never enter it.

* image files: SHA-256 of the file bytes, streamed in 1 MiB chunks and kept
  for the session per (absolute path, mtime, size, inode), so a set of files
  is read once however often it is fingerprinted (a file modified in the last
  two seconds is not cached, since its mtime may not have ticked yet: git's
  "racy" rule);
* in-memory images: SHA-256 of the pixels (dtype, shape, bytes); a PIL image
  hashes like ``np.asarray`` of it, so the two spellings of one image agree;
* FaceSet: the multiset of (image content, attributes), independent of order
  and of the set's name, since every measure groups by attributes;
* morph series: each series by its source, target, attributes, alphas and
  its frames in order; a list of series as a multiset (order of series does
  not matter, the series id is a label, not content);
* plain values (texts, numbers, mappings, dataclasses such as PlantedImage)
  by value; other sequences in order, since their order may matter. Inside
  a FaceItem or MorphSeries a string is always an image path; elsewhere a
  string that names an existing file is read as that file, any other string
  is text (a label or prompt).

An object of any other type may define ``__clipbias_fingerprint__() -> str``.
Data that cannot be identified gets an ``unidentified:`` fingerprint that
never equals another one, so a comparison says so instead of guessing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ClipBiasError

UNIDENTIFIED = "unidentified:"
_CHUNK = 1 << 20
_RACY_NS = 2_000_000_000  # files changed in the last 2 s are re-read: mtime may not tick yet
_file_digests: dict[tuple[str, int, int, int, int], bytes] = {}


class DataIdentityError(ClipBiasError, ValueError):
    """A file named in the data cannot be read to fingerprint it."""


class _Unidentifiable(TypeError):
    pass


def file_digest(path: str | os.PathLike) -> bytes:
    """SHA-256 of a file's bytes, cached per (path, mtime, size, inode) for the session.

    Raises DataIdentityError naming the file when it cannot be read.
    """
    name = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(name)
    except OSError as exc:
        raise DataIdentityError(f"cannot fingerprint data file {name}: {exc.strerror}; "
                                "check that it still exists") from None
    key = (name, st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
    digest = _file_digests.get(key)
    if digest is None:
        h = hashlib.sha256()
        buf = bytearray(min(_CHUNK, max(st.st_size, 1)))
        view = memoryview(buf)
        try:
            with open(name, "rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    h.update(view[:n])
        except OSError as exc:
            raise DataIdentityError(f"cannot read data file {name}: {exc}") from None
        digest = h.digest()
        if time.time_ns() - st.st_mtime_ns > _RACY_NS:
            _file_digests[key] = digest
    return digest


def clear_file_cache() -> None:
    """Forget the per-session file digests (tests and long-lived processes)."""
    _file_digests.clear()


def _sha(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def _pixels(arr: Any) -> bytes:
    import numpy as np

    a = np.ascontiguousarray(arr)
    data = a.tobytes() if a.dtype.hasobject else a.reshape(-1).view(np.uint8)  # no copy
    return _sha(b"pixels", f"{a.dtype.str}|{a.shape}".encode(), data)


def _is_pil(obj: Any) -> bool:
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(obj, pil.Image)


def _is_array(obj: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.ndarray)


def _scalar(obj: Any) -> bytes | None:
    if obj is None or isinstance(obj, (bool, int, float)):
        return _sha(b"value", repr(obj).encode())
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.generic):
        return _sha(b"value", repr(obj.item()).encode())
    return None


def digest(obj: Any) -> bytes:
    """Full SHA-256 digest of one object's content (see the module docstring)."""
    own = getattr(obj, "__clipbias_fingerprint__", None)
    if callable(own):
        return _sha(b"own", str(own()).encode())
    if isinstance(obj, os.PathLike):
        return _sha(b"file", file_digest(obj))
    if isinstance(obj, str):
        return _sha(b"file", file_digest(obj)) if os.path.isfile(obj) else _sha(
            b"text", obj.encode())
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return _sha(b"bytes", bytes(obj))
    if _is_array(obj) or _is_pil(obj):
        return _pixels(obj)
    scalar = _scalar(obj)
    if scalar is not None:
        return scalar
    special = _data_digest(obj)
    if special is not None:
        return special
    if isinstance(obj, Mapping):
        items = sorted((str(k), digest(v)) for k, v in obj.items())
        return _sha(b"map", *(p for k, v in items for p in (k.encode(), v)))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return _sha(b"dc", type(obj).__qualname__.encode(), digest(fields))
    if isinstance(obj, (set, frozenset)):
        return multiset(obj)
    if isinstance(obj, (list, tuple)):
        return _sha(b"seq", *(digest(x) for x in obj))
    raise _Unidentifiable(type(obj).__name__)


def image_digest(image: Any) -> bytes:
    """Digest of an image-like: a path (str or PathLike) is always read as a file."""
    if isinstance(image, (str, os.PathLike)):
        return _sha(b"file", file_digest(image))
    return digest(image)


def multiset(items: Iterable[Any]) -> bytes:
    """Digest of a collection whose order does not matter (duplicates still count)."""
    return _sha(b"multiset", *sorted(digest(x) for x in items))


def _texts(mapping: Mapping[str, str]) -> bytes:
    """Attributes as plain text (values are labels, never read as file names)."""
    return json.dumps(sorted(mapping.items())).encode()


@functools.cache
def _data_types() -> tuple[type, type, type]:
    from .data.faceset import FaceItem, FaceSet
    from .data.morph import MorphSeries

    return FaceItem, FaceSet, MorphSeries


def _face(item: Any) -> bytes:
    image = item.image
    own = callable(getattr(image, "__clipbias_fingerprint__", None))
    head = file_digest(image) if isinstance(image, (str, os.PathLike)) and not own \
        else digest(image)
    # fixed-length digest then the attributes: unambiguous without length prefixes
    return hashlib.sha256(b"face" + head + _texts(item.attributes)).digest()


def _data_digest(obj: Any) -> bytes | None:
    """FaceItem, FaceSet and MorphSeries, by content (labels and names left out)."""
    face_item, face_set, morph_series = _data_types()
    if isinstance(obj, face_item):
        return _face(obj)
    if isinstance(obj, face_set):
        return _sha(b"multiset", *sorted(_face(item) for item in obj))
    if isinstance(obj, morph_series):
        return _sha(b"series", obj.source.encode(), obj.target.encode(),
                    _texts(obj.attributes), repr(tuple(obj.alphas)).encode(),
                    *(image_digest(img) for img in obj.images))
    return None


def fingerprint(obj: Any) -> str:
    """16-hex content fingerprint of ``obj``; raises TypeError for unidentifiable objects."""
    try:
        return digest(obj).hex()[:16]
    except _Unidentifiable as exc:
        raise TypeError(f"cannot identify a {exc} by content; pass paths, PIL images or "
                        "arrays, or give the type a __clipbias_fingerprint__() method") from None


def data_fingerprint(data: Any) -> str:
    """Fingerprint of what a measure was computed on ("" for no data).

    A FaceSet or a list of morph series is fingerprinted without regard to
    order; other sequences in order. Unidentifiable data gives a unique
    ``unidentified:TYPE:...`` string, which a baseline comparison reports as
    "data not identified by content" instead of comparing.
    """
    if data is None:
        return ""
    try:
        if isinstance(data, (list, tuple)) and data and all(
                _is_series(s) for s in data):
            return multiset(data).hex()[:16]
        return digest(data).hex()[:16]
    except _Unidentifiable as exc:
        return f"{UNIDENTIFIED}{exc}:{uuid.uuid4().hex[:8]}"


def _is_series(obj: Any) -> bool:
    return isinstance(obj, _data_types()[2])


def describe_fingerprint(value: str) -> str:
    """Why a fingerprint cannot be compared, or "" when it can."""
    if value.startswith(UNIDENTIFIED):
        kind = value[len(UNIDENTIFIED):].split(":")[0]
        return (f"data not identified by content ({kind} objects; give the type a "
                "__clipbias_fingerprint__() method)")
    return ""


__all__ = ["DataIdentityError", "clear_file_cache", "data_fingerprint", "describe_fingerprint",
           "digest", "file_digest", "fingerprint", "image_digest", "multiset"]

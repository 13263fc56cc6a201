"""FaceItem and FaceSet: ordered, immutable collections of images with attributes."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, overload

from .manifest import Entry, parse_manifest
from .problems import DatasetError, describe_rows

__all__ = ["DatasetError", "FaceItem", "FaceSet", "describe_rows", "faceset_from_entries"]


def _absent(value: Any) -> bool:
    """None, NaN (float or numpy) and pandas' NA / NaT: a missing value, not a group."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)  # NaN is the only value unequal to itself
    except (TypeError, ValueError):
        return False


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, str]:
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType({str(k): str(v) for k, v in (mapping or {}).items()
                             if not _absent(v)})


@dataclass(frozen=True, eq=False)
class FaceItem:
    """One image and its attributes, e.g. {"gender": "female", "race": "Black"}.

    ``image`` is a path, a PIL image or an HxWx3 uint8 array. ``raw`` keeps
    the attribute values as the source spelled them, before normalisation.
    Values are kept as text; a missing value (None, NaN, pandas NA, as from
    an empty CSV cell read by pandas) means "attribute absent": it is left
    out of the mapping, never turned into a group "None" or "nan", so a
    check that needs the attribute names the item instead of judging it.
    """

    image: Any
    attributes: Mapping[str, str]
    raw: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        attributes = _frozen(self.attributes)
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "raw", _frozen(self.raw) if self.raw else attributes)

    def __getitem__(self, key: str) -> str:
        return self.attributes[key]

    def get(self, key: str, default: str | None = None) -> str | None:
        """Attribute value or ``default``."""
        return self.attributes.get(key, default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FaceItem):
            return NotImplemented
        same_image = (
            self.image == other.image
            if isinstance(self.image, (str, os.PathLike)) else self.image is other.image
        )
        return same_image and dict(self.attributes) == dict(other.attributes)

    def __hash__(self) -> int:
        is_path = isinstance(self.image, (str, os.PathLike))
        key = os.fspath(self.image) if is_path else id(self.image)
        return hash((key, tuple(sorted(self.attributes.items()))))

    def __repr__(self) -> str:
        image = os.fspath(self.image) if isinstance(self.image, (str, os.PathLike)) else (
            type(self.image).__name__)
        return f"FaceItem({image!r}, {dict(self.attributes)!r})"


class FaceSet:
    """An ordered, immutable collection of FaceItem.

    ``name`` says where it came from (for reports); ``fingerprint`` is a hash
    of the images' content and attributes, so a baseline can tell whether it
    was computed on the same data.
    """

    def __init__(self, items: Iterable[FaceItem], *, name: str = "faces") -> None:
        self._items: tuple[FaceItem, ...] = tuple(items)
        for i, item in enumerate(self._items):
            if not isinstance(item, FaceItem):
                raise TypeError(f"FaceSet item {i} is a {type(item).__name__}, not a FaceItem")
        self.name = name

    # -- construction --------------------------------------------------------------

    @classmethod
    def from_manifest(cls, path: str | os.PathLike, **kwargs: Any) -> FaceSet:
        """Read a CSV or JSONL manifest: see :func:`pytest_clipbias.data.loaders.load_manifest`."""
        entries, name = parse_manifest(path, **kwargs)
        return faceset_from_entries(entries, name)

    # -- sequence protocol ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[FaceItem]:
        return iter(self._items)

    @overload
    def __getitem__(self, index: int) -> FaceItem: ...

    @overload
    def __getitem__(self, index: slice) -> FaceSet: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return FaceSet(self._items[index], name=self.name)
        return self._items[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaceSet) and self._items == other._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FaceSet({self.name!r}, {len(self)} items)"

    # -- queries -------------------------------------------------------------------

    @property
    def images(self) -> list[Any]:
        """The images, in order, ready for ``encode_images``."""
        return [item.image for item in self._items]

    def keys(self) -> list[str]:
        """Attribute keys present on any item, in first-seen order."""
        return list(dict.fromkeys(k for item in self._items for k in item.attributes))

    def values(self, key: str) -> list[str | None]:
        """The value of ``key`` for every item (None where an item lacks it)."""
        self._check_key(key)
        return [item.get(key) for item in self._items]

    def _check_key(self, key: str) -> None:
        if self._items and key not in self.keys():
            raise KeyError(
                f"{self.name}: no attribute {key!r}; attributes present: {', '.join(self.keys())}"
            )

    def filter(self, **attrs: str | Iterable[str]) -> FaceSet:
        """Items whose attributes match all the given values.

        ``filter(gender="female", race=("Black", "White"))``: a string is one
        accepted value, a collection several. A value that no item has (a typo
        such as "mael") or an empty collection is a ValueError listing the
        values present: it would otherwise drop a group silently.
        """
        for key in attrs:
            self._check_key(key)
        wanted = {
            k: {v} if isinstance(v, str) else {str(x) for x in v} for k, v in attrs.items()
        }
        for key, values in wanted.items():
            have = {v for v in self.values(key) if v is not None} if self._items else values
            absent = sorted(values - have)
            if absent or not values:
                raise ValueError(f"{self.name}: filter({key}=...) "
                                 + (f"names {absent}, which no face has" if absent else
                                    "got no values")
                                 + f"; values present: {sorted(have)}")
        kept = [i for i in self._items if all(i.get(k) in vs for k, vs in wanted.items())]
        label = ",".join(f"{k}={'|'.join(sorted(v))}" for k, v in wanted.items())
        return FaceSet(kept, name=f"{self.name}[{label}]")

    def groups(self, key: str) -> dict[str, FaceSet]:
        """Split by the value of ``key`` (sorted by value); items lacking it are left out."""
        self._check_key(key)
        buckets: dict[str, list[FaceItem]] = {}
        for item in self._items:
            value = item.get(key)
            if value is not None:
                buckets.setdefault(value, []).append(item)
        return {v: FaceSet(buckets[v], name=f"{self.name}[{key}={v}]") for v in sorted(buckets)}

    def summary(self, *keys: str) -> dict[tuple[str, ...], int]:
        """Counts by the given attributes (all keys when none given), sorted."""
        keys = keys or tuple(self.keys())
        for key in keys:
            self._check_key(key)
        counts = Counter(tuple(item.get(k) or "" for k in keys) for item in self._items)
        return dict(sorted(counts.items()))

    def describe(self, *keys: str) -> str:
        """``summary`` as aligned text lines, for logs and error messages."""
        keys = keys or tuple(self.keys())
        lines = [f"{self.name}: {len(self)} items"]
        for combo, n in self.summary(*keys).items():
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
                         + f": {n}")
        return "\n".join(lines)

    @property
    def fingerprint(self) -> str:
        """Content fingerprint: image bytes (files) or pixels, with attributes, in any order.

        The same images and attributes give the same value in any folder, on
        any machine and in any order (see :mod:`pytest_clipbias.identity`).
        """
        from ..identity import fingerprint

        return fingerprint(self)

    def __add__(self, other: FaceSet) -> FaceSet:
        return FaceSet(self._items + tuple(other), name=f"{self.name}+{other.name}")


def faceset_from_entries(entries: Iterable[Entry], name: str) -> FaceSet:
    """Wrap checked loader entries as a FaceSet (their str -> str dicts need no copy)."""
    return FaceSet((FaceItem(e.path, MappingProxyType(e.attrs), MappingProxyType(e.raw))
                    for e in entries), name=name)

"""Dataset errors that list every problem at once, and the path helper the loaders share.

A loader checks a whole dataset before it raises: a bad gender, an unknown
country and a missing file in one manifest are reported in one DatasetError
(the first 20 problems, and a count per kind), so one run shows everything
there is to fix.
"""

from __future__ import annotations

import os
from collections import Counter

from ..errors import ClipBiasError

LIMIT = 20


class DatasetError(ClipBiasError, ValueError):
    """A dataset cannot be read as asked; the message names the file and the rows."""


def describe_rows(rows: list[tuple[int, str]], what: str, source: str, fix: str,
                  limit: int = LIMIT) -> str:
    """Format an error listing the first offending rows and their count."""
    shown = "; ".join(f"row {r}: {text}" for r, text in rows[:limit])
    more = f"; ... and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{source}: {len(rows)} {what}: {shown}{more}. {fix}"


class Problems:
    """Collects (kind, where, text) problems of one dataset and raises them together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._items: list[tuple[str, str, str]] = []
        self._fixes: dict[str, str] = {}

    def add(self, kind: str, where: str, text: str, fix: str = "") -> None:
        """Record a problem: ``add("unknown race values", "row 3", "column 'race': 'blak'")``."""
        self._items.append((kind, where, text))
        if fix:
            self._fixes.setdefault(kind, fix)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def message(self) -> str:
        """The first LIMIT problems, a count per kind, and what to do about each kind."""
        counts = Counter(kind for kind, _, _ in self._items)
        n = len(self._items)
        head = (f"{self.source}: {n} problem{'s' if n != 1 else ''} ("
                + ", ".join(f"{c} {kind}" for kind, c in counts.items()) + ")")
        lines = [head + (f"; the first {LIMIT}:" if n > LIMIT else ":")]
        lines += [f"  {where}: {text}" for _, where, text in self._items[:LIMIT]]
        if n > LIMIT:
            lines.append(f"  ... and {n - LIMIT} more")
        lines += [f"To fix {kind}: {fix}" for kind, fix in self._fixes.items()]
        return "\n".join(lines)

    def raise_if_any(self) -> None:
        """Raise one DatasetError listing everything recorded so far."""
        if self._items:
            raise DatasetError(self.message())


def relative_to(base: str, value: str) -> str:
    """Resolve a manifest path against the manifest's (absolute) folder; absolute paths kept.

    Plain os.path string operations: pathlib costs more than everything else
    when indexing a 100,000-row manifest.
    """
    if value.startswith("~"):
        value = os.path.expanduser(value)
    return os.path.normpath(value if os.path.isabs(value) else os.path.join(base, value))

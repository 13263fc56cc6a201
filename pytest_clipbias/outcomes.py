"""What a result keeps for the release gate: every cell, and per-item outcomes to pair runs.

A check's result carries ``details["gate"]``:

* ``cells``: one entry per judged cell (pair type, region x label, group,
  query): ``cell`` (its name), the signed ``effect``, its interval ``ci`` at
  the recorded ``level`` (LEVEL) with the interval's ``kind``, and ``n``. A
  cell that could not be judged has effect null and its ``reason``.
* ``items`` (checks built on per-item outcomes): ``keys``, each item's content
  key (:func:`pytest_clipbias.identity.digest`, 16 hex digits, concatenated;
  the k-th copy of one item gets ``#k`` appended in ``dups``); ``columns`` of
  outcomes (binary: one character per item, ``0``/``1``/``-`` for none;
  scores: base64 of little-endian float32, NaN for none); ``groups`` as base64
  bit masks; ``clusters`` (morph series: their parents) as base64 int32 codes
  into ``names``. A cell's ``paired`` spec says how its effect follows from
  them: stat ``h1`` (Cohen's h of column ``y``'s rate in group ``a`` against
  ``p0``), ``h2`` (between groups ``a`` and ``b``) or ``d`` (Cohen's d of
  column ``y`` between ``a`` and ``b``, pooled sd, ddof 1).

:func:`paired_change` pairs two runs on the items both hold and estimates
the change of a cell's effect with its standard error (delta method,
cluster-robust); :mod:`pytest_clipbias.gate` tests it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Confidence level of the intervals stored per cell (recorded with each one).
LEVEL = 0.95
_KEY = 16


def item_keys(items: Sequence[Any]) -> list[str]:
    """Content key of each item (16 hex digits); a repeated item gets ``#2``, ``#3``, ..."""
    from .identity import digest

    seen: dict[str, int] = {}
    out = []
    for item in items:
        key = digest(item).hex()[:_KEY]
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


@dataclass
class ItemTable:
    """Per-item outcomes of one result: keys, outcome columns, group masks, clusters."""

    keys: list[str]
    columns: dict[str, np.ndarray]
    groups: dict[str, np.ndarray]
    clusters: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        """The compact JSON form (see the module docstring)."""
        plain = [k.split("#")[0] for k in self.keys]
        dups = {str(i): k.split("#")[1] for i, k in enumerate(self.keys) if "#" in k}
        cols = {}
        for name, v in self.columns.items():
            if v.dtype == bool or set(np.unique(v[np.isfinite(v)])) <= {0.0, 1.0}:
                text = "".join("-" if not np.isfinite(x) else "1" if x else "0" for x in v)
                cols[name] = {"kind": "binary", "data": text}
            else:
                cols[name] = {"kind": "float32", "data": _b64(v.astype("<f4").tobytes())}
        out: dict[str, Any] = {
            "n": len(self.keys), "keys": "".join(plain), "dups": dups, "columns": cols,
            "groups": {g: _b64(np.packbits(m.astype(bool)).tobytes())
                       for g, m in self.groups.items()}}
        if self.clusters is not None:
            names, codes = np.unique(self.clusters.astype(str), return_inverse=True)
            out["clusters"] = {"names": names.tolist(), "width": int(self.clusters.shape[1]),
                               "codes": _b64(codes.astype("<i4").tobytes())}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemTable:
        """Inverse of :meth:`to_json`; ValueError when the stored form is damaged."""
        n, text = int(data["n"]), str(data["keys"])
        if len(text) != n * _KEY:
            raise ValueError(f"item keys hold {len(text)} characters, expected {n * _KEY}")
        keys = [text[i * _KEY:(i + 1) * _KEY] for i in range(n)]
        for i, k in dict(data.get("dups", {})).items():
            keys[int(i)] += f"#{k}"
        columns = {name: _column(c, n) for name, c in dict(data["columns"]).items()}
        groups = {g: np.unpackbits(np.frombuffer(_unb64(b), np.uint8))[:n].astype(bool)
                  for g, b in dict(data["groups"]).items()}
        clusters = None
        if data.get("clusters"):
            c = data["clusters"]
            codes = np.frombuffer(_unb64(c["codes"]), "<i4").reshape(n, int(c["width"]))
            clusters = np.asarray(c["names"], dtype=object)[codes]
        return cls(keys, columns, groups, clusters)


def _column(c: Mapping[str, Any], n: int) -> np.ndarray:
    if c["kind"] == "binary":
        v = np.array([np.nan if ch == "-" else float(ch) for ch in c["data"]])
    else:
        v = np.frombuffer(_unb64(c["data"]), "<f4").astype(np.float64)
    if len(v) != n:
        raise ValueError(f"an outcome column holds {len(v)} values for {n} items")
    return v


def cell_entries(rows: Sequence[Any], name_of: Callable[[Any], str], *, kind: str,
                 cell_key: str | None = None,
                 paired: Callable[[Any, str], dict | None] | None = None) -> list[dict]:
    """One entry per cell of the measure's rows (unjudged rows: one entry with the reason)."""
    out = []
    for row in rows:
        base = name_of(row)
        if row.problem is not None or not row.cells:
            out.append({"cell": base, "effect": None, "ci": [None, None], "level": LEVEL,
                        "kind": kind, "n": 0, "reason": row.problem or "not judged"})
            continue
        for name, cell in row.cells.items():
            entry = {"cell": f"{base}, {cell_key} {name}" if name else base,
                     "effect": cell.effect, "ci": list(cell.interval(LEVEL)), "level": LEVEL,
                     "kind": kind, "n": cell.n}
            spec = paired(row, name) if paired else None
            if spec:
                entry["paired"] = spec
            out.append(entry)
    return out


def gate_details(cells: list[dict], items: ItemTable | None = None) -> dict[str, Any]:
    """``{"gate": ...}``, to merge into a result's details."""
    gate: dict[str, Any] = {"format": 1, "cells": cells}
    if items is not None:
        gate["items"] = items.to_json()
    return {"gate": gate}


def cells_gate(rows: Sequence[Any], name_of: Callable[[Any], str], kind: str,
               cell_key: str | None = None) -> dict[str, Any]:
    """``{"gate": ...}`` with the cells alone (checks without per-item outcomes)."""
    return gate_details(cell_entries(rows, name_of, kind=kind, cell_key=cell_key))


def hypodescent_gate(series: Sequence[Any], groups: Mapping[Any, list[int]],
                     margins: Mapping[Any, list], rows: Sequence[Any], at: float
                     ) -> dict[str, Any]:
    """``{"gate": ...}`` of a hypodescent result: cells plus each series' midpoint label."""
    items, spec = hypodescent_items(series, groups, margins, rows, at)
    kind = ("clopper-pearson at n / deff" if items.clusters is not None else
            "clopper-pearson") + ", mapped to h"
    return gate_details(cell_entries(rows, lambda r: r.pair, kind=kind, paired=spec), items)


def person_default_gate(faces: Sequence[Any], scores: np.ndarray, codes: np.ndarray,
                        rows: Sequence[Any]) -> dict[str, Any]:
    """``{"gate": ...}`` of a person-default result: per face whether "person" won."""
    n = len(codes)
    wins = scores[np.arange(n), 0] > scores[np.arange(n), 1 + codes]
    names = [r.group for r in rows]
    items, spec = contrast_items(faces, "person wins", wins, {
        g: (codes == i, codes != i) for i, g in enumerate(names)})
    return gate_details(cell_entries(rows, lambda r: r.group, kind="mover-wilson h",
                                     paired=lambda r, _: spec(r.group)), items)


def parity_gate(faces: Sequence[Any], hits: np.ndarray, attrs: Mapping[str, np.ndarray],
                rows: Sequence[Any], name_of: Callable[[Any], str], cue: str | None,
                cue_values: tuple[str, str], column: str = "label") -> dict[str, Any]:
    """``{"gate": ...}`` of a label-rate parity result: per face whether it got the label
    (accuracy parity: whether it was misclassified, ``column`` "error").

    Each row's two groups: its images and the rest, or (a cue row) its cell with
    and without the cue; a row whose groups do not reproduce its counts is
    stored unpaired.
    """
    n = len(hits)
    contrasts = {}
    for row in rows:
        cond = np.ones(n, dtype=bool)
        for key, value in row.group.items():
            if key != cue or row.kind != "cue":
                cond &= attrs[key] == value
        a, b = (cond, ~cond) if row.kind != "cue" else (
            cond & (attrs[cue] == cue_values[0]), cond & (attrs[cue] == cue_values[1]))
        if (int(a.sum()), int(b.sum())) == (row.n, row.compared_n):
            contrasts[name_of(row)] = (a, b)
    items, spec = contrast_items(faces, column, hits, contrasts)
    return gate_details(cell_entries(rows, name_of, kind="mover-wilson h", paired=lambda r, _: (
        spec(name_of(r)) if name_of(r) in contrasts else None)), items)


def region_gate(faces: Sequence[Any], scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
                labels: Sequence[str], metric: str, keys: tuple[str, str],
                genders: tuple[str, str], rows: Sequence[Any]) -> dict[str, Any]:
    """``{"gate": ...}`` of a region gender skew result: per face its label scores."""
    items, spec = region_items(faces, scores, labels, metric, keys, genders)
    kind = "noncentral-t d" if metric == "association" else "mover-wilson h"
    return gate_details(cell_entries(rows, lambda r: r.group, kind=kind, cell_key="label",
                                     paired=spec), items)


def hypodescent_items(series: Sequence[Any], groups: Mapping[Any, list[int]],
                      margins: Mapping[Any, list], rows: Sequence[Any], at: float
                      ) -> tuple[ItemTable, Callable[[Any, str], dict]]:
    """Per series its midpoint label (1: minority, 0: majority, none: no finite margin at
    ``at``), a group per pair type, and its parents as clusters (when every series has two)."""
    from .measures.hypodescent import margin_at

    y = np.full(len(series), np.nan)
    masks = {}
    for (key, idx), row in zip(groups.items(), rows, strict=True):
        masks[row.pair] = np.isin(np.arange(len(series)), idx)
        for i, m in zip(idx, margins[key], strict=True):
            m = np.asarray(m, dtype=np.float64)
            value = margin_at(np.asarray(series[i].alphas), m, at) if np.isfinite(m).all() \
                else np.nan
            y[i] = float(value > 0) if np.isfinite(value) else np.nan
    parents = [tuple(s.parents) for s in series]
    clusters = np.array(parents, dtype=object) if all(len(p) == 2 for p in parents) else None
    return (ItemTable(item_keys(series), {"minority": y}, masks, clusters),
            lambda row, _: {"stat": "h1", "y": "minority", "a": row.pair, "p0": 0.5})


def contrast_items(faces: Sequence[Any], column: str, outcome: np.ndarray,
                   contrasts: Mapping[str, tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[ItemTable, Callable[[str], dict]]:
    """Faces with one binary outcome and, per named contrast, its two groups (a vs b).

    Returns the table and ``spec(name)``, the paired spec of the contrast's cell
    (Cohen's h between the rates of its two groups).
    """
    groups = {}
    for name, (a, b) in contrasts.items():
        groups[f"{name} | a"], groups[f"{name} | b"] = np.asarray(a, bool), np.asarray(b, bool)
    table = ItemTable(item_keys(faces), {column: np.asarray(outcome, dtype=np.float64)}, groups)
    return table, lambda name: {"stat": "h2", "y": column, "a": f"{name} | a",
                                "b": f"{name} | b"}


def region_items(faces: Sequence[Any], scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 labels: Sequence[str], metric: str, keys: tuple[str, str],
                 genders: tuple[str, str]) -> tuple[ItemTable, Callable[[Any, str], dict]]:
    """Per face its score for each label (metric "association") or whether the label is
    its top-1 (metric "rate"); a group per region and gender."""
    region = np.array(faces.values(keys[0]), dtype=object)
    sex = np.array(faces.values(keys[1]), dtype=object)
    values = np.full((len(region), len(labels)), np.nan)
    groups = {}
    for r, blocks in scores.items():
        for g, block in zip(genders, blocks, strict=True):
            mask = (region == r) & (sex == g)
            groups[f"{r} | {g}"] = mask
            if len(block):
                values[mask] = block if metric == "association" else (
                    block.argmax(1)[:, None] == np.arange(len(labels)))
    stat = "d" if metric == "association" else "h2"
    return (ItemTable(item_keys(faces), {lab: values[:, j] for j, lab in enumerate(labels)},
                      groups),
            lambda row, label: {"stat": stat, "y": label, "a": f"{row.group} | {genders[0]}",
                                "b": f"{row.group} | {genders[1]}"})


@dataclass(frozen=True)
class PairedChange:
    """A cell's effect in both runs on the matched items, and the se of the change."""

    old: float
    new: float
    se: float
    n: int
    clustered: bool


def _arcsine_slope(p: float, n: int) -> float:
    q = min(max(p, 0.5 / n), 1 - 0.5 / n)  # finite slope at rates of 0 or 1
    return 1.0 / np.sqrt(q * (1 - q))


def _influence(stat: str, y: np.ndarray, a: np.ndarray, b: np.ndarray | None,
               p0: float) -> tuple[float, np.ndarray]:
    """(effect, influence of each item): effect - true ~ sum of the influences."""
    from .stats import cohens_h

    u = np.zeros(len(y))
    ya, na = y[a], int(a.sum())
    if stat == "h1":
        p = float(ya.mean())
        u[a] = _arcsine_slope(p, na) * (ya - p) / na
        return float(cohens_h(p, p0)), u
    yb, nb = y[b], int(b.sum())
    if stat == "h2":
        pa, pb = float(ya.mean()), float(yb.mean())
        u[a] = _arcsine_slope(pa, na) * (ya - pa) / na
        u[b] = -_arcsine_slope(pb, nb) * (yb - pb) / nb
        return float(cohens_h(pa, pb)), u
    ea, eb = ya - ya.mean(), yb - yb.mean()
    dof = na + nb - 2
    s2 = (np.sum(ea**2) + np.sum(eb**2)) / dof
    s = np.sqrt(s2)
    d = float((ya.mean() - yb.mean()) / s)
    u[a] = ea / (na * s) - d * (ea**2 - s2) / (2 * s2 * dof)
    u[b] = -eb / (nb * s) - d * (eb**2 - s2) / (2 * s2 * dof)
    return d, u


def _variance(u: np.ndarray, clusters: np.ndarray | None) -> float:
    """Variance of sum(u): n / (n - 1) sum u^2 for independent items; with cluster ids,
    G / (G - 1) sum over the pairs sharing an id of u_i u_j (Cameron, Gelbach & Miller
    2011), never below the independent one."""
    n = len(u)
    iid = n / (n - 1) * float(np.sum(u**2))
    if clusters is None:
        return iid
    from scipy import sparse

    ids = np.asarray(clusters, dtype=str).reshape(n, -1)
    uniq, inverse = np.unique(ids.ravel(), return_inverse=True)
    member = sparse.csr_matrix((np.ones(ids.size), (np.repeat(np.arange(n), ids.shape[1]),
                                                    inverse.ravel())), shape=(n, len(uniq)))
    member.data[:] = 1.0
    share = (member @ member.T).tocsr()
    share.data[:] = 1.0
    g = len(uniq)
    return max(iid, g / (g - 1) * float(u @ (share @ u)) if g > 1 else iid)


def _matched(spec: Mapping[str, Any], old: ItemTable, new: ItemTable) -> tuple | str:
    """Indices of the common items in both tables, and the cell's groups on them."""
    index = {k: i for i, k in enumerate(new.keys)}
    io = np.array([i for i, k in enumerate(old.keys) if k in index], dtype=int)
    if not len(io):
        return "the runs share no item"
    inew = np.array([index[old.keys[i]] for i in io], dtype=int)
    masks = []
    for g in (spec["a"], spec.get("b")):
        if g is None:
            masks.append(None)
            continue
        if g not in old.groups or g not in new.groups:
            return f"group {g!r} not stored in both runs"
        if not np.array_equal(old.groups[g][io], new.groups[g][inew]):
            return f"the items of group {g!r} differ between the runs"
        masks.append(old.groups[g][io])
    return io, inew, masks[0], masks[1]


def paired_change(old_cell: Mapping[str, Any], new_cell: Mapping[str, Any], old: ItemTable,
                  new: ItemTable) -> PairedChange | str:
    """A cell's effect in both runs on the items both hold, and the standard error of the
    change from the paired per-item influences (delta method; cluster-robust with cluster
    ids). A string says why the runs cannot be paired for this cell."""
    spec = old_cell.get("paired")
    if not spec or spec != new_cell.get("paired"):
        return "no per-item outcomes for this cell in both runs"
    if spec["y"] not in old.columns or spec["y"] not in new.columns:
        return f"outcome {spec['y']!r} not stored in both runs"
    matched = _matched(spec, old, new)
    if isinstance(matched, str):
        return matched
    io, inew, a, b = matched
    y0, y1 = old.columns[spec["y"]][io], new.columns[spec["y"]][inew]
    ok = np.isfinite(y0) & np.isfinite(y1)
    a = a & ok
    b = None if b is None else b & ok
    if a.sum() < 2 or (b is not None and b.sum() < 2):
        return "fewer than 2 matched items in a group"
    y0, y1 = np.where(ok, y0, 0.0), np.where(ok, y1, 0.0)
    e0, u0 = _influence(spec["stat"], y0, a, b, float(spec.get("p0", 0.5)))
    e1, u1 = _influence(spec["stat"], y1, a, b, float(spec.get("p0", 0.5)))
    members = a if b is None else a | b
    clusters = None if old.clusters is None else old.clusters[io][members]
    var = _variance((u1 - u0)[members], clusters)
    return PairedChange(e0, e1, float(np.sqrt(var)), int(members.sum()), clusters is not None)

"""The cells of two comparable results, matched by name, and the test of each one's change.

A result saved with per-cell records (``details["gate"]``, see
:mod:`pytest_clipbias.outcomes`) is compared cell by cell (pair type, region x
label, group, query), paired on the items both runs hold when it has per-item
outcomes. A result saved before them (schema 1), or a custom result without
them, is compared per table row (its headline when the table is empty),
unpaired, at the confidence level each row records (``ci_level``); a
custom result that records none (``details["confidence"]``) is read at
1 - alpha and the row says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..gate import FailRule, harm_test, se_from_interval, side_se
from ..outcomes import ItemTable, PairedChange, paired_change
from .views import group_keys, group_name, view_for


@dataclass
class CellRow:
    """One compared cell: effects, the change d = e1 - e0 with its 1 - 2 alpha interval,
    the harm growth judged, its p (raw and Holm), the test that ran and the verdict."""

    cell: str
    verdict: str  # regressed, inconclusive, within tolerance, grew, shrank, unchanged, ...
    old: float = float("nan")
    new: float = float("nan")
    change: tuple[float, float, float] | None = None  # d, low, high
    growth: float = float("nan")
    p_value: float = float("nan")
    p_holm: float = float("nan")
    test: str = ""
    reversed: bool = False
    tolerance: float = float("nan")
    note: str = ""
    inputs: tuple | None = field(default=None, repr=False)  # (d, se_d, se0, se1)


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _gate(rec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    gate = (rec["result"].get("details") or {}).get("gate")
    return gate if isinstance(gate, Mapping) and isinstance(gate.get("cells"), list) else None


def record_cells(rec: Mapping[str, Any], per_row: bool) -> dict[str, dict]:
    """Cells of a record by name: its per-cell records, or (``per_row``) its table rows."""
    result = rec["result"]
    gate = _gate(rec)
    if gate is not None and not per_row:
        return {str(c["cell"]): c for c in gate["cells"]}
    table = result.get("table") or []
    if not table:
        level = (result.get("details") or {}).get("confidence")
        return {"(headline)": {"cell": "(headline)", "effect": result.get("effect"),
                               "ci": result.get("ci"), "n": result.get("n"),
                               "level": level, "assumed": level is None,
                               "alpha": result.get("alpha", 0.05)}}
    keys = group_keys(table, view_for(result["name"]))
    return {group_name(row, keys) or "(all)": {
        "cell": group_name(row, keys) or "(all)", "effect": row.get("effect"),
        "ci": [row.get("ci_low"), row.get("ci_high")], "level": row.get("ci_level"),
        "n": row.get("n"), "reason": row.get("reason", "")} for row in table}


def _items(rec: Mapping[str, Any]) -> ItemTable | None:
    gate = _gate(rec)
    try:
        return ItemTable.from_json(gate["items"]) if gate and gate.get("items") else None
    except (KeyError, TypeError, ValueError):
        return None  # damaged outcomes: the cells are still compared, unpaired


def cell_rows(old: Mapping[str, Any], new: Mapping[str, Any], rules: Sequence[FailRule],
              alpha: float) -> tuple[list[CellRow], str]:
    """Every cell of two comparable records, with its test inputs; and a note for the row."""
    per_row = _gate(old) is None or _gate(new) is None
    note = ""
    if per_row and (_gate(old) or _gate(new)):
        note = "compared per table row, unpaired (a run saved without per-cell records)"
    elif per_row and old["result"].get("table"):
        note = "compared per table row, unpaired (this measure keeps no per-cell records)"
    cells_old, cells_new = record_cells(old, per_row), record_cells(new, per_row)
    items = None if per_row else (_items(old), _items(new))
    measure = new["result"]["name"]
    applying = [r for r in rules if r.applies(measure)]
    return [_cell(name, cells_old.get(name), cells_new.get(name), items, applying, alpha)
            for name in dict.fromkeys([*cells_old, *cells_new])], note


def _defined(c: Mapping[str, Any]) -> bool:
    return c.get("effect") is not None and None not in (c.get("ci") or [None])


def _cell(name: str, o: Mapping | None, n: Mapping | None, items: tuple | None,
          rules: Sequence[FailRule], alpha: float) -> CellRow:
    if o is None:
        return CellRow(name, "new", new=_num(n.get("effect")), note="not in the baseline")
    if n is None:
        return CellRow(name, "not comparable", _num(o.get("effect")), note="not in the candidate")
    if not _defined(n):
        return CellRow(name, "undefined", _num(o.get("effect")), note="candidate effect "
                       f"undefined: {n.get('reason') or 'no interval'}")
    if not _defined(o):
        return CellRow(name, "new", new=_num(n["effect"]), note="undefined in the baseline: "
                       f"{o.get('reason') or 'no interval'}")
    levels = [c.get("level") if c.get("level") is not None else 1 - c.get("alpha", 0.05)
              for c in (o, n)]
    pc = paired_change(o, n, *items) if items and None not in items else None
    if isinstance(pc, PairedChange):
        e0, e1, se_d = pc.old, pc.new, pc.se
        test = f"paired z, {pc.n} items" + (", clustered" if pc.clustered else "")
    else:
        e0, e1 = float(o["effect"]), float(n["effect"])
        se_d = math.hypot(*(float(se_from_interval(*c["ci"], lev))
                            for c, lev in zip((o, n), levels, strict=True)))
        test = f"unpaired, {levels[0]:.4g}/{levels[1]:.4g} intervals" + (
            f" ({pc})" if isinstance(pc, str) else "")
    se0, se1 = (side_se(float(c["effect"]), *map(float, c["ci"]), lev)
                for c, lev in zip((o, n), levels, strict=True))
    tol = min((r.tolerance(e0) for r in rules), default=float("nan"))
    ht = harm_test(e0, e1, e1 - e0, se_d, se1, tol if tol == tol else 0.0)
    half = _z(1 - alpha) * se_d
    assumed = "; level assumed 1 - alpha" if o.get("assumed") or n.get("assumed") else ""
    return CellRow(name, "", e0, e1, (e1 - e0, e1 - e0 - half, e1 - e0 + half), ht.growth,
                   ht.p_value, test=test + assumed, reversed=ht.reversed, tolerance=tol,
                   inputs=(e1 - e0, se_d, se0, se1))


def _z(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)

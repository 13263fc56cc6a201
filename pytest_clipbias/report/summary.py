"""The "clipbias" section of the terminal summary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2}


def _num(x: Any, fmt: str = ".2f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def _p(p: Any) -> str:
    if p is None:
        return "-"
    return "<1e-6" if p < 1e-6 else f"{p:.3g}"


def sort_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Worst first: failures, then inconclusive, then passes; larger effect/threshold first."""
    def key(rec):
        r = rec["result"]
        ratio = abs(r["effect"] or 0.0) / (r["threshold"] or 1.0)
        return (_ORDER[r["verdict"]], -ratio, rec["test"])

    return sorted(records, key=key)


def result_lines(records: Sequence[Mapping[str, Any]], *, verbose: bool = False) -> list[str]:
    """One row per result (test, measure, effect [CI], p, threshold, verdict)."""
    if not records:
        return ["no bias results were recorded"]
    rows = [("test", "measure", "effect [CI]", "p", "threshold", "verdict")]
    for rec in sort_records(records):
        r = rec["result"]
        lo, hi = r["ci"]
        rows.append((rec["test"], f"{r['name']} ({r['effect_name']})",
                     f"{_num(r['effect'], '+.3f')} [{_num(lo, '+.3f')}, {_num(hi, '+.3f')}]",
                     _p(r["p_value"]), _num(r["threshold"], ".2f"), r["verdict"].upper()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    if verbose:
        for rec in sort_records(records):
            lines.extend(["", f"{rec['test']} :: {rec['result']['name']}"])
            lines.extend(table_lines(rec["result"]["table"]))
    return lines


_SKIP = {"effect", "ci_low", "ci_high", "p_value", "n", "verdict", "passed", "reason"}


def table_lines(table: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per-group rows: the group's name, n, effect [CI], p and verdict."""
    out = []
    for row in table:
        name = next((f"{k}={v}" for k, v in row.items() if k not in _SKIP and isinstance(v, str)
                     and k not in ("source", "target", "label", "over_represented")), "")
        effect = _num(row.get("effect"), "+.3f")
        ci = f"[{_num(row.get('ci_low'), '+.3f')}, {_num(row.get('ci_high'), '+.3f')}]"
        out.append(f"    {name:<40} n={row.get('n', '-'):<6} effect {effect} {ci} "
                   f"p {_p(row.get('p_value'))}  {str(row.get('verdict', '')).upper()}")
    return out

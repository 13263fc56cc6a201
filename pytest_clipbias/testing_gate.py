"""Planted baseline/candidate runs of known change, for simulating the release gate.

Each run is a results document with one hypodescent-like result whose cells
are minority-label rates judged as Cohen's h against 0.5 (the real cells of
:func:`pytest_clipbias.measures.cells.one_sample_h_cells`, Clopper-Pearson
intervals at 95%), with per-item outcomes keyed like real items, so
:func:`pytest_clipbias.report.baseline.compare` runs exactly as on saved runs.
Used by tests/test_gate.py and benchmarks/bench_gate.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .outcomes import LEVEL, ItemTable, gate_details


def rate_for_h(h: float) -> float:
    """The rate whose Cohen's h against 0.5 is ``h``."""
    return float(np.sin((h + np.pi / 2) / 2) ** 2)


def paired_outcomes(rng: np.random.Generator, n: int, h0: float, growth: float,
                    agreement: float) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes of n items in two runs: rates at h0 and h0 + growth, the same label for
    a share ``agreement`` of the items (the discordant ones split to give the change)."""
    p0, p1 = rate_for_h(h0), rate_for_h(h0 + growth)
    disc = 1 - agreement
    q01, q10 = (disc + p1 - p0) / 2, (disc - p1 + p0) / 2
    if min(q01, q10) < 0:
        raise ValueError(f"agreement {agreement} is too high for a change of rate {p1 - p0:.3f}")
    probs = [1 - p0 - q01, q01, q10, p0 - q10]  # 00, 01, 10, 11
    kind = rng.choice(4, size=n, p=probs)
    return (kind >= 2).astype(float), (kind % 2 == 1).astype(float)


def record(ys: Sequence[np.ndarray], *, paired: bool, model: str = "m",
           test: str = "t.py::test_rates") -> dict[str, Any]:
    """One result record whose cells are the rates of ``ys`` (one array per cell)."""
    from .measures.cells import one_sample_h_cells
    from .recording import stable_hash

    keys, groups, column, cells = [], {}, [], []
    for j, y in enumerate(ys):
        cell = one_sample_h_cells([int(y.sum())], [len(y)])[0]
        groups[f"cell {j}"] = np.repeat(np.arange(len(ys)) == j, [len(v) for v in ys])
        keys += [f"{j:04x}{i:012x}" for i in range(len(y))]
        column.append(y)
        spec = {"stat": "h1", "y": "minority", "a": f"cell {j}", "p0": 0.5}
        cells.append({"cell": f"cell {j}", "effect": cell.effect,
                      "ci": list(cell.interval(LEVEL)), "level": LEVEL,
                      "kind": "clopper-pearson, mapped to h", "n": len(y),
                      **({"paired": spec} if paired else {})})
    items = ItemTable(keys, {"minority": np.concatenate(column)}, groups) if paired else None
    result = {"name": "hypodescent", "effect": cells[0]["effect"], "effect_name": "cohen_h",
              "ci": cells[0]["ci"], "p_value": 0.5, "n": sum(map(len, ys)),
              "threshold": 0.2, "passed": True, "verdict": "pass", "table": [],
              "details": gate_details(cells, items)}
    return {"test": test, "outcome": "passed", "model": {"name": model},
            "templates_hash": stable_hash(["prompt"]), "data_fingerprint": "planted",
            "result": result}


def document(records: Sequence[dict[str, Any]], model: str) -> dict[str, Any]:
    """A results document of the records."""
    from .report.document import build_document

    return build_document(list(records), {"models": [{"name": model}], "versions": {}})


def regression_rate(reps: int, *, n: int, cells: int, h0: float, growth: float,
                    tolerance: float, agreement: float, paired: bool, seed: int = 0,
                    alpha: float = 0.05) -> float:
    """Share of ``reps`` planted comparisons the gate fails: every cell's harm grows by
    ``growth`` on n items per cell; unpaired runs draw independent items (the worst case
    of the unpaired test: the same items only make it more conservative)."""
    from .gate import parse_fail_rule
    from .report.baseline import compare

    rng = np.random.default_rng(seed)
    rule = [parse_fail_rule(f"effect:+{tolerance}")]
    fails = 0
    for _ in range(reps):
        draws = [paired_outcomes(rng, n, h0, growth, agreement) for _ in range(cells)]
        if not paired:
            draws = [(y0, paired_outcomes(rng, n, h0, growth, agreement)[1]) for y0, _ in draws]
        base = document([record([d[0] for d in draws], paired=paired, model="v1")], "v1")
        cand = document([record([d[1] for d in draws], paired=paired, model="v2")], "v2")
        fails += compare(cand, base, rule, alpha=alpha).failed
    return fails / reps

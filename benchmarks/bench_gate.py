"""Release gate calibration and power, measured through ``report.baseline.compare``.

Planted baseline and candidate runs (``pytest_clipbias.testing_gate``): each
cell is a minority-label rate judged as Cohen's h against 0.5 (baseline h
0.2, the real Clopper-Pearson cells), tolerance t = 0.05 (``effect:+0.05``),
alpha 0.05. Paired runs label the same items, 95% of them the same way in
both runs; unpaired runs draw independent items (the unpaired test's worst
case). Printed, per design:

* P(REGRESSED) when every cell's harm grows by exactly t (the false-alarm
  rate at the boundary; must be <= alpha + 3 SE), for 1 and 4 cells;
* power when one cell's harm grows by 2t, at 400 items per cell;
* the items per cell for 80% power at 2t (normal theory from the measured
  standard error of the change, then checked by simulation at that size).

Run: ``nice -n 10 python benchmarks/bench_gate.py [REPS]`` (default 2,000 runs per figure).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from pytest_clipbias.outcomes import ItemTable, paired_change
from pytest_clipbias.testing_gate import paired_outcomes, regression_rate

T, H0, AGREE, ALPHA = 0.05, 0.2, 0.95, 0.05
Z = 1.6448536269514722 + 0.8416212335729143  # z_{1 - alpha} + z_{0.8}


def change_se(n: int, paired: bool, reps: int = 300, seed: int = 5) -> float:
    """Mean standard error of the change of one cell's h on n items (growth 2t)."""
    rng = np.random.default_rng(seed)
    if not paired:  # two independent Clopper-Pearson cells: se of h ~ 1 / sqrt(n) each
        return math.sqrt(2 / n)
    spec = {"stat": "h1", "y": "y", "a": "all", "p0": 0.5}
    keys = [f"{i:016x}" for i in range(n)]
    ses = []
    for _ in range(reps):
        y0, y1 = paired_outcomes(rng, n, H0, 2 * T, AGREE)
        tables = [ItemTable(keys, {"y": y}, {"all": np.ones(n, bool)}) for y in (y0, y1)]
        ses.append(paired_change({"paired": spec}, {"paired": spec}, *tables).se)
    return float(np.mean(ses))


def row(paired: bool, reps: int) -> list[str]:
    kw = dict(h0=H0, tolerance=T, agreement=AGREE, paired=paired, alpha=ALPHA)
    at_t1 = regression_rate(reps, n=400, cells=1, growth=T, seed=1, **kw)
    at_t4 = regression_rate(reps // 4, n=400, cells=4, growth=T, seed=2, **kw)
    power = regression_rate(reps // 2, n=400, cells=1, growth=2 * T, seed=3, **kw)
    se400 = change_se(400, paired)
    n80 = math.ceil(400 * (se400 * Z / T) ** 2)
    check = regression_rate(max(reps // 4, 100), n=n80, cells=1, growth=2 * T, seed=4, **kw)

    def pct(p, r):
        return f"{100 * p:.1f}% (SE {100 * math.sqrt(max(p * (1 - p), 1e-9) / r):.1f})"

    return ["paired (95% same labels)" if paired else "unpaired", pct(at_t1, reps),
            pct(at_t4, reps // 4), pct(power, reps // 2), f"{n80:,}",
            f"{100 * check:.0f}%"]


def main(reps: int = 2000) -> None:
    start = time.perf_counter()
    head = ["design", "P(REGRESSED) at +t, 1 cell", "at +t, 4 cells",
            "power at +2t, 400 items", "items for 80% power at +2t", "power there (sim)"]
    rows = [head] + [row(paired, reps) for paired in (True, False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print(f"Release gate, tolerance {T}, alpha {ALPHA}, baseline h {H0}; "
          f"{reps} runs per boundary figure")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    limit = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    print(f"limit at the boundary, 1 cell: alpha + 3 SE = {100 * limit:.1f}% "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

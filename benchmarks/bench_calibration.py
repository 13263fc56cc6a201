"""Measured calibration of every verdict, per kind of cell (the README's table).

For each cell kind the helpers use, from data simulated at a known true
effect and judged by the shared judge (threshold t = 0.2, alpha = 0.05):

* P(fail) at true effect = t (must be <= alpha) and P(pass) there (<= alpha);
* P(pass) at true effect 0 with the n advised by ``required_n`` (>= 0.8);
* power, P(fail) at 2t, with the table's n;
* the worst coverage of the 1 - 2 alpha interval over effects 0, t, 2t (>= 0.9);

each with its Monte Carlo standard error. Helpers and their cells: hypodescent
(one-sample h; clustered when series share parents), person default, label-rate
parity and the region "rate" metric (two-sample h), region "association"
(Cohen's d by the studentized bootstrap, on normal, lognormal and t(4)
scores), association (WEAT / SC-EAT d), retrieval MaxSkew@k (hypergeometric
test, bootstrap interval; rankings drawn Plackett-Luce so the top k is
Wallenius, as the test's null states). NDKL's permutation test and the
hypergeometric MaxSkew test alone are checked in tests/stats/test_retrieval.py.

Run: python benchmarks/bench_calibration.py [reps]   (tests/test_calibration.py
runs the same grid with fewer reps; the full grid there is marked slow).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from pytest_clipbias.stats.power import required_n
from pytest_clipbias.testing import verdict_rates

T = 0.2


@dataclass(frozen=True)
class Row:
    """One helper's cell kind: how it is simulated and which power kind sizes it."""

    name: str
    kind: str
    n: int
    direction: str
    power_kind: str | None
    extra: dict
    parents: int = 20


ROWS = [
    Row("hypodescent (one-sample h, one-sided)", "hypodescent", 100, "greater",
        "h_one_sample", {}),
    Row("hypodescent, 5 + 5 shared parents", "hypodescent-clustered", 100, "greater", None,
        {}, 5),
    Row("hypodescent, 10 + 10 shared parents", "hypodescent-clustered", 200, "greater", None,
        {}, 10),
    Row("hypodescent, 20 + 20 shared parents", "hypodescent-clustered", 200, "greater", None,
        {}, 20),
    Row("person default / label parity / region rate (two-sample h, rate 0.2)",
        "two-sample-h", 100, "two-sided", "h_two_sample", {"p_ref": 0.2}),
    Row("region association (d, normal scores)", "cohens-d", 60, "two-sided", "d", {}),
    Row("region association (d, lognormal scores)", "cohens-d-lognormal", 60, "two-sided",
        "d", {}),
    Row("region association (d, t4 scores)", "cohens-d-t4", 60, "two-sided", "d", {}),
    Row("association (WEAT / SC-EAT d, 12 words per set)", "eat-d", 12, "greater", "eat_d", {}),
    Row("retrieval MaxSkew@80 of 400 (pool 30/70; effect = ln(E share / q))", "max-skew", 400,
        "greater", None, {}),
]


def _se(p: float, reps: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-4) / reps)


def measure(row: Row, reps: int, seed: int = 0) -> dict[str, float]:
    """The figures of one row (see the module docstring); ``*_se`` are Monte Carlo SEs."""
    def rates(effect: float, n: int, s: int) -> dict[str, float]:
        return verdict_rates(row.kind, effect, T, n=n, reps=reps, direction=row.direction,
                             seed=seed + s, parents=row.parents)

    at, zero, double = rates(T, row.n, 0), rates(0.0, row.n, 1), rates(2 * T, row.n, 2)
    out = {"fail_at_t": at["fail"], "pass_at_t": at["pass"], "power_2t": double["fail"],
           "coverage": min(at["coverage"], zero["coverage"], double["coverage"])}
    if row.power_kind:
        advised = required_n(row.power_kind, 0.0, T, goal="pass", **row.extra)
        out["advised_n"] = advised
        out["pass_at_0"] = rates(0.0, advised, 3)["pass"]
    for key in ("fail_at_t", "pass_at_t", "power_2t", "coverage", "pass_at_0"):
        if key in out:
            out[key + "_se"] = _se(out[key], reps)
    return out


def main(reps: int = 1000) -> None:
    """Print the README's markdown table."""
    print(f"Threshold {T}, alpha 0.05, {reps} simulated data sets per figure; +- Monte Carlo SE.")
    print("| helper (cell) | n | P(fail) at t | P(pass) at t | P(pass) at 0, advised n | "
          "power at 2t | worst 90% coverage (0, t, 2t) |")
    print("|---|---|---|---|---|---|---|")
    for row in ROWS:
        m = measure(row, reps)
        advised = (f"{m['pass_at_0']:.3f} +- {m['pass_at_0_se']:.3f} (n = {m['advised_n']})"
                   if "advised_n" in m else "-")
        print(f"| {row.name} | {row.n} | {m['fail_at_t']:.3f} +- {m['fail_at_t_se']:.3f} | "
              f"{m['pass_at_t']:.3f} +- {m['pass_at_t_se']:.3f} | {advised} | "
              f"{m['power_2t']:.2f} +- {m['power_2t_se']:.2f} | "
              f"{m['coverage']:.3f} +- {m['coverage_se']:.3f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)

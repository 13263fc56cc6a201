"""Measured calibration of the verdicts, per kind of cell (the README's table).

For each cell kind the helpers use: P(fail) and P(pass) at true effect =
threshold (0.2), power (P(fail)) at twice the threshold, and the coverage of
the 1 - 2 alpha interval, from simulated data judged by the shared judge.
Run: python benchmarks/bench_calibration.py [reps]
"""

from __future__ import annotations

import sys

from pytest_clipbias.testing import verdict_rates

ROWS = [("assert_no_hypodescent", "hypodescent", 100, "greater"),
        ("  same, 40 shared parents", "hypodescent-clustered", 100, "greater"),
        ("person default / parity / region rate", "two-sample-h", 100, "two-sided"),
        ("region skew (association)", "cohens-d", 60, "two-sided"),
        ("assert_association_below", "eat-d", 12, "greater")]


def main(reps: int = 2000) -> None:
    """Print one markdown row per cell kind."""
    print("| helper (cell) | n per group | P(fail) at t | P(pass) at t | power at 2t | "
          "coverage (90%) |")
    print("|---|---|---|---|---|---|")
    for name, kind, n, direction in ROWS:
        r = reps // 5 if "clustered" in kind else reps
        at = verdict_rates(kind, 0.2, 0.2, n=n, reps=r, direction=direction)
        power = verdict_rates(kind, 0.4, 0.2, n=n, reps=r, direction=direction, seed=1)
        print(f"| {name} ({kind}) | {n} | {at['fail']:.3f} | {at['pass']:.3f} | "
              f"{power['fail']:.2f} | {at['coverage']:.3f} |  (reps {r})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

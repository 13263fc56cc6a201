"""Markedness: is "a photo of a person" the default for some groups only? (Wolfe et al. 2022)

For a face of group g, "person" wins when cos(x, "a photo of a person.")
exceeds cos(x, "a photo of a <g> person."). Per group: the win rate, and
Cohen's h of that rate against the other groups pooled (two-sample cell);
if "person" is the default for one group only, that group is unmarked. Also
per group: Pearson r, over all faces, between association with "person" and
with the group's label (Wolfe et al. found r up to 0.82 for "White"), and
the pairwise h between groups (descriptive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ..stats import cohens_h, correlation, proportion_ci
from .cells import Cell, two_sample_h_cells


@dataclass
class PersonDefaultRow:
    """One group: how often "person" beats its own label, against the other groups."""

    group: str
    label: str
    n: int
    k: int
    rate: float
    rate_ci_low: float
    rate_ci_high: float
    compared_n: int
    compared_rate: float
    person_corr: float
    person_corr_ci_low: float
    person_corr_ci_high: float
    cells: dict[str, Cell] = field(default_factory=dict)
    problem: str | None = None


def _corr(person: np.ndarray, own: np.ndarray, confidence: float) -> tuple[float, float, float]:
    if len(person) < 4 or np.ptp(person) == 0 or np.ptp(own) == 0:
        return (float("nan"),) * 3
    c = correlation(person, own, confidence=confidence)
    return c.r, c.ci[0], c.ci[1]


def measure_person_default(scores: np.ndarray, codes: np.ndarray, groups: Sequence[str],
                           labels: Sequence[str], *, min_per_group: int = 20,
                           confidence: float = 0.95) -> list[PersonDefaultRow]:
    """Rows from ``scores`` (n, 1 + G): column 0 the person prompt, 1 + g group g's label.

    ``codes[i]`` is face i's group index into ``groups``.
    """
    wins = scores[np.arange(len(codes)), 0] > scores[np.arange(len(codes)), 1 + codes]
    n_g = np.bincount(codes, minlength=len(groups))
    k_g = np.bincount(codes, weights=wins, minlength=len(groups)).astype(int)
    rows = []
    for g, name in enumerate(groups):
        n, k = int(n_g[g]), int(k_g[g])
        rest_n, rest_k = int(n_g.sum() - n), int(k_g.sum() - k)
        row = PersonDefaultRow(name, labels[g], n, k, k / n,
                               *proportion_ci(k, n, confidence=confidence), rest_n,
                               rest_k / rest_n if rest_n else float("nan"),
                               *_corr(scores[:, 0], scores[:, 1 + g], confidence))
        if n < min_per_group:
            row.problem = f"only {n} faces (min_per_group = {min_per_group})"
        elif rest_n == 0:
            row.problem = "no other group to compare with"
        rows.append(row)
    ok = [r for r in rows if r.problem is None]
    if ok:
        cells = two_sample_h_cells([r.k for r in ok], [r.n for r in ok],
                                   [k_g.sum() - r.k for r in ok], [r.compared_n for r in ok])
        for row, cell in zip(ok, cells, strict=True):
            row.cells = {"": cell}
    return rows


def pairwise(rows: Sequence[PersonDefaultRow]) -> list[dict]:
    """Cohen's h between every two judged groups (descriptive)."""
    ok = [r for r in rows if r.problem is None]
    return [{"a": a.group, "b": b.group, "effect": float(cohens_h(a.rate, b.rate))}
            for a, b in combinations(ok, 2)]

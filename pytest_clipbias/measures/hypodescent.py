"""Hypodescent in morph series (Wolfe, Banaji & Caliskan, FAccT 2022).

For a series from a minority-group parent (alpha 0) to a majority-group parent
(alpha 1) the margin is m(alpha) = cos(x_alpha, minority) - cos(x_alpha,
majority). The series counts as labelled "minority" at ``at`` (0.5 by
default) when m(at) > 0, interpolating m linearly between the two nearest
steps when ``at`` is not a step. Without hypodescent half of the series
would be, so the effect is Cohen's h of the observed share against 0.5,
judged with exact binomial tests against the shifted null (see
:func:`pytest_clipbias.measures.cells.one_sample_h_cells`).

Secondary: the crossover alpha*, the point up to which the series is
labelled minority: alpha* = a_0 + the length of the part of the path where
the (linearly interpolated) margin is positive. For a series that turns
from minority to majority once this is the sign change; a series labelled
majority first and minority later (the opposite of hypodescent) gets a
small alpha*, never a large one. Hypodescent shows as mean alpha* - 0.5 > 0.

Series with a non-finite margin anywhere are excluded from every statistic
and counted in ``excluded``. Series that share parents are not independent:
with parent ids the rate's test and interval are the cluster-robust ones of
:mod:`pytest_clipbias.stats.cluster` (effective sample size n / deff, Student
t with Bell-McCaffrey degrees of freedom), and with fewer than
``MIN_CLUSTERS`` (5) distinct parents on either side the row is left
undecided, saying how many parents a verdict needs: more series from the same
few parents do not make the rate more certain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..stats import cluster_bootstrap_ci, cohens_h, proportion_ci
from ..stats.cluster import MIN_CLUSTERS, clustered_proportion
from .cells import Cell, clustered_h_cell, one_sample_h_cells


def margin_at(alphas: np.ndarray, margins: np.ndarray, at: float) -> float:
    """m(at) by linear interpolation between the nearest steps; NaN outside the series."""
    if at < alphas[0] or at > alphas[-1]:
        return float("nan")
    return float(np.interp(at, alphas, margins))


def crossover(alphas: np.ndarray, margins: np.ndarray) -> tuple[float, str]:
    """(alpha*, kind): a_0 plus the length of the path where m > 0 (linear between steps).

    kind is "never" (m > 0 throughout: alpha* = last alpha), "always" (never
    positive: alpha* = first alpha), "crossed" (one + to - change) or "mixed".
    """
    a, m = np.asarray(alphas, dtype=np.float64), np.asarray(margins, dtype=np.float64)
    positive = m > 0
    if positive.all():
        return float(a[-1]), "never"
    if not positive.any():
        return float(a[0]), "always"
    m0, m1, width = m[:-1], m[1:], np.diff(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(m0 != m1, m0 / (m0 - m1), 0.5)  # share of the step before the zero
    share = np.where((m0 > 0) & (m1 > 0), 1.0, np.where((m0 <= 0) & (m1 <= 0), 0.0,
                     np.where(m0 > 0, root, 1.0 - root)))
    changes = int(np.count_nonzero(positive[1:] != positive[:-1]))
    kind = "crossed" if changes == 1 and positive[0] else "mixed"
    return float(a[0] + (share * width).sum()), kind


@dataclass
class HypodescentRow:
    """One pair type (source-target and gender): rates, crossover, curve, and its cell."""

    pair: str
    source: str
    target: str
    gender: str | None
    n: int
    k: int
    rate: float
    rate_ci_low: float
    rate_ci_high: float
    crossover: float
    crossover_ci_low: float
    crossover_ci_high: float
    censored: int
    excluded: int
    design_effect: float
    endpoint_accuracy_source: float
    endpoint_accuracy_target: float
    curve_alphas: list[float]
    curve: list[float]
    curve_ci_low: list[float]
    curve_ci_high: list[float]
    template_effects: dict[str, float] = field(default_factory=dict)
    template_spread: float = 0.0
    cells: dict[str, Cell] = field(default_factory=dict)
    problem: str | None = None


def midpoint_rate(alphas: Sequence[np.ndarray], margins: Sequence[np.ndarray], at: float
                  ) -> tuple[int, int]:
    """(n, k): series with a finite m(at), and how many of them have m(at) > 0."""
    mids = np.array([margin_at(np.asarray(a), np.asarray(m), at)
                     for a, m in zip(alphas, margins, strict=True)])
    ok = np.isfinite(mids)
    return int(ok.sum()), int((mids[ok] > 0).sum())


def measure_pair(
    alphas: Sequence[np.ndarray], margins: Sequence[np.ndarray], *, at: float = 0.5,
    confidence: float = 0.95, n_resamples: int = 2000,
    seed: int | np.random.Generator | None = 0, parents: Sequence[Sequence[str]] | None = None,
) -> HypodescentRow:
    """The hypodescent row of one pair type (``pair``, group names and problem left blank).

    ``alphas[i]`` and ``margins[i]`` are the steps and margins of series i;
    ``parents[i]`` its parent ids (source, target) when known.
    """
    finite = [bool(np.isfinite(m).all()) for m in margins]
    alphas = [np.asarray(a) for a, f in zip(alphas, finite, strict=True) if f]
    margins = [np.asarray(m) for m, f in zip(margins, finite, strict=True) if f]
    kept_parents = [p for p, f in zip(parents, finite, strict=True) if f] if parents else []
    nan, nan2 = float("nan"), (float("nan"), float("nan"))
    n, k = midpoint_rate(alphas, margins, at) if alphas else (0, 0)
    has_mid = [a[0] <= at <= a[-1] for a in alphas]
    y = np.array([margin_at(a, m, at) > 0 for a, m, h in zip(alphas, margins, has_mid,
                                                           strict=True) if h], dtype=float)
    clusters = ([np.array([p[j] for p, h in zip(kept_parents, has_mid, strict=True) if h])
                 for j in range(2)] if kept_parents else [])
    deff, cells, problem = 1.0, {}, None
    if n and clusters:
        ids = np.stack(clusters, axis=1)
        problem = too_few_parents(ids)
        deff = float(clustered_proportion(y, ids).design_effect) if n > 1 else 1.0
        cells = {} if problem else {"": clustered_h_cell(y, ids, 0.5)}
    elif n:
        cells = {"": one_sample_h_cells([k], [n], 0.5)[0]}
    rate_ci = proportion_ci(k, n, confidence=confidence) if n else nan2
    cross = [crossover(a, m) for a, m in zip(alphas, margins, strict=True)]
    shifts = np.array([c[0] for c in cross])
    ids = [p[0] for p in kept_parents] if kept_parents else list(range(len(shifts)))
    if len(set(ids)) >= 2 and np.ptp(shifts) > 0:
        cross_ci = cluster_bootstrap_ci(shifts, ids, n_resamples=n_resamples,
                                        confidence=confidence, seed=seed)
    else:
        cross_ci = (float(shifts.mean()),) * 2 if len(shifts) else nan2
    src = [m[0] > 0 for a, m in zip(alphas, margins, strict=True) if a[0] == 0.0]
    tgt = [m[-1] < 0 for a, m in zip(alphas, margins, strict=True) if a[-1] == 1.0]
    grid, curve, lo, hi = _curve(alphas, margins, confidence) if alphas else ([], [], [], [])
    return HypodescentRow(
        "", "", "", None, n, k, k / n if n else nan, *rate_ci,
        float(shifts.mean()) if len(shifts) else nan, *cross_ci,
        sum(c[1] in ("never", "always") for c in cross), len(finite) - len(alphas), deff,
        float(np.mean(src)) if src else nan, float(np.mean(tgt)) if tgt else nan,
        grid, curve, lo, hi, cells=cells, problem=problem)


def too_few_parents(ids: np.ndarray) -> str | None:
    """Why series sharing parents (``ids``: source, target per series) cannot be judged, or None."""
    counts = [len(set(ids[:, j].tolist())) for j in range(ids.shape[1])]
    if min(counts) >= MIN_CLUSTERS:
        return None
    return (f"the series come from only {counts[0]} source and {counts[1]} target parents; "
            f"series that share parents need at least {MIN_CLUSTERS} distinct parents on each "
            "side for a verdict (more series from the same parents do not help: add parents)")


def template_effect(alphas: Sequence[np.ndarray], margins: Sequence[np.ndarray], at: float
                    ) -> float:
    """Cohen's h of the midpoint rate against 0.5 (NaN when no series has a midpoint)."""
    n, k = midpoint_rate(alphas, margins, at)
    return float(cohens_h(k / n, 0.5)) if n else float("nan")


def _curve(alphas, margins, confidence):
    """Share of series labelled minority at each step of the common alpha grid."""
    grid = np.unique(np.concatenate([np.asarray(a) for a in alphas]))
    if all(len(a) == len(grid) for a in alphas):
        positive = np.array([np.asarray(m) > 0 for m in margins])
    else:  # different grids: interpolate each series on the union grid
        positive = np.array([[margin_at(a, m, g) > 0 for g in grid]
                             for a, m in zip(alphas, margins, strict=True)])
    n = len(positive)
    ks = positive.sum(0)
    cis = [proportion_ci(int(k), n, confidence=confidence) for k in ks]
    return ([float(g) for g in grid], [float(k / n) for k in ks], [c[0] for c in cis],
            [c[1] for c in cis])

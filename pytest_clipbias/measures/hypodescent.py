"""Hypodescent in morph series (Wolfe, Banaji & Caliskan, FAccT 2022).

For a series from a minority-group parent (alpha 0) to a majority-group parent
(alpha 1) the margin is m(alpha) = cos(x_alpha, minority) - cos(x_alpha,
majority). The series counts as labelled "minority" at ``at`` (0.5 by
default) when m(at) > 0, interpolating m linearly between the two nearest
steps when ``at`` is not a step. Without hypodescent half of the series
would be, so the effect is Cohen's h of the observed share against 0.5,
tested with the exact one-sided binomial test.

Secondary: the crossover alpha* where m first turns from positive to
negative (linear interpolation); series whose margin never changes sign are
censored at 0 or 1 and counted. Hypodescent shows as a mean alpha* - 0.5 > 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..stats import binomial_test, cluster_bootstrap_ci, cohens_h, cohens_h_ci, proportion_ci


def margin_at(alphas: np.ndarray, margins: np.ndarray, at: float) -> float:
    """m(at) by linear interpolation between the nearest steps; NaN outside the series."""
    if at < alphas[0] or at > alphas[-1]:
        return float("nan")
    return float(np.interp(at, alphas, margins))


def crossover(alphas: np.ndarray, margins: np.ndarray) -> tuple[float, str]:
    """(alpha*, kind): the first + to - sign change of m, or a censored end.

    kind is "crossed", "never" (always minority: alpha* = 1) or "always"
    (never minority: alpha* = 0). A series that starts negative and later
    turns positive reports its first - to + crossing as "crossed-up".
    """
    positive = margins > 0
    if positive.all():
        return 1.0, "never"
    if not positive.any():
        return 0.0, "always"
    start = positive[0]
    i = int(np.argmax(positive != start))  # first step on the other side
    a0, a1, m0, m1 = alphas[i - 1], alphas[i], margins[i - 1], margins[i]
    alpha_star = a0 + (a1 - a0) * (m0 / (m0 - m1)) if m0 != m1 else a0
    return float(alpha_star), "crossed" if start else "crossed-up"


@dataclass(frozen=True)
class PairMeasure:
    """The hypodescent measure of one pair type (e.g. Black-White, women)."""

    n: int
    k: int
    rate: float
    rate_ci: tuple[float, float]
    effect: float
    effect_ci: tuple[float, float]
    p_value: float
    crossover_shift: float
    crossover_ci: tuple[float, float]
    censored: int
    endpoint_source: float
    endpoint_target: float
    curve_alphas: tuple[float, ...]
    curve: tuple[float, ...]
    curve_ci: tuple[tuple[float, float], ...]


def measure_pair(
    alphas: Sequence[np.ndarray], margins: Sequence[np.ndarray], *, at: float = 0.5,
    confidence: float = 0.95, ci_method: str = "wilson", n_resamples: int = 2000,
    seed: int | np.random.Generator | None = 0,
) -> PairMeasure:
    """Hypodescent measure over the series of one pair type.

    ``alphas[i]`` and ``margins[i]`` are the steps and margins of series i.
    Series where ``at`` lies outside their alphas cannot form a midpoint and
    are left out of the rate (``n`` counts the others).
    """
    mids = np.array([margin_at(a, m, at) for a, m in zip(alphas, margins, strict=True)])
    ok = ~np.isnan(mids)
    n, k = int(ok.sum()), int((mids[ok] > 0).sum())
    nan2 = (float("nan"), float("nan"))
    if n:
        rate, rate_ci = k / n, proportion_ci(k, n, confidence=confidence, method=ci_method)
        h = float(cohens_h(rate, 0.5))
        h_ci = cohens_h_ci(k, n, p0=0.5, confidence=confidence, method=ci_method)
        p = binomial_test(k, n, 0.5, alternative="greater")
    else:
        rate, rate_ci, h, h_ci, p = float("nan"), nan2, float("nan"), nan2, float("nan")
    cross = [crossover(a, m) for a, m in zip(alphas, margins, strict=True)]
    shifts = np.array([c[0] - 0.5 for c in cross])
    censored = sum(c[1] in ("never", "always") for c in cross)
    if len(shifts) >= 2 and np.ptp(shifts) > 0:
        cross_ci = cluster_bootstrap_ci(shifts, np.arange(len(shifts)), n_resamples=n_resamples,
                                        confidence=confidence, seed=seed)
    elif len(shifts):
        cross_ci = (float(shifts[0]), float(shifts[0]))
    else:
        cross_ci = nan2
    src = float(np.mean([m[0] > 0 for a, m in zip(alphas, margins, strict=True) if a[0] == 0.0]
                        or [np.nan]))
    tgt = float(np.mean([m[-1] < 0 for a, m in zip(alphas, margins, strict=True) if a[-1] == 1.0]
                        or [np.nan]))
    grid, curve, curve_ci = _curve(alphas, margins, confidence, ci_method)
    return PairMeasure(n, k, rate, rate_ci, h, h_ci, p,
                       float(shifts.mean()) if len(shifts) else float("nan"), cross_ci,
                       censored, src, tgt, grid, curve, curve_ci)


def _curve(alphas, margins, confidence, ci_method):
    """Share of series labelled minority at each step of the common alpha grid."""
    grid = np.unique(np.concatenate([np.asarray(a) for a in alphas]))
    if all(len(a) == len(grid) for a in alphas):
        positive = np.array([np.asarray(m) > 0 for m in margins])
    else:  # different grids: interpolate each series on the union grid
        positive = np.array([[margin_at(a, m, g) > 0 for g in grid]
                             for a, m in zip(alphas, margins, strict=True)])
    n = len(positive)
    ks = positive.sum(0)
    rates = tuple(float(k / n) for k in ks)
    cis = tuple(proportion_ci(int(k), n, confidence=confidence, method=ci_method) for k in ks)
    return tuple(float(g) for g in grid), rates, cis

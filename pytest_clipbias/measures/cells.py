"""Cells: one judged effect with its test against any bound and its intervals.

A measure returns rows; each row holds one or more cells. A cell knows its
effect, the group size that drives its precision, a one-sided test of
"the effect exceeds c" (``p_above``) and of "the effect is below c"
(``p_below``) for any bound c, and its two-sided interval at any confidence.
The judge (``pytest_clipbias.assertions.judge``) calls them at the threshold
and at the corrected levels, so every measure is judged by the same rules.

Each constructor pairs a minimum-effect test with the interval it inverts
(``pytest_clipbias.stats.mineffect``), so the verdict and the interval shown
never disagree. Cells built together share one vectorised computation per
bound or level (:class:`CellBatch`): a region x label family of 100 cells
costs a few vectorised calls, not 100 root searches.

* :func:`one_sample_h_cells`: Cohen's h of rates against p0, exact binomial
  tests at the shifted null and Clopper-Pearson intervals mapped to h.
* :func:`clustered_h_cell`: the same for dependent items (morph series that
  share parents): cluster-robust design effect, exact binomial at n / deff.
* :func:`two_sample_h_cells`: Cohen's h between two rates, MOVER interval
  with continuity-corrected Wilson limits on the arcsine scale.
* :func:`cohens_d_cells`: Cohen's d, noncentral-t interval of delta (exact for
  normal scores; used when only d and the sizes are known).
* :func:`cohens_d_score_cells`: Cohen's d from the scores themselves: the
  stricter of the studentized bootstrap (:mod:`pytest_clipbias.stats.studentized`,
  for skewed and heavy-tailed scores) and the noncentral t.
* :func:`eat_cell`: WEAT / SC-EAT d from the two groups' scores.
* :func:`bootstrap_cell`: a bootstrap distribution (percentile interval,
  p_above(c) = share of resamples <= c).

An interval is widened to hold the point estimate where the estimate is not
the interval's centre of symmetry (d against the median-unbiased delta).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..stats.cluster import cluster_h_ci, cluster_h_test, clustered_proportion
from ..stats.mineffect import (
    d_ci,
    d_test,
    eat_d_ci,
    eat_d_test,
    h_one_sample_ci,
    h_one_sample_test,
    h_two_sample_ci,
    h_two_sample_test,
)
from ..stats.power import required_n

Interval = tuple[float, float]


@dataclass(frozen=True)
class Cell:
    """One judged effect (see the module docstring)."""

    effect: float
    n: int
    p_above: Callable[[float], float]
    p_below: Callable[[float], float]
    interval: Callable[[float], Interval]
    #: (threshold, alpha, goal "fail"/"pass", planning effect, cells in the check) -> items
    #: per group for 80% power of the whole check (stats.power.required_n), if known
    required: Callable[[float, float, str, float, int], int] | None = None


class CellBatch:
    """Vectorised tests and intervals of many cells, computed once per bound or level.

    ``test(c, alternative)`` returns the p-values of every cell for H0
    effect <= c ("greater") or effect >= c ("less"); ``ci(confidence)`` the
    (low, high) arrays.
    """

    def __init__(self, effects: Sequence[float], ns: Sequence[int],
                 test: Callable[[float, str], Any], ci: Callable[[float], Any],
                 power: tuple[str, Sequence[dict]] | None = None) -> None:
        self.effects = np.asarray(effects, dtype=np.float64)
        self.ns = [int(n) for n in ns]
        self._test, self._ci, self._power = test, ci, power
        self._cache: dict[tuple, np.ndarray] = {}

    def _p(self, c: float, side: str) -> np.ndarray:
        key = ("p", float(c), side)
        if key not in self._cache:
            self._cache[key] = np.broadcast_to(np.asarray(self._test(float(c), side),
                                                          dtype=np.float64), self.effects.shape)
        return self._cache[key]

    def _interval(self, confidence: float) -> np.ndarray:
        key = ("ci", float(confidence))
        if key not in self._cache:
            lo, hi = (np.broadcast_to(np.asarray(v, dtype=np.float64), self.effects.shape)
                      for v in self._ci(float(confidence)))
            self._cache[key] = np.stack([np.minimum(lo, self.effects),
                                         np.maximum(hi, self.effects)], axis=1)
        return self._cache[key]

    def cells(self) -> list[Cell]:
        """One Cell per effect, all reading from this batch."""
        def cell(i: int) -> Cell:
            return Cell(float(self.effects[i]), self.ns[i],
                        lambda c: float(self._p(c, "greater")[i]),
                        lambda c: float(self._p(c, "less")[i]),
                        lambda conf: tuple(float(v) for v in self._interval(conf)[i]),
                        None if self._power is None else (
                            lambda t, a, goal, e, m: self._required(i, t, a, goal, e, m)))
        return [cell(i) for i in range(len(self.effects))]

    def _required(self, i: int, threshold: float, alpha: float, goal: str, effect: float,
                  cells: int) -> int:
        """:func:`pytest_clipbias.stats.power.required_n` for cell i at ``effect``."""
        kind, extras = self._power
        return required_n(kind, effect, threshold, alpha=alpha, goal=goal, cells=cells,
                          **extras[i])


def one_sample_h_cells(k: Sequence[int], n: Sequence[int], p0: float = 0.5) -> list[Cell]:
    """Cohen's h of k/n against p0 (exact binomial tests, Clopper-Pearson intervals)."""
    from ..stats import cohens_h

    k, n = np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64)
    return CellBatch(cohens_h(k / n, p0) * np.ones(len(n)), n,
                     lambda c, side: h_one_sample_test(k, n, c, p_ref=p0, alternative=side),
                     lambda conf: h_one_sample_ci(k, n, p_ref=p0, confidence=conf),
                     ("h_one_sample", [{"p_ref": p0}] * len(n))).cells()


def clustered_h_cell(successes: np.ndarray, clusters: np.ndarray, p0: float = 0.5) -> Cell:
    """Cohen's h of clustered 0/1 items against p0 (design-effect-corrected exact binomial).

    ``clusters`` is one id per item or an (n, c) array of ids (a morph series:
    its two parents); items sharing any id are dependent.
    """
    from ..stats import cohens_h

    y = np.asarray(successes, dtype=np.float64)
    clustered_proportion(y, clusters)  # raises early on bad input
    return CellBatch([cohens_h(float(y.mean()), p0)], [len(y)],
                     lambda c, side: cluster_h_test(y, clusters, c, p_ref=p0, alternative=side),
                     lambda conf: cluster_h_ci(y, clusters, p_ref=p0,
                                               confidence=conf)).cells()[0]


def two_sample_h_cells(k1: Sequence[int], n1: Sequence[int], k2: Sequence[int],
                       n2: Sequence[int]) -> list[Cell]:
    """Cohen's h between rates k1/n1 and k2/n2 (MOVER-Wilson tests and intervals)."""
    from ..stats import cohens_h

    k1, n1, k2, n2 = (np.asarray(v, dtype=np.int64) for v in (k1, n1, k2, n2))
    return CellBatch(cohens_h(k1 / n1, k2 / n2) * np.ones(len(n1)), np.minimum(n1, n2),
                     lambda c, side: h_two_sample_test(k1, n1, k2, n2, c, alternative=side),
                     lambda conf: h_two_sample_ci(k1, n1, k2, n2, confidence=conf)).cells()


def cohens_d_cells(d: Sequence[float], n1: Sequence[int], n2: Sequence[int]) -> list[Cell]:
    """Cohen's d between two groups (noncentral-t tests and intervals of delta)."""
    d, n1, n2 = (np.asarray(v) for v in (d, n1, n2))
    return CellBatch(d, np.minimum(n1, n2),
                     lambda c, side: d_test(d, n1, n2, c, alternative=side),
                     lambda conf: d_ci(d, n1, n2, confidence=conf),
                     ("d", [{"ratio": float(b / a)} for a, b in zip(n1, n2, strict=True)])
                     ).cells()


def cohens_d_score_cells(pairs: Sequence[tuple[np.ndarray, np.ndarray]], *,
                         n_resamples: int | None = None) -> list[Cell]:
    """Cohen's d of each (x, y) pair of score vectors: the stricter of two tests.

    A cell rejects only when both the studentized bootstrap
    (:mod:`pytest_clipbias.stats.studentized`, right on skewed and
    heavy-tailed scores in large groups) and the noncentral t (exact for
    normal scores, :func:`cohens_d_cells`, one vectorised batch) reject: p =
    the larger, the interval the hull of both (each test inverts its
    interval, so the pair stays consistent). Sample size advice is the
    noncentral t's.
    """
    from ..stats.studentized import N_RESAMPLES, studentized_d

    boots = [studentized_d(x, y, n_resamples=n_resamples or N_RESAMPLES) for x, y in pairs]
    normal = cohens_d_cells([b.d for b in boots], [len(x) for x, _ in pairs],
                            [len(y) for _, y in pairs])

    def both(b, nc: Cell) -> Cell:
        def interval(conf: float) -> Interval:
            (lo, hi), (b_lo, b_hi) = nc.interval(conf), b.interval(conf)
            return min(lo, b_lo), max(hi, b_hi)

        return Cell(b.d, nc.n, lambda c: max(b.p_above(c), nc.p_above(c)),
                    lambda c: max(b.p_below(c), nc.p_below(c)), interval, nc.required)

    return [both(b, nc) for b, nc in zip(boots, normal, strict=True)]


def eat_cell(effect: float, x_scores: np.ndarray, y_scores: np.ndarray) -> Cell:
    """WEAT / SC-EAT d from the scores of its two groups (noncentral-t, mapped to d)."""
    return CellBatch([effect], [len(x_scores)],
                     lambda c, side: eat_d_test(x_scores, y_scores, c, alternative=side),
                     lambda conf: eat_d_ci(x_scores, y_scores, confidence=conf),
                     ("eat_d", [{"ratio": len(y_scores) / len(x_scores)}])).cells()[0]


def bootstrap_cell(effect: float, boot: np.ndarray, n: int) -> Cell:
    """A cell from bootstrap replicates of the effect (percentile method)."""
    boot = np.sort(np.asarray(boot, dtype=np.float64))
    boot = boot[np.isfinite(boot)]
    if len(boot) < 20:
        raise ValueError("bootstrap_cell needs at least 20 finite replicates")
    size = len(boot)

    def interval(confidence: float) -> Interval:
        lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
        return min(float(lo), effect), max(float(hi), effect)

    return Cell(float(effect), n,
                lambda c: (np.searchsorted(boot, c, side="right") + 1) / (size + 1),
                lambda c: (size - np.searchsorted(boot, c, side="left") + 1) / (size + 1),
                interval)

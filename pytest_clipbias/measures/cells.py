"""Cells: one judged effect with its test against any bound and its intervals.

A measure returns rows; each row holds one or more cells. A cell knows its
effect, the group size that drives its precision, a one-sided test of
"the effect exceeds c" (``p_above``) and of "the effect is below c"
(``p_below``) for any bound c, and its two-sided interval at any confidence.
The judge (``pytest_clipbias.assertions.judge``) calls them at the threshold
and at the corrected levels, so every measure is judged by the same rules.

Each constructor pairs a test with the interval that inverts it, so the
verdict and the interval shown never disagree:

* :func:`binomial_cell`: Cohen's h of one rate against p0, exact binomial
  tests against the shifted null p_c = sin^2(asin(sqrt(p0)) + c / 2), with
  the Clopper-Pearson interval mapped to h (Clopper & Pearson 1934).
* :func:`normal_cell`: an estimate with a normal standard error (Cohen's d
  with the Hedges-Olkin se, two-sample h with se sqrt(1/n1 + 1/n2)): Wald
  tests and intervals.
* :func:`bootstrap_cell`: a bootstrap distribution (percentile interval,
  p_above(c) = share of resamples <= c); the interval is widened to hold the
  estimate when a skewed statistic puts it outside.
* Optional ``design_effect`` (>= 1) inflates the variance of clustered data
  (Kish 1965): the binomial test runs on the effective sample size n / deff.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special as _sp

from ..stats import cohens_h

Interval = tuple[float, float]


@dataclass(frozen=True)
class Cell:
    """One judged effect (see the module docstring)."""

    effect: float
    n: int
    p_above: Callable[[float], float]
    p_below: Callable[[float], float]
    interval: Callable[[float], Interval]
    scale: str = "sqrt-n"  # how precision grows with n, for the sample-size estimate


def _shifted_p(p0: float, c: float) -> float:
    """The rate whose Cohen's h against p0 is c (clipped to [0, 1])."""
    angle = math.asin(math.sqrt(p0)) + c / 2
    return math.sin(min(max(angle, 0.0), math.pi / 2)) ** 2


def binomial_cell(k: int, n: int, p0: float = 0.5, *, design_effect: float = 1.0) -> Cell:
    """Cohen's h of k/n against p0, with exact binomial tests and Clopper-Pearson intervals.

    With ``design_effect`` > 1 the counts are scaled to the effective sample
    size n / deff (rounded), which widens the interval and the test alike.
    """
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    n_eff = max(1, round(n / max(design_effect, 1.0)))
    k_eff = round(k * n_eff / n)
    effect = float(cohens_h(k / n, p0))

    def p_above(c: float) -> float:  # P(X >= k) under Binomial(n, p_c)
        return 1.0 if k_eff == 0 else float(_sp.bdtrc(k_eff - 1, n_eff, _shifted_p(p0, c)))

    def p_below(c: float) -> float:  # P(X <= k)
        return float(_sp.bdtr(k_eff, n_eff, _shifted_p(p0, c)))

    def interval(confidence: float) -> Interval:  # Clopper-Pearson, mapped to h
        tail = (1 - confidence) / 2
        lo = 0.0 if k_eff == 0 else float(_sp.betaincinv(k_eff, n_eff - k_eff + 1, tail))
        hi = 1.0 if k_eff == n_eff else float(_sp.betaincinv(k_eff + 1, n_eff - k_eff,
                                                              1 - tail))
        return min(float(cohens_h(lo, p0)), effect), max(float(cohens_h(hi, p0)), effect)

    return Cell(effect, n_eff, p_above, p_below, interval)


def normal_cell(effect: float, se: float, n: int) -> Cell:
    """An estimate with a normal standard error: Wald tests and intervals."""
    if not se > 0 or not math.isfinite(effect):
        raise ValueError(f"normal_cell needs a finite effect and se > 0, got {effect}, {se}")

    def interval(confidence: float) -> Interval:
        half = float(_sp.ndtri(0.5 + confidence / 2)) * se
        return effect - half, effect + half

    return Cell(float(effect), n, lambda c: float(_sp.ndtr((c - effect) / se)),
                lambda c: float(_sp.ndtr((effect - c) / se)), interval)


def two_proportion_cell(k1: int, n1: int, k2: int, n2: int) -> Cell:
    """Cohen's h between two rates, arcsine-scale Wald test and interval (Cohen 1988, 6.2)."""
    return normal_cell(float(cohens_h(k1 / n1, k2 / n2)), math.sqrt(1 / n1 + 1 / n2),
                       min(n1, n2))


def cohens_d_cell(d: float, n1: int, n2: int) -> Cell:
    """Cohen's d with the Hedges-Olkin large-sample se (Hedges & Olkin 1985, 5.15)."""
    se = math.sqrt((n1 + n2) / (n1 * n2) + d * d / (2.0 * (n1 + n2)))
    return normal_cell(d, se, min(n1, n2))


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

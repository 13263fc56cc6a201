"""Minimum-effect tests against a threshold, and the intervals they invert.

A bias check judges an effect against an allowed amount t, not against zero.
Every measure here comes as a pair: ``*_ci`` (a confidence interval) and
``*_test`` (p-values of H0 stated against t), the test being the inversion of
the interval, so the printed interval is the evidence for the verdict.
``alternative`` names H1:

- "greater": H0 effect <= t   (fail when the bias is positive and beyond t)
- "less":    H0 effect >= t   (fail when the bias is negative and beyond t)
- "beyond":  H0 |effect| <= t (fail in either direction: 2 min(p_greater, p_less))
- "within":  H0 |effect| >= t (pass; two one-sided tests, TOST, p = max of both;
  an intersection-union test, Berger 1982, needing no multiplicity correction)

Rejecting "greater" at level a <=> the one-sided 1 - a lower bound exceeds t;
"beyond" at a <=> the two-sided 1 - a interval lies outside [-t, t]; "within"
at a <=> the 1 - 2a interval lies inside (-t, t). P(reject) <= a when the true
effect sits on the boundary of H0 (exactly for the exact tests, to the
interval's coverage otherwise; tests/stats/test_mineffect.py measures it).

References:
  Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26: the exact binomial interval.
  Wilson, E. B. (1927). JASA 22: the score interval.
  Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
    measures: a general approach (MOVER). Statistics in Medicine 27: 1693-1702.
  Newcombe, R. G. (1998). Statistics in Medicine 17: the same recovery of variance
    estimates, for the rate difference.
  Steiger, J. H. & Fouladi, R. T. (1997). Noncentrality interval estimation. In
    What If There Were No Significance Tests?: the noncentral-t interval of d.
  Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size.
    J. Educ. Stat. 6: the small-sample correction J.
  Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling.
    Technometrics 24; Schuirmann, D. J. (1987). J. Pharmacokinet. Biopharm. 15 (TOST).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats as _st

from ._transforms import arcsine, from_arcsine
from .checks import as_output, counts, finite, level, rate

ALTERNATIVES = ("greater", "less", "beyond", "within")
_ZMAX = 38.0  # Phi(-38) ~ 3e-316: a bound this far out is as good as no bound


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def min_effect_p(p_at: Callable[[np.ndarray, str], np.ndarray], threshold, alternative: str):
    """Combine one-sided p-values into the p of a hypothesis stated against a threshold.

    ``p_at(null, side)`` must return the p-value of H0 effect <= null (side
    "greater") or H0 effect >= null (side "less"). With t = |threshold| for the
    two-sided forms: "beyond" gives min(1, 2 min(p_at(t, greater), p_at(-t, less)))
    (Bonferroni over the two directions); "within" gives max(p_at(t, less),
    p_at(-t, greater)) (TOST, Schuirmann 1987).

    Parameters
    ----------
    p_at : callable
        ``p_at(null, side) -> p`` for side "greater" or "less", vectorised over null.
    threshold : float or array_like
        The allowed amount t.
    alternative : {"greater", "less", "beyond", "within"}
        H1, as in the module doc.

    Returns
    -------
    float or numpy.ndarray
        The p-value(s), clipped to [0, 1].

    References
    ----------
    Schuirmann, D. J. (1987). A comparison of the two one-sided tests procedure and
    the power approach for assessing the equivalence of average bioavailability.
    J. Pharmacokinet. Biopharm. 15. Berger, R. L. (1982). Technometrics 24.

    Examples
    --------
    A z statistic of 1.0 judged against a threshold of 0.2:

    >>> def p_at(null, side):
    ...     return _st.norm.sf(1.0 - null) if side == "greater" else _st.norm.cdf(1.0 - null)
    >>> round(float(min_effect_p(p_at, 0.2, "greater")), 4)
    0.2119
    >>> round(float(min_effect_p(p_at, 0.2, "beyond")), 4)
    0.4237
    """
    _check_alternative(alternative)
    t = finite(threshold, "threshold")
    if alternative in ("greater", "less"):
        return as_output(np.clip(p_at(t, alternative), 0.0, 1.0))
    t = np.abs(t)
    if alternative == "beyond":
        p = np.minimum(1.0, 2.0 * np.minimum(p_at(t, "greater"), p_at(-t, "less")))
    else:
        p = np.maximum(p_at(t, "less"), p_at(-t, "greater"))
    return as_output(np.clip(p, 0.0, 1.0))


def _bisect(f: Callable[[np.ndarray], np.ndarray], lo, hi, iters: int = 64) -> np.ndarray:
    """Root of an increasing function f on [lo, hi], elementwise (clamped to the ends)."""
    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
    lo, hi = lo.copy(), hi.copy()
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        up = f(mid) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return 0.5 * (lo + hi)


# --- one-sample Cohen's h against a reference rate ------------------------------------


def h_one_sample_ci(k, n, *, p_ref: float = 0.5, confidence: float = 0.95):
    """Clopper-Pearson interval of p = k/n mapped to h = 2 asin sqrt(p) - 2 asin sqrt(p_ref).

    The arcsine map is monotone, so the exact coverage of Clopper-Pearson
    (>= confidence for every p) carries over to h. Vectorised over k, n.

    Parameters
    ----------
    k, n : int or array_like
        Successes and trials.
    p_ref : float, default 0.5
        Reference rate.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple
        (lo, hi), floats or arrays.

    References
    ----------
    Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26.

    Examples
    --------
    >>> [round(float(b), 3) for b in h_one_sample_ci(70, 100)]
    [0.202, 0.613]
    """
    k, n = counts(k, n)
    a = 1.0 - level(confidence)
    with np.errstate(invalid="ignore"):
        lo = np.where(k == 0, 0.0, _st.beta.ppf(a / 2, k, n - k + 1))
        hi = np.where(k == n, 1.0, _st.beta.ppf(1 - a / 2, k + 1, n - k))
    ref = arcsine(rate(p_ref))
    return as_output(arcsine(lo) - ref), as_output(arcsine(hi) - ref)


def h_one_sample_test(k, n, threshold, *, p_ref: float = 0.5, alternative: str = "greater"):
    """Exact binomial test of Cohen's h against a threshold (see module doc for alternatives).

    H0 h <= h0 is H0 p <= p0 with p0 = sin^2(asin(sqrt(p_ref)) + h0/2), tested by
    P(X >= k | n, p0); "less" by P(X <= k | n, p0). Values of h0 outside the
    attainable range clamp p0 to 0 or 1. Inverts :func:`h_one_sample_ci`.

    Parameters
    ----------
    k, n : int or array_like
        Successes and trials.
    threshold : float or array_like
        The allowed |h|.
    p_ref : float, default 0.5
        Reference rate.
    alternative : {"greater", "less", "beyond", "within"}, default "greater"
        H1, as in the module doc.

    Returns
    -------
    float or numpy.ndarray
        The p-value(s).

    References
    ----------
    Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26.

    Examples
    --------
    >>> round(float(h_one_sample_test(70, 100, 0.1)), 4)
    0.0015
    """
    k, n = counts(k, n)
    ref = arcsine(rate(p_ref))

    def p_at(h0, side):
        p0 = from_arcsine(ref + h0)
        if side == "greater":
            return _st.binom.sf(k - 1, n, p0)
        return _st.binom.cdf(k, n, p0)

    return min_effect_p(p_at, threshold, alternative)


# --- two-sample Cohen's h (MOVER with Wilson limits) -----------------------------------


RATE_METHODS = ("wilson-cc", "wilson")


def _wilson(k, n, z, method: str):
    """Vectorised Wilson limits at normal quantile z >= 0, with or without continuity correction.

    wilson: (2k + z^2 +- z sqrt(z^2 + 4k(n - k)/n)) / (2(n + z^2));
    wilson-cc (Newcombe 1998, method 4): (2k + z^2 - 1 - z sqrt(z^2 - 2 - 1/n + 4p(n(1-p) + 1)))
    / (2(n + z^2)) and (2k + z^2 + 1 + z sqrt(z^2 + 2 - 1/n + 4p(n(1-p) - 1))) / (2(n + z^2)).
    """
    z2, p = z * z, k / n
    if method == "wilson":
        root = z * np.sqrt(z2 + 4 * k * (n - k) / n)
        lo, hi = (2 * k + z2 - root) / (2 * (n + z2)), (2 * k + z2 + root) / (2 * (n + z2))
    else:
        r_lo = z * np.sqrt(np.maximum(z2 - 2 - 1 / n + 4 * p * (n * (1 - p) + 1), 0))
        r_hi = z * np.sqrt(np.maximum(z2 + 2 - 1 / n + 4 * p * (n * (1 - p) - 1), 0))
        lo = (2 * k + z2 - 1 - r_lo) / (2 * (n + z2))
        hi = (2 * k + z2 + 1 + r_hi) / (2 * (n + z2))
    lo = np.where(k == 0, 0.0, np.clip(lo, 0.0, p))
    hi = np.where(k == n, 1.0, np.clip(hi, p, 1.0))
    return lo, hi


def _check_method(method: str) -> str:
    if method not in RATE_METHODS:
        raise ValueError(f"method must be one of {RATE_METHODS}, got {method!r}")
    return method


def _mover_h(k1, n1, k2, n2, z, method):
    """MOVER limits of h = g(p1) - g(p2), g(p) = 2 asin sqrt p, from Wilson limits at z."""
    g1, g2 = arcsine(k1 / n1), arcsine(k2 / n2)
    l1, u1 = (arcsine(b) for b in _wilson(k1, n1, z, method))
    l2, u2 = (arcsine(b) for b in _wilson(k2, n2, z, method))
    h = g1 - g2
    return h - np.hypot(g1 - l1, u2 - g2), h + np.hypot(u1 - g1, g2 - l2)


def h_two_sample_ci(k1, n1, k2, n2, *, confidence: float = 0.95, method: str = "wilson-cc"):
    """MOVER interval of Cohen's h = 2 asin sqrt(p1) - 2 asin sqrt(p2) (Zou & Donner 2008).

    With Wilson limits (l_i, u_i) of each rate and g(p) = 2 asin sqrt(p):
    L = h - sqrt((g(p1) - g(l1))^2 + (g(u2) - g(p2))^2),
    U = h + sqrt((g(u1) - g(p1))^2 + (g(p2) - g(l2))^2),
    the arcsine analogue of Newcombe's hybrid score interval. Unlike
    h +- z sqrt(1/n1 + 1/n2) (86-88% at 30/30, rates 0.10/0.05) it keeps its
    level at low rates. ``method`` "wilson-cc" (default, continuity-corrected
    limits) keeps each one-sided error <= its nominal level in the worst case
    over rates 0.01-0.7 and 8-100 per group; "wilson" is tighter and right on
    average but reaches 6-8% one-sided at a nominal 5% for small groups (exact
    enumeration in tests/stats/test_mineffect.py). Vectorised over the counts.

    Parameters
    ----------
    k1, n1, k2, n2 : int or array_like
        Successes and trials of the two groups.
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"wilson-cc", "wilson"}, default "wilson-cc"
        Wilson limits with or without continuity correction.

    Returns
    -------
    tuple
        (lo, hi), floats or arrays.

    References
    ----------
    Zou, G. Y. & Donner, A. (2008). Statistics in Medicine 27: 1693-1702.
    Newcombe, R. G. (1998). Statistics in Medicine 17.

    Examples
    --------
    >>> [round(float(b), 3) for b in h_two_sample_ci(30, 100, 15, 100)]
    [0.065, 0.648]
    """
    k1, n1 = counts(k1, n1, k_name="k1", n_name="n1")
    k2, n2 = counts(k2, n2, k_name="k2", n_name="n2")
    z = _st.norm.ppf(0.5 + level(confidence) / 2)
    lo, hi = _mover_h(k1, n1, k2, n2, z, _check_method(method))
    return as_output(lo), as_output(hi)


def h_two_sample_test(
    k1, n1, k2, n2, threshold, *, alternative: str = "greater", method: str = "wilson-cc"
):
    """p-values for two-sample Cohen's h against a threshold, by inverting :func:`h_two_sample_ci`.

    p_greater(h0) = Phi(-z*) where the MOVER lower limit at quantile z* equals h0
    (h0 < h), or Phi(z*) where the upper limit does (h0 >= h); p_less = 1 - p_greater.
    So "greater" rejects at level a exactly when the one-sided 1 - a lower
    limit exceeds h0. Vectorised (bisection on z).

    Parameters
    ----------
    k1, n1, k2, n2 : int or array_like
        Successes and trials of the two groups.
    threshold : float or array_like
        The allowed |h|.
    alternative : {"greater", "less", "beyond", "within"}, default "greater"
        H1, as in the module doc.
    method : {"wilson-cc", "wilson"}, default "wilson-cc"
        As in :func:`h_two_sample_ci`.

    Returns
    -------
    float or numpy.ndarray
        The p-value(s).

    References
    ----------
    Zou, G. Y. & Donner, A. (2008). Statistics in Medicine 27: 1693-1702.

    Examples
    --------
    >>> round(float(h_two_sample_test(30, 100, 15, 100, 0.1)), 4)
    0.0428
    """
    k1, n1 = counts(k1, n1, k_name="k1", n_name="n1")
    k2, n2 = counts(k2, n2, k_name="k2", n_name="n2")
    h = arcsine(k1 / n1) - arcsine(k2 / n2)
    _check_method(method)

    def p_at(h0, side):
        h0 = np.broadcast_to(h0, np.broadcast(h, h0).shape)
        below = h0 < h

        def gap(z):  # increasing in z: the limit on h0's side moves out past h0
            lo, hi = _mover_h(k1, n1, k2, n2, z, method)
            return np.where(below, h0 - lo, hi - h0)

        z = _bisect(gap, 0.0, _ZMAX, iters=44)
        p_greater = np.where(below, _st.norm.sf(z), _st.norm.cdf(z))
        return p_greater if side == "greater" else 1.0 - p_greater

    return min_effect_p(p_at, threshold, alternative)


# --- Cohen's d between two groups (noncentral t) ----------------------------------------
# (Hedges' g and its correction J live with the other effect sizes in effects.py.)


def _d_setup(d, n1, n2):
    d = finite(d, "d")
    n1, n2 = finite(n1, "n1"), finite(n2, "n2")
    if np.any(n1 < 1) or np.any(n2 < 1) or np.any(n1 + n2 < 3):
        raise ValueError("need n1, n2 >= 1 and n1 + n2 >= 3")
    scale = np.sqrt(n1 * n2 / (n1 + n2))
    return d * scale, n1 + n2 - 2, scale


def _nct_sf(t, df, nc):
    with np.errstate(all="ignore"):
        return np.clip(np.nan_to_num(_st.nct.sf(t, df, nc), nan=0.0), 0.0, 1.0)


def _delta_bounds(t, df, scale, a_lo, a_hi):
    """delta with P(T >= t | delta) = a_lo (lower limit) and = 1 - a_hi (upper limit)."""
    span = 12.0 * np.sqrt(1.0 / scale**2 + (t / scale) ** 2 / (2 * df)) + 1.0
    d = t / scale
    lo = _bisect(lambda x: _nct_sf(t, df, x * scale) - a_lo, d - span, d + span, iters=60)
    hi = _bisect(lambda x: _nct_sf(t, df, x * scale) - (1 - a_hi), d - span, d + span, iters=60)
    return lo, hi


def d_ci(d, n1, n2, *, confidence: float = 0.95):
    """Exact interval of the population delta from Cohen's d (pooled sd, ddof=1).

    t = d sqrt(n1 n2 / (n1 + n2)) follows a noncentral t with n1 + n2 - 2 df
    and noncentrality delta sqrt(n1 n2 / (n1 + n2)) for normal groups of equal
    variance; the limits are the deltas at which t sits at the 1 - a/2 and a/2
    quantiles (Steiger & Fouladi 1997). Coverage is exact under normality.

    Parameters
    ----------
    d : float or array_like
        Observed Cohen's d.
    n1, n2 : int or array_like
        Group sizes (each >= 1, together >= 3).
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple
        (lo, hi), floats or arrays.

    References
    ----------
    Steiger, J. H. & Fouladi, R. T. (1997). Noncentrality interval estimation. In
    What If There Were No Significance Tests?

    Examples
    --------
    >>> [round(float(b), 3) for b in d_ci(0.8, 30, 30)]
    [0.27, 1.323]
    """
    t, df, scale = _d_setup(d, n1, n2)
    a = 1.0 - level(confidence)
    lo, hi = _delta_bounds(t, df, scale, a / 2, a / 2)
    return as_output(lo), as_output(hi)


def d_test(d, n1, n2, threshold, *, alternative: str = "greater"):
    """Noncentral-t p-values of Cohen's d against a threshold (exact under normality).

    H0 delta <= d0: p = P(T >= t | nc = d0 sqrt(n1 n2 / (n1 + n2))), T ~ nct(n1 + n2 - 2);
    "less": P(T <= t). Inverts :func:`d_ci`.

    Parameters
    ----------
    d : float or array_like
        Observed Cohen's d.
    n1, n2 : int or array_like
        Group sizes.
    threshold : float or array_like
        The allowed |delta|.
    alternative : {"greater", "less", "beyond", "within"}, default "greater"
        H1, as in the module doc.

    Returns
    -------
    float or numpy.ndarray
        The p-value(s).

    References
    ----------
    Steiger, J. H. & Fouladi, R. T. (1997). Noncentrality interval estimation.

    Examples
    --------
    >>> round(float(d_test(0.8, 30, 30, 0.2)), 4)
    0.0131
    """
    t, df, scale = _d_setup(d, n1, n2)

    def p_at(d0, side):
        sf = _nct_sf(t, df, d0 * scale)
        return sf if side == "greater" else 1.0 - sf

    return min_effect_p(p_at, threshold, alternative)


# --- WEAT / SC-EAT d (sd over the union of both groups) ---------------------------------


def _eat_setup(x_scores, y_scores):
    x, y = finite(x_scores, "x_scores"), finite(y_scores, "y_scores")
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("x_scores and y_scores must be arrays of scores (last axis: the words)")
    n1, n2 = x.shape[-1], y.shape[-1]
    if n1 < 2 or n2 < 2:
        raise ValueError("eat d needs at least 2 scores in each group")
    ss = x.var(-1) * n1 + y.var(-1) * n2
    if np.any(ss == 0):
        raise ValueError("scores are constant within both groups; d is undefined")
    d = (x.mean(-1) - y.mean(-1)) / np.sqrt(ss / (n1 + n2 - 2))
    share = n1 / (n1 + n2)
    return d, n1, n2, share * (1 - share)


def _theta(delta, c):
    return delta / np.sqrt(1.0 + c * delta**2)


def eat_d_ci(x_scores, y_scores, *, confidence: float = 0.95):
    """Interval of the WEAT / SC-EAT effect size theta from the two groups' scores.

    WEAT: x_scores = s(x, A, B) for x in X, y_scores = s(y, A, B) for y in Y;
    SC-EAT: the cosines of the target with each a in A and each b in B.
    The effect d = (mean x - mean y) / sd(x u y) estimates
    theta = delta / sqrt(1 + pi (1 - pi) delta^2) (pi = n_x / n, delta the
    standardized mean difference with the within-group sd), a monotone map of
    delta; the noncentral-t limits of delta (:func:`d_ci`) mapped through it are
    exact under normal scores, unlike the percentile bootstrap that covers
    85-90% with 8 words per set. Attributes (or the target) are held fixed,
    as in the permutation test. Vectorised: the last axis holds the words.

    Parameters
    ----------
    x_scores, y_scores : array_like
        Scores of the two groups (last axis: the words, at least 2 each).
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple
        (lo, hi) for theta, floats or arrays.

    References
    ----------
    Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Science 356(6334).
    Steiger, J. H. & Fouladi, R. T. (1997). Noncentrality interval estimation.

    Examples
    --------
    >>> x, y = [0.31, 0.28, 0.35, 0.30, 0.33], [0.22, 0.25, 0.20, 0.24, 0.23]
    >>> [round(float(b), 3) for b in eat_d_ci(x, y)]
    [1.188, 1.89]
    """
    d, n1, n2, c = _eat_setup(x_scores, y_scores)
    lo, hi = d_ci(d, n1, n2, confidence=confidence)
    return as_output(_theta(lo, c)), as_output(_theta(hi, c))


def eat_d_test(x_scores, y_scores, threshold, *, alternative: str = "greater"):
    """p-values of the WEAT / SC-EAT effect theta against a threshold, inverting :func:`eat_d_ci`.

    theta0 maps back to delta0 = theta0 / sqrt(1 - pi (1 - pi) theta0^2); thresholds at
    or beyond the largest attainable |theta| = 1 / sqrt(pi (1 - pi)) cannot be exceeded.

    Parameters
    ----------
    x_scores, y_scores : array_like
        Scores of the two groups (last axis: the words).
    threshold : float or array_like
        The allowed |theta|.
    alternative : {"greater", "less", "beyond", "within"}, default "greater"
        H1, as in the module doc.

    Returns
    -------
    float or numpy.ndarray
        The p-value(s).

    References
    ----------
    Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Science 356(6334).

    Examples
    --------
    >>> x, y = [0.31, 0.28, 0.35, 0.30, 0.33], [0.22, 0.25, 0.20, 0.24, 0.23]
    >>> round(float(eat_d_test(x, y, 0.5)), 4)
    0.0015
    """
    d, n1, n2, c = _eat_setup(x_scores, y_scores)
    t, df, scale = _d_setup(d, n1, n2)
    cap = 1.0 / np.sqrt(c)

    def p_at(theta0, side):
        inside = np.abs(theta0) < cap
        delta0 = np.where(inside, theta0, 0.0) / np.sqrt(1.0 - c * np.where(inside, theta0, 0) ** 2)
        sf = np.where(inside, _nct_sf(t, df, delta0 * scale), (theta0 > 0).astype(float))
        return sf if side == "greater" else 1.0 - sf

    return min_effect_p(p_at, threshold, alternative)

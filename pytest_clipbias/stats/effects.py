"""Effect sizes: pure, vectorised functions of arrays.

References:
  Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences (2nd ed.):
    d (ch. 2) and h (ch. 6).
  Hedges, L. V. & Olkin, I. (1985). Statistical Methods for Meta-Analysis:
    the large-sample variance of d.
  Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Semantics derived automatically
    from language corpora contain human-like biases. Science 356(6334): WEAT and the
    single-category EAT (SC-EAT) effect sizes.
  Geyik, S. C., Ambler, S. & Kenthapadi, K. (2019). Fairness-aware ranking in search &
    recommendation systems. KDD: the log-ratio skew.
  Cramer, H. (1946). Mathematical Methods of Statistics: Cramer's V.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _sp
from scipy import stats as _st

from .checks import as_output, finite, finite_1d
from .intervals import proportion_ci
from .mineffect import d_ci, h_two_sample_ci

_Z = _st.norm.ppf


def pooled_sd(x, y, *, ddof: int = 1) -> float:
    """Pooled standard deviation sqrt((SS_x + SS_y) / (n_x + n_y - 2*ddof)).

    ddof=1 (default) gives the usual unbiased pooled variance of Cohen's d;
    ddof=0 divides by n_x + n_y (maximum likelihood).

    Parameters
    ----------
    x, y : array_like
        The two groups, 1-D and finite.
    ddof : int, default 1
        Degrees of freedom subtracted per group.

    Returns
    -------
    float
        The pooled standard deviation.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, ch. 2.

    Examples
    --------
    >>> round(pooled_sd([2, 3, 4, 5], [1, 2, 2, 3]), 3)
    1.08
    """
    x, y = finite_1d(x, "x"), finite_1d(y, "y")
    ss = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    dof = len(x) + len(y) - 2 * ddof
    if dof <= 0:
        raise ValueError(f"need more than {2 * ddof} values in x and y together for ddof={ddof}")
    return float(np.sqrt(ss / dof))


def cohens_d(x, y, *, ddof: int = 1) -> float:
    """Cohen's d = (mean(x) - mean(y)) / s_pooled (Cohen 1988, eq. 2.5.2).

    s_pooled is :func:`pooled_sd` with the given ddof. Returns 0.0 when both
    groups are constant and equal, +-inf when constant and different.

    Parameters
    ----------
    x, y : array_like
        The two groups, 1-D and finite, each non-empty.
    ddof : int, default 1
        Passed to :func:`pooled_sd`.

    Returns
    -------
    float
        The standardized mean difference of x over y.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, eq. 2.5.2.

    Examples
    --------
    >>> round(cohens_d([2, 3, 4, 5], [1, 2, 2, 3]), 3)
    1.389
    """
    x, y = finite_1d(x, "x"), finite_1d(y, "y")
    if len(x) == 0 or len(y) == 0:
        raise ValueError("cohens_d needs at least one value in each group")
    diff = x.mean() - y.mean()
    sd = pooled_sd(x, y, ddof=ddof)
    if sd == 0:
        return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    return float(diff / sd)


def hedges_correction(df):
    """Hedges' J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df - 1)/2)) ~ 1 - 3/(4 df - 1).

    g = J(n1 + n2 - 2) d is unbiased for the population delta under normality
    (Hedges 1981). Vectorised; df must exceed 1.

    Parameters
    ----------
    df : float or array_like
        Degrees of freedom, each > 1.

    Returns
    -------
    float or numpy.ndarray
        J(df), shaped like ``df``.

    References
    ----------
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect
    size and related estimators. Journal of Educational Statistics 6(2).

    Examples
    --------
    >>> round(float(hedges_correction(10)), 3)
    0.923
    """
    df = finite(df, "df")
    if np.any(df <= 1):
        raise ValueError(f"df must exceed 1, got {df}")
    return as_output(np.exp(_sp.gammaln(df / 2) - _sp.gammaln((df - 1) / 2)) / np.sqrt(df / 2))


def hedges_g(x, y) -> float:
    """Hedges' g = J(n_x + n_y - 2) * Cohen's d (pooled sd, ddof=1): d without its bias.

    The interval for the population delta is the same whichever of d or g is
    reported (:func:`d_ci` takes d).

    Parameters
    ----------
    x, y : array_like
        The two groups, 1-D and finite.

    Returns
    -------
    float
        The bias-corrected standardized mean difference.

    References
    ----------
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect
    size and related estimators. Journal of Educational Statistics 6(2).

    Examples
    --------
    >>> round(hedges_g([2, 3, 4, 5], [1, 2, 2, 3]), 3)
    1.206
    """
    x, y = finite_1d(x, "x"), finite_1d(y, "y")
    return float(hedges_correction(len(x) + len(y) - 2) * cohens_d(x, y))


def cohens_d_ci(d: float, n_x: int, n_y: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """CI of the population delta from Cohen's d (pooled sd, ddof=1): the noncentral-t interval.

    Exact under normality (Steiger & Fouladi 1997); see :func:`.mineffect.d_ci`. It
    replaces the normal approximation d +- z sqrt((n_x + n_y)/(n_x n_y) + d^2/(2(n_x + n_y)))
    (Hedges & Olkin 1985, 5.15), which under-covers for small groups.

    Parameters
    ----------
    d : float
        Observed Cohen's d.
    n_x, n_y : int
        Group sizes.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple of float
        (lower, upper) bounds for delta.

    References
    ----------
    Steiger, J. H. & Fouladi, R. T. (1997). Noncentrality interval estimation and
    the evaluation of statistical models. In What If There Were No Significance Tests?

    Examples
    --------
    >>> [round(b, 3) for b in cohens_d_ci(0.5, 20, 20)]
    [-0.133, 1.127]
    """
    lo, hi = d_ci(float(finite(d, "d")), n_x, n_y, confidence=confidence)
    return float(lo), float(hi)


def cohens_h(p1, p2):
    """Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)) (Cohen 1988, eq. 6.2.1).

    Vectorised over arrays; bounded in [-pi, pi]. 0.2, 0.5 and 0.8 are
    Cohen's small, medium and large.

    Parameters
    ----------
    p1, p2 : float or array_like
        Proportions in [0, 1].

    Returns
    -------
    float or numpy.ndarray
        h, a float for scalar input.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, eq. 6.2.1.

    Examples
    --------
    >>> round(cohens_h(0.5, 0.2), 3)
    0.644
    """
    p1, p2 = finite(p1, "p1"), finite(p2, "p2")
    if np.any((p1 < 0) | (p1 > 1)) or np.any((p2 < 0) | (p2 > 1)):
        raise ValueError("proportions must lie in [0, 1]")
    h = 2.0 * np.arcsin(np.sqrt(p1)) - 2.0 * np.arcsin(np.sqrt(p2))
    return float(h) if h.ndim == 0 else h


def cohens_h_ci(
    k1: int, n1: int, k2: int | None = None, n2: int | None = None, *, p0: float | None = None,
    confidence: float = 0.95, method: str = "wilson",
) -> tuple[float, float]:
    """CI of Cohen's h.

    One sample against a fixed p0 (``p0`` given): the proportion's interval
    (Wilson or Clopper-Pearson) mapped through the monotone arcsine
    transform, so the bounds stay valid near 0 and 1. Two samples: the MOVER
    interval with continuity-corrected Wilson limits on the arcsine scale
    (:func:`.mineffect.h_two_sample_ci`, Zou & Donner 2008); the plain
    h +- z sqrt(1/n1 + 1/n2) covered only 86-88% at low rates.

    Parameters
    ----------
    k1, n1 : int
        Successes and trials of the first sample.
    k2, n2 : int, optional
        Successes and trials of the second sample (two-sample case).
    p0 : float, optional
        Fixed reference proportion (one-sample case).
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"wilson", "clopper-pearson"}, default "wilson"
        Proportion interval of the one-sample case.

    Returns
    -------
    tuple of float
        (lower, upper) bounds for h.

    References
    ----------
    Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
    measures: a general approach. Statistics in Medicine 27(10).

    Examples
    --------
    >>> [round(b, 3) for b in cohens_h_ci(30, 100, p0=0.2)]
    [0.047, 0.434]
    >>> [round(b, 3) for b in cohens_h_ci(30, 100, 15, 100)]
    [0.065, 0.648]
    """
    if p0 is not None:
        lo, hi = proportion_ci(k1, n1, confidence=confidence, method=method)
        return float(cohens_h(lo, p0)), float(cohens_h(hi, p0))
    if k2 is None or n2 is None:
        raise ValueError("give k2 and n2 for two samples, or p0 for one sample")
    lo, hi = h_two_sample_ci(k1, n1, k2, n2, confidence=confidence)
    return float(lo), float(hi)


def proportion_difference(k1: int, n1: int, k2: int, n2: int) -> float:
    """Risk difference p1 - p2 with p_i = k_i / n_i.

    Parameters
    ----------
    k1, n1, k2, n2 : int
        Successes and trials of the two samples.

    Returns
    -------
    float
        p1 - p2.

    Examples
    --------
    >>> round(proportion_difference(30, 100, 15, 100), 3)
    0.15
    """
    return k1 / n1 - k2 / n2


def proportion_ratio(k1: int, n1: int, k2: int, n2: int) -> float:
    """Risk ratio p1 / p2 (inf when p2 = 0 < p1, nan when both are 0).

    Parameters
    ----------
    k1, n1, k2, n2 : int
        Successes and trials of the two samples.

    Returns
    -------
    float
        p1 / p2.

    Examples
    --------
    >>> round(proportion_ratio(30, 100, 15, 100), 3)
    2.0
    """
    p1, p2 = k1 / n1, k2 / n2
    if p2 == 0:
        return float("nan") if p1 == 0 else float("inf")
    return p1 / p2


def log_ratio_skew(observed, desired):
    """Skew = ln(observed share / desired share) (Geyik et al. 2019, eq. 1).

    Positive when a group is over-represented; vectorised over arrays.

    Parameters
    ----------
    observed : float or array_like
        Observed shares.
    desired : float or array_like
        Desired shares, each positive.

    Returns
    -------
    float or numpy.ndarray
        The skew, a float for scalar input.

    References
    ----------
    Geyik, S. C., Ambler, S. & Kenthapadi, K. (2019). Fairness-aware ranking in
    search & recommendation systems. KDD.

    Examples
    --------
    >>> np.round(log_ratio_skew([0.6, 0.4], [0.5, 0.5]), 3)
    array([ 0.182, -0.223])
    """
    observed, desired = finite(observed, "observed"), finite(desired, "desired")
    if np.any(desired <= 0):
        raise ValueError("desired shares must be positive")
    with np.errstate(divide="ignore"):
        out = np.log(observed / desired)
    return float(out) if out.ndim == 0 else out


def cramers_v(table) -> float:
    """Cramer's V = sqrt(chi2 / (n (min(r, c) - 1))) of a contingency table (no correction).

    Parameters
    ----------
    table : array_like
        2-D table of counts, at least 2 x 2.

    Returns
    -------
    float
        V in [0, 1].

    References
    ----------
    Cramer, H. (1946). Mathematical Methods of Statistics.

    Examples
    --------
    >>> round(cramers_v([[30, 10], [10, 30]]), 3)
    0.5
    """
    table = finite(table, "table")
    if table.ndim != 2 or min(table.shape) < 2:
        raise ValueError("cramers_v needs a 2-D table with at least 2 rows and 2 columns")
    n = table.sum()
    expected = np.outer(table.sum(1), table.sum(0)) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = np.nansum((table - expected) ** 2 / expected)
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def _unit_rows(m, name: str) -> np.ndarray:
    arr = finite(m, name)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array of embeddings")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} contains a zero vector; cosine is undefined")
    return arr / norms


def cosine(a, b) -> np.ndarray:
    """Cosine similarity matrix between the rows of a (n, d) and b (m, d).

    Parameters
    ----------
    a, b : array_like
        Embeddings, (n, d) and (m, d) (a 1-D vector is one row); no zero rows.

    Returns
    -------
    numpy.ndarray
        (n, m) cosine similarities.

    Examples
    --------
    >>> np.round(cosine([[1, 0], [0, 1]], [[1, 1]]), 3)
    array([[0.707],
           [0.707]])
    """
    return _unit_rows(a, "a") @ _unit_rows(b, "b").T


def association(w, attributes_a, attributes_b) -> np.ndarray:
    """s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b) for each row w (Caliskan 2017).

    Parameters
    ----------
    w : array_like
        Target embeddings, (n, d) or one (d,) vector.
    attributes_a, attributes_b : array_like
        Attribute embeddings A and B, (k, d) each.

    Returns
    -------
    numpy.ndarray
        (n,) associations.

    References
    ----------
    Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Semantics derived
    automatically from language corpora contain human-like biases. Science 356(6334).

    Examples
    --------
    >>> a, b = [[1, 0], [1, 0.2]], [[0, 1], [0.2, 1]]
    >>> np.round(association([[1, 0.5], [0.5, 1]], a, b), 3)
    array([ 0.399, -0.399])
    """
    w = _unit_rows(w, "w")
    a, b = _unit_rows(attributes_a, "attributes_a"), _unit_rows(attributes_b, "attributes_b")
    return w @ (a.mean(0) - b.mean(0))  # mean_a w.a = w.mean(a): one product, not k


def sc_eat_d(w, attributes_a, attributes_b, *, ddof: int = 1):
    """SC-EAT effect size per target row w (Caliskan 2017, single-category EAT).

    d(w) = (mean_a cos(w,a) - mean_b cos(w,b)) / std_{x in A u B} cos(w,x),
    std with ``ddof`` (1 by default).

    Parameters
    ----------
    w : array_like
        One (d,) target vector or an (n, d) matrix of targets.
    attributes_a, attributes_b : array_like
        Attribute embeddings A and B, (k, d) each.
    ddof : int, default 1
        Degrees of freedom of the std over A u B.

    Returns
    -------
    float or numpy.ndarray
        A float for one vector, an array for an (n, d) matrix of targets.

    References
    ----------
    Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Semantics derived
    automatically from language corpora contain human-like biases. Science 356(6334).

    Examples
    --------
    >>> a, b = [[1, 0], [1, 0.2]], [[0, 1], [0.2, 1]]
    >>> np.round(sc_eat_d([[1, 0.5], [0.5, 1]], a, b), 3)
    array([ 1.649, -1.649])
    """
    unit = _unit_rows(w, "w")
    ca = unit @ _unit_rows(attributes_a, "attributes_a").T
    cb = unit @ _unit_rows(attributes_b, "attributes_b").T
    both = np.concatenate([ca, cb], axis=1)
    if both.shape[1] - ddof <= 0:
        raise ValueError("not enough attribute vectors for the requested ddof")
    d = (ca.mean(1) - cb.mean(1)) / both.std(axis=1, ddof=ddof)
    return float(d[0]) if np.ndim(w) == 1 else d


def weat_d(targets_x, targets_y, attributes_a, attributes_b, *, ddof: int = 1) -> float:
    """WEAT effect size (Caliskan 2017):

    d = (mean_{x in X} s(x,A,B) - mean_{y in Y} s(y,A,B)) / std_{w in X u Y} s(w,A,B),
    std with ``ddof`` (1 by default; Caliskan et al. do not state it, and
    published reimplementations differ, so it is a parameter).

    Parameters
    ----------
    targets_x, targets_y : array_like
        Target embeddings X and Y, (n, d) each.
    attributes_a, attributes_b : array_like
        Attribute embeddings A and B, (k, d) each.
    ddof : int, default 1
        Degrees of freedom of the std over X u Y.

    Returns
    -------
    float
        The WEAT effect size d.

    References
    ----------
    Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Semantics derived
    automatically from language corpora contain human-like biases. Science 356(6334).

    Examples
    --------
    >>> a, b = [[1, 0], [1, 0.2]], [[0, 1], [0.2, 1]]
    >>> round(weat_d([[1, 0.5], [1, 0.3]], [[0.5, 1], [0.3, 1]], a, b), 3)
    1.698
    """
    sx = association(_unit_rows(targets_x, "targets_x"), attributes_a, attributes_b)
    sy = association(_unit_rows(targets_y, "targets_y"), attributes_a, attributes_b)
    return d_of_scores(sx, sy, ddof=ddof)


def d_of_scores(sx: np.ndarray, sy: np.ndarray, *, ddof: int = 1) -> float:
    """(mean sx - mean sy) / std over sx u sy: WEAT's d from the targets' associations."""
    both = np.concatenate([sx, sy])
    if len(both) - ddof <= 0:
        raise ValueError("not enough target vectors for the requested ddof")
    return float((sx.mean() - sy.mean()) / both.std(ddof=ddof))

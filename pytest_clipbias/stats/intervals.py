"""Confidence intervals: proportions, differences of proportions, bootstrap.

References:
  Wilson, E. B. (1927). Probable inference... JASA 22: the score interval.
  Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26: the exact interval.
  Newcombe, R. G. (1998). Interval estimation for the difference between independent
    proportions. Statistics in Medicine 17: method 10 (hybrid score).
  Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap: percentile
    (ch. 13) and BCa (ch. 14) intervals.
  Field, C. A. & Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69:
    resampling whole clusters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats as _st

from .checks import finite, finite_1d
from .rng import as_generator

BOOTSTRAP_METHODS = ("percentile", "bca")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return float(_st.norm.ppf(0.5 + confidence / 2))


def _check_counts(k: int, n: int) -> None:
    finite(k, "k"), finite(n, "n")
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")


def wilson(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval: (k + z^2/2)/(n + z^2) +- z/(n + z^2) sqrt(k(n-k)/n + z^2/4).

    n = 0 gives (0, 1).

    Parameters
    ----------
    k, n : int
        Successes and trials, 0 <= k <= n.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple of float
        (lower, upper) bounds for the proportion.

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and
    statistical inference. JASA 22.

    Examples
    --------
    >>> [round(b, 3) for b in wilson(7, 20)]
    [0.181, 0.567]
    """
    _check_counts(k, n)
    z = _z(confidence)
    if n == 0:
        return 0.0, 1.0
    center = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
    lo = 0.0 if k == 0 else max(0.0, center - half)  # exact at the ends, free of rounding
    hi = 1.0 if k == n else min(1.0, center + half)
    return float(lo), float(hi)


def clopper_pearson(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson exact interval: Beta(a/2; k, n-k+1) to Beta(1-a/2; k+1, n-k) quantiles.

    Guaranteed coverage >= confidence for every p. n = 0 gives (0, 1).

    Parameters
    ----------
    k, n : int
        Successes and trials, 0 <= k <= n.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple of float
        (lower, upper) bounds for the proportion.

    References
    ----------
    Clopper, C. J. & Pearson, E. S. (1934). The use of confidence or fiducial
    limits illustrated in the case of the binomial. Biometrika 26.

    Examples
    --------
    >>> [round(b, 3) for b in clopper_pearson(7, 20)]
    [0.154, 0.592]
    """
    _check_counts(k, n)
    alpha = 1 - confidence
    _z(confidence)
    if n == 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(_st.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(_st.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def proportion_ci(
    k: int, n: int, *, confidence: float = 0.95, method: str = "wilson"
) -> tuple[float, float]:
    """Interval for a proportion k/n: method "wilson" (default) or "clopper-pearson".

    Parameters
    ----------
    k, n : int
        Successes and trials, 0 <= k <= n.
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"wilson", "clopper-pearson", "exact"}, default "wilson"
        :func:`wilson` or :func:`clopper_pearson` ("exact" is an alias of the latter).

    Returns
    -------
    tuple of float
        (lower, upper) bounds for the proportion.

    References
    ----------
    Wilson (1927); Clopper & Pearson (1934), as in :func:`wilson` and :func:`clopper_pearson`.

    Examples
    --------
    >>> [round(b, 3) for b in proportion_ci(7, 20, method="clopper-pearson")]
    [0.154, 0.592]
    """
    if method == "wilson":
        return wilson(k, n, confidence=confidence)
    if method in ("clopper-pearson", "exact"):
        return clopper_pearson(k, n, confidence=confidence)
    raise ValueError(f"method must be 'wilson' or 'clopper-pearson', got {method!r}")


def newcombe(k1: int, n1: int, k2: int, n2: int, *, confidence: float = 0.95):
    """Newcombe's hybrid score interval for p1 - p2 (Newcombe 1998, method 10).

    With Wilson limits (l_i, u_i) of each proportion:
    L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2), U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).

    Parameters
    ----------
    k1, n1, k2, n2 : int
        Successes and trials of the two samples (n1, n2 >= 1).
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple of float
        (lower, upper) bounds for p1 - p2.

    References
    ----------
    Newcombe, R. G. (1998). Interval estimation for the difference between
    independent proportions. Statistics in Medicine 17.

    Examples
    --------
    >>> [round(b, 3) for b in newcombe(30, 100, 15, 100)]
    [0.034, 0.261]
    """
    if n1 < 1 or n2 < 1:
        raise ValueError("group sizes must be positive")
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence=confidence)
    l2, u2 = wilson(k2, n2, confidence=confidence)
    d = p1 - p2
    return (float(d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)),
            float(d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)))


def _percentile_or_bca(
    boot: np.ndarray, estimate: float, jack: np.ndarray | None, confidence: float, method: str
) -> tuple[float, float]:
    alpha = 1 - confidence
    if method == "percentile":
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        return float(lo), float(hi)
    # BCa (Efron & Tibshirani 1993, eq. 14.14-14.15)
    prop = (np.count_nonzero(boot < estimate) + 0.5 * np.count_nonzero(boot == estimate))
    z0 = _st.norm.ppf(np.clip(prop / len(boot), 1e-10, 1 - 1e-10))
    dev = jack.mean() - jack
    denom = 6.0 * (dev**2).sum() ** 1.5
    a = (dev**3).sum() / denom if denom > 0 else 0.0
    zs = _st.norm.ppf([alpha / 2, 1 - alpha / 2])
    adj = _st.norm.cdf(z0 + (z0 + zs) / (1 - a * (z0 + zs)))
    lo, hi = np.quantile(boot, np.nan_to_num(adj, nan=0.5))
    return float(lo), float(hi)


def bootstrap_ci(
    data, statistic: Callable[..., np.ndarray] = np.mean, *, n_resamples: int = 9999,
    confidence: float = 0.95, method: str = "percentile",
    seed: int | np.random.Generator | None = None, batch: int = 1000,
) -> tuple[float, float]:
    """Bootstrap interval of ``statistic`` over the values of a 1-D sample.

    ``statistic(x, axis=-1)`` must be vectorised along the last axis (numpy
    reductions are). Methods: "percentile" (quantiles of the bootstrap
    distribution) and "bca" (bias-corrected and accelerated, with the
    jackknife acceleration). Resamples are drawn ``batch`` at a time.

    Parameters
    ----------
    data : array_like
        1-D sample of at least 2 finite values.
    statistic : callable, default numpy.mean
        ``statistic(x, axis=-1)``, vectorised along the last axis.
    n_resamples : int, default 9999
        Number of bootstrap resamples.
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"percentile", "bca"}, default "percentile"
        Interval method.
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.
    batch : int, default 1000
        Resamples drawn per batch (bounds memory).

    Returns
    -------
    tuple of float
        (lower, upper) bounds for the statistic.

    References
    ----------
    Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap, ch. 13
    (percentile) and ch. 14 (BCa).

    Examples
    --------
    >>> bootstrap_ci([1, 2, 3, 4, 5, 6, 7, 8], n_resamples=999, seed=0)
    (3.0, 6.0)
    """
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {BOOTSTRAP_METHODS}, got {method!r}")
    x = finite_1d(data, "data")
    if len(x) < 2:
        raise ValueError("bootstrap_ci needs a 1-D sample of at least 2 values")
    _z(confidence)
    rng = as_generator(seed)
    n = len(x)
    boot = np.empty(n_resamples)
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        boot[start : start + b] = statistic(x[rng.integers(0, n, (b, n))], axis=-1)
    estimate = float(statistic(x, axis=-1))
    jack = None
    if method == "bca":
        leave_one_out = np.broadcast_to(x, (n, n))[~np.eye(n, dtype=bool)].reshape(n, n - 1)
        jack = statistic(leave_one_out, axis=-1)
    return _percentile_or_bca(boot, estimate, jack, confidence, method)


def cluster_bootstrap_ci(
    values, clusters, statistic: Callable[[np.ndarray], float] | None = None, *,
    n_resamples: int = 9999, confidence: float = 0.95, method: str = "percentile",
    seed: int | np.random.Generator | None = None,
) -> tuple[float, float]:
    """Bootstrap interval that resamples whole clusters (Field & Welsh 2007).

    Use it when observations are grouped and dependent, e.g. the 21 steps of
    one morph series: resampling single images would understate the
    variance. With ``statistic=None`` the statistic is the pooled mean of the
    values, computed for all resamples at once from per-cluster sums;
    otherwise ``statistic(values)`` is called on each resample's values.

    Parameters
    ----------
    values : array_like
        1-D finite observations.
    clusters : array_like
        Cluster label of each value (at least 2 distinct labels).
    statistic : callable, optional
        ``statistic(values) -> float``; None means the pooled mean.
    n_resamples : int, default 9999
        Number of cluster resamples.
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"percentile", "bca"}, default "percentile"
        Interval method (BCa uses the leave-one-cluster-out jackknife).
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.

    Returns
    -------
    tuple of float
        (lower, upper) bounds for the statistic.

    References
    ----------
    Field, C. A. & Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69.

    Examples
    --------
    >>> cluster_bootstrap_ci([1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 1, 1, 2, 2, 3, 3],
    ...                      n_resamples=999, seed=0)
    (2.5, 6.5)
    """
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {BOOTSTRAP_METHODS}, got {method!r}")
    v = finite_1d(values, "values")
    ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    if len(v) != len(inverse):
        raise ValueError(f"values ({len(v)}) and clusters ({len(inverse)}) differ in length")
    g = len(ids)
    if g < 2:
        raise ValueError("cluster_bootstrap_ci needs at least 2 clusters")
    rng = as_generator(seed)
    sums = np.bincount(inverse, weights=v, minlength=g)
    counts = np.bincount(inverse, minlength=g).astype(np.float64)
    members = [np.flatnonzero(inverse == i) for i in range(g)]
    if statistic is None:
        weights = rng.multinomial(g, np.full(g, 1.0 / g), size=n_resamples).astype(np.float64)
        boot = (weights @ sums) / (weights @ counts)
        estimate = float(v.mean())
        jack = (sums.sum() - sums) / (counts.sum() - counts)
    else:
        picks = rng.integers(0, g, (n_resamples, g))
        boot = np.array([statistic(v[np.concatenate([members[i] for i in row])]) for row in picks])
        estimate = float(statistic(v))
        jack = np.array([
            statistic(v[np.concatenate([members[j] for j in range(g) if j != i])])
            for i in range(g)
        ])
    return _percentile_or_bca(boot, estimate, jack, confidence, method)

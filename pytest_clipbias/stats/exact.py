"""Exact and asymptotic tests of proportions.

References:
  Clopper & Pearson (1934); the exact binomial test as in Hollander & Wolfe,
    Nonparametric Statistical Methods (1999), ch. 2.
  Fisher, R. A. (1935). The logic of inductive inference. JRSS 98: the 2x2 exact test.
  Agresti, A. (2013). Categorical Data Analysis, 3rd ed., sec. 3.1 (two-proportion z test).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

from .checks import counts, finite

_RTOL = 1 + 1e-7  # relative tolerance when comparing point probabilities (as R and scipy)


def _check_alternative(alternative: str) -> None:
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be greater, less or two-sided, got {alternative!r}")


def binomial_test(k: int, n: int, p0: float = 0.5, *, alternative: str = "greater") -> float:
    """Exact binomial test of H0: p = p0 for k successes in n trials.

    greater: P(X >= k); less: P(X <= k); two-sided: sum of P(X = i) over all i
    with P(X = i) <= P(X = k) (the "minimum likelihood" method).

    Parameters
    ----------
    k, n : int
        Successes and trials, 0 <= k <= n, n >= 1.
    p0 : float, default 0.5
        Null proportion in [0, 1].
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Direction of the alternative.

    Returns
    -------
    float
        The p-value.

    References
    ----------
    Hollander, M. & Wolfe, D. A. (1999). Nonparametric Statistical Methods, ch. 2.

    Examples
    --------
    >>> round(binomial_test(15, 20), 4)
    0.0207
    """
    _check_alternative(alternative)
    if not (0 <= k <= n and n >= 1):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 <= p0 <= 1:
        raise ValueError("p0 must lie in [0, 1]")
    dist = _st.binom(n, p0)
    if alternative == "greater":
        return float(min(1.0, dist.sf(k - 1)))
    if alternative == "less":
        return float(min(1.0, dist.cdf(k)))
    pmf = dist.pmf(np.arange(n + 1))
    return float(min(1.0, pmf[pmf <= pmf[k] * _RTOL].sum()))


def fisher_exact(table, *, alternative: str = "two-sided") -> float:
    """Fisher's exact test for a 2x2 table [[a, b], [c, d]] (rows: groups; columns: yes/no).

    Conditional on the margins, a ~ Hypergeometric(M=a+b+c+d, n=a+c, N=a+b).
    greater: P(A >= a) (odds ratio > 1); less: P(A <= a); two-sided: sum of
    the probabilities of tables no more likely than the observed one.

    Parameters
    ----------
    table : array_like
        2x2 table of non-negative whole-number counts.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Direction of the alternative.

    Returns
    -------
    float
        The p-value (1.0 when a margin is empty).

    References
    ----------
    Fisher, R. A. (1935). The logic of inductive inference. JRSS 98.

    Examples
    --------
    >>> round(fisher_exact([[8, 2], [1, 5]]), 4)
    0.035
    """
    _check_alternative(alternative)
    t = finite(table, "table")
    if np.any(t != np.round(t)):
        raise ValueError("table must hold whole-number counts")
    t = t.astype(np.int64)
    if t.shape != (2, 2) or np.any(t < 0):
        raise ValueError("fisher_exact needs a 2x2 table of non-negative counts")
    (a, b), (c, d) = t
    total, col1, row1 = a + b + c + d, a + c, a + b
    if total == 0 or row1 in (0, total) or col1 in (0, total):
        return 1.0
    dist = _st.hypergeom(total, col1, row1)
    if alternative == "greater":
        return float(min(1.0, dist.sf(a - 1)))
    if alternative == "less":
        return float(min(1.0, dist.cdf(a)))
    support = np.arange(max(0, row1 - (total - col1)), min(row1, col1) + 1)
    pmf = dist.pmf(support)
    return float(min(1.0, pmf[pmf <= dist.pmf(a) * _RTOL].sum()))


def two_proportion_test(
    k1: int, n1: int, k2: int, n2: int, *, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Pooled two-proportion z test; returns (z, p).

    z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)), p = (k1 + k2) / (n1 + n2).
    Its two-sided p equals the uncorrected chi-square test of the 2x2 table.

    Parameters
    ----------
    k1, n1, k2, n2 : int
        Successes and trials of the two samples.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Direction of the alternative.

    Returns
    -------
    tuple of float
        (z, p-value); (0.0, 1.0) when the pooled variance is zero.

    References
    ----------
    Agresti, A. (2013). Categorical Data Analysis, 3rd ed., sec. 3.1.

    Examples
    --------
    >>> z, p = two_proportion_test(30, 100, 15, 100)
    >>> round(z, 2), round(p, 3)
    (2.54, 0.011)
    """
    _check_alternative(alternative)
    counts(k1, n1, k_name="k1", n_name="n1")
    counts(k2, n2, k_name="k2", n_name="n2")
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (k1 / n1 - k2 / n2) / se
    if alternative == "greater":
        return float(z), float(_st.norm.sf(z))
    if alternative == "less":
        return float(z), float(_st.norm.cdf(z))
    return float(z), float(2 * _st.norm.sf(abs(z)))

"""Proportions from dependent items: design-effect score test, CR2 variance, t(BM df).

Morph series built from a few parent faces share parents (the Chicago Face
Database situation: a few dozen parents, each reused in many series); several
photos of one identity share the identity. Each item carries one id or two
(a morph series: its source and its target parent); two items are dependent
when they share any id, independent otherwise.

Variance of p_hat (multiway cluster-robust, Cameron, Gelbach & Miller 2011;
for items in two clusters at once, Aronow, Samii & Assenova 2015), written as
signed sums over clusters g -- each id (+), and each distinct pair of ids
(-), so that a pair of items sharing both ids is counted once:

  V = (1/n^2) sum_g s_g w_g (sum_{i in g} e_i)^2,   e_i = y_i - p_hat,
  w_g = 1 / (1 - n_g / n)   (CR2 bias reduction, Bell & McCaffrey 2002:
                             unbiased under independence whatever the sizes).

The design effect deff = max(1, V / (p_hat (1 - p_hat) / n)) (floored at 1,
Kish 1965: shared parents never make series more informative) shrinks n to
n_eff = n / deff. The test of H0: p = p0 is the score form at those counts,

  T(p0) = (p_hat - p0) / sqrt(p0 (1 - p0) / n_eff),

referred to Student's t with the Bell-McCaffrey degrees of freedom: the
Satterthwaite df of V under a working model of independent items,
df = tr(M W M)^2 / tr((M W M)^2), W = sum_g s_g w_g 1_g 1_g^T, M the centring
matrix (Bell & McCaffrey 2002; Imbens & Kolesar 2016; Pustejovsky & Tipton
2018). They fall with the number of parents and with their imbalance (5 + 5
parents: about 2.6; 5 + 5 with Zipf-distributed reuse: about 1.9), which is
what keeps the level there. The interval is the exact inversion (a Wilson
interval at n_eff with the t quantile), so the verdict and the interval
never disagree. Why this combination: a Wald statistic with the CR1
variance and t(G - 1) (Cameron & Miller 2015) fails a model at the
threshold in 6-15% of runs with 5-20 parents a side, because p_hat and its
variance are correlated for binary outcomes; a variance evaluated at the
null (restricted residuals) cannot reject at all with 5 + 5 parents, since
the shift p_hat - p0 enters it; the score form at n_eff takes the null's
p0 (1 - p0) and the data's design effect, and holds the level on the grid
of tests/stats/test_cluster.py and benchmarks/bench_calibration.py. Below
``MIN_CLUSTERS`` = 5 distinct ids in a column no verdict is offered.

References:
  Kish, L. (1965). Survey Sampling.
  Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for
    linear regression with multi-stage samples. Survey Methodology 28, 169-181.
  Cameron, A. C., Gelbach, J. B. & Miller, D. L. (2011). Robust inference with
    multiway clustering. J. Bus. Econ. Stat. 29, 238-249.
  Cameron, A. C. & Miller, D. L. (2015). A practitioner's guide to
    cluster-robust inference. J. Human Resources 50, 317-372.
  Aronow, P. M., Samii, C. & Assenova, V. A. (2015). Cluster-robust variance
    estimation for dyadic data. Political Analysis 23.
  Imbens, G. W. & Kolesar, M. (2016). Robust standard errors in small samples:
    some practical advice. Rev. Econ. Stat. 98, 701-712.
  Pustejovsky, J. E. & Tipton, E. (2018). Small-sample methods for cluster-robust
    variance estimation and hypothesis testing in fixed effects models.
    J. Bus. Econ. Stat. 36, 672-683.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse as _sparse
from scipy import special as _sp

from ._transforms import arcsine, from_arcsine
from .checks import as_output, finite, level, rate
from .mineffect import min_effect_p

#: Fewest distinct cluster ids per column for which a verdict is offered.
MIN_CLUSTERS = 5


@dataclass(frozen=True)
class ClusteredProportion:
    """A proportion from dependent items, with its design effect and effective counts.

    ``n_clusters`` counts every distinct id; ``min_clusters`` the distinct ids
    of the column with the fewest (for morph series: the scarcer parents);
    ``df`` the Bell-McCaffrey degrees of freedom of the tests.
    ``design_effect`` = V / (p_hat (1 - p_hat) / n), floored at 1;
    ``n_eff`` = n / design_effect, ``k_eff`` = p_hat n_eff.
    """

    p_hat: np.ndarray | float
    n: int
    n_clusters: int
    design_effect: np.ndarray | float
    n_eff: np.ndarray | float
    k_eff: np.ndarray | float
    min_clusters: int = 0
    df: float = 0.0


@dataclass(frozen=True)
class _Design:
    """Cluster structure: membership (n, clusters), signed CR2 weights, BM df, counts."""

    member: _sparse.csr_matrix
    weight: np.ndarray
    df: float
    n_ids: int
    fewest: int


def _design(clusters, n: int) -> _Design:
    ids = np.asarray(clusters)
    if ids.ndim == 1:
        ids = ids[:, None]
    if ids.ndim != 2 or ids.shape[0] != n or not 1 <= ids.shape[1] <= 2:
        raise ValueError(f"clusters must hold one id (or a row of two ids) per item: "
                         f"{n} items, clusters of shape {np.shape(clusters)}")
    if ids.dtype.kind == "f" and not np.all(np.isfinite(ids)):
        raise ValueError("clusters contains NaN or infinite ids")
    uniq, inverse = np.unique(ids.ravel(), return_inverse=True)
    inverse = inverse.reshape(ids.shape)
    rows = np.repeat(np.arange(n), ids.shape[1])
    by_id = _sparse.csr_matrix((np.ones(rows.size), (rows, inverse.ravel())),
                               shape=(n, len(uniq)))
    by_id.data[:] = 1.0  # an id repeated within a row counts once
    parts, signs = [by_id], [np.ones(len(uniq))]
    if ids.shape[1] == 2:
        _, pair = np.unique(np.sort(inverse, axis=1), axis=0, return_inverse=True)
        pair = np.asarray(pair).ravel()
        parts.append(_sparse.csr_matrix((np.ones(n), (np.arange(n), pair))))
        signs.append(-np.ones(pair.max() + 1))
    member = _sparse.hstack(parts).tocsr()
    sign = np.concatenate(signs)
    size = np.asarray(member.sum(axis=0)).ravel()
    with np.errstate(divide="ignore"):
        weight = sign / np.maximum(1.0 - size / n, 1.0 / n)
    # Satterthwaite df of V under independence: K = C'MC = C'C - size size' / n
    k0 = (member.T @ member).tocsr()
    dk = weight @ (k0.diagonal() - size**2 / n)
    wk0 = _sparse.diags(weight) @ k0
    tr2 = ((wk0.multiply(wk0.T)).sum() - 2 / n * (weight * size) @ (k0 @ (weight * size))
           + ((weight * size) @ size / n) ** 2)
    df = float(dk**2 / tr2) if tr2 > 0 else float(n - 1)
    fewest = min(len(np.unique(ids[:, j])) for j in range(ids.shape[1]))
    return _Design(member, weight, max(df, 1.0), len(uniq), fewest)


@dataclass(frozen=True)
class _Fit:
    p: np.ndarray
    deff: np.ndarray
    n: int
    design: _Design

    @property
    def n_eff(self) -> np.ndarray:
        return self.n / self.deff


def _fit(successes, clusters) -> _Fit:
    y = finite(successes, "successes")
    if y.ndim == 0 or y.shape[-1] < 2:
        raise ValueError("successes must hold at least 2 items (last axis)")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("successes must be 0/1 (or booleans)")
    n = y.shape[-1]
    design = _design(clusters, n)
    if design.n_ids < 2:
        raise ValueError("need at least 2 distinct cluster ids")
    p = y.mean(-1)
    e = (y - p[..., None]).reshape(-1, n)
    sums = np.asarray((design.member.T @ e.T).T)
    var = ((sums**2) @ design.weight).reshape(p.shape) / n**2
    naive = p * (1 - p) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = np.where(naive > 0, np.maximum(1.0, var / naive), 1.0)
    return _Fit(p, deff, n, design)


def clustered_proportion(successes, clusters) -> ClusteredProportion:
    """Design-effect summary of binary ``successes`` (last axis: the items) grouped by ``clusters``.

    ``clusters``: one id per item, or an (n, c) array of ids (any shared id makes
    two items dependent). Leading axes of ``successes`` are independent replicates
    sharing the clustering (used for vectorised simulation).

    Parameters
    ----------
    successes : array_like
        0/1 outcomes; last axis: the items (at least 2).
    clusters : array_like
        One id per item, or an (n, c) array of ids (any shared id makes two
        items dependent); at least 2 distinct ids.

    Returns
    -------
    ClusteredProportion
        p_hat, n, n_clusters, design_effect (floored at 1), n_eff, k_eff,
        min_clusters and df.

    References
    ----------
    Kish, L. (1965). Survey Sampling. Cameron, A. C., Gelbach, J. B. & Miller, D. L.
    (2011). Robust inference with multiway clustering. J. Bus. Econ. Stat. 29.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> c = clustered_proportion(successes, clusters)
    >>> float(c.p_hat), round(float(c.design_effect), 3), round(float(c.n_eff), 3), round(c.df, 2)
    (0.75, 2.286, 7.0, 7.0)
    """
    f = _fit(successes, clusters)
    return ClusteredProportion(as_output(f.p), f.n, f.design.n_ids, as_output(f.deff),
                               as_output(f.n_eff), as_output(f.p * f.n_eff), f.design.fewest,
                               f.design.df)


def _wilson(p, n_eff, crit):
    """{p0: (p - p0)^2 <= crit^2 p0 (1 - p0) / n_eff}, the Wilson limits at n_eff."""
    k2 = crit**2 / n_eff
    centre, half = (p + k2 / 2) / (1 + k2), np.sqrt(k2 * p * (1 - p) + k2**2 / 4) / (1 + k2)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def cluster_proportion_ci(successes, clusters, *, confidence: float = 0.95):
    """Two-sided interval for the rate: the inversion of :func:`cluster_h_test` (module doc).

    Parameters
    ----------
    successes : array_like
        0/1 outcomes; last axis: the items (at least 2).
    clusters : array_like
        One id per item, or an (n, c) array of ids (any shared id makes two
        items dependent); at least 2 distinct ids.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple
        (lo, hi) for the proportion, floats or arrays.

    References
    ----------
    Cameron, A. C., Gelbach, J. B. & Miller, D. L. (2011). J. Bus. Econ. Stat. 29.
    Cameron, A. C. & Miller, D. L. (2015). J. Human Resources 50.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> [round(float(b), 3) for b in cluster_proportion_ci(successes, clusters)]
    [0.33, 0.948]
    """
    f = _fit(successes, clusters)
    a = 1.0 - level(confidence)
    lo, hi = _wilson(f.p, f.n_eff, _sp.stdtrit(f.design.df, 1 - a / 2))
    return as_output(lo), as_output(hi)


def cluster_h_ci(successes, clusters, *, p_ref: float = 0.5, confidence: float = 0.95):
    """:func:`cluster_proportion_ci` mapped to Cohen's h = 2 asin sqrt(p) - 2 asin sqrt(p_ref).

    Parameters
    ----------
    successes : array_like
        0/1 outcomes; last axis: the items (at least 2).
    clusters : array_like
        One id per item, or an (n, c) array of ids (any shared id makes two
        items dependent); at least 2 distinct ids.
    p_ref : float, default 0.5
        Reference rate.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    tuple
        (lo, hi) for h, floats or arrays.

    References
    ----------
    Cameron, A. C., Gelbach, J. B. & Miller, D. L. (2011). J. Bus. Econ. Stat. 29.
    Cameron, A. C. & Miller, D. L. (2015). J. Human Resources 50.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> [round(float(b), 3) for b in cluster_h_ci(successes, clusters)]
    [-0.347, 1.111]
    """
    lo, hi = cluster_proportion_ci(successes, clusters, confidence=confidence)
    ref = arcsine(rate(p_ref))
    return as_output(arcsine(lo) - ref), as_output(arcsine(hi) - ref)


def cluster_h_test(successes, clusters, threshold, *, p_ref: float = 0.5,
                   alternative: str = "greater"):
    """Cohen's h of clustered binary items against a threshold (alternatives as in mineffect).

    H0 h <= h0 <=> p <= p0 = sin^2(asin sqrt(p_ref) + h0/2); p = P(t_df >= T(p0)),
    T the design-effect score statistic of the module docstring ("less":
    P(t_df <= T(p0))). Inverts :func:`cluster_h_ci`.

    Parameters
    ----------
    successes : array_like
        0/1 outcomes; last axis: the items (at least 2).
    clusters : array_like
        One id per item, or an (n, c) array of ids (any shared id makes two
        items dependent); at least 2 distinct ids.
    threshold : float or array_like
        The allowed |h|.
    p_ref : float, default 0.5
        Reference rate.
    alternative : {"greater", "less", "beyond", "within"}, default "greater"
        H1, as in :mod:`.mineffect`.

    Returns
    -------
    float or numpy.ndarray
        The p-value(s).

    References
    ----------
    Cameron, A. C., Gelbach, J. B. & Miller, D. L. (2011). J. Bus. Econ. Stat. 29.
    Cameron, A. C. & Miller, D. L. (2015). J. Human Resources 50.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> round(float(cluster_h_test(successes, clusters, 0.1)), 4)
    0.1613
    """
    f = _fit(successes, clusters)
    ref = arcsine(rate(p_ref))

    def p_at(h0, side):
        p0 = from_arcsine(ref + h0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (f.p - p0) / np.sqrt(p0 * (1 - p0) / f.n_eff)
        if side == "greater":
            return np.where(p0 >= 1, 1.0, np.where(p0 <= 0, 0.0, _sp.stdtr(f.design.df, -t)))
        return np.where(p0 <= 0, 1.0, np.where(p0 >= 1, 0.0, _sp.stdtr(f.design.df, t)))

    return min_effect_p(p_at, threshold, alternative)

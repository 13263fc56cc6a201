"""Proportions from dependent items: a design-effect-corrected binomial.

Morph series built from a few hundred parent faces share parents; several
photos of one identity share the identity. Counting them as independent
Bernoulli trials understates the variance, and a test at the threshold then
fails far more often than alpha. Here each item carries one or more cluster
ids (a morph series: its two parents), two items are dependent when they share
any id, and the variance of the proportion is the cluster-robust sum over the
dependent pairs (Cameron, Gelbach & Miller 2011; Aronow, Samii & Assenova 2015
for items that belong to two clusters at once):

  V = G / (G - 1) * (1 / n^2) * sum_{i, j share an id} e_i e_j,  e_i = y_i - p_hat,

G the number of distinct ids. The design effect deff = V / (p_hat (1 - p_hat) / n),
floored at 1 (Kish 1965), shrinks the trials to n_eff = n / deff and the
successes to k_eff = p_hat n_eff; the interval and tests are then the
Clopper-Pearson / exact binomial ones at these (non-integer) counts, via the
regularized incomplete beta function (P(X >= k) = I_p(k, n - k + 1)).

References:
  Kish, L. (1965). Survey Sampling: the design effect.
  Cameron, A. C., Gelbach, J. B. & Miller, D. L. (2011). Robust inference with
    multiway clustering. J. Bus. Econ. Stat. 29.
  Aronow, P. M., Samii, C. & Assenova, V. A. (2015). Cluster-robust variance
    estimation for dyadic data. Political Analysis 23.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse as _sparse
from scipy import special as _sp

from ._transforms import arcsine, from_arcsine
from .checks import as_output, finite, level, rate
from .mineffect import min_effect_p


@dataclass(frozen=True)
class ClusteredProportion:
    """A proportion from dependent items, with its design effect and effective counts."""

    p_hat: np.ndarray | float
    n: int
    n_clusters: int
    design_effect: np.ndarray | float
    n_eff: np.ndarray | float
    k_eff: np.ndarray | float


def _shared(clusters, n: int) -> tuple[_sparse.csr_matrix, int]:
    ids = np.asarray(clusters)
    if ids.ndim == 1:
        ids = ids[:, None]
    if ids.ndim != 2 or ids.shape[0] != n:
        raise ValueError(f"clusters must hold one id (or one row of ids) per item: "
                         f"{n} items, clusters of shape {np.shape(clusters)}")
    if ids.dtype.kind == "f" and not np.all(np.isfinite(ids)):
        raise ValueError("clusters contains NaN or infinite ids")
    uniq, inverse = np.unique(ids.ravel(), return_inverse=True)
    rows = np.repeat(np.arange(n), ids.shape[1])
    member = _sparse.csr_matrix((np.ones(rows.size), (rows, inverse.ravel())),
                                shape=(n, len(uniq)))
    member.data[:] = 1.0  # an id repeated within a row counts once
    share = (member @ member.T).tocsr()
    share.data[:] = 1.0
    return share, len(uniq)


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
        p_hat, n, n_clusters, design_effect (floored at 1), n_eff and k_eff.

    References
    ----------
    Kish, L. (1965). Survey Sampling. Cameron, A. C., Gelbach, J. B. & Miller, D. L.
    (2011). Robust inference with multiway clustering. J. Bus. Econ. Stat. 29.
    Aronow, P. M., Samii, C. & Assenova, V. A. (2015). Cluster-robust variance
    estimation for dyadic data. Political Analysis 23.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> c = clustered_proportion(successes, clusters)
    >>> float(c.p_hat), round(float(c.design_effect), 3), float(c.n_eff)
    (0.75, 2.286, 7.0)
    """
    y = finite(successes, "successes")
    if y.ndim == 0 or y.shape[-1] < 2:
        raise ValueError("successes must hold at least 2 items (last axis)")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("successes must be 0/1 (or booleans)")
    n = y.shape[-1]
    share, g = _shared(clusters, n)
    if g < 2:
        raise ValueError("need at least 2 distinct cluster ids")
    p = y.mean(-1)
    e = y - p[..., None]
    e2 = e.reshape(-1, n)
    cross = np.einsum("ij,ij->i", (share @ e2.T).T, e2).reshape(p.shape)
    var = g / (g - 1) * cross / n**2
    naive = p * (1 - p) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = np.where(naive > 0, np.maximum(1.0, var / naive), 1.0)
    n_eff = n / deff
    return ClusteredProportion(as_output(p), n, g, as_output(deff), as_output(n_eff),
                               as_output(p * n_eff))


def _cp_limits(k, n, a_lo, a_hi):
    lo = np.where(k <= 0, 0.0, _sp.betaincinv(np.maximum(k, 1e-300), n - k + 1, a_lo))
    hi = np.where(k >= n, 1.0, _sp.betaincinv(k + 1, np.maximum(n - k, 1e-300), 1 - a_hi))
    return lo, hi


def cluster_proportion_ci(successes, clusters, *, confidence: float = 0.95):
    """Clopper-Pearson interval at the effective counts of :func:`clustered_proportion`.

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
    Kish, L. (1965). Survey Sampling. Cameron, A. C., Gelbach, J. B. & Miller, D. L.
    (2011). Robust inference with multiway clustering. J. Bus. Econ. Stat. 29.
    Aronow, P. M., Samii, C. & Assenova, V. A. (2015). Cluster-robust variance
    estimation for dyadic data. Political Analysis 23.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> [round(float(b), 3) for b in cluster_proportion_ci(successes, clusters)]
    [0.321, 0.975]
    """
    c = clustered_proportion(successes, clusters)
    a = 1.0 - level(confidence)
    lo, hi = _cp_limits(np.asarray(c.k_eff), np.asarray(c.n_eff), a / 2, a / 2)
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
    Kish, L. (1965). Survey Sampling. Cameron, A. C., Gelbach, J. B. & Miller, D. L.
    (2011). Robust inference with multiway clustering. J. Bus. Econ. Stat. 29.
    Aronow, P. M., Samii, C. & Assenova, V. A. (2015). Cluster-robust variance
    estimation for dyadic data. Political Analysis 23.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> [round(float(b), 3) for b in cluster_h_ci(successes, clusters)]
    [-0.367, 1.251]
    """
    lo, hi = cluster_proportion_ci(successes, clusters, confidence=confidence)
    ref = arcsine(rate(p_ref))
    return as_output(arcsine(lo) - ref), as_output(arcsine(hi) - ref)


def cluster_h_test(successes, clusters, threshold, *, p_ref: float = 0.5,
                   alternative: str = "greater"):
    """Cohen's h of clustered binary items against a threshold (alternatives as in mineffect).

    H0 h <= h0 <=> p <= p0 = sin^2(asin sqrt(p_ref) + h0/2); p = I_{p0}(k_eff, n_eff - k_eff + 1),
    the exact binomial tail at the effective counts ("less": 1 - I_{p0}(k_eff + 1, n_eff - k_eff)).
    With no shared ids (deff = 1) it equals :func:`h_one_sample_test`. Inverts :func:`cluster_h_ci`.

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
    Kish, L. (1965). Survey Sampling. Cameron, A. C., Gelbach, J. B. & Miller, D. L.
    (2011). Robust inference with multiway clustering. J. Bus. Econ. Stat. 29.
    Aronow, P. M., Samii, C. & Assenova, V. A. (2015). Cluster-robust variance
    estimation for dyadic data. Political Analysis 23.

    Examples
    --------
    >>> successes = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> clusters = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]  # pairs share a parent
    >>> round(float(cluster_h_test(successes, clusters, 0.1)), 4)
    0.2513
    """
    c = clustered_proportion(successes, clusters)
    k, n = np.asarray(c.k_eff), np.asarray(c.n_eff)
    ref = arcsine(rate(p_ref))

    def p_at(h0, side):
        p0 = from_arcsine(ref + h0)
        if side == "greater":
            return np.where(k <= 0, 1.0, _sp.betainc(np.maximum(k, 1e-300), n - k + 1, p0))
        return np.where(k >= n, 1.0, 1.0 - _sp.betainc(k + 1, np.maximum(n - k, 1e-300), p0))

    return min_effect_p(p_at, threshold, alternative)

"""Multiple-comparison corrections of p-values.

References:
  Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    Scand. J. Statist. 6: step-down FWER control.
  Dunn, O. J. (1961). Multiple comparisons among means. JASA 56 (Bonferroni).
  Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. JRSS B 57.
"""

from __future__ import annotations

import numpy as np

METHODS = ("holm", "bonferroni", "bh", "none")


def adjust_pvalues(p_values, method: str = "holm") -> np.ndarray:
    """Adjusted p-values of a family, in the input order.

    holm: p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j)) (step-down, FWER);
    bonferroni: min(1, m p); bh: p_(i) -> min_{j >= i} min(1, m p_(j) / j) (FDR);
    none: unchanged. NaN entries (groups that could not be judged) are left
    NaN and not counted in the family size m.

    Parameters
    ----------
    p_values : array_like
        1-D p-values in [0, 1]; NaN marks a member that was not judged.
    method : {"holm", "bonferroni", "bh", "none"}, default "holm"
        Correction ("benjamini-hochberg" and "fdr_bh" are aliases of "bh").

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same order and shape as the input.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    Scand. J. Statist. 6. Dunn, O. J. (1961). Multiple comparisons among means.
    JASA 56. Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery
    rate. JRSS B 57.

    Examples
    --------
    >>> np.round(adjust_pvalues([0.01, 0.04, 0.03, 0.2]), 3)
    array([0.04, 0.09, 0.09, 0.2 ])
    >>> np.round(adjust_pvalues([0.01, 0.04, 0.03, 0.2], "bh"), 3)
    array([0.04 , 0.053, 0.053, 0.2  ])
    """
    if method in ("benjamini-hochberg", "fdr_bh"):
        method = "bh"
    if method not in METHODS:
        raise ValueError(f"correction must be one of {METHODS}, got {method!r}")
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0 or method == "none":
        out[ok] = p[ok]
        return out
    q = p[ok]
    if method == "bonferroni":
        out[ok] = np.minimum(1.0, m * q)
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    ranks = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - ranks + 1) * ranked))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * ranked / ranks)[::-1])[::-1]
    back = np.empty(m)
    back[order] = adj
    out[ok] = back
    return out

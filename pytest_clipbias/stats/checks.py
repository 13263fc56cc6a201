"""Input checks shared by the statistics engine and the measures: a verdict never comes from NaN.

Every public stats function passes its array arguments through :func:`finite`
so that NaN or infinite input raises a ValueError naming the argument, instead
of silently producing p = 0 (NaN compares False with everything).
"""

from __future__ import annotations

import math

import numpy as np


def finite(x, name: str, *, ndim: int | None = None) -> np.ndarray:
    """``x`` as a float64 array; ValueError naming ``name`` on NaN/inf or a wrong ndim."""
    if type(x) in (int, float) and ndim in (None, 0) and math.isfinite(x):
        return np.float64(x)  # fast path: scalars are checked in hot loops
    arr = np.asarray(x, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0]
        at = f" (first at index {tuple(int(i) for i in where)})" if arr.ndim else ""
        raise ValueError(f"{name} contains NaN or infinite values{at}; "
                         "clean or drop them before testing")
    return arr


def finite_1d(x, name: str) -> np.ndarray:
    """:func:`finite` for a one-dimensional sample."""
    return finite(x, name, ndim=1)


def counts(k, n, *, k_name: str = "k", n_name: str = "n") -> tuple[np.ndarray, np.ndarray]:
    """Integer-valued count arrays with 0 <= k <= n and n >= 1 (broadcast together)."""
    k_arr, n_arr = finite(k, k_name), finite(n, n_name)
    if np.any(k_arr != np.round(k_arr)) or np.any(n_arr != np.round(n_arr)):
        raise ValueError(f"{k_name} and {n_name} must be whole numbers")
    if np.any(n_arr < 1) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError(f"need 0 <= {k_name} <= {n_name} and {n_name} >= 1, "
                         f"got {k_name}={k!r}, {n_name}={n!r}")
    return np.broadcast_arrays(k_arr, n_arr)


def level(confidence: float, name: str = "confidence") -> float:
    """A probability strictly between 0 and 1 (a confidence level or alpha)."""
    c = float(finite(confidence, name))
    if not 0 < c < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {confidence}")
    return c


def rate(p_ref: float, name: str = "p_ref") -> float:
    """A reference rate strictly between 0 and 1."""
    p = float(finite(p_ref, name))
    if not 0 < p < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {p_ref}")
    return p


def as_output(x):
    """A 0-d result as a Python float, anything else as a float64 array."""
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x

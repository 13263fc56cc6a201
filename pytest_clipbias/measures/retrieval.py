"""Representation in ranked retrieval: Skew@k, MaxSkew@k and NDKL (Geyik et al. 2019).

Geyik, Ambler & Kenthapadi (2019), "Fairness-Aware Ranking in Search &
Recommendation Systems with Application to LinkedIn Talent Search", KDD:

  Skew_v@k(tau) = ln( p_{tau,k}(v) / p_desired(v) ),  p_{tau,k}(v) the share of
                  the top k with attribute value v;
  MaxSkew@k     = max_v Skew_v@k (how much the most over-represented value is);
  NDKL(tau)     = (1/Z) sum_{i=1..|tau|} 1/log2(i+1) KL(D_{tau_i} || D),
                  Z = sum_{i} 1/log2(i+1), D_{tau_i} the distribution of the top i,
                  KL with natural logarithms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def desired_distribution(values: Sequence[str], desired: str | Mapping[str, float]
                         ) -> dict[str, float]:
    """"uniform" over the distinct ``values``, or a given mapping (normalised to sum 1)."""
    if desired == "uniform":
        distinct = sorted(set(values))
        return {v: 1.0 / len(distinct) for v in distinct}
    if not isinstance(desired, Mapping) or not desired:
        raise ValueError("desired must be 'uniform' or a mapping value -> share")
    total = float(sum(desired.values()))
    if total <= 0 or any(s <= 0 for s in desired.values()):
        raise ValueError("desired shares must be positive")
    return {str(k): float(s) / total for k, s in desired.items()}


def _shares(ranked: Sequence[str], k: int, values: Sequence[str]) -> np.ndarray:
    top = list(ranked[:k])
    return np.array([top.count(v) for v in values], dtype=np.float64) / len(top)


def skew_at_k(ranked: Sequence[str], k: int, desired: Mapping[str, float]) -> dict[str, float]:
    """Skew_v@k for every value v of ``desired`` (-inf when v is absent from the top k)."""
    if not 1 <= k <= len(ranked):
        raise ValueError(f"k must lie in 1..{len(ranked)}, got {k}")
    values = list(desired)
    shares = _shares(ranked, k, values)
    with np.errstate(divide="ignore"):
        skews = np.log(shares / np.array([desired[v] for v in values]))
    return dict(zip(values, skews.tolist(), strict=True))


def max_skew_at_k(ranked: Sequence[str], k: int, desired: Mapping[str, float]) -> float:
    """MaxSkew@k = max_v Skew_v@k."""
    return max(skew_at_k(ranked, k, desired).values())


def ndkl(ranked: Sequence[str], desired: Mapping[str, float], k: int | None = None) -> float:
    """NDKL over the first ``k`` positions (all when None); 0 means every prefix matches D."""
    k = len(ranked) if k is None else k
    if not 1 <= k <= len(ranked):
        raise ValueError(f"k must lie in 1..{len(ranked)}, got {k}")
    values = list(desired)
    q = np.array([desired[v] for v in values])
    onehot = np.array([[r == v for v in values] for r in ranked[:k]], dtype=np.float64)
    prefix = np.cumsum(onehot, axis=0) / np.arange(1, k + 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(prefix > 0, prefix * np.log(prefix / q), 0.0)
    kl = terms.sum(1)
    weights = 1.0 / np.log2(np.arange(2, k + 2))
    return float((weights * kl).sum() / weights.sum())


def max_skew_from_counts(counts: np.ndarray, k: int, desired: np.ndarray) -> np.ndarray:
    """Vectorised MaxSkew@k from top-k counts of shape (..., n_values)."""
    with np.errstate(divide="ignore"):
        return np.log(counts / k / desired).max(axis=-1)

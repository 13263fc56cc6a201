"""Representation in ranked retrieval: Skew@k, MaxSkew@k and NDKL (Geyik et al. 2019).

Geyik, Ambler & Kenthapadi (2019), "Fairness-Aware Ranking in Search &
Recommendation Systems with Application to LinkedIn Talent Search", KDD:

  Skew_v@k(tau) = ln( p_{tau,k}(v) / p_desired(v) ),  p_{tau,k}(v) the share of
                  the top k with attribute value v;
  MaxSkew@k     = max_v Skew_v@k (how much the most over-represented value is);
  MinSkew@k     = min_v Skew_v@k (how much the most under-represented value is;
                  -inf when a value of the reference is absent from the top k);
  NDKL(tau)     = (1/Z) sum_{i=1..|tau|} 1/log2(i+1) KL(D_{tau_i} || D),
                  Z = sum_{i} 1/log2(i+1), D_{tau_i} the distribution of the top i,
                  KL with natural logarithms.

The model ranks the pool; it does not choose the pool. So the reference
distribution D is by default the pool's own composition ("pool"): a ranking
blind to the attribute has skew near 0 whatever the pool's balance, and its
top-k composition is exactly multivariate hypergeometric. "uniform" or a
mapping of desired shares can still be chosen.

Ranking rule (every path: in-memory audits, the chunked :func:`top_k` over an
embedding store at any block size, the bootstrap): images are ordered by
decreasing *ranking key* -- the cosine summed in float64 and rounded to
float32 (:func:`ranking_key`) -- and equal keys by increasing index. The
rounding is what makes the rule independent of block size: BLAS sums a float32
dot product in an order that depends on the shape of the call, so the same
row scores differently in the last bit in blocks of 100 and of 1,000 rows;
a float64 sum of float32 products errs by ~1e-16 and rounds to the same
float32 except within that distance of a rounding midpoint (probability about
2^-29 per score).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _st

from ..stats.checks import finite, level
from ..stats.rng import as_generator


def desired_distribution(values: Sequence[str], desired: str | Mapping[str, float]
                         ) -> dict[str, float]:
    """Reference shares: "pool" (the composition of ``values``, the default of the tests
    below), "uniform" over the distinct ``values``, or a mapping value -> share
    (checked: finite positive shares summing to 1, every value present in ``values``;
    ValueError naming ``desired`` otherwise)."""
    if isinstance(values, str):
        raise TypeError("values must be a sequence of attribute values, not a single string")
    if desired == "pool":
        distinct, counts = np.unique(np.asarray(list(values), dtype=str), return_counts=True)
        return {str(v): float(c) / len(values) for v, c in zip(distinct, counts, strict=True)}
    if desired == "uniform":
        distinct = sorted(set(values))
        return {v: 1.0 / len(distinct) for v in distinct}
    return _checked_desired(values, desired)


def _checked_desired(values: Sequence[str], desired: object) -> dict[str, float]:
    """A mapping value -> share, checked: finite positive numbers summing to 1 (within
    1e-6, then normalised), every key a value of the pool."""
    if not isinstance(desired, Mapping) or not desired:
        raise ValueError("desired must be 'pool', 'uniform' or a non-empty mapping "
                         f"value -> share, got {desired!r}")
    bad = {k: s for k, s in desired.items() if isinstance(s, bool)
           or not isinstance(s, (int, float, np.integer, np.floating))
           or not math.isfinite(s) or s <= 0}
    if bad:
        raise ValueError(f"desired shares must be finite positive numbers (a share of 0 makes the "
                         f"skew of any such image infinite); got {bad}")
    total = float(sum(desired.values()))
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"desired shares must sum to 1, got {total:.6g}: {dict(desired)}")
    absent = sorted(str(k) for k in desired if str(k) not in set(values))
    if absent:
        raise ValueError(f"desired names values {absent} that no image in the pool has; "
                         "drop them or add such images (their skew would always be -inf)")
    return {str(k): float(s) / total for k, s in desired.items()}


def ranking_key(scores: np.ndarray) -> np.ndarray:
    """The key images are ranked by: float64 cosines rounded to float32 (module docstring)."""
    return np.asarray(scores, dtype=np.float64).astype(np.float32)


def rank_order(key: np.ndarray) -> np.ndarray:
    """Whole-pool ranking of one query: decreasing key, equal keys by increasing index."""
    return np.argsort(-np.asarray(key, dtype=np.float32), kind="stable")


def block_top_k(queries: np.ndarray, rows: np.ndarray, k: int,
                norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions and keys (m, min(k, n)) of the best ``rows`` per query under the ranking rule.

    Screens with one float32 BLAS product (``rows / norms`` are the unit rows
    when ``norms`` is given), then recomputes the exact ranking key for every
    row whose float32 score lies within a rigorous error bound of the k-th
    best: |fl32(q.x) - q.x| <= d u |q| |x| for any summation order (Higham
    2002, eq. 3.5, u = 2^-24), doubled for the key's own rounding and doubled
    again. Only those few rows pay for float64, and the selection equals a
    full sort by (key desc, position asc) of all ``rows``.
    """
    queries = np.asarray(queries, dtype=np.float32)
    m, n, d = len(queries), len(rows), rows.shape[1]
    kk = min(k, n)
    approx = queries @ rows.T
    if norms is not None:
        approx /= norms
        x_max = 1.0
    else:
        x_max = 1.001 * float(np.sqrt(np.einsum("ij,ij->i", rows, rows).max()))
    kth = np.partition(approx, n - kk, axis=1)[:, n - kk]
    q64 = queries.astype(np.float64)
    slack = 4 * (d + 8) * 2.0 ** -24 * np.linalg.norm(q64, axis=1) * x_max
    pos = np.empty((m, kk), dtype=np.int64)
    key = np.empty((m, kk), dtype=np.float32)
    for j in range(m):
        cand = np.flatnonzero(approx[j] >= kth[j] - slack[j])
        unit = rows[cand] if norms is None else rows[cand] / norms[cand, None]
        exact = ranking_key(unit.astype(np.float64) @ q64[j])
        best = np.lexsort((cand, -exact))[:kk]
        pos[j], key[j] = cand[best], exact[best]
    return pos, key


def merge_top_k(index: np.ndarray, key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of candidate (index, key) pairs (m, c): decreasing key, ties by lower index."""
    order = np.lexsort((index, -key), axis=1)[:, :k] if len(index) else index[:, :k]
    return np.take_along_axis(index, order, 1), np.take_along_axis(key, order, 1)


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


def min_skew_at_k(ranked: Sequence[str], k: int, desired: Mapping[str, float]) -> float:
    """MinSkew@k = min_v Skew_v@k (Geyik et al. 2019; -inf when some v is absent)."""
    return min(skew_at_k(ranked, k, desired).values())


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


@dataclass(frozen=True)
class SkewTest:
    """MaxSkew@k against reference shares, with the p-value of H0: skew <= threshold."""

    skews: dict[str, float]
    max_skew: float
    worst: str
    threshold: float
    p_value: float
    k: int


@functools.lru_cache(maxsize=4096)
def _wallenius_weight(total: int, group: int, k: int, target_mean: float) -> float:
    """Odds w whose Wallenius noncentral hypergeometric mean equals ``target_mean``.

    Started at Fog's (2008) approximation w = ln(1 - mu/m1) / ln(1 - (k - mu)/m2) and
    solved exactly for the mean on the log-odds scale (Brent's method, bracket widened
    until it holds the root)."""
    def gap(x: float) -> float:
        return float(_st.nchypergeom_wallenius.mean(total, group, k, math.exp(x))) - target_mean

    start = math.log(math.log1p(-target_mean / group)
                     / math.log1p(-(k - target_mean) / (total - group)))
    lo, hi, step = start - 0.05, start + 0.05, 0.05
    while gap(lo) > 0 and lo > -40:
        step *= 4
        lo = max(-40.0, start - step)
    while gap(hi) < 0 and hi < 40:
        step *= 4
        hi = min(40.0, start + step)
    return math.exp(_opt.brentq(gap, lo, hi, xtol=1e-12))


def _tail(total: int, group: int, k: int, need: int, share: float) -> float:
    """P(X >= need), X the group's top-k count under a ranking whose expected share is ``share``."""
    if need <= 0:
        return 1.0
    if need > min(group, k):
        return 0.0
    low, high = max(0, k - (total - group)), min(group, k)
    mean = share * k
    if mean >= high:
        return 1.0
    if mean <= low:
        return 0.0
    if math.isclose(mean, k * group / total, rel_tol=1e-12):
        return float(_st.hypergeom.sf(need - 1, total, group, k))
    w = _wallenius_weight(total, group, k, mean)
    return float(_st.nchypergeom_wallenius.sf(need - 1, total, group, k, w))


def max_skew_test(
    ranked: Sequence[str], k: int, *, reference: str | Mapping[str, float] = "pool",
    threshold: float = 0.0,
) -> SkewTest:
    """MaxSkew@k of a ranking of the whole pool, tested against the threshold.

    Skew_v = ln(share of v in the top k / q_v), q the reference shares
    (:func:`desired_distribution`; default: the pool's composition).
    H0: every value's expected top-k share is at most q_v e^t (t = threshold).
    A ranking that favours value v with odds w draws the top k like a
    Wallenius noncentral hypergeometric sample (Wallenius 1963; Fog 2008); for each v
    the odds are set so its expected share is q_v e^t (w = 1, the exact central
    hypergeometric of a ranking blind to the attribute, when t = 0 and q is the
    pool). p = min(1, sum_v P(X_v >= ceil(k q_v e^s))), s the observed MaxSkew:
    exact for two values at t = 0 (the events are disjoint), Bonferroni-conservative
    otherwise. Pool 120 women / 280 men, 29 women in the top 40: p = 5.5e-9.
    """
    ranked = list(ranked)
    if isinstance(ranked, str) or not ranked:
        raise ValueError("ranked must be a non-empty sequence of attribute values")
    if not 1 <= k <= len(ranked):
        raise ValueError(f"k must lie in 1..{len(ranked)}, got {k}")
    t = float(finite(threshold, "threshold"))
    ref = desired_distribution(ranked, reference)
    missing = sorted(set(ranked) - set(ref))
    if missing:
        raise ValueError(f"values {missing} occur in the ranking but not in the reference shares")
    skews = skew_at_k(ranked, k, ref)
    worst = max(skews, key=skews.get)
    counts = SkewCounts.of(ranked, k, ref)
    return SkewTest(skews, skews[worst], worst, t, counts.p_above(t), k)


@dataclass(frozen=True)
class SkewCounts:
    """What the MaxSkew@k tests need: pool size, k, reference shares, each value's pool and
    top-k counts, and the observed MaxSkew s."""

    total: int
    k: int
    shares: tuple[float, ...]
    groups: tuple[int, ...]
    top: tuple[int, ...]
    observed: float

    @classmethod
    def of(cls, ranked: Sequence[str], k: int, ref: Mapping[str, float]) -> SkewCounts:
        """From a ranking of the whole pool and the reference shares."""
        values = list(ref)
        top = [list(ranked[:k]).count(v) for v in values]
        skews = skew_at_k(ranked, k, ref)
        return cls(len(ranked), k, tuple(ref[v] for v in values),
                   tuple(list(ranked).count(v) for v in values), tuple(top),
                   float(max(skews.values())))

    def p_above(self, c: float) -> float:
        """p of H0: MaxSkew <= c (every value's expected share at most q_v e^c):
        min(1, sum_v P(X_v >= ceil(k q_v e^s))), the Wallenius tails of :func:`max_skew_test`."""
        p = 0.0
        for q, group in zip(self.shares, self.groups, strict=True):
            need = (math.ceil(self.k * q * math.exp(self.observed) * (1 - 1e-12))
                    if np.isfinite(self.observed) else 0)
            p += _tail(self.total, group, self.k, need, min(1.0, q * math.exp(c)))
        return float(min(1.0, p))

    def p_below(self, c: float) -> float:
        """p of H0: MaxSkew >= c, the union over v of "v's expected share >= q_v e^c",
        rejected when every part is (intersection-union, Berger 1982):
        max_v P(X_v <= x_v) at expected share q_v e^c (0 where no ranking reaches it)."""
        p = 0.0
        for q, group, x in zip(self.shares, self.groups, self.top, strict=True):
            share = q * math.exp(c)
            if share * self.k > min(group, self.k):
                continue
            p = max(p, 1.0 - _tail(self.total, group, self.k, x + 1, share))
        return float(min(1.0, p))

    def interval(self, confidence: float) -> tuple[float, float]:
        """The MaxSkew values c that neither one-sided test rejects at (1 - confidence) / 2:
        [c where p_above(c) = a, c where p_below(c) = a] (both p monotone in c), within
        [0, the largest MaxSkew a ranking can reach] (MaxSkew >= 0 when the shares sum
        to 1), widened to hold s (by at most the bisection's 1e-4). So the judge's
        fail (p_above(t) <= a) is exactly "lower end > t" and its pass
        (p_below(t) <= a) exactly "upper end < t"."""
        a = (1 - confidence) / 2
        top = max(math.log(min(g, self.k) / self.k / q)
                  for q, g in zip(self.shares, self.groups, strict=True))
        low = _root(lambda c: self.p_above(c) > a, 0.0, top, low_end=True)
        high = _root(lambda c: self.p_below(c) <= a, 0.0, top, low_end=False)
        return min(low, self.observed), max(high, self.observed)


def _root(accept: Callable[[float], bool], lo: float, hi: float, *, low_end: bool) -> float:
    """Bisection for the switch point of a monotone predicate (false then true on [lo, hi]):
    the lower end is lo when ``accept(lo)``, the upper end hi when not ``accept(hi)``."""
    if accept(lo):
        return lo
    if not accept(hi):
        return hi
    while hi - lo > 1e-4:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if accept(mid) else (mid, hi)
    return hi if low_end else lo


def min_permutations(family_size: int, alpha: float = 0.05) -> int:
    """Fewest Monte Carlo permutations, ceil(2 m / alpha), that let a p-value corrected over
    a family of m cells (Holm or Bonferroni) fall below alpha: p >= 1 / (N + 1) each."""
    if family_size < 1:
        raise ValueError(f"family_size must be positive, got {family_size}")
    return math.ceil(2 * family_size / level(alpha, "alpha"))


def ndkl_test(
    ranked: Sequence[str], k: int, *, reference: str | Mapping[str, float] = "pool",
    n_permutations: int = 9999, seed: int | np.random.Generator | None = None,
) -> tuple[float, float]:
    """NDKL of the top k and its permutation p-value under a ranking blind to the attribute.

    The null shuffles the whole ranking (every order of the pool equally likely),
    p = (1 + #{NDKL_perm >= NDKL_obs}) / (1 + N) (Phipson & Smyth 2010). Use at least
    :func:`min_permutations` for a family of checks. Returns (ndkl, p).
    """
    ranked = list(ranked)
    ref = desired_distribution(ranked, reference)
    observed = ndkl(ranked, ref, k)
    names = list(ref)
    codes = np.array([names.index(v) for v in ranked])
    q = np.array([ref[v] for v in names])
    weights = 1.0 / np.log2(np.arange(2, k + 2))
    rng = as_generator(seed)
    exceed = 0
    batch = max(1, 2**22 // (len(ranked) + k * len(names)))
    for start in range(0, n_permutations, batch):
        b = min(batch, n_permutations - start)
        top = codes[np.argsort(rng.random((b, len(codes))), axis=1)[:, :k]]
        prefix = np.cumsum(top[..., None] == np.arange(len(names)), axis=1) / np.arange(
            1, k + 1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(prefix > 0, prefix * np.log(prefix / q), 0.0).sum(-1)
        exceed += int(np.count_nonzero(kl @ weights / weights.sum() >= observed - 1e-12))
    return observed, (exceed + 1) / (n_permutations + 1)

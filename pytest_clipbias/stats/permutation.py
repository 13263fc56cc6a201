"""Permutation tests for a difference of means and for WEAT / SC-EAT.

Both statistics are monotone in the sum of the values assigned to the first
group, so every test here reduces to the null distribution of that subset
sum over random (or all) equal-probability relabellings of the pooled values.

Exact: when the number of relabellings C(n, n_x) is at most ``n_permutations``
(and at most ``MAX_EXACT``), all of them are enumerated and p = k / C(n, n_x),
k counting relabellings at least as extreme as the observed one (itself
included).

Monte Carlo: p = (k + 1) / (N + 1) over N random relabellings (Phipson & Smyth
2010, "Permutation p-values should never be zero"), which keeps the test
valid (rejection rate <= alpha under the null).

Sampler. A uniform random n_x-subset is drawn without a full shuffle: every
value joins the subset with probability 1/2 (random bytes; the subset sum is
read from per-8-value lookup tables). When a draw of exactly n_x members is
likely (probability C(n, n_x) / 2^n >= ``ACCEPT_MIN``, e.g. up to about 250
values split evenly), draws of another size are simply rejected: given its
size, every bit pattern is equally likely, so an accepted one is a uniform
n_x-subset. Otherwise, if the subset has K != n_x members, |K - n_x|
members are removed (or non-members added) uniformly at random (one random
position per round, taken when on the right side). The procedure is
permutation-equivariant and always returns an n_x-subset, so the subset is
uniform. It is about 15x
faster than scipy.stats.permutation_test on two groups of 10,500
(benchmarks/bench_stats.py). Memory is bounded by ``batch_bytes`` whatever the
number of permutations.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .checks import finite, finite_1d
from .effects import association, cohens_d, cosine, d_of_scores
from .rng import as_generator

ALTERNATIVES = ("greater", "less", "two-sided")
#: Largest number of relabellings enumerated exactly.
MAX_EXACT = 200_000
#: Default memory budget of one batch of permutations (bytes).
BATCH_BYTES = 64 * 2**20
#: Smallest chance of an exact-size draw for which other sizes are rejected.
ACCEPT_MIN = 0.05

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
_POPCOUNT8 = _POPCOUNT.astype(np.uint8)
_BITS = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)  # (256, 8)


@dataclass(frozen=True)
class PermutationResult:
    """Outcome of a permutation test: observed statistic, p-value, and how it was computed."""

    statistic: float
    p_value: float
    n_permutations: int
    exact: bool
    alternative: str


def random_subset_sums(
    values, n_first: int, n_permutations: int, rng: np.random.Generator,
    *, batch_bytes: int = BATCH_BYTES,
) -> np.ndarray:
    """Sums of ``n_permutations`` uniformly random ``n_first``-subsets of ``values``.

    Vectorised in batches whose working memory stays under ``batch_bytes``.
    """
    v = finite_1d(values, "values")
    n = len(v)
    if not 0 < n_first < n:
        raise ValueError(f"n_first must be between 1 and {n - 1}, got {n_first}")
    complement = n_first > n - n_first  # draw the smaller side, subtract from the total
    k = n - n_first if complement else n_first
    groups = -(-n // 8)
    padded = np.zeros(groups * 8)
    padded[:n] = v
    table = (padded.reshape(groups, 8) @ _BITS.T).ravel()  # (groups * 256,)
    offsets = (np.arange(groups, dtype=np.int64) * 256)[None, :]
    tail_mask = np.uint8((1 << (n % 8)) - 1) if n % 8 else None
    accept = math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                      - n * math.log(2))
    if accept >= ACCEPT_MIN:
        out = _rejection_sums(k, n_permutations, rng, table, offsets, tail_mask, accept,
                              batch_bytes)
        return v.sum() - out if complement else out
    per_row = groups * 26 + 64  # per permutation: bytes, int64 gather index, correction copy
    batch = max(1, min(n_permutations, batch_bytes // per_row))
    out = np.empty(n_permutations)
    done = 0
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        out[done : done + b] = _subset_batch(v, k, b, rng, table, offsets, tail_mask)
        done += b
    return v.sum() - out if complement else out


def _rejection_sums(k, count, rng, table, offsets, tail_mask, accept, batch_bytes) -> np.ndarray:
    """Sums of ``count`` uniform k-subsets: fair bits, draws of another size rejected."""
    groups = offsets.shape[1]
    out = np.empty(count)
    done = 0
    while done < count:
        b = min(int((count - done) / accept * 1.1) + 64, max(1, batch_bytes // (groups * 2)))
        bytes_ = rng.integers(0, 256, (b, groups), dtype=np.uint8)
        if tail_mask is not None:  # padding positions are never members
            bytes_[:, -1] &= tail_mask
        keep = np.flatnonzero(_POPCOUNT8[bytes_].sum(1, dtype=np.int32) == k)[:count - done]
        out[done:done + len(keep)] = np.take(table, bytes_[keep] + offsets).sum(1)
        done += len(keep)
    return out


def _subset_batch(v, k, b, rng, table, offsets, tail_mask) -> np.ndarray:
    groups = offsets.shape[1]
    bytes_ = rng.integers(0, 256, (b, groups), dtype=np.uint8)
    if tail_mask is not None:  # padding positions are never members
        bytes_[:, -1] &= tail_mask
    sums = np.take(table, bytes_ + offsets).sum(1)
    size = _POPCOUNT[bytes_].sum(1)
    diff = size - k
    need = np.abs(diff)
    todo = np.flatnonzero(need)
    if todo.size:
        sums[todo] += _correction(v, bytes_[todo], diff[todo], rng)
    return sums


def _correction(v, bytes_, diff, rng) -> np.ndarray:
    """Signed sum of |diff| values removed from (diff > 0) or added to (diff < 0) each subset.

    Each round draws one uniform position per unfinished row; a position on
    the right side (a member to remove, a non-member to add) is taken and its
    bit flipped, so it cannot be taken twice. The positions taken are thus a
    uniform sample without replacement of the right side. ``bytes_`` (the
    rows' bit sets, a copy) is modified.
    """
    n = len(v)
    need = np.abs(diff)
    want = (diff > 0).astype(np.uint8)
    sign = np.where(diff > 0, -1.0, 1.0)
    out = np.zeros(len(diff))
    pending = np.flatnonzero(need)
    while pending.size:
        pos = rng.integers(0, n, pending.size)
        byte, shift = pos >> 3, (pos & 7).astype(np.uint8)
        hit = ((bytes_[pending, byte] >> shift) & 1) == want[pending]
        rows, byte, shift, pos = pending[hit], byte[hit], shift[hit], pos[hit]
        bytes_[rows, byte] ^= np.left_shift(np.uint8(1), shift)
        out[rows] += sign[rows] * v[pos]
        need[rows] -= 1
        pending = pending[need[pending] > 0]
    return out


def exact_subset_sums(values, n_first: int) -> np.ndarray:
    """Sums of all C(n, n_first) subsets of ``values`` (exact enumeration)."""
    v = finite_1d(values, "values")
    count = math.comb(len(v), n_first)
    if count > MAX_EXACT:
        raise ValueError(f"{count} subsets exceed MAX_EXACT={MAX_EXACT}; use Monte Carlo")
    combos = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(len(v)), n_first)),
        dtype=np.int64, count=count * n_first,
    ).reshape(count, n_first)
    return v[combos].sum(1)


def _p_from_null(null_sums: np.ndarray, observed_sum: float, scale: float, alternative: str,
                 exact: bool) -> float:
    """p-value from subset sums (the statistic is increasing in the sum).

    Sums within 1e-10 * sum(|values|) of the observed one count as ties, so
    relabellings that give the same statistic in exact arithmetic are not
    split by floating-point rounding (summation order differs between them).
    """
    tol = 1e-10 * scale + 1e-300
    add = 0 if exact else 1
    denom = len(null_sums) + add
    greater = (np.count_nonzero(null_sums >= observed_sum - tol) + add) / denom
    less = (np.count_nonzero(null_sums <= observed_sum + tol) + add) / denom
    if alternative == "greater":
        return float(greater)
    if alternative == "less":
        return float(less)
    return float(min(1.0, 2.0 * min(greater, less)))


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def subset_sum_test(
    pooled, n_first: int, *, alternative: str = "greater", n_permutations: int = 9999,
    seed: int | np.random.Generator | None = None, exact: bool | None = None,
    batch_bytes: int = BATCH_BYTES,
) -> PermutationResult:
    """Permutation test of T = mean(first n_first values) - mean(the rest).

    ``exact=None`` enumerates when C(n, n_first) <= n_permutations (and <=
    MAX_EXACT), else samples; True/False force the choice.

    Parameters
    ----------
    pooled : array_like
        1-D values, the first group first.
    n_first : int
        Size of the first group.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Direction of the alternative.
    n_permutations : int, default 9999
        Random relabellings (Monte Carlo), also the largest count enumerated exactly.
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.
    exact : bool, optional
        Force exact enumeration (True) or Monte Carlo (False).
    batch_bytes : int, default BATCH_BYTES
        Memory budget of one batch of random relabellings.

    Returns
    -------
    PermutationResult
        statistic T, p_value, n_permutations, exact and alternative.

    References
    ----------
    Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero.
    Stat. Appl. Genet. Mol. Biol. 9(1).

    Examples
    --------
    >>> res = subset_sum_test([5, 6, 7, 1, 2, 3], 3)
    >>> float(res.statistic), res.p_value, res.n_permutations, res.exact
    (4.0, 0.05, 20, True)
    """
    _check_alternative(alternative)
    v = finite_1d(pooled, "pooled")
    n, m = len(v), len(v) - n_first
    if n_first < 1 or m < 1:
        raise ValueError("each group needs at least one value")
    total = v.sum()
    observed_sum = float(v[:n_first].sum())
    observed = observed_sum / n_first - (total - observed_sum) / m
    scale = float(np.abs(v).sum())
    count = math.comb(n, n_first)
    use_exact = exact if exact is not None else count <= min(n_permutations, MAX_EXACT)
    if use_exact:
        null = exact_subset_sums(v, n_first)
        p = _p_from_null(null, observed_sum, scale, alternative, True)
        return PermutationResult(observed, p, count, True, alternative)
    if n_permutations < 1:
        raise ValueError("n_permutations must be positive")
    null = random_subset_sums(v, n_first, n_permutations, as_generator(seed),
                              batch_bytes=batch_bytes)
    p = _p_from_null(null, observed_sum, scale, alternative, False)
    return PermutationResult(observed, p, n_permutations, False, alternative)


def permutation_test(
    x, y, *, alternative: str = "greater", n_permutations: int = 9999,
    seed: int | np.random.Generator | None = None, exact: bool | None = None,
    batch_bytes: int = BATCH_BYTES,
) -> PermutationResult:
    """Two-sample permutation test of the difference of means, T = mean(x) - mean(y).

    H0: the labels x/y are exchangeable. "greater" tests mean(x) > mean(y).
    Two-sided p = min(1, 2 min(p_greater, p_less)), as scipy.stats.permutation_test.

    Parameters
    ----------
    x, y : array_like
        The two groups, 1-D and finite.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Direction of the alternative.
    n_permutations : int, default 9999
        Random relabellings (Monte Carlo), also the largest count enumerated exactly.
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.
    exact : bool, optional
        Force exact enumeration (True) or Monte Carlo (False).
    batch_bytes : int, default BATCH_BYTES
        Memory budget of one batch of random relabellings.

    Returns
    -------
    PermutationResult
        statistic T, p_value, n_permutations, exact and alternative.

    References
    ----------
    Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero.
    Stat. Appl. Genet. Mol. Biol. 9(1).

    Examples
    --------
    >>> res = permutation_test([5, 6, 7, 8], [1, 2, 3, 4])
    >>> round(res.p_value, 4), res.n_permutations, res.exact
    (0.0143, 70, True)
    """
    x, y = finite_1d(x, "x"), finite_1d(y, "y")
    return subset_sum_test(
        np.concatenate([x, y]), len(x), alternative=alternative,
        n_permutations=n_permutations, seed=seed, exact=exact, batch_bytes=batch_bytes,
    )


def permutation_test_columns(
    x, y, *, alternative: str = "two-sided", n_permutations: int = 9999,
    seed: int | np.random.Generator | None = None, batch_bytes: int = BATCH_BYTES,
) -> np.ndarray:
    """Monte Carlo permutation p-values of mean(x[:, j]) - mean(y[:, j]) for every column j.

    Every column is tested with the same random relabellings of the rows
    (each uniform: the first n_x of a random order), so a family of tests
    over labels costs one set of permutations. p = (k + 1) / (N + 1) per
    column; two-sided as 2 min(p_greater, p_less), as permutation_test.

    Parameters
    ----------
    x, y : array_like
        2-D arrays (rows: items) with the same number of columns.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Direction of the alternative.
    n_permutations : int, default 9999
        Random relabellings shared by all columns.
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.
    batch_bytes : int, default BATCH_BYTES
        Memory budget of one batch of relabellings.

    Returns
    -------
    numpy.ndarray
        One p-value per column.

    References
    ----------
    Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero.
    Stat. Appl. Genet. Mol. Biol. 9(1).

    Examples
    --------
    Column 0 has a planted shift of 2 standard deviations:

    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    >>> x[:, 0] += 2
    >>> p = permutation_test_columns(x, y, n_permutations=999, seed=0)
    >>> bool(p[0] < 0.05), p.shape
    (True, (3,))
    """
    _check_alternative(alternative)
    x, y = finite(x, "x"), finite(y, "y")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError("x and y must be 2-D arrays with the same number of columns")
    n1, n2 = len(x), len(y)
    if n1 < 1 or n2 < 1:
        raise ValueError("each group needs at least one row")
    pooled = np.concatenate([x, y])
    n, cols = pooled.shape
    scale = np.abs(pooled).sum(0)
    observed = x.sum(0)
    rng = as_generator(seed)
    batch = max(1, min(n_permutations, batch_bytes // (n * 24 + cols * 16)))
    ge = np.zeros(cols, dtype=np.int64)
    le = np.zeros(cols, dtype=np.int64)
    tol = 1e-10 * scale + 1e-300
    done = 0
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        first = np.argpartition(rng.random((b, n)), n1 - 1, axis=1)[:, :n1] if n1 < n else (
            np.broadcast_to(np.arange(n), (b, n)))
        mask = np.zeros((b, n))
        np.put_along_axis(mask, first, 1.0, axis=1)
        sums = mask @ pooled
        ge += np.count_nonzero(sums >= observed - tol, axis=0)
        le += np.count_nonzero(sums <= observed + tol, axis=0)
        done += b
    p_ge, p_le = (ge + 1) / (n_permutations + 1), (le + 1) / (n_permutations + 1)
    if alternative == "greater":
        return p_ge
    if alternative == "less":
        return p_le
    return np.minimum(1.0, 2.0 * np.minimum(p_ge, p_le))


@dataclass(frozen=True)
class EatResult:
    """Effect size and permutation test of an embedding association test."""

    effect: float
    statistic: float
    p_value: float
    n_permutations: int
    exact: bool


def weat_test(
    targets_x, targets_y, attributes_a, attributes_b, *, alternative: str = "greater",
    n_permutations: int = 9999, seed: int | np.random.Generator | None = None,
    ddof: int = 1, exact: bool | None = None,
) -> EatResult:
    """WEAT (Caliskan et al. 2017): effect d and permutation p over partitions of X u Y.

    Statistic s(X,Y,A,B) = sum_x s(x,A,B) - sum_y s(y,A,B); its permutation
    distribution equals that of the difference of mean associations when
    |X| = |Y|, and for unequal sizes we permute that difference (a monotone
    function of the subset sum, so p is the same as for the sum statistic).
    One-sided "greater" (X closer to A than Y is) by default, as in the paper.

    Parameters
    ----------
    targets_x, targets_y : array_like
        Target embeddings X and Y, (n, d) each.
    attributes_a, attributes_b : array_like
        Attribute embeddings A and B, (k, d) each.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Direction of the alternative.
    n_permutations : int, default 9999
        Random relabellings (Monte Carlo), also the largest count enumerated exactly.
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.
    ddof : int, default 1
        Degrees of freedom of the std in :func:`weat_d`.
    exact : bool, optional
        Force exact enumeration (True) or Monte Carlo (False).

    Returns
    -------
    EatResult
        effect d, statistic s(X,Y,A,B), p_value, n_permutations and exact.

    References
    ----------
    Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Semantics derived
    automatically from language corpora contain human-like biases. Science 356(6334).

    Examples
    --------
    >>> a = [[1, 0], [1, 0.2], [1, 0.1]]
    >>> b = [[0, 1], [0.2, 1], [0.1, 1]]
    >>> res = weat_test([[1, 0.5], [1, 0.3], [1, 0.4]], [[0.5, 1], [0.3, 1], [0.4, 1]], a, b)
    >>> round(res.effect, 3), res.p_value, res.n_permutations
    (1.802, 0.05, 20)
    """
    targets_x, targets_y = finite(targets_x, "targets_x"), finite(targets_y, "targets_y")
    sx = association(targets_x, attributes_a, attributes_b)
    sy = association(targets_y, attributes_a, attributes_b)
    res = subset_sum_test(np.concatenate([sx, sy]), len(sx), alternative=alternative,
                          n_permutations=n_permutations, seed=seed, exact=exact)
    d = d_of_scores(sx, sy, ddof=ddof)  # the weat_d of the same scores, not recomputed
    return EatResult(d, float(sx.sum() - sy.sum()), res.p_value, res.n_permutations, res.exact)


def _cosines(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos(w, a) for a in A and cos(w, b) for b in B, in one product."""
    both = cosine(w, np.concatenate([a, b]))[0]
    return both[:len(a)], both[len(a):]


def sc_eat_test(
    target, attributes_a, attributes_b, *, alternative: str = "greater",
    n_permutations: int = 9999, seed: int | np.random.Generator | None = None,
    ddof: int = 1, exact: bool | None = None,
) -> EatResult:
    """SC-EAT for one target vector: effect d and a permutation test over A/B labels.

    The values permuted are cos(w, x) for x in A u B; the statistic is
    mean_A - mean_B (Caliskan 2017, single-category EAT).

    Parameters
    ----------
    target : array_like
        One (d,) target vector.
    attributes_a, attributes_b : array_like
        Attribute embeddings A and B, (k, d) each.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Direction of the alternative.
    n_permutations : int, default 9999
        Random relabellings (Monte Carlo), also the largest count enumerated exactly.
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.
    ddof : int, default 1
        Degrees of freedom of the std in :func:`sc_eat_d`.
    exact : bool, optional
        Force exact enumeration (True) or Monte Carlo (False).

    Returns
    -------
    EatResult
        effect d, statistic mean_A - mean_B, p_value, n_permutations and exact.

    References
    ----------
    Caliskan, A., Bryson, J. J. & Narayanan, A. (2017). Semantics derived
    automatically from language corpora contain human-like biases. Science 356(6334).

    Examples
    --------
    >>> a = [[1, 0], [1, 0.2], [1, 0.1]]
    >>> b = [[0, 1], [0.2, 1], [0.1, 1]]
    >>> res = sc_eat_test([1, 0.5], a, b)
    >>> round(res.effect, 3), round(float(res.statistic), 3), res.p_value
    (1.766, 0.4, 0.05)
    """
    w = finite(target, "target")
    if w.ndim != 1:
        raise ValueError("sc_eat_test takes one target vector; use sc_eat_d for many")
    a, b = finite(attributes_a, "attributes_a"), finite(attributes_b, "attributes_b")
    ca, cb = _cosines(w, a, b)
    res = subset_sum_test(np.concatenate([ca, cb]), len(ca), alternative=alternative,
                          n_permutations=n_permutations, seed=seed, exact=exact)
    d = d_of_scores(ca, cb, ddof=ddof)  # sc_eat_d of the same cosines
    return EatResult(d, res.statistic, res.p_value, res.n_permutations, res.exact)


def cohens_d_test(
    x, y, *, alternative: str = "greater", n_permutations: int = 9999,
    seed: int | np.random.Generator | None = None, ddof: int = 1,
) -> tuple[float, PermutationResult]:
    """Cohen's d of x vs y with its permutation p (difference of means).

    Parameters
    ----------
    x, y : array_like
        The two groups, 1-D and finite.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Direction of the alternative.
    n_permutations : int, default 9999
        Random relabellings (Monte Carlo), also the largest count enumerated exactly.
    seed : int or numpy.random.Generator, optional
        Randomness; None means seed 0.
    ddof : int, default 1
        Passed to :func:`cohens_d`.

    Returns
    -------
    tuple
        (d, PermutationResult of :func:`permutation_test`).

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, ch. 2.

    Examples
    --------
    >>> d, res = cohens_d_test([5, 6, 7, 8], [1, 2, 3, 4])
    >>> round(d, 3), round(res.p_value, 4)
    (3.098, 0.0143)
    """
    return cohens_d(x, y, ddof=ddof), permutation_test(
        x, y, alternative=alternative, n_permutations=n_permutations, seed=seed
    )

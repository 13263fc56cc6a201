"""Representation in retrieval, per query: MaxSkew@k, MinSkew@k and NDKL of the top k
(Geyik et al. 2019).

The images are ranked by cosine with the query. By default the reference
distribution is the pool's own composition (``desired="pool"``): the model
did not choose the pool, only the ranking, so a ranking blind to the
attribute has MaxSkew@k near 0 whatever the pool. "uniform" or a mapping
value -> share compare with a desired split instead.

The judged cell tests H0: MaxSkew@k <= c with the noncentral hypergeometric
test of :func:`pytest_clipbias.measures.retrieval.max_skew_test` (exact for a
ranking blind to the attribute), so P(fail) <= alpha at the threshold. Its
interval is a bootstrap over the pool (images resampled with replacement and
re-ranked, percentile): the judge fails a query only when the test rejects
*and* that interval lies beyond the threshold, and passes it only when the
interval lies within (approximate: the bootstrap's coverage is measured in
tests/test_calibration.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .cells import Cell, bootstrap_cell
from .retrieval import (
    desired_distribution,
    max_skew_from_counts,
    max_skew_test,
    ndkl,
    rank_order,
    ranking_key,
    skew_at_k,
)


@dataclass
class SkewRow:
    """One query: MaxSkew@k (the judged effect) and its over-represented value, MinSkew@k and
    its under-represented value, top-k shares, NDKL."""

    query: str
    k: int
    n: int
    over_represented: str
    top_k_shares: dict[str, float]
    skews: dict[str, float]
    ndkl: float
    under_represented: str = ""
    min_skew: float = float("nan")
    cells: dict[str, Cell] = field(default_factory=dict)
    problem: str | None = None


def reference(values: Sequence[str], desired: str | Mapping[str, float]) -> dict[str, float]:
    """The reference shares: the pool's composition ("pool"), "uniform", or a mapping."""
    return desired_distribution(values, desired)


def skew_cell(ranked: list[str], k: int, dist: Mapping[str, float], effect: float,
              boot: np.ndarray) -> Cell:
    """MaxSkew@k: hypergeometric tests of "skew > c", bootstrap intervals (module docstring)."""
    boot_cell = bootstrap_cell(effect, boot, k)
    return Cell(effect, k, lambda c: max_skew_test(ranked, k, reference=dict(dist),
                                                   threshold=c).p_value,
                boot_cell.p_below, boot_cell.interval)


def measure_max_skew(scores: np.ndarray, values: Sequence[str], queries: Sequence[str],
                     dist: Mapping[str, float], *, k: int, n_resamples: int,
                     rng: np.random.Generator) -> list[SkewRow]:
    """One row per query from ``scores`` (n_images, n_queries).

    Images are ranked by the rule of :mod:`pytest_clipbias.measures.retrieval`
    (ranking key, ties by increasing index), the rule of the chunked
    :func:`pytest_clipbias.embeddings.top_k` too, so both give the same
    MaxSkew and NDKL; the bootstrap ranks resampled images by the same order.
    """
    names = list(dist)
    q = np.array([dist[v] for v in names])
    codes = np.array([names.index(v) for v in values])
    n = len(values)
    rows = []
    for j, query in enumerate(queries):
        order = rank_order(ranking_key(scores[:, j]))
        ranked = [values[i] for i in order]
        skews = skew_at_k(ranked, k, dist)
        over = max(skews, key=skews.get)
        counts = np.bincount(codes[order[:k]], minlength=len(names))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        boot = _bootstrap(rank, codes, len(names), k, n_resamples, rng)
        boot = max_skew_from_counts(boot, k, q)
        row = SkewRow(query, k, n, over, {v: float(c / k) for v, c in zip(names, counts,
                                                                          strict=True)},
                      skews, ndkl(ranked, dist, k), min(skews, key=skews.get),
                      min(skews.values()))
        if np.isfinite(skews[over]) and np.isfinite(boot).sum() >= 20:
            row.cells = {"": skew_cell(ranked, k, dist, skews[over], boot)}
        else:
            row.problem = "MaxSkew@k is undefined for this ranking"
        rows.append(row)
    return rows


def _bootstrap(rank: np.ndarray, codes: np.ndarray, n_values: int, k: int, n_resamples: int,
               rng: np.random.Generator, batch_bytes: int = 32 * 2**20) -> np.ndarray:
    """Top-k value counts of ``n_resamples`` bootstrap pools (resampled, re-ranked), batched.

    ``rank`` is each image's position in the full ranking: a resample's top k
    are its k lowest ranks, so only copies of one image can tie (same value).
    """
    n = len(rank)
    batch = max(1, min(n_resamples, batch_bytes // (16 * n)))
    out = np.empty((n_resamples, n_values), dtype=np.int64)
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        picks = rng.integers(0, n, (b, n))
        top = np.argpartition(rank[picks], k - 1, axis=1)[:, :k]
        chosen = codes[np.take_along_axis(picks, top, axis=1)]
        out[start:start + b] = (chosen[:, :, None] == np.arange(n_values)).sum(1)
    return out

"""Representation in retrieval, per query: MaxSkew@k, MinSkew@k and NDKL of the top k
(Geyik et al. 2019).

The images are ranked by cosine with the query. By default the reference
distribution is the pool's own composition (``desired="pool"``): the model
did not choose the pool, only the ranking, so a ranking blind to the
attribute has MaxSkew@k near 0 whatever the pool. "uniform" or a mapping
value -> share compare with a desired split instead.

The judged cell tests H0: MaxSkew@k <= c with the noncentral hypergeometric
test of :func:`pytest_clipbias.measures.retrieval.max_skew_test` (exact for a
ranking blind to the attribute), so P(fail) <= alpha at the threshold, and
H0: MaxSkew@k >= c with its intersection-union counterpart; its interval is
the inversion of the two (:class:`pytest_clipbias.measures.retrieval.SkewCounts`),
so the interval shown is exactly the evidence of the verdict: fail when its
lower end is beyond the threshold, pass when its upper end is within.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .cells import Cell
from .retrieval import (
    SkewCounts,
    desired_distribution,
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


def skew_cell(ranked: list[str], k: int, dist: Mapping[str, float], effect: float) -> Cell:
    """MaxSkew@k: the two one-sided tests and the interval that inverts them (module
    docstring); each bound or level is computed once."""
    counts = SkewCounts.of(ranked, k, dist)
    return Cell(effect, k, functools.lru_cache(counts.p_above),
                functools.lru_cache(counts.p_below), functools.lru_cache(counts.interval))


def measure_max_skew(scores: np.ndarray, values: Sequence[str], queries: Sequence[str],
                     dist: Mapping[str, float], *, k: int) -> list[SkewRow]:
    """One row per query from ``scores`` (n_images, n_queries).

    Images are ranked by the rule of :mod:`pytest_clipbias.measures.retrieval`
    (ranking key, ties by increasing index), the rule of the chunked
    :func:`pytest_clipbias.embeddings.top_k` too, so both give the same
    MaxSkew and NDKL.
    """
    names = list(dist)
    codes = np.array([names.index(v) for v in values])
    n = len(values)
    rows = []
    for j, query in enumerate(queries):
        order = rank_order(ranking_key(scores[:, j]))
        ranked = [values[i] for i in order]
        skews = skew_at_k(ranked, k, dist)
        over = max(skews, key=skews.get)
        counts = np.bincount(codes[order[:k]], minlength=len(names))
        row = SkewRow(query, k, n, over, {v: float(c / k) for v, c in zip(names, counts,
                                                                          strict=True)},
                      skews, ndkl(ranked, dist, k), min(skews, key=skews.get),
                      min(skews.values()))
        if np.isfinite(skews[over]):
            row.cells = {"": skew_cell(ranked, k, dist, skews[over])}
        else:
            row.problem = "MaxSkew@k is undefined for this ranking"
        rows.append(row)
    return rows

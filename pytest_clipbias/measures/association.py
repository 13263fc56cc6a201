"""Embedding association tests: WEAT and SC-EAT (Caliskan, Bryson & Narayanan 2017).

WEAT, two target sets X, Y and attribute sets A, B:
  s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b),
  d = (mean_x s(x) - mean_y s(y)) / std_{w in X u Y} s(w)  (ddof switchable).
SC-EAT, one target set: the set's mean embedding w,
  d = (mean_a cos(w, a) - mean_b cos(w, b)) / std_{x in A u B} cos(w, x).

The judged cell (:func:`pytest_clipbias.measures.cells.eat_cell`) tests and
bounds d from the two groups' scores: s(x) and s(y) for WEAT, the target's
cosines with A and with B for SC-EAT, by the noncentral t (exact under
normal scores; a percentile bootstrap covers only 85-90% with 8 words).
The permutation p of Caliskan et al. (against d = 0) is reported as a
description, not used for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..stats import cosine, sc_eat_d, sc_eat_test, weat_test
from ..stats.rng import as_generator
from .cells import Cell, eat_cell


@dataclass
class AssociationRow:
    """One association test: its effect d, the permutation p against zero, and its cell."""

    test: str
    targets: str
    attributes: str
    n: int
    statistic: float
    p_zero: float
    n_permutations: int
    exact: bool
    per_target_mean_d: float | None = None
    per_target_share_positive: float | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    problem: str | None = None


def measure_association(x: np.ndarray, y: np.ndarray | None, a: np.ndarray, b: np.ndarray, *,
                        names: tuple[str, str, str, str], alternative: str, permutations: int,
                        ddof: int = 1, seed: int = 0) -> AssociationRow:
    """The WEAT (``y`` given) or SC-EAT (``y`` None) row of embeddings x, y, a, b."""
    rng = as_generator(seed)
    nx, ny, na, nb = names
    if y is None:
        w = x.mean(0)
        res = sc_eat_test(w, a, b, alternative=alternative, n_permutations=permutations,
                          seed=rng, ddof=ddof)
        per_target = sc_eat_d(x, a, b, ddof=ddof)
        scores = cosine(w, a)[0], cosine(w, b)[0]
        row = AssociationRow("SC-EAT", nx, f"{na} vs {nb}", len(x), res.statistic, res.p_value,
                             res.n_permutations, res.exact, float(np.mean(per_target)),
                             float(np.mean(per_target > 0)))
    else:
        res = weat_test(x, y, a, b, alternative=alternative, n_permutations=permutations,
                        seed=rng, ddof=ddof)
        sx = cosine(x, a).mean(1) - cosine(x, b).mean(1)
        sy = cosine(y, a).mean(1) - cosine(y, b).mean(1)
        scores = sx, sy
        row = AssociationRow("WEAT", f"{nx} vs {ny}", f"{na} vs {nb}", len(x) + len(y),
                             res.statistic, res.p_value, res.n_permutations, res.exact)
    if not np.isfinite(res.effect) or min(len(s) for s in scores) < 2 or np.ptp(
            np.concatenate(scores)) == 0:
        row.problem = "the effect is undefined (too few words, or no spread in their scores)"
    else:
        row.cells = {"": eat_cell(res.effect, *scores)}
    return row

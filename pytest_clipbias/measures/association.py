"""Embedding association tests: WEAT and SC-EAT (Caliskan, Bryson & Narayanan 2017).

WEAT, two target sets X, Y and attribute sets A, B:
  s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b),
  d = (mean_x s(x) - mean_y s(y)) / std_{w in X u Y} s(w)  (ddof switchable).
SC-EAT, one target set: the set's mean embedding w,
  d = (mean_a cos(w, a) - mean_b cos(w, b)) / std_{x in A u B} cos(w, x).

The judged cell is a bootstrap of d (targets resampled within X and Y for
WEAT, attributes within A and B for SC-EAT; the sets the effect is
computed over), see :func:`pytest_clipbias.measures.cells.bootstrap_cell`.
The permutation p of Caliskan et al. (against d = 0) is reported as a
description, not used for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..stats import cosine, sc_eat_d, sc_eat_test, weat_test
from ..stats.permutation import as_generator
from .cells import Cell, bootstrap_cell


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


def _boot_d(first: np.ndarray, second: np.ndarray, n_resamples: int, ddof: int,
            rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of (mean(first) - mean(second)) / std(first u second)."""
    a = first[rng.integers(0, len(first), (n_resamples, len(first)))]
    b = second[rng.integers(0, len(second), (n_resamples, len(second)))]
    sd = np.concatenate([a, b], axis=1).std(axis=1, ddof=ddof)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, (a.mean(1) - b.mean(1)) / sd, np.nan)


def measure_association(x: np.ndarray, y: np.ndarray | None, a: np.ndarray, b: np.ndarray, *,
                        names: tuple[str, str, str, str], alternative: str, permutations: int,
                        n_resamples: int, ddof: int = 1, seed: int = 0) -> AssociationRow:
    """The WEAT (``y`` given) or SC-EAT (``y`` None) row of embeddings x, y, a, b."""
    rng = as_generator(seed)
    nx, ny, na, nb = names
    if y is None:
        w = x.mean(0)
        res = sc_eat_test(w, a, b, alternative=alternative, n_permutations=permutations,
                          seed=rng, ddof=ddof)
        per_target = sc_eat_d(x, a, b, ddof=ddof)
        boot = _boot_d(cosine(w, a)[0], cosine(w, b)[0], n_resamples, ddof, rng)
        row = AssociationRow("SC-EAT", nx, f"{na} vs {nb}", len(x), res.statistic, res.p_value,
                             res.n_permutations, res.exact, float(np.mean(per_target)),
                             float(np.mean(per_target > 0)))
    else:
        res = weat_test(x, y, a, b, alternative=alternative, n_permutations=permutations,
                        seed=rng, ddof=ddof)
        sx = cosine(x, a).mean(1) - cosine(x, b).mean(1)
        sy = cosine(y, a).mean(1) - cosine(y, b).mean(1)
        boot = _boot_d(sx, sy, n_resamples, ddof, rng)
        row = AssociationRow("WEAT", f"{nx} vs {ny}", f"{na} vs {nb}", len(x) + len(y),
                             res.statistic, res.p_value, res.n_permutations, res.exact)
    if not np.isfinite(res.effect) or np.isfinite(boot).sum() < 20:
        row.problem = "the effect is undefined (no spread in the association scores)"
    else:
        row.cells = {"": bootstrap_cell(res.effect, boot, row.n)}
    return row

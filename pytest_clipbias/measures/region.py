"""Gender skew of label associations within world regions (Mandal, Little & Leavy 2023).

For region r and label l, the effect of gender on the association with l
among the images of r (``genders[0]`` minus ``genders[1]``):

* metric "association": Cohen's d of the cosines with l, judged with the
  studentized bootstrap (:mod:`pytest_clipbias.stats.studentized`: holds its
  level on skewed and heavy-tailed cosines);
* metric "rate": Cohen's h between the two genders' zero-shot top-1 rates
  of l over the label set, se = sqrt(1/n1 + 1/n2) on the arcsine scale.

A region is a row whose cells are its labels; its skew is the cell with the
largest |effect|. The rank correlation between region skew and a
gender-equality index (e.g. the WEF Global Gender Gap Index) is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..report.format import fmt_ci, fmt_p
from ..stats import cohens_d, correlation
from .cells import Cell, cohens_d_score_cells, two_sample_h_cells

METRICS = ("association", "rate")


@dataclass
class RegionRow:
    """One region: image counts per gender and one cell per label."""

    group: str
    n: int
    n_women: int
    n_men: int
    cells: dict[str, Cell] = field(default_factory=dict)
    problem: str | None = None


def region_cells(scores: Sequence[tuple[np.ndarray, np.ndarray]], n_labels: int, metric: str
                 ) -> list[list[Cell]]:
    """Cells of several regions (one vectorised batch) from (women, men) score matrices."""
    n1 = np.repeat([len(w) for w, _ in scores], n_labels)
    n2 = np.repeat([len(m) for _, m in scores], n_labels)
    if metric == "association":
        d = [cohens_d(w[:, j], m[:, j]) for w, m in scores for j in range(n_labels)]
        if not np.all(np.isfinite(d)):
            raise ValueError("Cohen's d is infinite: no spread within either gender")
        flat = cohens_d_score_cells([(w[:, j], m[:, j]) for w, m in scores
                                     for j in range(n_labels)])
    else:
        k1 = [int((w.argmax(1) == j).sum()) for w, _ in scores for j in range(n_labels)]
        k2 = [int((m.argmax(1) == j).sum()) for _, m in scores for j in range(n_labels)]
        flat = two_sample_h_cells(k1, n1, k2, n2)
    return [flat[i * n_labels:(i + 1) * n_labels] for i in range(len(scores))]


def measure_region_skew(scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
                        labels: Sequence[str], *, metric: str, min_per_group: int,
                        genders: tuple[str, str]) -> list[RegionRow]:
    """Rows from per-region (women, men) score matrices; small regions get a problem."""
    rows = []
    for region, (sw, sm) in scores.items():
        row = RegionRow(region, len(sw) + len(sm), len(sw), len(sm))
        if min(len(sw), len(sm)) < min_per_group:
            row.problem = (f"only {len(sw)} {genders[0]} / {len(sm)} {genders[1]} images "
                           f"(min_per_group = {min_per_group})")
        elif metric == "association" and not _spread(sw, sm):
            row.problem = "some label's association does not vary within each gender"
        rows.append(row)
    ok = [r for r in rows if r.problem is None]
    for row, cells in zip(ok, region_cells([scores[r.group] for r in ok], len(labels), metric)
                          if ok else [], strict=True):
        row.cells = dict(zip(labels, cells, strict=True))
    return rows


def _spread(sw: np.ndarray, sm: np.ndarray) -> bool:
    """Every label's scores vary within at least one gender (so d is finite)."""
    return bool(np.all((np.ptp(sw, axis=0) > 0) | (np.ptp(sm, axis=0) > 0)))


def index_correlation(table: Sequence[Mapping[str, Any]], scores: Mapping[str, float],
                      name: str, region_key: str, confidence: float) -> tuple[str, dict]:
    """Spearman rho between region skew |effect| and an index (text and details)."""
    if not scores:
        return "", {}
    judged = [r for r in table if np.isfinite(r["effect"])]
    matched = [r for r in judged if r[region_key] in scores]
    detail: dict[str, Any] = {"name": name, "scores": dict(scores), "n": len(matched)}
    if len(matched) < 4:
        return (f"Skew vs {name}: only {len(matched)} judged regions have a score; a "
                "correlation needs at least 4."), detail
    skews = [abs(r["effect"]) for r in matched]
    values = [scores[r[region_key]] for r in matched]
    if np.ptp(skews) == 0 or np.ptp(values) == 0:
        return f"Skew vs {name}: undefined (no variation).", detail
    c = correlation(skews, values, method="spearman", confidence=confidence)
    detail.update(rho=c.r, ci=list(c.ci), p_value=c.p_value)
    return (f"Skew vs {name}: Spearman rho = {c.r:+.2f} ({100 * confidence:.0f}% CI "
            f"{fmt_ci(c.ci)}; {fmt_p(c.p_value)}; {len(matched)} regions)."), detail

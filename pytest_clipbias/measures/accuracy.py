"""Zero-shot accuracy parity (Radford et al. 2021, "Learning Transferable Visual Models
From Natural Language Supervision", sec. 7.1: FairFace accuracy per race, gender, age).

Every image is classified zero-shot among the classes of the attribute being
predicted (gender, say); a prediction is correct when it names the image's own
value. Per group g of each attribute in ``by`` (and per intersection), the
accuracy a_g = correct_g / n_g is compared with the accuracy of all other
images, a_rest. The effect is the accuracy shortfall on Cohen's h scale,

    h = 2 asin sqrt(a_rest) - 2 asin sqrt(a_g),

judged one-sided (the group is recognised *less* accurately). Because
2 asin sqrt(1 - p) = pi - 2 asin sqrt(p), h equals Cohen's h of the error rates
e_g = 1 - a_g against e_rest, so the rows are exactly the label-rate rows of
:func:`pytest_clipbias.measures.parity.measure_parity` with "error" as the
label: one set of tests and intervals (MOVER-Wilson on the arcsine scale)
serves both checks.

Each group is compared with the rest, not with the best group: the best
group is picked by the data, so its accuracy is biased upwards (the
winner's curse) and a best-group comparison raises false alarms beyond
alpha even after Holm; the rest is fixed before looking at the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .cells import Cell
from .parity import measure_parity


@dataclass
class AccuracyRow:
    """One group (or intersection) against all other images."""

    kind: str
    group: dict[str, str]
    n: int
    correct: int
    accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    compared_n: int
    compared_accuracy: float
    #: true class -> predicted class -> count, over this group's images
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the group's errors as text, "female->male 12/50; male->female 3/60"
    errors: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)
    problem: str | None = None


def confusion(truth: np.ndarray, predicted: np.ndarray,
              classes: Sequence[str]) -> dict[str, dict[str, int]]:
    """Counts of (true, predicted) over the given images, every true class present."""
    out = {}
    for t in classes:
        mine = predicted[truth == t]
        if len(mine):
            out[t] = {p: int(np.sum(mine == p)) for p in classes}
    return out


def error_text(matrix: Mapping[str, Mapping[str, int]]) -> str:
    """The off-diagonal cells as "true->predicted k/n", largest first; "none" if none."""
    parts = []
    for t, row in matrix.items():
        n = sum(row.values())
        parts += [(k, f"{t}->{p} {k}/{n}") for p, k in row.items() if p != t and k]
    return "; ".join(s for _, s in sorted(parts, key=lambda x: -x[0])) or "none"


def measure_accuracy(truth: np.ndarray, predicted: np.ndarray, classes: Sequence[str],
                     attrs: Mapping[str, np.ndarray], keys: Sequence[str], *,
                     min_per_group: int, confidence: float) -> list[AccuracyRow]:
    """Accuracy rows per group of each key and per intersection (see the module docstring)."""
    truth, predicted = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    errors = truth != predicted
    rows = []
    for r in measure_parity(errors, attrs, keys, cue=None, cue_values=("", ""),
                            min_per_group=min_per_group, confidence=confidence):
        mask = np.all([attrs[k] == v for k, v in r.group.items()], axis=0)
        matrix = confusion(truth[mask], predicted[mask], classes)
        rows.append(AccuracyRow(
            r.kind, r.group, r.n, r.n - r.k, 1 - r.rate, 1 - r.rate_ci_high,
            1 - r.rate_ci_low, r.compared_n, 1 - r.compared_rate, matrix,
            error_text(matrix), r.cells, r.problem))
    return rows

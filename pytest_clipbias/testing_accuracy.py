"""Planted zero-shot accuracy: faces whose classification by a PlantedEncoder is known.

Each face of group g is embedded on the direction of the class the encoder
should predict (its own class with probability ``accuracy[g]``, else another
class) plus a weaker direction of its group, so the zero-shot top-1 over the
class prompts is exactly the planted prediction and per-group accuracy is a
planted quantity, for tests of :func:`pytest_clipbias.audit_accuracy_parity`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np

from .data.faceset import FaceItem, FaceSet
from .testing import PlantedEncoder, PlantedImage


def _check(accuracy: Mapping[str, float], per_group: int, by: str, predict: str,
           classes: Sequence[str]) -> list[str]:
    """Refuse what would plant something other than asked: a wrong answer that names the
    true class (repeated classes), ``by == predict`` (one attribute overwriting the other)."""
    if isinstance(classes, str) or len(set(classes)) != len(list(classes)) or len(classes) < 2:
        raise ValueError(f"classes must list at least two distinct class names, got {classes!r}")
    if by == predict:
        raise ValueError(f"by and predict must be different attributes, both are {by!r}")
    if isinstance(per_group, bool) or not isinstance(per_group, Integral) or per_group < 1:
        raise ValueError(f"per_group must be a positive integer, got {per_group!r}")
    for group, acc in accuracy.items():
        if isinstance(acc, bool) or not isinstance(acc, Real) or not 0 <= acc <= 1:
            raise ValueError(f"accuracy[{group!r}] must be a number in [0, 1], got {acc!r}")
    return list(classes)


def planted_accuracy_faces(
    accuracy: Mapping[str, float], per_group: int, *, by: str = "race",
    predict: str = "gender", classes: Sequence[str] = ("female", "male"), exact: bool = True,
    seed: int = 0,
) -> tuple[PlantedEncoder, FaceSet]:
    """An encoder and faces on which the accuracy for ``predict`` in group g is ``accuracy[g]``.

    ``exact=True`` makes round(accuracy * per_group) faces of each group correct
    (a fixed effect); ``exact=False`` draws each face's correctness Bernoulli
    (for calibration by simulation). True classes alternate over ``classes``;
    a wrong prediction is the next class in the list.
    """
    classes = _check(accuracy, per_group, by, predict, classes)
    rng = np.random.default_rng(seed)
    items = []
    for gi, (group, acc) in enumerate(accuracy.items()):
        if exact:
            right = np.zeros(per_group, dtype=bool)
            right[rng.permutation(per_group)[:round(acc * per_group)]] = True
        else:
            right = rng.random(per_group) < acc
        for i in range(per_group):
            truth = classes[i % len(classes)]
            shown = truth if right[i] else classes[(i + 1) % len(classes)]
            image = PlantedImage({shown: 1.0, group: 0.5}, noise_seed=seed * 10**7 + gi * 10**5 + i,
                                 noise=0.05)
            items.append(FaceItem(image, {by: group, predict: truth}))
    return PlantedEncoder([*classes, *accuracy]), FaceSet(items)

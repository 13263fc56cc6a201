"""Embedding association tests (WEAT, SC-EAT) as a judged check."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.faceset import FaceSet
from ..data.loaders import IMAGE_SUFFIXES
from ..measures.association import measure_association
from ..model import Encoder, encode_labels
from ..outcomes import cells_gate
from ..profiles import get_profile
from ..report.format import fmt_p
from ..results import BiasResult
from ._common import asserting, data_fingerprint, verdict_text
from ._validate import CheckedEncoder, count, count_or, items_list, seed_value, text_list
from .judge import Rules, build, judge_rows, was_judged

ALTERNATIVES = ("greater", "less", "two-sided")


def _looks_like_image(item: Any) -> bool:
    if isinstance(item, (os.PathLike, np.ndarray)):
        return True
    if isinstance(item, str):
        return Path(item).suffix.lower() in IMAGE_SUFFIXES
    return True


def _items(value: Any, what: str) -> tuple[list[Any], bool]:
    """The items of a FaceSet, a list of images or a list of texts (read once, so a
    generator works), and whether they are images; a mix of both is refused."""
    items = items_list(value, what)
    kinds = {_looks_like_image(x) for x in items}
    if len(kinds) > 1:
        raise ValueError(f"{what} mixes images and texts; pass one kind per set")
    return items, kinds == {True}


def _embed(enc: CheckedEncoder, items: list[Any], images: bool,
           templates: list[str] | None) -> np.ndarray:
    """Embeddings of images, or of texts (through ``templates`` when given)."""
    if images:
        return enc.encode_images(items)
    if templates:
        return encode_labels(enc, items, templates).astype(np.float64)
    return enc.encode_texts(items)


def _distinct(first: np.ndarray, second: np.ndarray, a: str, b: str) -> None:
    """Two sets compared with each other must differ (identical sets make d meaningless)."""
    if first.shape == second.shape and np.array_equal(first, second):
        raise ValueError(f"{a} and {b} are the same items (identical embeddings); pass two "
                         "different sets")


def _ddof(value: Any) -> int:
    ddof = count(value, "ddof")
    if ddof > 1:
        raise ValueError(f"ddof must be 0 (population) or 1 (sample), got {ddof}")
    return ddof


def format_association(table: list[dict], alternative: str) -> list[str]:
    """One line: the test, d with the interval its verdict rests on, the permutation p."""
    r = table[0]
    side = "two-sided" if alternative == "two-sided" else "one-sided"
    perm = "exact" if r["exact"] else f"{r['n_permutations']:,} permutations"
    if not was_judged(r):
        return [f"{r['test']} ({r['targets']}; {r['attributes']}): inconclusive: {r['reason']}."]
    return [f"{r['test']} ({r['targets']}; {r['attributes']}): {verdict_text(r, 'd')}; "
            f"{side} permutation {fmt_p(r['p_zero'])} against d = 0 ({perm}); n = {r['n']}."]


def audit_association(
    model: Encoder, targets_x: Any, targets_y: Any = None, *, attributes_a: Any,
    attributes_b: Any, threshold: float, alpha: float = 0.05, permutations: int | None = None,
    alternative: str = "greater", rule: str = "three-way", templates: Sequence[str] | None
    = None, names: Sequence[str] = ("X", "Y", "A", "B"), ddof: int = 1, seed: int = 0,
) -> BiasResult:
    """Measure and judge an embedding association test without raising.

    One target set: SC-EAT of the set's mean embedding; two: WEAT. Targets
    and attributes may be images (paths, FaceSet, PIL, arrays) or texts
    (encoded as given, or through ``templates``). d is judged against
    ``threshold`` in the direction of ``alternative`` ("greater": X with A,
    as in Caliskan et al.) with noncentral-t tests and intervals (see
    ``measures.association``). The permutation p against zero is reported as
    ``p_zero``.

    Parameters
    ----------
    model : Encoder
        Anything with ``encode_images`` and ``encode_texts`` (a ClipModel, a planted encoder).
    targets_x, targets_y : FaceSet, list of images or list of texts
        Target sets; leave ``targets_y`` out for SC-EAT on ``targets_x`` alone.
    attributes_a, attributes_b : FaceSet, list of images or list of texts
        The two attribute sets.
    threshold : float
        Largest allowed d (on the scale of Cohen's d, between -2 and 2).
    alpha : float
        Level of each test (intervals are at 1 - 2 alpha, or corrected).
    permutations : int, optional
        Permutations for the reported ``p_zero`` (default from the profile).
    alternative : str
        "greater" (X with A), "less" or "two-sided".
    rule : str
        Decision rule of :func:`pytest_clipbias.stats.decide` ("three-way" by default).
    templates : sequence of str, optional
        Templates such as "a photo of {}" through which texts are encoded.
    names : four str
        Display names of X, Y, A and B in the message.
    ddof : int
        Degrees of freedom of the pooled standard deviation.
    seed : int
        Seed of the permutations.

    Returns
    -------
    BiasResult
        The verdict on d with its interval, one table row (the test, d, ``p_zero``)
        and the message, recorded against the running test.

    References
    ----------
    Caliskan, Bryson & Narayanan (2017), "Semantics derived automatically from
    language corpora contain human-like biases", Science 356(6334).

    Examples
    --------
    >>> from pytest_clipbias.testing import PlantedEncoder, PlantedImage
    >>> enc = PlantedEncoder(["flower", "insect", "pleasant", "unpleasant"])
    >>> x = [PlantedImage({"flower": 1, "pleasant": 0.6}, noise_seed=i, noise=0.8)
    ...      for i in range(40)]
    >>> y = [PlantedImage({"insect": 1, "unpleasant": 0.6}, noise_seed=100 + i, noise=0.8)
    ...      for i in range(40)]
    >>> result = audit_association(enc, x, y, attributes_a=["pleasant"],
    ...                            attributes_b=["unpleasant"], threshold=0.5, permutations=200)
    >>> result.verdict, result.effect > 0.5
    ('fail', True)
    """
    __tracebackhide__ = True
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    rules = Rules(threshold, alpha, rule, alternative, "none")
    given = text_list(names, "names")
    if len(given) > 4:
        raise ValueError(f"names takes at most 4 names (X, Y, A, B), got {len(given)}: {given}")
    labels = (given + ["X", "Y", "A", "B"][len(given):])[:4]
    templates = text_list(templates, "templates") if templates is not None else None
    ddof, seed = _ddof(ddof), seed_value(seed)
    permutations = count_or(permutations, "permutations", get_profile().permutations)
    given = {"targets_x": targets_x, "targets_y": targets_y, "attributes_a": attributes_a,
             "attributes_b": attributes_b}
    sets = {w: _items(v, w) for w, v in given.items() if v is not None}
    enc = CheckedEncoder(model)
    x, a, b = (_embed(enc, *sets[w], templates) for w in ("targets_x", "attributes_a",
                                                          "attributes_b"))
    y = None if targets_y is None else _embed(enc, *sets["targets_y"], templates)
    _distinct(a, b, "attributes_a", "attributes_b")
    if y is not None:
        _distinct(x, y, "targets_x", "targets_y")
    row = measure_association(
        x, y, a, b, names=tuple(labels), alternative=alternative, ddof=ddof,
        permutations=permutations, seed=seed)
    table = judge_rows([row], rules)
    return build("association", "sc_eat_d" if y is None else "weat_d", table, rules,
                 group_of=lambda r: f"{r['test']} {r['targets']}",
                 lines=format_association(table, alternative), n=row.n,
                 details={"test": row.test, "alternative": alternative, "ddof": ddof,
                          "templates": list(templates or []),
                          **cells_gate([row], lambda r: f"{r.test} {r.targets}",
                                       "noncentral-t d")},
                 data=data_fingerprint([data_fingerprint(
                     v if isinstance(v, FaceSet) else sets.get(w, ([],))[0])
                     for w, v in given.items()]),
                 prompts=list(templates or []))


assert_association_below = asserting(
    audit_association, "assert_association_below",
    "Fail when targets associate with attributes A over B more than ``threshold``.")

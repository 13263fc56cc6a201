"""Zero-shot accuracy parity: is an attribute recognised less accurately for some groups?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..data.faceset import FaceSet
from ..measures.accuracy import measure_accuracy
from ..model import Encoder, encode_labels
from ..outcomes import parity_gate
from ..report.format import fmt_pct
from ..results import BiasResult
from ._common import (
    asserting,
    data_fingerprint,
    family_text,
    not_judged_line,
    prompt_texts,
    shown_rows,
    verdict_text,
)
from ._validate import CheckedEncoder, count, faceset, h_threshold, text, text_list, two_groups
from .judge import Rules, build, judge_rows, was_judged
from .parity import group_attributes


def _classes(candidates: Sequence[str] | Mapping[str, str] | None, truth: np.ndarray,
             predict: str) -> dict[str, str]:
    """Class value -> prompt text; every value of ``predict`` among the faces must be a class."""
    if candidates is None:
        if "na" in set(truth):  # FACET's "not annotated" (data/benchmarks.py) is no class
            raise ValueError(f"candidates: some faces have {predict}='na' (not annotated), "
                             f"which would become the class prompt 'na'; drop them first "
                             f"(faces.filter({predict}=[...]) with the annotated values) or "
                             "pass candidates=")
        classes = {v: v for v in sorted(set(truth))}
    elif isinstance(candidates, Mapping):
        classes = {text(k, "candidates key"): text(v, f"candidates[{k!r}]")
                   for k, v in candidates.items()}
    else:
        classes = {v: v for v in text_list(candidates, "candidates")}
    texts = list(classes.values())
    same = sorted({t for t in texts if texts.count(t) > 1})
    if same:
        raise ValueError(f"candidates: the classes {[v for v, t in classes.items() if t in same]} "
                         f"share the prompt text {same[0]!r}, so the classifier could never "
                         "tell them apart; give each class its own text")
    missing = sorted(set(truth) - set(classes))
    if missing:
        raise ValueError(f"candidates: the {predict!r} values {missing} of some faces are not "
                         f"among the classes {list(classes)}; add them (or filter those faces)")
    if len(classes) < 2:
        raise ValueError(f"candidates: zero-shot classification needs at least two classes of "
                         f"{predict!r}, got {list(classes)}")
    return classes


def format_accuracy(table: list[dict], rules: Rules, keys: list[str]) -> list[str]:
    """Failing rows (else the worst) with their confusions, and the rows not judged."""
    family = family_text(rules.correction, sum(map(was_judged, table)), "groups")

    def name(r: dict) -> str:
        return " / ".join(r[k] for k in keys if k in r)

    lines = [f"  {name(r)}: accuracy {fmt_pct(r['accuracy'])} (n = {r['n']}) vs "
             f"{fmt_pct(r['compared_accuracy'])} for the rest (n = {r['compared_n']}); "
             f"shortfall Cohen's {verdict_text(r, 'h', family)}; errors: {r['errors']}"
             for r in shown_rows(table, was_judged)]
    return lines + not_judged_line(table, was_judged, name)


def audit_accuracy_parity(
    model: Encoder, faces: FaceSet, *, predict: str = "gender", by: str | Sequence[str] = "race",
    candidates: Sequence[str] | Mapping[str, str] | None = None, threshold: float,
    alpha: float = 0.05, templates: Sequence[str] = ("a photo of a {}.",),
    min_per_group: int = 20, correction: str = "holm", rule: str = "three-way",
) -> BiasResult:
    """Measure and judge per-group zero-shot accuracy for an attribute, without raising.

    Each face is classified zero-shot (top-1 over the class prompts) for the
    attribute ``predict``; per group of each attribute in ``by`` (and per
    intersection when ``by`` names several), the accuracy is compared with
    that of all other faces: effect = Cohen's h of the shortfall,
    2 asin sqrt(a_rest) - 2 asin sqrt(a_group), judged one-sided ("less
    accurate") against ``threshold``, Holm over the groups. Each group is
    compared with the rest rather than with the best group: the best group is
    chosen by the data, whose accuracy is biased upwards (winner's curse), so
    that comparison would raise false alarms beyond alpha. Each row carries
    the group's confusion matrix (``confusion``: true -> predicted -> count)
    and its errors as text (``errors``).

    Parameters
    ----------
    model : Encoder
        Anything with ``encode_images`` and ``encode_texts``.
    faces : FaceSet
        Faces with the attributes ``predict`` and those named in ``by``.
    predict : str
        The attribute classified zero-shot (its values are the true classes).
    by : str or sequence of str
        Attributes whose groups are compared.
    candidates : sequence of str, mapping, or None
        The classes: None for the values of ``predict`` among the faces
        (faces whose value is "na", FACET's "not annotated", are refused); a
        list of values (more classes than occur are allowed); or a mapping
        value -> prompt text ({"Female": "woman", "Male": "man"}).
    threshold : float
        Largest allowed accuracy shortfall of a group, in Cohen's h.
    alpha, templates, min_per_group, correction, rule
        As in :func:`audit_label_rate_parity`.

    Returns
    -------
    BiasResult
        Named "accuracy_parity"; one row per group and intersection (accuracy,
        compared_accuracy, confusion, errors, h, verdict); recorded against the
        running test.

    References
    ----------
    Radford et al. (2021), "Learning Transferable Visual Models From Natural
    Language Supervision", sec. 7.1 (FairFace accuracy by race, gender, age).

    Examples
    --------
    >>> from pytest_clipbias.testing_accuracy import planted_accuracy_faces
    >>> enc, faces = planted_accuracy_faces({"Black": 0.70, "White": 0.95}, 200)
    >>> result = audit_accuracy_parity(enc, faces, predict="gender", by="race", threshold=0.1)
    >>> result.verdict, [r["race"] for r in result.table if r["verdict"] == "fail"]
    ('fail', ['Black'])
    """
    __tracebackhide__ = True
    rules = Rules(h_threshold(threshold), alpha, rule, "greater", correction)
    faces, predict = faceset(faces), text(predict, "predict")
    keys = [text(by, "by")] if isinstance(by, str) else text_list(by, "by")
    templates = text_list(templates, "templates")
    min_per_group = count(min_per_group, "min_per_group", low=1)
    attrs = group_attributes(faces, list(dict.fromkeys([*keys, predict])), None, ("", ""))
    two_groups({k: attrs[k] for k in keys}, "by", "accuracy parity")
    classes = _classes(candidates, attrs[predict], predict)
    enc = CheckedEncoder(model)
    names = list(classes)
    label_emb = encode_labels(enc, list(classes.values()), templates)  # template errors first
    scores = enc.encode_images(faces.images) @ label_emb.T.astype(np.float64)
    predicted = np.array(names, dtype=object)[scores.argmax(1)]
    rows = measure_accuracy(attrs[predict], predicted, names, attrs, keys,
                            min_per_group=min_per_group, confidence=1 - rules.alpha)
    table = judge_rows(rows, rules)
    overall = float(np.mean(predicted == attrs[predict]))
    return build("accuracy_parity", "cohen_h", table, rules,
                 group_of=lambda r: " / ".join(r[k] for k in keys if k in r),
                 lines=[f"Zero-shot {predict} accuracy over {len(names)} classes, overall "
                        f"{fmt_pct(overall)}:", *format_accuracy(table, rules, keys)],
                 n=len(faces), details={
                     "predict": predict, "by": keys, "classes": classes,
                     "templates": list(templates), "overall_accuracy": overall,
                     **parity_gate(faces, predicted != attrs[predict], attrs, rows,
                                   lambda r: " / ".join(r.group.values()), None, ("", ""),
                                   "error")},
                 data=data_fingerprint(faces), prompts=prompt_texts(templates,
                                                                    list(classes.values())))


assert_accuracy_parity = asserting(
    audit_accuracy_parity, "assert_accuracy_parity",
    "Fail when an attribute is recognised zero-shot far less accurately for some groups.")

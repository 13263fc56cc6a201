"""Person default (markedness): does "a photo of a person" fit some groups much better?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..data.faceset import FaceSet
from ..measures.markedness import measure_person_default, pairwise
from ..model import Encoder, encode_labels
from ..outcomes import person_default_gate
from ..report.format import fmt_ci, fmt_pct
from ..results import BiasResult
from ._common import (
    asserting,
    data_fingerprint,
    family_text,
    group_text,
    prompt_texts,
    verdict_text,
)
from ._validate import (
    CheckedEncoder,
    complete,
    count,
    faceset,
    h_threshold,
    label_text_keys,
    text,
    text_list,
    two_groups,
)
from .judge import Rules, build, judge_rows, was_judged


def format_person_default(table: list[dict], rules: Rules, group_key: str,
                          person_label: str) -> list[str]:
    """One line per group: win rate of the person prompt and the verdict with its interval."""
    family = family_text(rules.correction, sum(map(was_judged, table)), "groups")
    lines = []
    for r in table:
        corr = "" if not np.isfinite(r["person_corr"]) else (
            f"; association with \"{person_label}\" vs \"{r['label']}\": Pearson r = "
            f"{r['person_corr']:.2f} ({100 * (1 - rules.alpha):.0f}% CI "
            f"{fmt_ci((r['person_corr_ci_low'], r['person_corr_ci_high']))})")
        if not was_judged(r):
            lines.append(f"  {r[group_key]}: inconclusive: {r['reason']}{corr}")
            continue
        lines.append(
            f"  {r[group_key]}: \"{person_label}\" beats \"{r['label']}\" for "
            f"{fmt_pct(r['rate'])} of {r['n']} faces vs {fmt_pct(r['compared_rate'])} of the "
            f"other {r['compared_n']}; Cohen's {verdict_text(r, 'h', family)}{corr}")
    return lines


def audit_person_default(
    model: Encoder, faces: FaceSet, *, group_key: str = "race", person_label: str = "person",
    templates: Sequence[str] = ("a photo of a {}.",), label_text: Mapping[str, str] | None = None,
    threshold: float = 0.2, alpha: float = 0.05, rule: str = "three-way",
    min_per_group: int = 20, correction: str = "holm",
) -> BiasResult:
    """Measure and judge whether "person" is the default for some groups, without raising.

    Per group: the share of its faces for which the person prompt ("a photo
    of a person.") scores higher than the group's own label ("a photo of a
    Black person."), Cohen's h against the other groups pooled, judged
    two-sided against ``threshold`` (arcsine-scale Wald test and interval,
    Holm over groups). Rows also give the Pearson r between association
    with "person" and with the group label; ``details["pairs"]`` the h
    between every two groups.

    Parameters
    ----------
    model : Encoder
        Anything with ``encode_images`` and ``encode_texts``.
    faces : FaceSet
        Faces with the attribute ``group_key``.
    group_key : str
        Attribute naming each face's group.
    person_label : str
        The unmarked label ("person").
    templates : sequence of str
        Prompt templates.
    label_text : mapping, optional
        Words used in the prompts for each group.
    threshold : float
        Largest allowed Cohen's h (two-sided) of a group against the rest.
    alpha : float
        Level of each test (intervals are at 1 - 2 alpha, or corrected).
    rule : str
        Decision rule of :func:`pytest_clipbias.stats.decide` ("three-way" by default).
    min_per_group : int
        Fewest faces per group for a verdict.
    correction : str
        Multiple-comparison correction over groups.

    Returns
    -------
    BiasResult
        One row per group (person-prompt win rate, h against the rest, Pearson r),
        ``details["pairs"]`` between groups; recorded against the running test.

    References
    ----------
    Wolfe & Caliskan (2022), "Markedness in visual semantic AI", FAccT 2022.

    Examples
    --------
    >>> from pytest_clipbias.testing import PlantedEncoder, planted_faces
    >>> enc = PlantedEncoder(["Black", "White", "person"])
    >>> faces = planted_faces({"White": 150, "Black": 150}, noise=0.3, weights={
    ...     "White": {"White": 1.0, "person": 4.0}, "Black": {"Black": 1.0, "person": 1.0}})
    >>> audit_person_default(enc, faces).verdict
    'fail'
    """
    __tracebackhide__ = True
    rules = Rules(h_threshold(threshold), alpha, rule, "two-sided", correction)
    faces, templates = faceset(faces), text_list(templates, "templates")
    person_label = text(person_label, "person_label")
    values = complete(faces, group_key, "group_key")
    two_groups({group_key: values}, "group_key", "the person default")
    names = sorted(set(values))
    min_per_group = count(min_per_group, "min_per_group", low=1)
    label_text_keys(label_text, names)
    enc = CheckedEncoder(model)
    texts = text_list([f"{group_text(g, label_text)} {person_label}" for g in names],
                      "the group prompts (label_text)")
    labels = encode_labels(enc, [person_label, *texts], templates)
    scores = enc.encode_images(faces.images) @ labels.T.astype(np.float64)
    codes = np.array([names.index(v) for v in values])
    rows = measure_person_default(scores, codes, names, texts, confidence=1 - rules.alpha,
                                  min_per_group=min_per_group)
    table = judge_rows(rows, rules, group_key=group_key)
    return build("person_default", "cohen_h", table, rules,
                 group_of=lambda r: f"{group_key} {r[group_key]} vs the rest",
                 lines=format_person_default(table, rules, group_key, person_label),
                 n=len(faces), details={
                     "pairs": pairwise(rows), "templates": templates, "labels": texts,
                     "person_label": person_label,
                     **person_default_gate(faces, scores, codes, rows)},
                 data=data_fingerprint(faces), prompts=prompt_texts(templates, texts))


assert_person_default_unmarked = asserting(
    audit_person_default, "assert_person_default_unmarked",
    "Fail when \"a photo of a person\" fits some groups' faces much better than others'.")

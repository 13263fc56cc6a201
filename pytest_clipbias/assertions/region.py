"""Region gender skew: do women's and men's images relate to labels differently, per region?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.faceset import FaceSet
from ..data.regions import gender_gap_index
from ..measures.region import METRICS, index_correlation, measure_region_skew
from ..model import Encoder, encode_labels
from ..outcomes import region_gate
from ..results import BiasResult
from ._common import asserting, data_fingerprint, family_text, prompt_texts, verdict_text
from ._validate import (
    CheckedEncoder,
    complete,
    count,
    faceset,
    h_threshold,
    number,
    present,
    text_list,
)
from .judge import Rules, build, judge_rows, was_judged

DEFAULT_TEMPLATES = ("a photo of a {}.",)


def resolve_index(index: str | Mapping[str, float] | None, regions: Sequence[str]
                  ) -> tuple[dict[str, float], str]:
    """Index scores and name; every region of the data must have a score."""
    if index is None:
        return {}, ""
    if isinstance(index, str):
        data = gender_gap_index(index)
        scores, name = dict(data["scores"]), f"{data['title'].split(',')[0]} {data['year']}"
    elif isinstance(index, Mapping):
        scores = {str(k): number(v, f"index[{k!r}]") for k, v in index.items()}
        name = "the given index"
    else:
        raise TypeError(f"index must be a name such as 'wef-gggi' or a mapping region -> "
                        f"score, got {type(index).__name__}")
    unknown = [r for r in regions if r not in scores]
    if unknown:
        raise ValueError(f"regions {unknown} of the data have no score in index {name!r}; "
                         f"valid region names: {sorted(scores)} (rename them, or pass "
                         "index={region: score, ...})")
    return scores, name


def format_region_skew(table: list[dict], rules: Rules, region_key: str, symbol: str,
                       genders: tuple[str, str], n_cells: int) -> list[str]:
    """Failing (else all judged) regions with the worst label, then the unjudged ones."""
    family = family_text(rules.correction, n_cells, "regions x labels")
    judged = sorted((r for r in table if was_judged(r)), key=lambda r: -abs(r["effect"]))
    shown = [r for r in judged if r["verdict"] == "fail"] or judged
    lines = [f"  {r[region_key]}: worst label \"{r['worst_label']}\", "
             f"{verdict_text(r, symbol, family)} (n = {r['n_women']} {genders[0]} / "
             f"{r['n_men']} {genders[1]})" for r in shown]
    skipped = [r for r in table if not was_judged(r)]
    if skipped:
        lines.append("Not judged: " + "; ".join(f"{r[region_key]} ({r['reason']})"
                                                for r in skipped) + ".")
    return lines


def _attributes(faces: FaceSet, region_key: str, gender_key: str, genders: tuple[str, str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Region and gender of every face: each face needs both (one without is refused by
    item, never dropped), and both compared genders must occur."""
    regions, sexes = complete(faces, region_key, "region_key"), complete(
        faces, gender_key, "gender_key")
    present(list(genders), sexes, "genders", f"the {gender_key!r} attribute")
    return np.array(regions, dtype=object), np.array(sexes, dtype=object)


def _scores(enc: CheckedEncoder, faces: FaceSet, reg: np.ndarray, sex: np.ndarray,
            gender_key: str, genders: tuple[str, str], label_emb: np.ndarray
            ) -> tuple[dict[str, tuple], str]:
    """Scores per region and gender, and a note on the faces of other genders left out.

    Faces of a gender other than the two compared are counted out openly, so
    ``n`` is the number of faces compared.
    """
    used = np.isin(sex, list(genders))
    emb = enc.encode_images([im for im, u in zip(faces.images, used, strict=True) if u]
                            ) @ label_emb.T.astype(np.float64)
    others = sorted(set(sex) - set(genders))
    reg, sex = reg[used], sex[used]
    note = (f"Compared {int(used.sum())} of {len(faces)} faces: {int((~used).sum())} with "
            f"{gender_key} {others} are outside genders={list(genders)}." if others else "")
    return {r: (emb[(reg == r) & (sex == genders[0])], emb[(reg == r) & (sex == genders[1])])
            for r in sorted(set(reg))}, note


def audit_region_gender_skew(
    model: Encoder, faces: FaceSet, *, labels: Sequence[str], threshold: float,
    region_key: str = "region", gender_key: str = "gender",
    genders: tuple[str, str] = ("female", "male"), metric: str = "association",
    templates: Sequence[str] = DEFAULT_TEMPLATES, alpha: float = 0.05,
    correction: str = "holm", min_per_group: int = 20,
    index: str | Mapping[str, float] | None = None, rule: str = "three-way",
) -> BiasResult:
    """Measure and judge gender skew of label associations per region, without raising.

    Cells: region x label, effect of gender (``genders[0]`` minus
    ``genders[1]``): Cohen's d of the cosines (metric "association") or
    Cohen's h of the top-1 rates over ``labels`` (metric "rate"), judged
    two-sided against ``threshold``, Holm over all cells. A region's row
    shows its worst label. Regions with fewer than ``min_per_group`` images of
    either gender cannot be judged (the check is then at best inconclusive).
    ``index`` ("wef-gggi" or a mapping region -> score) adds the Spearman
    correlation between region skew and the index.

    Parameters
    ----------
    model : Encoder
        Anything with ``encode_images`` and ``encode_texts``.
    faces : FaceSet
        Faces with region and gender attributes.
    labels : sequence of str
        Labels (occupations, traits) whose associations are compared.
    threshold : float
        Largest allowed effect of gender (Cohen's d or h, two-sided).
    region_key, gender_key : str
        Attribute names of region and gender.
    genders : two str
        The genders compared (first minus second).
    metric : str
        "association" (cosines, Cohen's d) or "rate" (top-1 rates, Cohen's h).
    templates : sequence of str
        Prompt templates for the labels.
    alpha : float
        Level of each test (intervals are at 1 - 2 alpha, or corrected).
    correction : str
        Multiple-comparison correction over all cells.
    min_per_group : int
        Fewest images of each gender per region for a verdict.
    index : str or mapping, optional
        "wef-gggi" or a mapping region -> score, correlated with the region skew.
    rule : str
        Decision rule of :func:`pytest_clipbias.stats.decide` ("three-way" by default).

    Returns
    -------
    BiasResult
        One row per region with its worst label, the region x label effects in
        ``details["matrix"]``, ``details["index"]``; recorded against the running test.

    References
    ----------
    Mandal, Little & Leavy (2023), gender and regional bias in CLIP.

    Examples
    --------
    >>> from pytest_clipbias.testing import PlantedEncoder, planted_faces
    >>> enc = PlantedEncoder(["nurse", "engineer"])
    >>> skewed = planted_faces({"female": 30, "male": 30}, key="gender", extra={"region": "A"},
    ...                        weights={"female": {"nurse": 1.0}, "male": {"engineer": 1.0}})
    >>> even = planted_faces({"female": 30, "male": 30}, key="gender", extra={"region": "B"},
    ...                      seed=1, weights={"female": {"nurse": 1.0, "engineer": 1.0},
    ...                                       "male": {"nurse": 1.0, "engineer": 1.0}})
    >>> result = audit_region_gender_skew(enc, skewed + even, labels=["nurse", "engineer"],
    ...                                   threshold=0.3)
    >>> result.verdict, result.table[0]["region"]
    ('fail', 'A')
    """
    __tracebackhide__ = True
    rules = Rules(h_threshold(threshold) if metric == "rate" else threshold, alpha, rule,
                  "two-sided", correction)
    faces = faceset(faces)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    labels = text_list(labels, "labels", minimum=2 if metric == "rate" else 1)
    genders = tuple(text_list(genders, "genders", exactly=2))
    text_list([region_key, gender_key], "region_key and gender_key", exactly=2)
    templates = text_list(templates, "templates")
    min_per_group = count(min_per_group, "min_per_group", low=2)
    reg, sex = _attributes(faces, region_key, gender_key, genders)
    index_scores, index_name = resolve_index(index, sorted(set(reg[np.isin(sex, genders)])))
    enc = CheckedEncoder(model)
    label_emb = encode_labels(enc, labels, templates)
    scores, note = _scores(enc, faces, reg, sex, gender_key, genders, label_emb)
    rows = measure_region_skew(scores, labels, metric=metric, genders=genders,
                               min_per_group=min_per_group)
    table = judge_rows(rows, rules, cell_key="label", group_key=region_key)
    table.sort(key=lambda r: -abs(r["effect"]) if was_judged(r) else 1.0)
    corr_text, corr = index_correlation(table, index_scores, index_name, region_key,
                                        1 - rules.alpha)
    symbol = "d" if metric == "association" else "h"
    lines = format_region_skew(table, rules, region_key, symbol, genders,
                               sum(len(r.cells) for r in rows)) + [
        x for x in (corr_text, note) if x]
    return build("region_gender_skew", "cohen_d" if metric == "association" else "cohen_h",
                 table, rules, group_of=lambda r: f"{r[region_key]}, label {r['worst_label']}",
                 lines=lines, n=sum(len(a) + len(b) for a, b in scores.values()),
                 details={**_details(
                     table, labels, templates, metric, genders, corr, region_key), **region_gate(
                     faces, scores, labels, metric, (region_key, gender_key), genders, rows)},
                 data=data_fingerprint(faces), prompts=prompt_texts(templates, labels))


def _details(table: list[dict], labels: list[str], templates: Sequence[str], metric: str,
             genders: tuple, corr: dict, region_key: str) -> dict[str, Any]:
    nan = float("nan")
    return {"metric": metric, "labels": labels, "templates": list(templates),
            "genders": list(genders),
            "index": corr, "matrix": {
                "regions": [r[region_key] for r in table], "labels": labels,
                "effects": [[r.get("label_effects", {}).get(lab, nan) for lab in labels]
                            for r in table],
                "p_values": [[r.get("label_p_values", {}).get(lab, nan) for lab in labels]
                             for r in table]}}


assert_region_gender_skew_below = asserting(
    audit_region_gender_skew, "assert_region_gender_skew_below",
    "Fail when, in some region, women's and men's images relate to a label too differently.")

"""Hypodescent: are midpoint morphs labelled with the minority group (the one-drop rule)?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.morph import MorphSeries
from ..labels import PERSON_TEMPLATES
from ..measures.hypodescent import HypodescentRow, measure_pair, template_effect
from ..model import Encoder, encode_labels
from ..outcomes import hypodescent_gate
from ..profiles import get_profile
from ..report.format import fmt_ci, fmt_pct, gender_word
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
    count,
    count_or,
    h_threshold,
    label_text_keys,
    number,
    seed_value,
    text,
    text_list,
)
from .judge import Rules, build, judge_rows, was_judged

Key = tuple[str, str, "str | None"]


def _check_series(series: Any) -> list[MorphSeries]:
    if isinstance(series, (str, MorphSeries)) or not hasattr(series, "__iter__"):
        raise TypeError(f"series must be a list of MorphSeries, got {type(series).__name__}")
    series = list(series)
    if not series:
        raise ValueError("assert_no_hypodescent needs at least one MorphSeries")
    for i, s in enumerate(series):
        if not isinstance(s, MorphSeries):
            raise TypeError(f"series[{i}] is a {type(s).__name__}, not a MorphSeries")
    return series


def _margins(enc: CheckedEncoder, series: list[MorphSeries], groups: dict[Key, list[int]],
             texts: dict[str, str], templates: list[str]) -> dict[str, dict[Key, list]]:
    """Margins per template set ("ensemble" plus each template) and pair type."""
    names = sorted(texts)
    sets = {"ensemble": templates} | ({t: [t] for t in templates} if len(templates) > 1 else {})
    labels = {k: encode_labels(enc, [texts[g] for g in names], v) for k, v in sets.items()}
    emb = enc.encode_images([img for s in series for img in s.images])
    bounds = np.cumsum([0] + [len(s.images) for s in series])
    out: dict[str, dict[Key, list]] = {}
    for name, lab in labels.items():
        col = {g: lab[i].astype(np.float64) for i, g in enumerate(names)}
        out[name] = {key: [emb[bounds[i]:bounds[i + 1]] @ (col[key[0]] - col[key[1]])
                           for i in idx] for key, idx in groups.items()}
    return out


def _problem(row: HypodescentRow, n_series: int, at: float, min_series: int,
             min_accuracy: float) -> str | None:
    if n_series < min_series:
        return f"only {n_series} series (min_series = {min_series})"
    if row.n == 0:
        return f"no series contains alpha = {at}, so no midpoint can be formed"
    worst = min(row.endpoint_accuracy_source, row.endpoint_accuracy_target)
    if not worst >= min_accuracy:
        return (f"endpoint accuracy {worst:.2f} < {min_accuracy:.2f}: the model does not tell "
                "the parents apart")
    return None


def _rows(series: list[MorphSeries], groups: dict[Key, list[int]], margins: dict, *,
          at: float, alpha: float, min_series: int, min_accuracy: float, seed: int,
          n_resamples: int) -> list[HypodescentRow]:
    rows = []
    for key, idx in groups.items():
        alphas = [np.asarray(series[i].alphas) for i in idx]
        parents = [series[i].parents for i in idx]
        row = measure_pair(alphas, margins["ensemble"][key], at=at, confidence=1 - alpha,
                           seed=seed, n_resamples=n_resamples,
                           parents=parents if all(len(p) == 2 for p in parents) else None)
        src, tgt, gender = key
        row.pair = f"{src}-{tgt}" + (f", {gender_word(gender)}" if gender else "")
        row.source, row.target, row.gender = src, tgt, gender
        row.template_effects = {t: template_effect(alphas, m[key], at)
                                for t, m in margins.items() if t != "ensemble"}
        finite = [v for v in row.template_effects.values() if np.isfinite(v)]
        row.template_spread = max(finite) - min(finite) if finite else 0.0
        row.problem = _problem(row, len(idx), at, min_series, min_accuracy) or row.problem
        rows.append(row)
    return rows


def format_hypodescent(table: list[dict], rules: Rules) -> list[str]:
    """One line per pair type: rate, h with the interval its verdict rests on, crossover."""
    family = family_text(rules.correction, sum(map(was_judged, table)), "pair types")
    lines = []
    for r in table:
        if not was_judged(r):
            lines.append(f"Hypodescent ({r['pair']}): inconclusive: {r['reason']}.")
            continue
        spread = (f" Across {len(r['template_effects'])} templates h ranges "
                  f"{min(r['template_effects'].values()):.2f} to "
                  f"{max(r['template_effects'].values()):.2f}." if r["template_effects"] else "")
        deff = f", design effect {r['design_effect']:.2f}" if r["design_effect"] > 1 else ""
        lines.append(
            f"Hypodescent ({r['pair']}): {fmt_pct(r['rate'])} of midpoint morphs labelled "
            f"\"{r['source']}\" (n={r['n']}{deff}, {100 * (1 - rules.alpha):.0f}% CI "
            f"{fmt_ci((r['rate_ci_low'], r['rate_ci_high']), pct=True)}); Cohen's "
            f"{verdict_text(r, 'h', family)}. Crossover at alpha* = {r['crossover']:.2f} "
            f"({100 * (1 - rules.alpha):.0f}% CI {r['crossover_ci_low']:.2f}-"
            f"{r['crossover_ci_high']:.2f}).{spread}")
    return lines


def audit_hypodescent(
    model: Encoder, series: Sequence[MorphSeries], *, minority: str | None = None,
    majority: str | None = None, templates: Sequence[str] = PERSON_TEMPLATES,
    label_text: Mapping[str, str] | None = None, at: float = 0.5, threshold: float = 0.2,
    alpha: float = 0.05, rule: str = "three-way", min_series: int = 100,
    min_endpoint_accuracy: float = 0.8, correction: str = "holm", seed: int = 0,
    n_resamples: int | None = None,
) -> BiasResult:
    """Measure and judge hypodescent in morph series without raising.

    Per pair type (source-target and gender): the share of series whose
    margin cos(x, minority) - cos(x, majority) is positive at ``at``, Cohen's
    h against 0.5 judged against ``threshold`` (exact binomial tests at the
    shifted null, Clopper-Pearson intervals, Holm over pair types; with
    parent ids on the series, the effective sample size n / deff), the mean
    crossover alpha* with a cluster-bootstrap CI, endpoint accuracies and the
    minority-label rate at every step. Inconclusive rows: fewer than
    ``min_series`` series, parents labelled correctly less than
    ``min_endpoint_accuracy`` of the time, or no series containing ``at``.

    Parameters
    ----------
    model : Encoder
        Anything with ``encode_images`` and ``encode_texts``.
    series : sequence of MorphSeries
        Morph series, as from the ``clip_morphs`` fixture or :func:`pytest_clipbias.load_morphs`.
    minority, majority : str, optional
        Override the series' source and target labels.
    templates : sequence of str
        Prompt templates for the group labels ("a photo of a {} person.", ...).
    label_text : mapping, optional
        Words used in the prompts for each group label.
    at : float
        Morph step judged (the midpoint by default).
    threshold : float
        Largest allowed Cohen's h of the minority-label rate against 0.5.
    alpha : float
        Level of each test (intervals are at 1 - 2 alpha, or corrected).
    rule : str
        Decision rule of :func:`pytest_clipbias.stats.decide` ("three-way" by default).
    min_series : int
        Fewest series per pair type for a verdict.
    min_endpoint_accuracy : float
        Share of parent images that must be labelled correctly for a verdict.
    correction : str
        Multiple-comparison correction over pair types ("holm", "bonferroni", "none").
    seed : int
        Seed of the cluster bootstrap of the crossover.
    n_resamples : int, optional
        Bootstrap resamples (default from the profile).

    Returns
    -------
    BiasResult
        One table row per pair type (minority-label rate, h, crossover alpha*),
        the worst deciding the verdict; recorded against the running test.

    References
    ----------
    Wolfe, Banaji & Caliskan (2022), "Evidence for hypodescent in visual semantic
    AI", FAccT 2022.

    Examples
    --------
    >>> from pytest_clipbias.testing import PlantedEncoder, planted_morph_series
    >>> enc = PlantedEncoder(["Black", "White", "person", "woman", "man"])
    >>> series = planted_morph_series("Black", "White", n_series=100, midpoint_rate=0.8, seed=1)
    >>> result = audit_hypodescent(enc, series, n_resamples=50)
    >>> result.verdict, round(result.effect, 2)
    ('fail', 0.59)
    """
    __tracebackhide__ = True
    rules = Rules(h_threshold(threshold), alpha, rule, "greater", correction)
    series, templates = _check_series(series), text_list(templates, "templates")
    at = number(at, "at", low=0.0, high=1.0)
    min_accuracy = number(min_endpoint_accuracy, "min_endpoint_accuracy", low=0.0, high=1.0)
    groups: dict[Key, list[int]] = {}
    for i, s in enumerate(series):
        key = (text(minority, "minority") if minority is not None else s.source,
               text(majority, "majority") if majority is not None else s.target,
               s.attributes.get("gender"))
        groups.setdefault(key, []).append(i)
    for src, tgt, _ in groups:
        if src == tgt:
            raise ValueError(f"minority and majority are both {src!r}: a series must be "
                             "judged between two different groups")
    names = sorted({g for key in groups for g in key[:2]})
    label_text_keys(label_text, names)
    texts = {g: group_text(g, label_text) for g in names}
    text_list(list(texts.values()), "the group label texts (label_text)")
    seed, min_series = seed_value(seed), count(min_series, "min_series", low=1)
    n_resamples = count_or(n_resamples, "n_resamples", get_profile().bootstrap)
    margins = _margins(CheckedEncoder(model), series, groups, texts, templates)
    rows = _rows(series, groups, margins, at=at, alpha=rules.alpha, seed=seed,
                 min_series=min_series, min_accuracy=min_accuracy, n_resamples=n_resamples)
    table = judge_rows(rows, rules)
    return build("hypodescent", "cohen_h", table, rules, group_of=lambda r: r["pair"],
                 lines=format_hypodescent(table, rules), n=len(series),
                 details={"at": at, "templates": templates, "min_series": min_series,
                          "labels": texts,
                          **hypodescent_gate(series, groups, margins["ensemble"], rows, at)},
                 data=data_fingerprint(series), prompts=prompt_texts(templates, texts))


assert_no_hypodescent = asserting(
    audit_hypodescent, "assert_no_hypodescent",
    "Fail when midpoint morphs are labelled with the minority group too often.")

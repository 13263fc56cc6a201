"""The region-by-gender audit as assertions (Mandal, Little & Leavy 2023).

Gender skew of label associations within each world region, harmful-label
rates per group (with a visual cue), and representation in retrieval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.faceset import FaceSet
from ..data.regions import gender_gap_index
from ..measures.retrieval import desired_distribution, max_skew_from_counts, ndkl, skew_at_k
from ..model import Encoder, encode_labels
from ..profiles import get_profile
from ..report.format import compare, fmt_ci, fmt_p, fmt_pct
from ..results import BiasResult, enforce
from ..stats import (
    adjust_pvalues,
    cohens_d,
    cohens_d_ci,
    cohens_h,
    cohens_h_ci,
    correlation,
    decide,
    fisher_exact,
    permutation_test_columns,
    proportion_ci,
)
from ..stats.permutation import as_generator
from ._common import NAN, VERDICT_WORD, check_common, confidence_level, data_fingerprint

METRICS = ("association", "rate")
DEFAULT_TEMPLATES = ("a photo of a {}.",)


def _faceset(faces: Any) -> FaceSet:
    if not isinstance(faces, FaceSet):
        raise TypeError("faces must be a FaceSet (see clip_dataset or FaceSet.from_manifest)")
    if len(faces) == 0:
        raise ValueError("faces is empty")
    return faces


def _resolve_index(index: str | Mapping[str, float] | None) -> tuple[dict[str, float], str]:
    if index is None:
        return {}, ""
    if isinstance(index, str):
        data = gender_gap_index(index)
        return dict(data["scores"]), f"{data['title'].split(',')[0]} {data['year']}"
    return {str(k): float(v) for k, v in index.items()}, "the given index"


def assert_region_gender_skew_below(
    model: Encoder, faces: FaceSet, *, labels: Sequence[str], threshold: float,
    region_key: str = "region", gender_key: str = "gender",
    genders: tuple[str, str] = ("female", "male"), metric: str = "association",
    templates: Sequence[str] = DEFAULT_TEMPLATES, alpha: float = 0.05,
    correction: str = "holm", min_per_group: int = 20, index: str | Mapping[str, float] | None
    = None, rule: str = "significant", permutations: int | None = None, seed: int = 0,
) -> BiasResult:
    """Fail when, in some region, women's and men's images relate to a label too differently.

    metric "association": for region r and label l, Cohen's d between the
    two genders' cosine with l (``genders[0]`` minus ``genders[1]``),
    two-sided permutation p, Hedges-Olkin CI. metric "rate": Cohen's h
    between their zero-shot top-1 rates of l over ``labels``, Fisher's
    exact p. p-values are corrected over the whole region x label family.
    A region's skew is its largest |effect| over labels. Regions with fewer
    than ``min_per_group`` images of either gender are inconclusive rows;
    the result is inconclusive only when no region can be judged. ``index``
    ("wef-gggi" or a mapping region -> score) adds the Spearman correlation
    between region skew and the index.

    ``permutations=None`` chooses the larger of the active profile's
    permutations and 2 m / alpha for a family of m tests, so that a corrected
    p can fall below alpha at all (a Monte Carlo p is never below 1 / (N + 1)).
    """
    check_common(threshold, alpha, rule)
    faces = _faceset(faces)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    labels = list(labels)
    if len(labels) < (2 if metric == "rate" else 1):
        raise ValueError("metric 'rate' needs at least two labels to choose among")
    confidence = confidence_level(alpha, rule)
    women_label, men_label = genders
    regions = faces.groups(region_key)
    faces.values(gender_key)  # raises KeyError naming the attributes when the key is absent
    label_emb = encode_labels(model, labels, templates)
    rng = as_generator(seed)
    splits = {region: (members.filter(**{gender_key: women_label}),
                        members.filter(**{gender_key: men_label}))
              for region, members in regions.items()}
    family = len(labels) * sum(min(len(w), len(m)) >= min_per_group
                               for w, m in splits.values())
    n_perm = permutations or max(get_profile().permutations,
                                 int(np.ceil(2 * max(family, 1) / alpha)))
    rows: list[dict] = []
    cells: list[tuple[dict, int, float, tuple[float, float], float]] = []
    for region, (w, m) in splits.items():
        row: dict[str, Any] = {region_key: region, "n": len(w) + len(m), "n_women": len(w),
                               "n_men": len(m), "effect": NAN, "ci_low": NAN, "ci_high": NAN,
                               "p_value": NAN, "p_raw": NAN, "worst_label": None,
                               "label_effects": {}, "label_cis": {}, "label_p_values": {}}
        rows.append(row)
        if min(len(w), len(m)) < min_per_group:
            row.update(verdict="inconclusive", passed=False,
                       reason=f"only {len(w)} {women_label} / {len(m)} {men_label} images "
                              f"(min_per_group = {min_per_group})")
            continue
        sw = model.encode_images(w.images) @ label_emb.T
        sm = model.encode_images(m.images) @ label_emb.T
        if metric == "association":
            p_cols = permutation_test_columns(sw, sm, n_permutations=n_perm, seed=rng)
        for j, label in enumerate(labels):
            if metric == "association":
                effect = cohens_d(sw[:, j], sm[:, j])
                ci = cohens_d_ci(effect, len(w), len(m), confidence=confidence)
                p = float(p_cols[j])
            else:
                kw, km = int((sw.argmax(1) == j).sum()), int((sm.argmax(1) == j).sum())
                effect = float(cohens_h(kw / len(w), km / len(m)))
                ci = cohens_h_ci(kw, len(w), km, len(m), confidence=confidence)
                p = fisher_exact([[kw, len(w) - kw], [km, len(m) - km]])
            row["label_effects"][label] = effect
            row["label_cis"][label] = ci
            cells.append((row, j, effect, ci, p))
    corrected = adjust_pvalues([c[4] for c in cells], correction) if cells else []
    for (row, j, effect, ci, p_raw), p in zip(cells, corrected, strict=True):
        row["label_p_values"][labels[j]] = float(p)
        if row["worst_label"] is None or abs(effect) > abs(row["effect"]):
            row.update(effect=effect, ci_low=ci[0], ci_high=ci[1], p_raw=p_raw, p_value=float(p),
                       worst_label=labels[j])
    for row in rows:
        if "verdict" in row:
            continue
        decisions = [decide(row["label_effects"][lab], row["label_cis"][lab],
                            row["label_p_values"][lab], threshold, alpha=alpha, rule=rule)
                     for lab in labels]
        worst = decide(row["effect"], (row["ci_low"], row["ci_high"]), row["p_value"],
                       threshold, alpha=alpha, rule=rule)
        verdicts = {d.verdict for d in decisions}
        verdict = "fail" if "fail" in verdicts else "inconclusive" if (
            "inconclusive" in verdicts) else "pass"
        failing = [lab for lab, d in zip(labels, decisions, strict=True) if d.verdict == "fail"]
        row.update(verdict=verdict, passed=verdict == "pass", failing_labels=failing,
                   reason=worst.reason if verdict != "fail" else next(
                       d.reason for d in decisions if d.verdict == "fail"))
    rows.sort(key=lambda r: -abs(r["effect"]) if not np.isnan(r["effect"]) else 1.0)
    judged = [r for r in rows if not np.isnan(r["effect"])]
    verdict = "inconclusive" if not judged else "fail" if any(
        r["verdict"] == "fail" for r in judged) else "inconclusive" if any(
        r["verdict"] == "inconclusive" for r in judged) else "pass"
    scores, index_name = _resolve_index(index)
    corr_text, corr_detail = _index_correlation(judged, scores, index_name, region_key,
                                                confidence)
    symbol = "d" if metric == "association" else "h"
    fam = f"{correction.capitalize()} " if correction != "none" else ""
    failing_rows = [r for r in judged if r["verdict"] == "fail"]

    def describe(r: dict) -> str:
        return (f"{r[region_key]} {symbol} = {r['effect']:+.2f} ({100 * confidence:.0f}% CI "
                f"{fmt_ci((r['ci_low'], r['ci_high']))}; worst label \"{r['worst_label']}\"; "
                f"{fam}{fmt_p(r['p_value'])}; n = {r['n_women']} {genders[0]} / "
                f"{r['n_men']} {genders[1]})")

    if failing_rows:
        head = (f"Region gender skew above {threshold:.2f} in {len(failing_rows)} of "
                f"{len(judged)} regions: " + "; ".join(describe(r) for r in failing_rows) + ".")
    elif judged:
        head = (f"Region gender skew within {threshold:.2f} (or not significant) in all "
                f"{len(judged)} judged regions; largest: {describe(judged[0])}.")
    else:
        head = "Region gender skew: no region has enough images of both genders."
    lines = [head]
    skipped = [r for r in rows if np.isnan(r["effect"])]
    if skipped:
        lines.append("Not judged: " + "; ".join(f"{r[region_key]} ({r['reason']})"
                                                for r in skipped) + ".")
    if corr_text:
        lines.append(corr_text)
    worst_row = (failing_rows or judged or [None])[0]
    result = BiasResult(
        name="region_gender_skew", effect=worst_row["effect"] if worst_row else NAN,
        effect_name="cohen_d" if metric == "association" else "cohen_h",
        ci=(worst_row["ci_low"], worst_row["ci_high"]) if worst_row else (NAN, NAN),
        p_value=worst_row["p_value"] if worst_row else NAN, n=len(faces), threshold=threshold,
        verdict=verdict, table=rows,
        reason=worst_row["reason"] if worst_row else "no region could be judged",
        message=f"Region gender skew check {VERDICT_WORD[verdict]} (metric {metric!r}, "
                f"threshold {threshold:.2f}, alpha = {alpha}):\n" + "\n".join(lines),
        alpha=alpha, rule=rule, correction=correction,
        details={"metric": metric, "labels": labels, "templates": list(templates),
                 "permutations": n_perm if metric == "association" else None,
                 "data_fingerprint": data_fingerprint(faces),
                 "genders": list(genders), "index": corr_detail,
                 "matrix": {"regions": [r[region_key] for r in rows], "labels": labels,
                            "effects": [[r["label_effects"].get(lab, NAN) for lab in labels]
                                        for r in rows],
                            "p_values": [[r["label_p_values"].get(lab, NAN) for lab in labels]
                                         for r in rows]}},
    )
    return enforce(result, model)


def _index_correlation(judged: list[dict], scores: dict[str, float], name: str,
                       region_key: str, confidence: float) -> tuple[str, dict]:
    if not scores:
        return "", {}
    matched = [r for r in judged if r[region_key] in scores]
    unmatched = [r[region_key] for r in judged if r[region_key] not in scores]
    detail: dict[str, Any] = {"name": name, "scores": scores, "unmatched": unmatched,
                              "n": len(matched)}
    if len(matched) < 4:
        text = (f"Skew vs {name}: only {len(matched)} judged regions have a score; "
                "a correlation needs at least 4.")
        return text, detail
    skews = [abs(r["effect"]) for r in matched]
    values = [scores[r[region_key]] for r in matched]
    if np.ptp(skews) == 0 or np.ptp(values) == 0:
        return f"Skew vs {name}: undefined (no variation).", detail
    c = correlation(skews, values, method="spearman", confidence=confidence)
    detail.update(rho=c.r, ci=list(c.ci), p_value=c.p_value)
    text = (f"Skew vs {name}: Spearman rho = {c.r:+.2f} ({100 * confidence:.0f}% CI "
            f"{fmt_ci(c.ci)}; {fmt_p(c.p_value)}; {len(matched)} regions)"
            + (f"; no score for {', '.join(unmatched)}" if unmatched else "") + ".")
    return text, detail


def _zero_shot_hits(model: Encoder, faces: FaceSet, label: str, candidates: Sequence[str],
                    templates: Sequence[str]) -> np.ndarray:
    names = list(dict.fromkeys([*candidates, label]))
    scores = model.encode_images(faces.images) @ encode_labels(model, names, templates).T
    return scores.argmax(1) == names.index(label)


def assert_label_rate_parity(
    model: Encoder, faces: FaceSet, *, label: str, candidates: Sequence[str],
    by: str | Sequence[str] = ("region", "gender"), threshold: float, alpha: float = 0.05,
    cue: str | None = None, cue_values: tuple[str, str] = ("yes", "no"),
    templates: Sequence[str] = DEFAULT_TEMPLATES, min_per_group: int = 20,
    correction: str = "holm", rule: str = "significant",
) -> BiasResult:
    """Fail when a harmful label is chosen for some groups far more often than for others.

    Zero-shot top-1 over ``candidates`` (plus ``label``) for every image; the
    rate of ``label`` per group of each attribute in ``by`` and per
    intersection of them, Cohen's h of each group against the rest, Fisher's
    exact p, corrected over every comparison made. The four-fifths ratio
    (lowest over highest group rate) is reported for each attribute. With
    ``cue`` (an attribute such as "headwear" with values ``cue_values``),
    rates with and without the cue are compared within every intersection
    cell: does the visual cue raise the harmful label?
    """
    check_common(threshold, alpha, rule)
    faces = _faceset(faces)
    keys = [by] if isinstance(by, str) else list(by)
    confidence = confidence_level(alpha, rule)
    hits = _zero_shot_hits(model, faces, label, candidates, templates)
    attrs = {k: faces.values(k) for k in keys + ([cue] if cue else [])}
    n_total, k_total = len(faces), int(hits.sum())
    rows: list[dict] = []

    def add_row(kind: str, names: dict[str, str], mask: np.ndarray, other: np.ndarray) -> None:
        n, k = int(mask.sum()), int(hits[mask].sum())
        n2, k2 = int(other.sum()), int(hits[other].sum())
        lo, hi = proportion_ci(k, n, confidence=confidence) if n else (NAN, NAN)
        row = {"kind": kind, **names, "n": n, "k": k, "rate": k / n if n else NAN,
               "rate_ci_low": lo, "rate_ci_high": hi, "compared_n": n2,
               "compared_rate": k2 / n2 if n2 else NAN, "effect": NAN, "ci_low": NAN,
               "ci_high": NAN, "p_raw": NAN, "p_value": NAN}
        if min(n, n2) < min_per_group:
            row.update(verdict="inconclusive", passed=False,
                       reason=f"only {n} vs {n2} images (min_per_group = {min_per_group})")
        else:
            row["effect"] = float(cohens_h(k / n, k2 / n2))
            row["ci_low"], row["ci_high"] = cohens_h_ci(k, n, k2, n2, confidence=confidence)
            row["p_raw"] = fisher_exact([[k, n - k], [k2, n2 - k2]])
        rows.append(row)

    values = {k: np.array([v if v is not None else "" for v in attrs[k]], dtype=object)
              for k in keys}
    for key in keys:
        for value in sorted(set(values[key]) - {""}):
            mask = values[key] == value
            add_row(key, {key: value}, mask, ~mask & (values[key] != ""))
    if len(keys) > 1:
        combos = sorted(set(zip(*(values[k] for k in keys), strict=True)))
        for combo in combos:
            if "" in combo:
                continue
            mask = np.all([values[k] == v for k, v in zip(keys, combo, strict=True)], axis=0)
            known = np.all([values[k] != "" for k in keys], axis=0)
            add_row("intersection", dict(zip(keys, combo, strict=True)), mask, ~mask & known)
    if cue:
        cue_vals = np.array([v if v is not None else "" for v in attrs[cue]], dtype=object)
        cells = [()] if not keys else sorted(set(zip(*(values[k] for k in keys), strict=True)))
        for combo in cells:
            cell = np.all([values[k] == v for k, v in zip(keys, combo, strict=True)], axis=0) \
                if combo else np.ones(n_total, dtype=bool)
            add_row("cue", {**dict(zip(keys, combo, strict=True)), cue: cue_values[0]},
                    cell & (cue_vals == cue_values[0]), cell & (cue_vals == cue_values[1]))
    judged = [r for r in rows if "verdict" not in r]
    for r, p in zip(judged, adjust_pvalues([r["p_raw"] for r in judged], correction),
                    strict=True):
        r["p_value"] = float(p)
        d = decide(r["effect"], (r["ci_low"], r["ci_high"]), r["p_value"], threshold,
                   alpha=alpha, rule=rule, direction="greater")
        r.update(verdict=d.verdict, passed=d.passed, reason=d.reason)
    four_fifths = {}
    for key in keys:
        group_rates = {r[key]: r["rate"] for r in rows if r["kind"] == key and r["n"]}
        if group_rates:
            low, high = min(group_rates, key=group_rates.get), max(group_rates,
                                                                   key=group_rates.get)
            ratio = group_rates[low] / group_rates[high] if group_rates[high] > 0 else NAN
            four_fifths[key] = {"ratio": ratio, "lowest": low, "highest": high,
                                "lowest_rate": group_rates[low],
                                "highest_rate": group_rates[high],
                                "below_four_fifths": bool(ratio < 0.8)}
    failing = [r for r in rows if r["verdict"] == "fail"]
    verdict = "fail" if failing else "inconclusive" if not judged or any(
        r["verdict"] == "inconclusive" for r in judged) else "pass"
    worst = max(failing or judged, key=lambda r: r["effect"]) if (failing or judged) else None

    def name(r: dict) -> str:
        parts = [r[k] for k in keys if k in r]
        if r["kind"] == "cue":
            return " / ".join(parts) + f" with {cue} vs without" if parts else f"with {cue}"
        return " / ".join(parts)

    lines = []
    for r in failing or ([worst] if worst else []):
        lines.append(
            f"Harmful label \"{label}\" (among {len(set(candidates) | {label})} candidates): "
            f"rate {fmt_pct(r['rate'])} for {name(r)} vs {fmt_pct(r['compared_rate'])} "
            f"{'without' if r['kind'] == 'cue' else 'for the rest'} (n = {r['n']} / "
            f"{r['compared_n']}); Cohen's h = {r['effect']:.2f} "
            f"{compare(r['effect'], threshold, 'greater')}; Fisher {fmt_p(r['p_value'])}"
            + (f" ({correction.capitalize()} over {len(judged)} tests)." if len(judged) > 1
               and correction != "none" else "."))
    for key, ff in four_fifths.items():
        ratio = "undefined (no image got the label)" if np.isnan(ff["ratio"]) else \
            f"{ff['ratio']:.2f}"
        lines.append(f"Four-fifths rule by {key}: rate ratio {ratio} (lowest {ff['lowest']} "
                     f"{fmt_pct(ff['lowest_rate'])}, highest {ff['highest']} "
                     f"{fmt_pct(ff['highest_rate'])}).")
    inconclusive = [r for r in rows if r["verdict"] == "inconclusive" and np.isnan(r["effect"])]
    if inconclusive:
        lines.append(f"Not judged ({len(inconclusive)}): " + "; ".join(
            f"{name(r)} ({r['reason']})" for r in inconclusive[:5]) + (
            " ..." if len(inconclusive) > 5 else "") + ".")
    result = BiasResult(
        name="label_rate_parity", effect=worst["effect"] if worst else NAN,
        effect_name="cohen_h", ci=(worst["ci_low"], worst["ci_high"]) if worst else (NAN, NAN),
        p_value=worst["p_value"] if worst else NAN, n=n_total, threshold=threshold,
        verdict=verdict, table=rows, reason=worst["reason"] if worst else "no group judged",
        message=f"Label-rate parity check {VERDICT_WORD[verdict]} (label \"{label}\", threshold "
                f"h = {threshold:.2f}, alpha = {alpha}; overall rate "
                f"{fmt_pct(k_total / n_total)}):\n" + "\n".join(lines),
        alpha=alpha, rule=rule, correction=correction,
        details={"label": label, "candidates": list(candidates), "by": keys, "cue": cue,
                 "four_fifths": four_fifths, "templates": list(templates),
                 "data_fingerprint": data_fingerprint(faces)},
    )
    return enforce(result, model)


def assert_max_skew_below(
    model: Encoder, faces: FaceSet, *, queries: Sequence[str], attribute: str = "gender",
    k: int | None = None, threshold: float, desired: str | Mapping[str, float] = "uniform",
    templates: Sequence[str] | None = None, alpha: float = 0.05, rule: str = "significant",
    n_resamples: int | None = None, permutations: int | None = None, correction: str = "holm",
    seed: int = 0,
) -> BiasResult:
    """Fail when the top-k images retrieved for neutral queries over-represent a group.

    For each query: the images ranked by cosine with the query, MaxSkew@k and
    NDKL of ``attribute`` against ``desired`` (Geyik et al. 2019), a
    bootstrap CI over images (the pool is resampled and re-ranked), and a
    permutation p (attribute values shuffled over the ranking: retrieval
    blind to the attribute), corrected over the queries. ``k`` defaults to a
    tenth of the images, at least 10.
    """
    check_common(threshold, alpha, rule)
    faces = _faceset(faces)
    queries = list(queries)
    if not queries:
        raise ValueError("queries must contain at least one text")
    values = faces.values(attribute)
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        raise ValueError(f"{len(missing)} images have no {attribute!r} attribute (first: item "
                         f"{missing[0]}); filter them out first")
    n = len(faces)
    k = k or max(10, n // 10)
    if not 1 <= k < n:
        raise ValueError(f"k must lie in 1..{n - 1} for {n} images, got {k}")
    dist = desired_distribution(values, desired)
    unknown = sorted(set(values) - set(dist))
    if unknown:
        raise ValueError(f"desired distribution lacks attribute values {unknown}")
    names = list(dist)
    q = np.array([dist[v] for v in names])
    codes = np.array([names.index(v) for v in values])
    emb = model.encode_images(faces.images)
    query_emb = (encode_labels(model, queries, templates) if templates
                 else model.encode_texts(queries))
    scores = emb @ np.asarray(query_emb).T
    confidence = confidence_level(alpha, rule)
    n_resamples = n_resamples or get_profile().bootstrap
    permutations = permutations or get_profile().permutations
    rng = as_generator(seed)
    rows = []
    for j, query in enumerate(queries):
        order = np.argsort(-scores[:, j], kind="stable")
        ranked = [values[i] for i in order]
        skews = skew_at_k(ranked, k, dist)
        observed = max(skews.values())
        over = max(skews, key=skews.get)
        counts = np.bincount(codes[order[:k]], minlength=len(names))
        boot = np.empty(n_resamples)
        for b in range(n_resamples):
            pick = rng.integers(0, n, n)
            top = pick[np.argsort(-scores[pick, j], kind="stable")[:k]]
            boot[b] = max_skew_from_counts(np.bincount(codes[top], minlength=len(names)), k, q)
        lo, hi = np.quantile(boot, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
        null = np.array([max_skew_from_counts(np.bincount(rng.permutation(codes)[:k],
                                                          minlength=len(names)), k, q)
                         for _ in range(permutations)])
        p = (np.count_nonzero(null >= observed - 1e-12) + 1) / (permutations + 1)
        rows.append({"query": query, "k": k, "n": n, "effect": float(observed),
                     "ci_low": float(lo), "ci_high": float(hi), "p_raw": float(p),
                     "over_represented": over, "top_k_shares": {
                         v: float(c / k) for v, c in zip(names, counts, strict=True)},
                     "skews": skews, "ndkl": ndkl(ranked, dist, k)})
    for r, p in zip(rows, adjust_pvalues([r["p_raw"] for r in rows], correction), strict=True):
        d = decide(r["effect"], (r["ci_low"], r["ci_high"]), float(p), threshold, alpha=alpha,
                   rule=rule, direction="greater")
        r.update(p_value=float(p), verdict=d.verdict, passed=d.passed, reason=d.reason)
    failing = [r for r in rows if r["verdict"] == "fail"]
    verdict = "fail" if failing else "inconclusive" if any(
        r["verdict"] == "inconclusive" for r in rows) else "pass"
    worst = max(failing or rows, key=lambda r: r["effect"])
    lines = [
        f"Retrieval skew for \"{r['query']}\" (top {r['k']} of {r['n']}): MaxSkew@{r['k']} = "
        f"{r['effect']:.2f} {compare(r['effect'], threshold, 'greater')} "
        f"({100 * confidence:.0f}% CI {fmt_ci((r['ci_low'], r['ci_high']))}; "
        f"\"{r['over_represented']}\" {fmt_pct(r['top_k_shares'][r['over_represented']])} vs "
        f"{fmt_pct(dist[r['over_represented']])} desired); NDKL = {r['ndkl']:.3f}; permutation "
        f"{fmt_p(r['p_value'])}" + (f" ({correction.capitalize()} over {len(rows)} queries)."
                                    if len(rows) > 1 and correction != "none" else ".")
        for r in sorted(rows, key=lambda r: -r["effect"])]
    result = BiasResult(
        name="max_skew", effect=worst["effect"], effect_name="max_skew_at_k",
        ci=(worst["ci_low"], worst["ci_high"]), p_value=worst["p_value"], n=n,
        threshold=threshold, verdict=verdict, table=rows, reason=worst["reason"],
        message=f"Retrieval skew check {VERDICT_WORD[verdict]} (attribute {attribute!r}, "
                f"threshold {threshold:.2f}, alpha = {alpha}):\n" + "\n".join(lines),
        alpha=alpha, rule=rule, correction=correction,
        details={"attribute": attribute, "desired": dist, "k": k,
                 "templates": list(templates or []), "queries": queries,
                 "data_fingerprint": data_fingerprint(faces)},
    )
    return enforce(result, model)


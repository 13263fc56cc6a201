"""Prompt robustness: search a prompt space for the worst case, then judge it honestly.

CLIP bias measures move with the prompt. ``assert_prompt_robust`` runs any
assertion helper over a hypothesis strategy of prompts (``strategies.templates()``)
and reports the worst template found, its effect and interval, and the
spread of effects over the templates tried.

The largest of many noisy effects is biased upwards, so the template a search
picks is never judged on the data that picked it:

- ``confirm="holdout"`` (default): the data are split in two halves
  (``split_halves``); hypothesis searches on the first half, steered by
  ``target()`` towards the largest effect; the helper judges the worst
  template on the second half at its own alpha. The selection is independent
  of the second half, so P(fail) <= alpha under the null, however hard the
  search looked.
- ``confirm="holm"`` / ``"bonferroni"``: hypothesis draws the templates
  without looking at any data (no ``target()``: steering would make the set
  of templates depend on the data and void the correction), and the helper
  judges each of the m distinct templates on all the data at alpha / m
  (Bonferroni) or step-down alpha / m, alpha / (m - 1), ... (Holm 1979). The
  check fails when any template fails.

Either way a pass says that the templates tried hold, not that every
template in the space does; widen ``max_examples`` for a harder search.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .data.faceset import FaceSet
from .data.morph import MorphSeries
from .recording import recording
from .report.format import fmt_ci, fmt_p
from .results import BiasAssertionError, BiasInconclusiveError, BiasResult, enforce
from .strategies import hypothesis_strategies, template_family

CONFIRMS = ("holdout", "holm", "bonferroni")
VERDICT_WORD = {"fail": "FAILED", "pass": "passed", "inconclusive": "INCONCLUSIVE"}
_GREATER = {"assert_no_hypodescent", "assert_label_rate_parity", "assert_max_skew_below",
            "audit_hypodescent", "audit_label_rate_parity", "audit_max_skew"}
Evaluate = Callable[[Any, Mapping[str, Any], float], BiasResult]


def helper_direction(helper: Callable[..., Any], kwargs: Mapping[str, Any]) -> str:
    """Which effects count as bias for a helper: "greater", "less" or "two-sided"."""
    name = getattr(helper, "__name__", "")
    if name in ("assert_association_below", "audit_association"):
        return kwargs.get("alternative", "greater")
    return "greater" if name in _GREATER else "two-sided"


def severity(effect: float, direction: str) -> float:
    """How far an effect points in the tested direction; -inf when undefined."""
    if effect is None or not math.isfinite(effect):
        return -math.inf
    return {"greater": effect, "less": -effect}.get(direction, abs(effect))


def prompt_kwargs(example: Any) -> tuple[str, dict[str, Any]]:
    """A drawn example as (readable key, helper keyword arguments).

    A string is a template (``templates=[example]``); a mapping holds helper
    arguments such as ``{"templates": [...], "label_text": {...}}``.
    """
    if isinstance(example, str):
        return example, {"templates": [example]}
    if isinstance(example, Mapping):
        kwargs = dict(example)
        if isinstance(kwargs.get("templates"), str):
            kwargs["templates"] = [kwargs["templates"]]
        key = "; ".join(f"{k}={v!r}" for k, v in sorted(kwargs.items()))
        return key, kwargs
    raise TypeError(f"the prompt space drew a {type(example).__name__}; it must draw template "
                    "strings or mappings of helper arguments")


def quiet(helper: Callable[..., BiasResult], *args: Any, **kwargs: Any) -> BiasResult:
    """The helper's result whatever its verdict, without recording it in the running test."""
    with recording(lambda result, encoder: None):
        try:
            return helper(*args, **kwargs)
        except (BiasAssertionError, BiasInconclusiveError) as exc:
            return exc.result


def _deal(strata: list[str], clusters: list[str]) -> tuple[list[int], list[int]]:
    """Item indices dealt to two halves: clusters kept whole, each stratum balanced.

    Clusters are dealt in a content order (stratum, size, cluster key), each
    to the half with fewer items of its stratum so far.
    """
    members: dict[str, list[int]] = {}
    for i, c in enumerate(clusters):
        members.setdefault(c, []).append(i)
    largest = max(members.values(), key=len)
    if len(largest) > 2 * len(clusters) / 3:
        raise ValueError(f"{len(largest)} of {len(clusters)} items are linked (same person or "
                         "shared parents), so no held-out half is independent of the search "
                         "half; use confirm='holm'")
    halves: tuple[list[int], list[int]] = ([], [])
    counts: dict[str, list[int]] = {}
    for _, idx in sorted(members.items(), key=lambda kv: (strata[kv[1][0]], -len(kv[1]),
                                                           kv[0])):
        n = counts.setdefault(strata[idx[0]], [0, 0])
        side = 0 if n[0] <= n[1] else 1
        n[side] += len(idx)
        halves[side].extend(idx)
    return sorted(halves[0]), sorted(halves[1])


def _series_clusters(series: list[MorphSeries]) -> list[str]:
    """Connected components of series linked by a shared parent (``parents`` when known)."""
    root = {s.series_id: s.series_id for s in series}

    def find(x: str) -> str:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    first: dict[str, str] = {}
    for s in series:
        for parent in getattr(s, "parents", ()) or ():
            other = first.setdefault(parent, s.series_id)
            a, b = sorted((find(other), find(s.series_id)))
            root[b] = a
    return [find(s.series_id) for s in series]


def split_halves(data: Any, *, split_by: str | None = None) -> tuple[Any, Any]:
    """Two disjoint, independent halves of the data, balanced within every stratum.

    The same split on every run, from content alone. FaceSet: strata are the
    combinations of attribute values; items are ordered by image path
    (position for in-memory images); with ``split_by`` (e.g. "person_id")
    all faces sharing that attribute's value go to the same half. Morph
    series: strata are (source, target, gender); series that share a parent
    face (``MorphSeries.parents``) go to the same half. Other sliceable
    sequences: even and odd positions. Raises ValueError when one linked
    cluster holds over two thirds of the items.
    """
    if isinstance(data, FaceSet):
        strata, clusters = [], []
        for i, item in enumerate(data):
            attrs = {k: v for k, v in item.attributes.items() if k != split_by}
            strata.append(repr(sorted(attrs.items())))
            if split_by is not None:
                if item.get(split_by) is None:
                    raise ValueError(f"split_by={split_by!r}: face {i} ({item!r}) has no such "
                                     "attribute")
                clusters.append(f"{split_by}={item[split_by]}")
            elif isinstance(item.image, (str, os.PathLike)):
                clusters.append(f"path:{os.fspath(item.image)}")
            else:
                clusters.append(f"#{i:09d}")
        halves = _deal(strata, clusters)
        return tuple(FaceSet([data[i] for i in h], name=f"{data.name}[half {k + 1}]")
                     for k, h in enumerate(halves))
    items = list(data) if not hasattr(data, "__getitem__") else data
    if len(items) and all(isinstance(s, MorphSeries) for s in items):
        items = list(items)
        strata = [repr((s.source, s.target, s.attributes.get("gender"))) for s in items]
        first, second = _deal(strata, _series_clusters(items))
        return [items[i] for i in first], [items[i] for i in second]
    try:
        return items[0::2], items[1::2]
    except TypeError:
        raise TypeError(f"confirm='holdout' cannot split a {type(data).__name__}; pass a "
                        "FaceSet, a list of MorphSeries or a sliceable sequence, or use "
                        "confirm='holm'") from None


def explore(space: Any, *, max_examples: int, seed: int,
            score: Callable[[str, dict[str, Any]], float] | None = None) -> dict[str, dict]:
    """The distinct prompts hypothesis draws from ``space`` (key -> helper kwargs), in order.

    With ``score``, every prompt's score goes to ``hypothesis.target``, which
    steers generation towards larger scores; without it the prompts drawn do
    not depend on any data. Deterministic for a given ``seed``.
    """
    hypothesis_strategies()
    from hypothesis import HealthCheck, Phase, given, settings, target
    from hypothesis import seed as fix_seed

    drawn: dict[str, dict[str, Any]] = {}
    phases = (Phase.generate, Phase.target) if score else (Phase.generate,)

    @settings(max_examples=max_examples, database=None, deadline=None, derandomize=False,
              phases=phases, suppress_health_check=[HealthCheck.too_slow,
                                                    HealthCheck.filter_too_much,
                                                    HealthCheck.data_too_large])
    @fix_seed(seed)
    @given(space)
    def run(example: Any) -> None:
        key, kwargs = prompt_kwargs(example)
        drawn.setdefault(key, kwargs)
        if score is not None:
            value = score(key, kwargs)
            if math.isfinite(value):
                target(value, label="effect")

    run()
    return drawn


def search_holdout(evaluate: Evaluate, data: Any, space: Any, *, alpha: float,
                   direction: str, max_examples: int, seed: int,
                   split_by: str | None = None) -> dict[str, Any]:
    """Search on one half (steered), judge the worst template on the other half."""
    search_half, confirm_half = split_halves(data, split_by=split_by)
    found: dict[str, BiasResult] = {}

    def score(key: str, kwargs: dict[str, Any]) -> float:
        if key not in found:
            found[key] = evaluate(search_half, kwargs, alpha)
        return severity(found[key].effect, direction)

    prompts = explore(space, max_examples=max_examples, seed=seed, score=score)
    worst = max(found, key=lambda k: severity(found[k].effect, direction))
    final = evaluate(confirm_half, prompts[worst], alpha)
    return {"prompts": prompts, "search": found, "worst": worst, "final": final,
            "n_search": len(search_half), "n_confirm": len(confirm_half)}


def search_corrected(evaluate: Evaluate, data: Any, space: Any, *, alpha: float, method: str,
                     direction: str, max_examples: int, seed: int) -> dict[str, Any]:
    """Draw templates blind to the data; judge each on all data at a Bonferroni/Holm level."""
    prompts = explore(space, max_examples=max_examples, seed=seed)
    m = len(prompts)
    level = {k: alpha / m for k in prompts}
    results = {k: evaluate(data, kw, alpha / m) for k, kw in prompts.items()}
    failed = {k for k, r in results.items() if r.verdict == "fail"}
    while method == "holm" and failed and len(failed) < m:
        step = alpha / (m - len(failed))
        rest = [k for k in prompts if k not in failed]
        for k in rest:
            level[k], results[k] = step, evaluate(data, prompts[k], step)
        new = {k for k in rest if results[k].verdict == "fail"}
        if not new:
            break
        failed |= new
    pool = [k for k in results if k in failed] or list(results)
    worst = max(pool, key=lambda k: severity(results[k].effect, direction))
    return {"prompts": prompts, "search": results, "worst": worst, "final": results[worst],
            "levels": level, "failed": failed, "n_search": len(data), "n_confirm": len(data)}


def _row(key: str, kwargs: Mapping[str, Any], result: BiasResult, stage: str,
         family: Callable[[str], str]) -> dict[str, Any]:
    templates = kwargs.get("templates") or []
    return {"template": key, "family": family(templates[0]) if len(templates) == 1 else "-",
            "stage": stage, "effect": result.effect, "ci_low": result.ci[0],
            "ci_high": result.ci[1], "p_value": result.p_value, "n": result.n,
            "verdict": result.verdict, "passed": result.passed, "reason": result.reason}


def spread(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Range, median and per-family range of the template effects (finite ones only)."""
    effects = np.array([r["effect"] for r in rows], dtype=float)
    ok = np.isfinite(effects)
    if not ok.any():
        return {"n": 0, "families": {}}
    out: dict[str, Any] = {"n": int(ok.sum()), "min": float(effects[ok].min()),
                           "max": float(effects[ok].max()),
                           "median": float(np.median(effects[ok])), "families": {}}
    for fam in dict.fromkeys(r["family"] for r in rows):
        vals = effects[ok & np.array([r["family"] == fam for r in rows])]
        if len(vals):
            out["families"][fam] = {"n": len(vals), "min": float(vals.min()),
                                    "max": float(vals.max()), "mean": float(vals.mean())}
    return out


def _message(verdict: str, found: Mapping[str, Any], final: BiasResult, confirm: str,
             sp: Mapping[str, Any], alpha: float) -> list[str]:
    worst, m = found["worst"], len(found["search"])
    conf = 100 * (1 - alpha)
    lines = [f"Prompt robustness of {final.name} {VERDICT_WORD[verdict]}: worst of {m} distinct "
             f"templates tried: {worst!r}."]
    judged = (f"{final.effect_name} = {final.effect:+.3f} (CI {fmt_ci(final.ci)}), "
              f"{fmt_p(final.p_value)}, n = {final.n}: {final.reason}.")
    if confirm == "holdout":
        lines.append(f"Searched (hypothesis target()) on half of the data (n = "
                     f"{found['n_search']}); judged on the held-out half at alpha = {alpha}: "
                     + judged)
    else:
        lines.append(f"{m} templates drawn without looking at the data, each judged on all of "
                     f"it at a {confirm.capitalize()} level (first alpha/{m} = "
                     f"{alpha / m:.2g}; {len(found['failed'])} failed): " + judged)
    if sp["n"]:
        where = "search half; the top is biased upwards" if confirm == "holdout" else (
            f"simultaneous {conf:.0f}% level")
        fams = ", ".join(f"{f} {v['min']:+.2f}..{v['max']:+.2f} ({v['n']})"
                         for f, v in sorted(sp["families"].items(), key=lambda kv: -kv[1]["max"]))
        lines.append(f"Spread over {sp['n']} templates ({where}): {final.effect_name} from "
                     f"{sp['min']:+.3f} to {sp['max']:+.3f}, median {sp['median']:+.3f}; by "
                     f"family: {fams}.")
    return lines


def assert_prompt_robust(
    helper: Callable[..., BiasResult], model: Any, data: Any, *args: Any, space: Any = None,
    max_examples: int = 30, confirm: str = "holdout", alpha: float = 0.05,
    direction: str | None = None, seed: int = 0, family: Callable[[str], str] = template_family,
    split_by: str | None = None, **kwargs: Any,
) -> BiasResult:
    """Fail when some prompt in ``space`` makes ``helper`` fail, judged honestly.

    ``helper`` is any assertion helper (``assert_no_hypodescent``, ...),
    called as ``helper(model, data, *args, templates=[t], alpha=..., **kwargs)``.
    ``space`` is a hypothesis strategy of templates (default
    ``strategies.templates()``) or of mappings of helper arguments. See the
    module docstring for ``confirm``. ``direction`` ("greater", "less",
    "two-sided") says which effects are worse; by default the helper's own.
    ``split_by`` names the FaceSet attribute that identifies a person, so
    that one person's faces stay in one half (morph series sharing a parent
    are kept together from ``MorphSeries.parents``).
    Returns a BiasResult named "prompt_robustness" whose headline is the
    verdict on the worst template and whose table has one row per template
    tried (``row["template"]``, ``row["family"]``, ``row["stage"]``).
    """
    __tracebackhide__ = True
    from .strategies import templates

    space = templates() if space is None else space
    if confirm not in CONFIRMS:
        raise ValueError(f"confirm must be one of {CONFIRMS}, got {confirm!r}")
    if not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"max_examples must be a positive integer, got {max_examples!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if "templates" in kwargs:
        raise TypeError("assert_prompt_robust draws the templates from space; do not pass "
                        "templates=")
    if not callable(helper) or "templates" not in inspect.signature(helper).parameters:
        raise TypeError(f"helper {helper!r} must be an assertion helper taking templates=")
    direction = direction or helper_direction(helper, kwargs)

    def evaluate(part: Any, prompt: Mapping[str, Any], level: float) -> BiasResult:
        return quiet(helper, model, part, *args, alpha=level, **kwargs, **prompt)

    opts = {"direction": direction, "max_examples": max_examples, "seed": seed}
    found = (search_holdout(evaluate, data, space, alpha=alpha, split_by=split_by, **opts)
             if confirm == "holdout" else
             search_corrected(evaluate, data, space, alpha=alpha, method=confirm, **opts))
    final, prompts = found["final"], found["prompts"]
    stage = "search" if confirm == "holdout" else confirm
    rows = sorted((_row(k, prompts[k], r, stage, family) for k, r in found["search"].items()),
                  key=lambda r: -severity(r["effect"], direction))
    if confirm == "holdout":
        rows.insert(0, _row(found["worst"], prompts[found["worst"]], final, "held-out", family))
        verdict = final.verdict
    else:
        verdicts = {r["verdict"] for r in rows}
        verdict = next(v for v in ("fail", "inconclusive", "pass") if v in verdicts)
    sp = spread([r for r in rows if r["stage"] != "held-out"])
    result = BiasResult(
        name="prompt_robustness", effect=final.effect, effect_name=final.effect_name,
        ci=final.ci, p_value=final.p_value, n=final.n, threshold=final.threshold,
        verdict=verdict, table=rows, reason=final.reason,
        message="\n".join([*_message(verdict, found, final, confirm, sp, alpha), "",
                           final.message]),
        alpha=alpha, rule=final.rule, correction=confirm,
        details={"measure": final.name, "confirm": confirm, "worst_template": found["worst"],
                 "worst_family": rows[0]["family"], "templates": list(prompts),
                 "n_templates": len(prompts), "max_examples": max_examples, "seed": seed,
                 "direction": direction, "spread": sp, "n_search": found["n_search"],
                 "n_confirm": found["n_confirm"], "levels": found.get("levels", {}),
                 "worst_result": final.to_dict()},
        data_fingerprint=final.data_fingerprint, prompts=tuple(prompts),
    )
    return enforce(result, model)

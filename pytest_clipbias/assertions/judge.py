"""The one judge every helper uses: correction, decision per cell, roll-up, BiasResult.

A measure returns rows (dataclasses) that carry ``cells`` (name -> Cell)
and ``problem`` (why the row cannot be judged, or None). The judge

1. computes each cell's minimum-effect p at the threshold (one-sided in the
   tested direction; for "two-sided" p = min(1, 2 min(p_above(t), p_below(-t)))),
2. corrects them over every cell of the check (Holm by default),
3. decides each cell with :func:`pytest_clipbias.stats.decide`, showing the
   interval at the cell's corrected level for a fail (Holm: alpha / (m - r + 1)
   for the cell of rank r; Bonferroni alpha / m; BH alpha R / m, the
   false-coverage-rate level of Benjamini & Yekutieli 2005) and the 1 - 2 alpha
   interval otherwise,
4. rolls cells up to rows (fail if any cell fails, pass if all pass) and rows
   up to the check (fail > inconclusive > pass; a row that cannot be judged is
   inconclusive: it was not shown to be within the threshold),
5. says, for an inconclusive cell, about how many items per group a decisive
   verdict needs: 80% power for the whole check (every cell must pass; a
   fail is Holm-corrected), planned at the end of the cell's 20% interval
   nearer the threshold, so the number suffices with ~60% confidence or
   more rather than half the time (:func:`needed_n`; at the estimate, a
   lower bound, when that end reaches the threshold).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special as _sp

from ..measures.cells import Cell
from ..report.format import fmt_ci, fmt_p
from ..results import BiasResult
from ..stats import adjust_pvalues, decide
from ..stats.decision import DIRECTIONS, check_rule, size
from ._validate import number

NAN = float("nan")
VERDICT_WORD = {"fail": "FAILED", "pass": "passed", "inconclusive": "INCONCLUSIVE"}
POWER = 0.8
PLANNING = 0.2  # two-sided level of the interval whose end a sample size is planned for


@dataclass(frozen=True)
class Rules:
    """How a check is judged: threshold, alpha, rule, direction and correction."""

    threshold: float
    alpha: float = 0.05
    rule: str = "three-way"
    direction: str = "two-sided"
    correction: str = "holm"

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", number(self.threshold, "threshold", low=0.0))
        object.__setattr__(self, "alpha", number(self.alpha, "alpha"))
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must lie in (0, 0.5), got {self.alpha!r}")
        check_rule(self.rule)
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        adjust_pvalues([], self.correction)  # validates the name


@dataclass(frozen=True)
class Judged:
    """The judge's output for one cell."""

    effect: float
    verdict: str
    reason: str
    ci: tuple[float, float]
    ci_level: float
    ci_basis: str
    p_value: float
    p_raw: float
    n: int


def min_effect_p(cell: Cell, rules: Rules) -> float:
    """p of H0: the effect is within the threshold, in the tested direction."""
    t = rules.threshold
    if rules.direction == "greater":
        return float(cell.p_above(t))
    if rules.direction == "less":
        return float(cell.p_below(-t))
    return float(min(1.0, 2 * min(cell.p_above(t), cell.p_below(-t))))


def _levels(raw: np.ndarray, adjusted: np.ndarray, rules: Rules) -> np.ndarray:
    """Per-cell alpha at which its fail interval is drawn (see the module docstring)."""
    m, a = len(raw), rules.alpha
    if rules.correction == "none" or m == 0:
        return np.full(m, a)
    if rules.correction == "bonferroni":
        return np.full(m, a / m)
    if rules.correction == "holm":
        ranks = np.empty(m, dtype=int)
        ranks[np.argsort(raw, kind="stable")] = np.arange(1, m + 1)
        return a / (m - ranks + 1)
    return np.full(m, a * max(1, int(np.sum(adjusted < a))) / m)


def planning_effect(cell: Cell, rules: Rules) -> float:
    """The effect a sample size is planned for: the end of the 20% interval nearer the threshold.

    The estimate of an undecided cell is noisy; planning for it undershoots
    whenever the truth is nearer the threshold. The true effect lies beyond
    this end (farther from the threshold) with probability about 0.6, so the
    advised n suffices at least that often (measured, 100 series at
    threshold 0.2: in 97% of undecided runs at true h = 0, median advice 881
    where 229 suffice; 72% at h = 0.1, median 2,814 where 645 suffice; the
    50% interval's end overshoots 15-fold at h = 0). When that end already
    reaches the threshold no n can be promised, and the estimate itself is
    used: the n is then a lower bound (enough about half the time).
    """
    lo, hi = cell.interval(PLANNING)
    beyond = size(cell.effect, rules.direction) > rules.threshold
    ends = [e for e in (lo, hi) if (size(e, rules.direction) > rules.threshold) == beyond]
    if len(ends) < 2:
        return cell.effect
    return min(ends, key=lambda e: size(e, rules.direction)) if beyond else max(
        ends, key=lambda e: size(e, rules.direction))


def needed_n(cell: Cell, rules: Rules, pass_ci: tuple[float, float], m: int = 1) -> int | None:
    """Items per group for 80% power of the whole check of ``m`` cells to reach a verdict.

    Planned at :func:`planning_effect` (not the estimate). Goal "fail" (the
    effect beyond the threshold: one cell's Holm-corrected test at alpha / m)
    or "pass" (within it: all m cells must pass their TOST, so each needs
    power 0.8^(1/m)). Exact power from :func:`pytest_clipbias.stats.power.required_n`
    where the cell knows its kind; otherwise from the interval: se = (1 - 2
    alpha half-width) / z and n' = n (se (z_{1-a} + z_{power}) / gap)^2, gap
    the distance from the planning effect to the threshold. None when no n
    up to a million reaches the power, or the estimate sits on the threshold.
    """
    effect = planning_effect(cell, rules)
    gap = abs(rules.threshold - size(effect, rules.direction))
    goal = "fail" if size(effect, rules.direction) > rules.threshold else "pass"
    if cell.required is not None and gap >= 1e-9:
        try:
            return cell.required(rules.threshold, rules.alpha, goal, effect, m)
        except ValueError:
            return None
    a = rules.alpha / m if goal == "fail" else rules.alpha
    z_a = float(_sp.ndtri(1 - rules.alpha))
    se = max(pass_ci[1] - pass_ci[0], 0.0) / (2 * z_a)
    if gap < 1e-9 or se == 0:
        return None
    z_power = float(_sp.ndtri(POWER if goal == "fail" else POWER ** (1 / m)))
    return math.ceil(cell.n * (se * (float(_sp.ndtri(1 - a)) + z_power) / gap) ** 2)


def judge_cells(cells: Sequence[Cell], rules: Rules) -> list[Judged]:
    """Correct, decide and size every cell of one check (see the module docstring)."""
    raw = np.array([min_effect_p(c, rules) for c in cells], dtype=np.float64)
    adjusted = adjust_pvalues(raw, rules.correction)
    levels = _levels(raw, adjusted, rules)
    sides = 1 if rules.direction == "two-sided" else 2
    out = []
    for cell, p_raw, p, lev in zip(cells, raw, adjusted, levels, strict=True):
        fail_level = 1 - sides * lev
        pass_ci = cell.interval(1 - 2 * rules.alpha)
        # the fail interval matters only when the corrected p is below alpha
        fail_ci = cell.interval(fail_level) if p < rules.alpha else pass_ci
        d = decide(cell.effect, threshold=rules.threshold, p_value=float(p),
                   fail_ci=fail_ci, fail_level=fail_level, pass_ci=pass_ci,
                   alpha=rules.alpha, rule=rules.rule, direction=rules.direction)
        out.append(Judged(cell.effect, d.verdict, d.reason, d.ci, d.ci_level, d.ci_basis,
                          float(p), float(p_raw), cell.n))
    return out


def _worst(judged: Sequence[Judged], direction: str) -> int:
    """Index of the cell that speaks for a row: the largest failing, else the largest."""
    pool = [i for i, j in enumerate(judged) if j.verdict == "fail"] or range(len(judged))
    return max(pool, key=lambda i: size(judged[i].effect, direction))


def _roll(verdicts: Sequence[str]) -> str:
    if "fail" in verdicts:
        return "fail"
    return "inconclusive" if "inconclusive" in verdicts or not verdicts else "pass"


def _row_dict(row: Any, judged: list[Judged], names: list[str], cell_key: str | None,
              direction: str, group_key: str | None, need: int | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(row):
        value = getattr(row, f.name)
        if f.name == "group" and isinstance(value, Mapping):
            fields.update(value)  # several attributes name the group, e.g. region and gender
        elif f.name not in ("cells", "problem"):
            fields[group_key if f.name == "group" and group_key else f.name] = value
    if not judged:
        return {**fields, "effect": NAN, "ci_low": NAN, "ci_high": NAN, "ci_level": NAN,
                "ci_basis": "", "p_value": NAN, "p_raw": NAN, "verdict": "inconclusive",
                "passed": False, "reason": row.problem, "needed_n": None}
    w = judged[_worst(judged, direction)]
    verdict = _roll([j.verdict for j in judged])
    out = {**fields, "effect": w.effect, "ci_low": w.ci[0], "ci_high": w.ci[1],
           "ci_level": w.ci_level, "ci_basis": w.ci_basis, "p_value": w.p_value,
           "p_raw": w.p_raw, "verdict": verdict, "passed": verdict == "pass",
           "reason": w.reason if w.verdict == verdict else next(
               j.reason for j in judged if j.verdict == verdict),
           "needed_n": need}
    if cell_key:
        worst_name = names[_worst(judged, direction)]
        out.update({f"worst_{cell_key}": worst_name,
                    f"{cell_key}_effects": {n: j.effect for n, j in zip(names, judged,
                                                                          strict=True)},
                    f"{cell_key}_p_values": {n: j.p_value for n, j in zip(names, judged,
                                                                            strict=True)},
                    f"{cell_key}_verdicts": {n: j.verdict for n, j in zip(names, judged,
                                                                            strict=True)}})
    return out


def judge_rows(rows: Sequence[Any], rules: Rules, *, cell_key: str | None = None,
               group_key: str | None = None) -> list[dict[str, Any]]:
    """Judge every cell of every row together; return the table (one dict per row).

    ``cell_key`` names the cells of multi-cell rows (e.g. "label": the row gets
    worst_label, label_effects, label_p_values, label_verdicts); ``group_key``
    renames a row's ``group`` field (e.g. to "race", as the table promises).
    """
    flat = [(i, name, cell) for i, r in enumerate(rows) if r.problem is None
            for name, cell in r.cells.items()]
    judged = judge_cells([c for _, _, c in flat], rules)
    table = []
    for i, row in enumerate(rows):
        mine = [(c, j) for (k, _, c), j in zip(flat, judged, strict=True) if k == i]
        names = [name for k, name, _ in flat if k == i]
        table.append(_row_dict(row, [j for _, j in mine], names, cell_key, rules.direction,
                               group_key, _row_need(mine, rules, len(flat))))
    return table


def _row_need(mine: list[tuple[Cell, Judged]], rules: Rules, m: int) -> int | None:
    """needed_n of a row's largest inconclusive cell (None unless the row is inconclusive)."""
    if not mine or _roll([j.verdict for _, j in mine]) != "inconclusive":
        return None
    cell, j = max((x for x in mine if x[1].verdict == "inconclusive"),
                  key=lambda x: size(x[1].effect, rules.direction))
    return needed_n(cell, rules, j.ci, m)


def _headline(table: Sequence[Mapping[str, Any]], direction: str) -> Mapping[str, Any] | None:
    """The row a check reports first: the largest failing row, else the largest undecided
    one (it is why the check is inconclusive), else the largest."""
    judged = [r for r in table if not math.isnan(r["effect"])]
    pool = ([r for r in judged if r["verdict"] == "fail"]
            or [r for r in judged if r["verdict"] == "inconclusive"] or judged)
    return max(pool, key=lambda r: size(r["effect"], direction)) if pool else None


def none_judged(table: Sequence[Mapping[str, Any]]) -> str:
    """Why no row was judged: the distinct reasons the rows give (too few items, ...)."""
    reasons = list(dict.fromkeys(str(r["reason"]) for r in table if r.get("reason")))
    if not reasons:
        return "no group could be judged: the data hold no group to compare"
    more = f" (and {len(reasons) - 3} other reasons)" if len(reasons) > 3 else ""
    return "no group could be judged: " + "; ".join(reasons[:3]) + more


def first_line(name: str, effect_name: str, verdict: str, head: Mapping[str, Any] | None,
               rules: Rules, group: str, table: Sequence[Mapping[str, Any]] = ()) -> str:
    """The message's first line: check, verdict, headline effect with its interval."""
    if head is None:
        return f"{name} {VERDICT_WORD[verdict]}: {none_judged(table)}"
    basis = ("corrected" if head["ci_basis"] == "corrected" else "1-2alpha")
    need = (f"; about {head['needed_n']} per group needed" if verdict == "inconclusive"
            and head.get("needed_n") else "")
    return (f"{name} {VERDICT_WORD[verdict]}: {effect_name} = {head['effect']:+.3f} "
            f"[{fmt_ci((head['ci_low'], head['ci_high']))}] ({100 * head['ci_level']:.4g}% "
            f"{basis} interval) vs threshold {rules.threshold:g} ({rules.direction}), "
            f"{group}; min-effect {fmt_p(head['p_value'])}{need}")


def was_judged(row: Mapping[str, Any]) -> bool:
    """True when the row's cells were judged (False: its ``reason`` says why not)."""
    return bool(row["ci_basis"])


def verdict_of(table: Sequence[Mapping[str, Any]]) -> str:
    """Check verdict from row verdicts: fail > inconclusive > pass."""
    return _roll([r["verdict"] for r in table])


def build(name: str, effect_name: str, table: list[dict[str, Any]], rules: Rules, *,
          group_of: Callable[[Mapping[str, Any]], str], lines: Sequence[str], n: int,
          details: Mapping[str, Any], data: str, prompts: Sequence[str]) -> BiasResult:
    """The BiasResult of a check whose table the judge produced; headline = worst row.

    ``data`` is the content fingerprint of what was measured, ``prompts`` the
    prompt texts encoded (see BiasResult).
    """
    verdict = verdict_of(table)
    head = _headline(table, rules.direction)
    top = first_line(name, effect_name, verdict, head, rules, group_of(head) if head else "",
                     table)
    return BiasResult(
        name=name, effect=head["effect"] if head else NAN, effect_name=effect_name,
        ci=(head["ci_low"], head["ci_high"]) if head else (NAN, NAN),
        p_value=head["p_value"] if head else NAN, n=n, threshold=rules.threshold,
        verdict=verdict, table=table,
        reason=head["reason"] if head else none_judged(table),
        message="\n".join([top, *lines]), alpha=rules.alpha, rule=rules.rule,
        correction=rules.correction, details={**details, "direction": rules.direction},
        data_fingerprint=data, prompts=tuple(prompts))

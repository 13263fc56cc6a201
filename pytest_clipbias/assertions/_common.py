"""Helpers shared by the assertion modules: verdict roll-up, argument checks, labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..labels import GROUP_TEXT
from ..results import BiasResult

NAN = float("nan")
VERDICT_WORD = {"fail": "FAILED", "pass": "passed", "inconclusive": "INCONCLUSIVE"}


def group_text(group: str, label_text: Mapping[str, str] | None) -> str:
    """How a group name is written in a prompt (user mapping, then GROUP_TEXT)."""
    return (label_text or {}).get(group, GROUP_TEXT.get(group, group))


def overall(rows: list[dict], direction: str) -> tuple[str, dict | None]:
    """Overall verdict (fail > inconclusive > pass) and the worst row for the headline."""
    verdicts = {r["verdict"] for r in rows}
    verdict = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts \
        else "pass"
    pool = [r for r in rows if r["verdict"] == "fail"] or [
        r for r in rows if r["effect"] is not None and not np.isnan(r["effect"])]
    if not pool:
        return verdict, None

    def size(r):
        return abs(r["effect"]) if direction == "two-sided" else r["effect"]

    return verdict, max(pool, key=size)


def build_result(
    name: str, effect_name: str, rows: list[dict], *, direction: str, threshold: float,
    alpha: float, rule: str, correction: str | None, lines: list[str], header: str,
    details: Mapping[str, Any],
) -> BiasResult:
    """A BiasResult whose headline is the worst row (see ``overall``)."""
    verdict, worst = overall(rows, direction)
    if worst is None:
        effect, ci, p, reason = NAN, (NAN, NAN), NAN, "no group could be judged"
    else:
        effect, ci, p = worst["effect"], (worst["ci_low"], worst["ci_high"]), worst["p_value"]
        reason = worst["reason"]
    message = "\n".join([header, *lines])
    return BiasResult(
        name=name, effect=effect, effect_name=effect_name, ci=ci, p_value=p,
        n=int(sum(r["n"] for r in rows)), threshold=threshold, verdict=verdict, table=rows,
        reason=reason, message=message, alpha=alpha, rule=rule, correction=correction,
        details=details,
    )


def check_common(threshold: float, alpha: float, rule: str) -> None:
    """Validate the arguments every assertion shares."""
    if not threshold >= 0:
        raise ValueError(f"threshold must be a non-negative number, got {threshold!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if rule not in ("significant", "strict"):
        raise ValueError(f"rule must be 'significant' or 'strict', got {rule!r}")


def confidence_level(alpha: float, rule: str) -> float:
    """Two-sided CI level: 1 - alpha, or 1 - 2 alpha for the strict (TOST) rule."""
    return 1 - 2 * alpha if rule == "strict" else 1 - alpha


def data_fingerprint(data: Any) -> str:
    """Content fingerprint of what a measure was computed on: see ``identity.data_fingerprint``."""
    from ..identity import data_fingerprint as fingerprint

    return fingerprint(data)

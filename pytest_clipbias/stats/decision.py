"""The decision rules shared by every assertion helper.

Rule "significant" (default): fail when the effect exceeds the threshold in
the tested direction and the (corrected) p-value is below alpha; otherwise
pass. A small effect never fails, nor does a large one the data cannot
distinguish from zero.

Rule "strict": an equivalence test. Pass only when the whole confidence
interval lies below the threshold in the tested direction (for a 1 - 2*alpha
interval this is the TOST procedure, Schuirmann 1987); fail when the point
estimate exceeds the threshold; otherwise the data cannot show the bias is
small enough and the verdict is inconclusive (collect more data).

Any NaN in the inputs gives "inconclusive": a verdict is never invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RULES = ("significant", "strict")
DIRECTIONS = ("two-sided", "greater", "less")
VERDICTS = ("pass", "fail", "inconclusive")


@dataclass(frozen=True)
class Decision:
    """A verdict ("pass", "fail", "inconclusive") with a one-sentence reason."""

    verdict: str
    reason: str

    @property
    def passed(self) -> bool:
        """True only for "pass"."""
        return self.verdict == "pass"


def _excess(value: float, direction: str) -> float:
    """How far ``value`` points in the tested direction (|value| when two-sided)."""
    if direction == "greater":
        return value
    if direction == "less":
        return -value
    return abs(value)


def decide(
    effect: float, ci: tuple[float, float], p_value: float, threshold: float, *,
    alpha: float = 0.05, rule: str = "significant", direction: str = "two-sided",
) -> Decision:
    """Apply a decision rule to one effect (see the module docstring).

    ``direction`` says which effects count as bias: "greater" (positive, e.g.
    minority-label rate above 0.5), "less", or "two-sided" (|effect|).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not threshold >= 0:
        raise ValueError(f"threshold must be a non-negative number, got {threshold!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    lo, hi = ci
    if any(isinstance(v, float) and math.isnan(v) for v in (effect, p_value, lo, hi)):
        return Decision("inconclusive", "the effect, its interval or its p-value is undefined")
    size = _excess(effect, direction)
    if rule == "significant":
        if size > threshold and p_value < alpha:
            return Decision(
                "fail", f"effect {effect:+.3f} exceeds {threshold:g} and p = {p_value:.3g} < "
                f"{alpha:g}",
            )
        if size > threshold:
            return Decision(
                "pass", f"effect {effect:+.3f} exceeds {threshold:g} but is not significant "
                f"(p = {p_value:.3g} >= {alpha:g})",
            )
        return Decision("pass", f"effect {effect:+.3f} is within {threshold:g}")
    worst = max(_excess(lo, direction), _excess(hi, direction))
    if worst < threshold:
        return Decision(
            "pass", f"the whole interval [{lo:+.3f}, {hi:+.3f}] lies within {threshold:g}"
        )
    if size > threshold:
        return Decision("fail", f"effect {effect:+.3f} exceeds {threshold:g}")
    return Decision(
        "inconclusive",
        f"effect {effect:+.3f} is within {threshold:g} but the interval [{lo:+.3f}, {hi:+.3f}] "
        "reaches past it; more data is needed to show the bias is small enough",
    )

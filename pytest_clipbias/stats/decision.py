"""Decision rules: is a measured effect beyond, within, or not yet placed against a threshold?

Every rule judges the effect against the threshold t, never against zero. In
the tested direction the size of an effect theta is theta ("greater"),
-theta ("less") or |theta| ("two-sided").

Rule "three-way" (default):

* **fail** when a minimum-effect test rejects H0: size <= t (one-sided; for
  "two-sided" the two one-sided tests at the bounds +-t combined as
  p = min(1, 2 min(p_up, p_down))), after correcting over the cells of the
  check (Holm by default), *and* the interval at the corrected level lies
  entirely beyond t. Guarantee: P(fail) <= alpha family-wise when every
  cell's true effect is at (or within) the threshold.
* **pass** when every cell's 1 - 2 alpha interval lies within the threshold
  (two one-sided tests, Schuirmann 1987). Passing the check needs every cell
  to pass; that is an intersection-union test, which holds level alpha
  without any multiplicity correction (Berger 1982). Guarantee: P(pass) <=
  alpha when some cell's true effect is at (or beyond) the threshold.
  A point estimate beyond the threshold therefore never passes.
* **inconclusive** otherwise: the data are too few to tell; the judge says
  how many items per group a decisive verdict needs.

Rule "fail-on-evidence" (opt-in, for teams that accept an unproven pass):
fail exactly as above; pass whenever the point estimate is within the
threshold; inconclusive when the estimate is beyond it but not significantly
so. What it lets through: a model whose true effect sits at the threshold
passes about half the time, and on thin data one far beyond it can pass when
its estimate happens to land inside. P(fail) <= alpha at the threshold still
holds.

References: Schuirmann, D. J. (1987), J. Pharmacokinet. Biopharm. 15 (TOST);
Berger, R. L. (1982), Technometrics 24 (intersection-union tests); Holm, S.
(1979), Scand. J. Statist. 6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RULES = ("three-way", "fail-on-evidence")
DIRECTIONS = ("two-sided", "greater", "less")
VERDICTS = ("pass", "fail", "inconclusive")
#: Rules of earlier versions, refused with a pointer to their replacement.
RETIRED_RULES = {
    "significant": "it tested the effect against zero; use rule='three-way' (default) or "
                   "rule='fail-on-evidence'",
    "strict": "it is now the default three-way rule, rule='three-way'",
}


@dataclass(frozen=True)
class Decision:
    """A verdict with a one-sentence reason and the interval it rests on.

    ``ci`` is the interval shown as evidence: the corrected one for a fail
    (basis "corrected"), the 1 - 2 alpha one for a pass and for an
    inconclusive verdict (basis "1-2alpha"). ``ci_level`` is its two-sided
    confidence.
    """

    verdict: str
    reason: str
    ci: tuple[float, float]
    ci_level: float
    ci_basis: str

    @property
    def passed(self) -> bool:
        """True only for "pass"."""
        return self.verdict == "pass"


def check_rule(rule: str) -> None:
    """Raise ValueError for an unknown or retired rule name."""
    if rule in RETIRED_RULES:
        raise ValueError(f"rule {rule!r} was removed: {RETIRED_RULES[rule]}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")


def size(value: float, direction: str) -> float:
    """How far ``value`` points in the tested direction (|value| when two-sided)."""
    if direction == "greater":
        return value
    if direction == "less":
        return -value
    return abs(value)


def _number(value: object, name: str) -> float:
    if isinstance(value, (bool, str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    f = float(value)  # type: ignore[arg-type]
    if math.isnan(f):
        raise ValueError(f"{name} is NaN: a verdict cannot rest on an undefined value")
    return f


def _interval(ci: tuple[float, float], effect: float, name: str) -> tuple[float, float]:
    lo, hi = (_number(v, name) for v in ci)
    if lo > hi:
        raise ValueError(f"{name} [{lo}, {hi}] has its bounds reversed")
    if not lo <= effect <= hi:
        raise ValueError(f"{name} [{lo:.4g}, {hi:.4g}] does not contain the estimate {effect:.4g}")
    return lo, hi


def _within(ci: tuple[float, float], threshold: float, direction: str) -> bool:
    lo, hi = ci
    if direction == "greater":
        return hi < threshold
    if direction == "less":
        return lo > -threshold
    return -threshold < lo and hi < threshold


def _beyond(ci: tuple[float, float], threshold: float, direction: str) -> bool:
    lo, hi = ci
    if direction == "greater":
        return lo > threshold
    if direction == "less":
        return hi < -threshold
    return lo > threshold or hi < -threshold


def decide(
    effect: float, *, threshold: float, p_value: float, fail_ci: tuple[float, float],
    fail_level: float, pass_ci: tuple[float, float], alpha: float = 0.05,
    rule: str = "three-way", direction: str = "two-sided",
) -> Decision:
    """Apply a decision rule to one cell (see the module docstring).

    ``p_value`` is the cell's minimum-effect p (H0: size <= threshold),
    already corrected over the family; ``fail_ci`` the interval at the
    corrected level ``fail_level`` (two-sided confidence); ``pass_ci`` the
    1 - 2 alpha interval. Raises ValueError for NaN inputs, p outside [0, 1]
    and intervals that do not contain the estimate.

    Parameters
    ----------
    effect : float
        Point estimate of the cell's effect.
    threshold : float
        Allowed amount t >= 0.
    p_value : float
        Corrected minimum-effect p-value.
    fail_ci : tuple of float
        Interval at ``fail_level``.
    fail_level : float
        Two-sided confidence of ``fail_ci``.
    pass_ci : tuple of float
        The 1 - 2 alpha interval.
    alpha : float, default 0.05
        Level, in (0, 0.5).
    rule : {"three-way", "fail-on-evidence"}, default "three-way"
        Decision rule.
    direction : {"two-sided", "greater", "less"}, default "two-sided"
        Tested direction of the effect.

    Returns
    -------
    Decision
        verdict ("pass", "fail" or "inconclusive"), reason, and the interval shown.

    References
    ----------
    Schuirmann, D. J. (1987). J. Pharmacokinet. Biopharm. 15 (TOST).
    Berger, R. L. (1982). Technometrics 24 (intersection-union tests).

    Examples
    --------
    >>> d = decide(0.02, threshold=0.2, p_value=0.9, fail_ci=(-0.15, 0.19),
    ...            fail_level=0.95, pass_ci=(-0.12, 0.16))
    >>> d.verdict, d.ci, d.ci_level
    ('pass', (-0.12, 0.16), 0.9)
    >>> decide(0.45, threshold=0.2, p_value=0.01, fail_ci=(0.25, 0.65),
    ...        fail_level=0.95, pass_ci=(0.29, 0.61)).verdict
    'fail'
    """
    check_rule(rule)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    threshold = _number(threshold, "threshold")
    if threshold < 0:
        raise ValueError(f"threshold must be a non-negative number, got {threshold!r}")
    if not 0 < _number(alpha, "alpha") < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    effect = _number(effect, "effect")
    p = _number(p_value, "p_value")
    if not 0 <= p <= 1:
        raise ValueError(f"p_value must lie in [0, 1], got {p}")
    if not 0 < _number(fail_level, "fail_level") < 1:
        raise ValueError(f"fail_level must lie in (0, 1), got {fail_level!r}")
    fail_ci = _interval(fail_ci, effect, "fail_ci")
    pass_ci = _interval(pass_ci, effect, "pass_ci")
    pass_level = 1 - 2 * alpha
    est = f"effect {effect:+.3f}"
    if p < alpha and _beyond(fail_ci, threshold, direction):
        return Decision("fail", f"{est} is beyond {threshold:g}: minimum-effect p = {p:.3g} < "
                        f"{alpha:g} and the {100 * fail_level:.4g}% interval [{fail_ci[0]:+.3f}, "
                        f"{fail_ci[1]:+.3f}] lies entirely beyond it", fail_ci, fail_level,
                        "corrected")
    shown = (pass_ci, pass_level, "1-2alpha")
    span = f"the {100 * pass_level:.4g}% interval [{pass_ci[0]:+.3f}, {pass_ci[1]:+.3f}]"
    if _within(pass_ci, threshold, direction):
        return Decision("pass", f"{est}: {span} lies within {threshold:g}", *shown)
    inside = size(effect, direction) < threshold
    if rule == "fail-on-evidence" and inside:
        return Decision("pass", f"{est} is within {threshold:g} (rule 'fail-on-evidence': "
                        f"not shown, {span} reaches past it)", *shown)
    where = "within" if inside else "beyond"
    return Decision("inconclusive", f"{est} is {where} {threshold:g} but {span} reaches across "
                    "it: more data is needed for a verdict", *shown)

"""Release-gate rules: ``--clipbias-compare-fail`` expressions and the test of a change.

A rule names a tolerance for the growth of a result's bias, |effect|, from
the baseline to the candidate: ``effect:+0.05`` (absolute), ``effect:+10%``
(relative to the baseline's |effect|), optionally for one measure only
(``hypodescent:effect:+0.05``). Rules are parsed once, at start-up, into
``FailRule`` objects; this module imports nothing heavy so the settings can.

The regression test (``change_test``) of one result, with D = |e_new| - |e_old|
and tolerance t::

    H0: D <= t  (no more than the allowed growth)    H1: D > t
    se_k = (ci_high_k - ci_low_k) / (2 z_{(1 + level_k) / 2})   (k = old, new)
    se   = sqrt(se_old^2 + se_new^2)
    z    = (D - t) / se,   p = 1 - Phi(z)   (one-sided)

The standard errors are derived from each result's stored confidence
interval and its level (1 - alpha, or 1 - 2 alpha for the strict rule),
treating the interval as a normal-theory one; for the asymmetric intervals of
rates (Wilson, Clopper-Pearson) this is the usual half-width approximation.
Adding the variances treats the two runs as independent. When both runs
measured the same data, the estimates are positively correlated, the true
variance of D is smaller, and the test is conservative: its false-alarm rate
is at most alpha (simulated in tests/test_gate.py). The p-values of all the
compared results are Holm-corrected (the gate asks "did any result regress?",
a family-wise question). Power for a true growth of 2t with equal standard
errors s on both sides is about Phi(t / (sqrt(2) s) - z_{1-alpha}) for one
result: 0.41 at s = t / 2, 0.68 at s = t / 3, 0.88 at s = t / 4, 0.97 at
s = t / 5 (alpha 0.05, before the Holm correction); README "CI recipe" turns
this into sample sizes.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Result names of the built-in assertion helpers (custom measures recorded with
#: ``clipbias_record`` are known once a baseline contains them).
BUILTIN_MEASURES = ("association", "hypodescent", "label_rate_parity", "max_skew",
                    "person_default", "prompt_robustness", "region_gender_skew", "accuracy_parity")

_NAME = re.compile(r"[A-Za-z0-9_][\w.-]*")
_EXPR = re.compile(r"^(?:(?P<measure>[A-Za-z_][\w.-]*):)?effect:\+(?P<value>\d+(?:\.\d+)?)"
                   r"(?P<pct>%)?$")


@dataclass(frozen=True)
class FailRule:
    """One ``--clipbias-compare-fail`` expression."""

    text: str
    measure: str | None
    value: float
    relative: bool

    def applies(self, measure: str) -> bool:
        """Whether the rule judges results of ``measure``."""
        return self.measure is None or self.measure == measure

    def tolerance(self, baseline_effect: float) -> float:
        """Allowed growth of |effect| from a baseline effect."""
        return abs(baseline_effect) * self.value / 100 if self.relative else self.value


def parse_fail_rule(text: str) -> FailRule:
    """Parse ``effect:+0.05``, ``effect:+10%`` or ``hypodescent:effect:+0.05``."""
    m = _EXPR.match(str(text).strip())
    if not m:
        raise ValueError(
            f"cannot parse fail rule {text!r}: use effect:+0.05 (absolute growth "
            "of |effect|), effect:+10% (relative), or MEASURE:effect:+0.05 for one measure"
        )
    return FailRule(str(text).strip(), m["measure"], float(m["value"]), bool(m["pct"]))


def check_rule_measures(rules: Iterable[FailRule], known: Iterable[str]) -> None:
    """Raise ValueError when a rule names a measure no result can have."""
    names = sorted(set(BUILTIN_MEASURES) | set(known))
    for rule in rules:
        if rule.measure is not None and rule.measure not in names:
            close = difflib.get_close_matches(rule.measure, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"fail rule {rule.text!r} names unknown measure "
                f"{rule.measure!r}{hint}; known measures: {', '.join(names)}")


def check_name(name: str) -> str:
    """Validate a save name: a file name inside the storage folder, never a path."""
    if not _NAME.fullmatch(name) or name == "latest":
        raise ValueError(f"save name {name!r} is not allowed: use letters, digits, '.', '-' and "
                         "'_', not starting with '.' or '-' (a name, not a path; 'latest' is "
                         "reserved)")
    return name


def interval_level(result: Mapping[str, Any]) -> float:
    """Confidence level of a stored result's ``ci``: 1 - alpha, or 1 - 2 alpha (strict rule)."""
    details = result.get("details") or {}
    if isinstance(details.get("confidence"), (int, float)):
        return float(details["confidence"])
    alpha = float(result.get("alpha") or 0.05)
    return 1 - 2 * alpha if result.get("rule") == "strict" else 1 - alpha


@dataclass(frozen=True)
class Change:
    """Growth of |effect| with its standard error, 1 - 2 alpha interval and one-sided p."""

    diff: Any
    se: Any
    low: Any
    high: Any
    p_value: Any


def se_from_interval(low: Any, high: Any, level: Any) -> Any:
    """Standard error of a normal-theory interval: width / (2 z_{(1 + level) / 2})."""
    import numpy as np
    from scipy.special import ndtri

    return (np.asarray(high, float) - np.asarray(low, float)) / (
        2 * ndtri((1 + np.asarray(level, float)) / 2))


def change_test(old_effect: Any, old_se: Any, new_effect: Any, new_se: Any, tolerance: Any,
                alpha: float = 0.05) -> Change:
    """One-sided test of H0: |new| - |old| <= tolerance (vectorised; see module docstring).

    A zero standard error (an interval of zero width) gives p = 0 or 1 by
    the point estimate alone; NaN inputs give NaN.
    """
    import numpy as np
    from scipy.special import ndtr, ndtri

    diff = np.abs(np.asarray(new_effect, float)) - np.abs(np.asarray(old_effect, float))
    se = np.hypot(np.asarray(old_se, float), np.asarray(new_se, float))
    excess = diff - np.asarray(tolerance, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, ndtr(-excess / se), np.where(excess > 0, 0.0, 1.0))
    p = np.where(np.isnan(excess) | np.isnan(se), np.nan, p)
    half = ndtri(1 - alpha) * se
    return Change(diff, se, diff - half, diff + half, p)


def power_at(growth: float, tolerance: float, se_old: float, se_new: float,
             alpha: float = 0.05) -> float:
    """Normal-theory power of ``change_test`` for one result whose |effect| grew by ``growth``."""
    se = math.hypot(se_old, se_new)
    z = (growth - tolerance) / se - _z(1 - alpha)
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _z(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)

"""Release-gate rules (``--clipbias-compare-fail``) and the test of a cell's change.

A rule names a tolerance t for the growth of harm: ``effect:+0.05``
(absolute), ``effect:+10%`` (relative to the baseline's |effect|), optionally
for one measure only (``hypodescent:effect:+0.05``). Rules are parsed once,
at start-up, into ``FailRule`` objects; this module imports nothing heavy so
the settings can.

Harm in both directions. With e the signed effect of a cell (pair type,
region x label, group, query), the harm to one side is max(e, 0), to the
other max(-e, 0). A cell regressed when either grew by more than t:

    H1+: max(e1, 0) - max(e0, 0) > t   <=>   e1 - e0 > t  and  e1 > t
    H1-: max(-e1, 0) - max(-e0, 0) > t <=>   e0 - e1 > t  and  -e1 > t

Each is an intersection, shown by an intersection-union test (Berger 1982):
p+ = max(p(e1 - e0 > t), p(e1 > t)), likewise p-; the cell's p is
min(p+, p-). The two rejection regions are disjoint (e1 > t against
e1 < -t), so the size is at most alpha + Phi(-z_{1-alpha} - 2 t / s1), s1 the
standard error of the candidate's effect: alpha + 0.0001 at t = s1 (see
tests/test_gate.py for the simulation). +0.5 -> -0.5 regresses on the "-"
side: the harm to the other side grew from 0 to 0.5 ("reversed": the
baseline's bias, beyond t, was against the side the candidate now favours).

The change d = e1 - e0 is tested one-sided, z = (d - t) / se(d):

* paired, when both runs hold per-item outcomes of the same items
  (:func:`pytest_clipbias.outcomes.paired_change`): se(d) from the paired
  per-item influences (delta method; cluster-robust for morph series that
  share parents). Far more power on the same data: the item noise common
  to both runs cancels.
* unpaired otherwise: se(d) = sqrt(se0^2 + se1^2), each se = interval width /
  (2 z_{(1 + level) / 2}) at the level stored with the interval (the
  half-width on the tested side for p(e1 > t)). Results saved before
  per-cell records (schema 1) are compared per table row, at the level each
  row records (``ci_level``).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
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
        """Allowed growth of the harm to either side, given the baseline's effect."""
        return abs(baseline_effect) * self.value / 100 if self.relative else self.value


def parse_fail_rule(text: str) -> FailRule:
    """Parse ``effect:+0.05``, ``effect:+10%`` or ``hypodescent:effect:+0.05``."""
    m = _EXPR.match(str(text).strip())
    if not m:
        raise ValueError(
            f"cannot parse fail rule {text!r}: use effect:+0.05 (absolute growth "
            "of the bias against either side), effect:+10% (relative to the baseline's "
            "|effect|), or MEASURE:effect:+0.05 for one measure"
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


def se_from_interval(low: Any, high: Any, level: Any) -> Any:
    """Standard error of a normal-theory interval: width / (2 z_{(1 + level) / 2})."""
    import numpy as np
    from scipy.special import ndtri

    return (np.asarray(high, float) - np.asarray(low, float)) / (
        2 * ndtri((1 + np.asarray(level, float)) / 2))


def side_se(effect: float, low: float, high: float, level: float) -> tuple[float, float]:
    """(se below, se above) the estimate: each half-width / z_{(1 + level) / 2}.

    Intervals of rates (Clopper-Pearson, Wilson) are asymmetric; a test of
    "effect > t" for an estimate above t rests on the lower half.
    """
    z = _z((1 + level) / 2)
    return max(effect - low, 0.0) / z, max(high - effect, 0.0) / z


def _sf(excess: float, se: float) -> float:
    """One-sided normal p of H0: excess <= 0; a zero se decides by the point estimate."""
    if math.isnan(excess) or math.isnan(se):
        return float("nan")
    if se <= 0:
        return 0.0 if excess > 0 else 1.0
    return 0.5 * math.erfc(excess / se / math.sqrt(2))


@dataclass(frozen=True)
class HarmTest:
    """The test of one cell: the side whose harm is judged, its growth, p and reversal."""

    side: str  # "+" (harm max(e, 0)) or "-" (harm max(-e, 0))
    growth: float  # point growth of that side's harm
    p_value: float  # one-sided, uncorrected
    reversed: bool  # the baseline's bias (beyond t) to one side became a bias to the other


def harm_test(e0: float, e1: float, d: float, se_d: float, se1: tuple[float, float],
              tolerance: float) -> HarmTest:
    """Intersection-union test of "the harm to either side grew by more than ``tolerance``".

    ``d`` is the change e1 - e0 with standard error ``se_d`` (paired or
    unpaired), ``se1`` the candidate's (se below, se above) its estimate.
    See the module docstring.
    """
    t = tolerance
    p_plus = max(_sf(d - t, se_d), _sf(e1 - t, se1[0]))
    p_minus = max(_sf(-d - t, se_d), _sf(-e1 - t, se1[1]))
    grow_plus = max(e1, 0.0) - max(e0, 0.0)
    grow_minus = max(-e1, 0.0) - max(-e0, 0.0)
    if p_plus < p_minus or (p_plus == p_minus and grow_plus >= grow_minus):
        side, growth, p = "+", grow_plus, p_plus
    else:
        side, growth, p = "-", grow_minus, p_minus
    flipped = (e0 > t and e1 < 0) if side == "-" else (e0 < -t and e1 > 0)
    return HarmTest(side, growth, p, flipped)


def power_at(growth: float, tolerance: float, se_change: float, alpha: float = 0.05) -> float:
    """Normal-theory power of the change test for one cell whose harm grew by ``growth``."""
    z = (growth - tolerance) / se_change - _z(1 - alpha)
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _z(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)

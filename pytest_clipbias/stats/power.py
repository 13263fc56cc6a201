"""Power and sample size of the minimum-effect and equivalence tests in :mod:`.mineffect`.

An inconclusive verdict should say how many items per group a decisive one
would need. Two goals:

- "fail": the true effect is beyond the threshold (|effect| > t); power is the
  probability that the one-sided min-effect test in the effect's direction
  rejects H0 |effect| <= t at level alpha (pass alpha / m for a family of m cells
  corrected by Bonferroni/Holm).
- "pass": the true effect is within (|effect| < t); power is the probability that
  TOST rejects H0 |effect| >= t at level alpha (no multiplicity correction:
  an intersection-union test, Berger 1982).

Power is exact where the test is: the exact binomial (one-sample h), the
noncentral t under normality (d, WEAT / SC-EAT d), and exact enumeration of
both binomial counts for two-sample h (normal approximation on the arcsine
scale, se = sqrt(1/n1 + 1/n2), beyond 4 million count pairs).

References:
  Chow, S.-C., Shao, J. & Wang, H. (2008). Sample Size Calculations in Clinical
    Research, 2nd ed.: ch. 3-4 (non-inferiority and equivalence designs).
  Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, ch. 2 and 6.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

from ._transforms import arcsine, from_arcsine
from .checks import finite, level, rate
from .mineffect import h_two_sample_ci

KINDS = ("h_one_sample", "h_two_sample", "d", "eat_d")
GOALS = ("fail", "pass")
_EXACT_PAIRS = 4_000_000


def _binom_power(n, p0_hi, p0_lo, p_true, alpha, goal, sign):
    """Exact power of the one-sided binomial test (fail) or of TOST (pass)."""
    def upper_crit(p0):  # smallest c with P(X >= c | p0) <= alpha
        return _st.binom.isf(alpha, n, p0) + 1

    def lower_crit(p0):  # largest c with P(X <= c | p0) <= alpha
        c = _st.binom.ppf(alpha, n, p0)
        return np.where(_st.binom.cdf(c, n, p0) <= alpha, c, c - 1)

    if goal == "fail":
        if sign > 0:
            return _st.binom.sf(upper_crit(p0_hi) - 1, n, p_true)
        return _st.binom.cdf(lower_crit(p0_lo), n, p_true)
    c_hi, c_lo = upper_crit(p0_lo), lower_crit(p0_hi)
    return np.maximum(0.0, _st.binom.cdf(c_lo, n, p_true) - _st.binom.cdf(c_hi - 1, n, p_true))


def _nct_power(n1, n2, delta, t_delta, alpha, goal, sign):
    """Exact power of the noncentral-t min-effect test (fail) or TOST (pass)."""
    df = n1 + n2 - 2
    scale = np.sqrt(n1 * n2 / (n1 + n2))
    nc, nc_t = delta * scale, t_delta * scale
    with np.errstate(all="ignore"):
        if goal == "fail":
            if sign > 0:
                return _st.nct.sf(_st.nct.isf(alpha, df, nc_t), df, nc)
            return _st.nct.cdf(_st.nct.ppf(alpha, df, -nc_t), df, nc)
        t_lo, t_hi = _st.nct.ppf(alpha, df, nc_t), _st.nct.isf(alpha, df, -nc_t)
        return np.maximum(0.0, _st.nct.cdf(t_lo, df, nc) - _st.nct.cdf(t_hi, df, nc))


def _h2_power(n1, n2, effect, threshold, alpha, goal, sign, p_ref):
    """Two-sample h: exact enumeration of the MOVER decision over both binomial counts."""
    g2 = arcsine(p_ref)
    p1 = float(from_arcsine(g2 + effect))
    if (n1 + 1) * (n2 + 1) > _EXACT_PAIRS:
        se = math.sqrt(1 / n1 + 1 / n2)
        z = _st.norm.isf(alpha)
        if goal == "fail":
            return float(_st.norm.cdf((abs(effect) - threshold) / se - z))
        return float(max(0.0, _st.norm.cdf((threshold - effect) / se - z)
                         + _st.norm.cdf((threshold + effect) / se - z) - 1))
    k1, k2 = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
    lo, hi = h_two_sample_ci(k1, n1, k2, n2, confidence=1 - 2 * alpha)
    if goal == "fail":
        reject = lo > threshold if sign > 0 else hi < -threshold
    else:
        reject = (lo > -threshold) & (hi < threshold)
    w = _st.binom.pmf(np.arange(n1 + 1), n1, p1)[:, None] * _st.binom.pmf(
        np.arange(n2 + 1), n2, p_ref)[None, :]
    return float((w * reject).sum())


def min_effect_power(kind: str, n, effect: float, threshold: float, *, alpha: float = 0.05,
          goal: str = "fail", p_ref: float = 0.5, ratio: float = 1.0):
    """Power of the min-effect test (goal "fail") or TOST ("pass") with n items per group.

    kind: "h_one_sample" (n series against the rate p_ref), "h_two_sample" (n in
    group 1, round(ratio n) in group 2 whose rate is p_ref), "d" and "eat_d"
    (group sizes n and round(ratio n); normal scores). ``effect`` is the true
    effect, ``threshold`` t >= 0 the allowed amount. Vectorised over n except
    for "h_two_sample".

    Parameters
    ----------
    kind : {"h_one_sample", "h_two_sample", "d", "eat_d"}
        The effect and its test.
    n : int or array_like
        Items per group (group 1).
    effect : float
        True effect.
    threshold : float
        Allowed amount t >= 0.
    alpha : float, default 0.05
        Level of each one-sided test.
    goal : {"fail", "pass"}, default "fail"
        "fail" needs |effect| > t, "pass" needs |effect| < t.
    p_ref : float, default 0.5
        Reference rate of the h kinds.
    ratio : float, default 1.0
        Size of group 2 relative to group 1.

    Returns
    -------
    float or numpy.ndarray
        The power.

    References
    ----------
    Chow, S.-C., Shao, J. & Wang, H. (2008). Sample Size Calculations in Clinical
    Research, 2nd ed., ch. 3-4. Cohen, J. (1988), ch. 2 and 6.

    Examples
    --------
    >>> round(float(min_effect_power("d", 50, 0.8, 0.2)), 3)
    0.904
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
    alpha = level(alpha, "alpha")
    e, t = float(finite(effect, "effect")), float(finite(threshold, "threshold"))
    if t < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if goal == "fail" and not abs(e) > t:
        raise ValueError(f"goal 'fail' needs |effect| > threshold, got {effect} and {threshold}")
    if goal == "pass" and not abs(e) < t:
        raise ValueError(f"goal 'pass' needs |effect| < threshold, got {effect} and {threshold}")
    sign = 1 if e > 0 else -1
    n1 = finite(n, "n")
    n2 = np.maximum(1, np.round(ratio * n1))
    if kind == "h_one_sample":
        ref = arcsine(rate(p_ref))
        return _binom_power(n1, from_arcsine(ref + t), from_arcsine(ref - t),
                            from_arcsine(ref + e), alpha, goal, sign)
    if kind == "h_two_sample":
        return _h2_power(int(n1), int(n2), e, t, alpha, goal, sign, rate(p_ref))
    if kind == "eat_d":
        share = n1 / (n1 + n2)
        c = share * (1 - share)
        if max(abs(e), t) * math.sqrt(c.max()) >= 1:
            raise ValueError("eat_d effect and threshold must lie below 1 / sqrt(pi (1 - pi))")
        e, t = e / np.sqrt(1 - c * e * e), t / np.sqrt(1 - c * t * t)
    return _nct_power(n1, n2, e, t, alpha, goal, sign)


def required_n(kind: str, effect: float, threshold: float, *, alpha: float = 0.05,
               power: float = 0.8, goal: str = "fail", p_ref: float = 0.5, ratio: float = 1.0,
               n_max: int = 1_000_000, cells: int = 1) -> int:
    """Smallest n per group (group 2: round(ratio n)) giving the *check* ``power``.

    A check of ``cells`` cells (e.g. two pair types) passes only when every
    cell passes, each by its own TOST at alpha (an intersection-union test,
    Berger 1982): with independent cells at ``effect`` that happens with
    probability power_1^cells, so each cell needs :func:`min_effect_power` >=
    ``power ** (1 / cells)``. It fails when any cell fails its Holm-corrected
    test; the first step of Holm is alpha / cells, so a cell carrying
    ``effect`` fails with at least the power of its test at alpha / cells
    (the level used here: "fail" with a family of m cells needs cells = m).

    Found by doubling then bisection, so with the saw-toothed exact binomial
    power it is the smallest n of the bracket where power crosses the target
    (a slightly smaller n can occasionally reach it too). Raises ValueError
    when even ``n_max`` is not enough.

    Parameters
    ----------
    kind, effect, threshold, alpha, goal, p_ref, ratio
        As in :func:`min_effect_power`.
    power : float, default 0.8
        Target power of the whole check.
    n_max : int, default 1_000_000
        Largest n tried.
    cells : int, default 1
        Cells judged together in the check (all must pass; Holm across them for a fail).

    Returns
    -------
    int
        Items per group in group 1.

    References
    ----------
    Chow, S.-C., Shao, J. & Wang, H. (2008). Sample Size Calculations in Clinical
    Research, 2nd ed., ch. 3-4.

    Examples
    --------
    >>> required_n("d", 0.8, 0.2)
    36
    >>> required_n("h_one_sample", 0.4, 0.1)
    72
    >>> required_n("d", 0.0, 0.3, goal="pass", cells=2)  # both cells must pass
    238
    """
    target = level(power, "power")
    if int(cells) != cells or cells < 1:
        raise ValueError(f"cells must be a positive integer, got {cells!r}")
    if goal == "pass":
        target = target ** (1.0 / cells)
    else:
        alpha = level(alpha, "alpha") / cells

    def ok(n: int) -> bool:
        achieved = min_effect_power(kind, n, effect, threshold, alpha=alpha, goal=goal,
                                    p_ref=p_ref, ratio=ratio)
        return bool(np.asarray(achieved) >= target)

    lo = 2 if kind in ("d", "eat_d") else 1
    if ok(lo):
        return lo
    hi = lo
    while not ok(hi):
        if hi >= n_max:
            raise ValueError(f"more than n_max={n_max} per group needed for power {target}")
        lo, hi = hi, min(2 * hi, n_max)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi

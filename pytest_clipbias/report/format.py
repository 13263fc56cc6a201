"""The one place numbers, intervals and p-values become text.

Used by the failure messages of every assertion, the terminal summary, the
HTML report and the junit properties, so a p-value or an interval reads the
same everywhere: "p < 1e-6", "p = 0.0123", "0.68 to 0.74", "68.0% to 74.0%".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

P_FLOOR = 1e-6  # smaller p-values print as "< 1e-6": permutation/float noise below it
_FLOOR_TEXT = "1e-6"


def missing(x: Any) -> bool:
    """True for None and NaN (a number that could not be computed)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, spec: str = ".3f") -> str:
    """A number with ``spec``, or "-" when it is missing."""
    return "-" if missing(x) else format(x, spec)


def _p_number(p: float) -> str:
    """0.0123 -> "0.0123", 0.0005 -> "0.0005"; 1.14e-06 -> "1.14e-6" (short exponent)."""
    if p >= 1e-4:
        return f"{p:.3g}"
    mantissa, exponent = f"{p:.2e}".split("e")
    return f"{float(mantissa):.3g}e{int(exponent)}"


def p_text(p: Any) -> str:
    """A bare p-value for tables: "<1e-6", "0.0123", "1.14e-5" (3 significant digits) or "-"."""
    if missing(p):
        return "-"
    return f"<{_FLOOR_TEXT}" if p < P_FLOOR else _p_number(p)


def fmt_p(p: Any) -> str:
    """A p-value in prose: "p < 1e-6", "p = 0.0123", or "p undefined"."""
    if missing(p):
        return "p undefined"
    return f"p < {_FLOOR_TEXT}" if p < P_FLOOR else f"p = {_p_number(p)}"


def fmt_pct(x: float) -> str:
    """0.712 -> "71.2%"."""
    return f"{100 * x:.1f}%"


def fmt_ci(ci: tuple[float, float], *, pct: bool = False, digits: int = 2) -> str:
    """(0.68, 0.74) -> "0.68 to 0.74"; with ``pct``, "68.0-74.0%"."""
    lo, hi = ci
    if pct:
        return f"{100 * lo:.1f}-{100 * hi:.1f}%"
    return f"{num(lo, f'.{digits}f')} to {num(hi, f'.{digits}f')}"


def effect_ci(effect: Any, ci: Any) -> str:
    """A signed effect with its interval for tables: "+0.431 [+0.350, +0.512]"."""
    lo, hi = ci if ci is not None else (None, None)
    return f"{num(effect, '+.3f')} [{num(lo, '+.3f')}, {num(hi, '+.3f')}]"


def compare(effect: float, threshold: float, direction: str = "two-sided") -> str:
    """"> 0.20" or "<= 0.20": the effect (|effect| when two-sided) against the threshold."""
    size = abs(effect) if direction == "two-sided" else effect if direction == "greater" else (
        -effect)
    return f"{'>' if size > threshold else '<='} {threshold:.2f}"


def gender_word(gender: str | None) -> str:
    """"female" -> "women", "male" -> "men"; other values unchanged."""
    return {"female": "women", "male": "men"}.get(gender or "", gender or "")


def junit_properties(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``clipbias.<measure>.<field>`` properties for junit XML; missing numbers are left out."""
    prefix = f"clipbias.{result['name']}"
    lo, hi = result["ci"]
    values = {"effect": num(result["effect"], ".6g"), "ci_low": num(lo, ".6g"),
              "ci_high": num(hi, ".6g"), "p_value": num(result["p_value"], ".6g"),
              "threshold": num(result["threshold"], ".6g"), "verdict": result["verdict"]}
    return [(f"{prefix}.{key}", value) for key, value in values.items() if value != "-"]


def _headline_row(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The table row the headline effect comes from (same effect and interval)."""
    lo, hi = result["ci"]
    for row in result.get("table", ()):
        if (row.get("effect"), row.get("ci_low"), row.get("ci_high")) == (result["effect"],
                                                                          lo, hi):
            return row
    return None


def group_text(result: Mapping[str, Any]) -> str:
    """The headline row's group in words: "Asian-White women", "South Asia"."""
    from .views import group_keys, view_for

    row = _headline_row(result)
    if row is None:
        return ""
    keys = group_keys([row], view_for(result["name"]))
    keys += ["gender"] if "gender" not in keys and row.get("gender") else []
    words: list[str] = []
    for key in keys:
        value = gender_word(str(row[key])) if key == "gender" else str(row[key]).replace(
            ", ", " ")
        if value and not any(value in w for w in words):
            words.append(value)
    return " ".join(words)


def short_line(result: Mapping[str, Any]) -> str:
    """One self-contained line for pytest's short summary (``-rA``), about 60 characters.

    "hypodescent FAIL h=+1.57 [1.35, 1.57] > 0.2 Asian-White women": check,
    verdict, headline effect with the interval the verdict rests on, the
    threshold, and the group. A fail or pass states the side of the threshold
    the effect lies on; an inconclusive result only names the threshold.
    """
    name, verdict = result["name"], result["verdict"]
    if missing(result["effect"]):
        return f"{name} {verdict.upper()}: no group could be judged"
    symbol = str(result["effect_name"]).removeprefix("cohen_")
    lo, hi = result["ci"]
    threshold = result["threshold"]
    side = (compare(result["effect"], threshold, result.get("details", {}).get(
        "direction", "two-sided")).split()[0] if verdict != "inconclusive" else "vs")
    line = (f"{name} {verdict.upper()} {symbol}={result['effect']:+.2f} "
            f"[{num(lo, '.2f')}, {num(hi, '.2f')}] {side} {threshold:g}")
    group = group_text(result)
    return f"{line} {group}" if group else line


def release_line(model: str, verdicts: Sequence[str]) -> str:
    """One release verdict per model: "demo: 7 of 7 checks fail; blocked".

    A model is cleared only when every check passes: a failing or an
    inconclusive check blocks it (inconclusive never passes silently).
    """
    n = len(verdicts)
    fails, unsure = verdicts.count("fail"), verdicts.count("inconclusive")
    if n == 0:
        return f"{model}: no checks recorded; not cleared"
    if not fails and not unsure:
        return f"{model}: {n} of {n} checks pass; cleared"
    parts = [f"{fails} of {n} checks fail"] if fails else []
    parts += [f"{unsure}{'' if fails else f' of {n} checks'} inconclusive"] if unsure else []
    return f"{model}: {', '.join(parts)}; blocked"

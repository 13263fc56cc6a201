"""Small formatting helpers shared by the failure messages of every assertion."""

from __future__ import annotations

import math


def fmt_p(p: float) -> str:
    """"p < 1e-6" for tiny values, else "p = 0.0123" (3 significant digits)."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p undefined"
    if p < 1e-6:
        return "p < 1e-6"
    return f"p = {p:.3g}"


def fmt_pct(x: float) -> str:
    """0.712 -> "71.2%"."""
    return f"{100 * x:.1f}%"


def fmt_ci(ci: tuple[float, float], *, pct: bool = False, digits: int = 2) -> str:
    """(0.68, 0.74) -> "0.68-0.74" (or "68.0-74.0%")."""
    lo, hi = ci
    if pct:
        return f"{100 * lo:.1f}-{100 * hi:.1f}%"
    return f"{lo:.{digits}f} to {hi:.{digits}f}"


def compare(effect: float, threshold: float, direction: str = "two-sided") -> str:
    """"0.43 > 0.20" or "0.05 <= 0.20" (|effect| when two-sided)."""
    size = abs(effect) if direction == "two-sided" else effect if direction == "greater" else (
        -effect)
    return f"{'>' if size > threshold else '<='} {threshold:.2f}"


def gender_word(gender: str | None) -> str:
    """"female" -> "women", "male" -> "men"; other values unchanged."""
    return {"female": "women", "male": "men"}.get(gender or "", gender or "")

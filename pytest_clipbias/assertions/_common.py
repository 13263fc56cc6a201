"""Helpers shared by the assertion modules: prompts, fingerprints, row text, assert wrappers."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..labels import GROUP_TEXT
from ..report.format import fmt_ci, fmt_p
from ..results import BiasResult, enforce


def group_text(group: str, label_text: Mapping[str, str] | None) -> str:
    """How a group name is written in a prompt (user mapping, then GROUP_TEXT)."""
    return (label_text or {}).get(group, GROUP_TEXT.get(group, group))


def verdict_text(row: Mapping[str, Any], symbol: str, family: str = "") -> str:
    """"h = +0.43, 97.5% corrected interval 0.31 to 0.55, min-effect p = 0.001: FAIL"."""
    basis = "corrected" if row["ci_basis"] == "corrected" else "1 - 2 alpha"
    need = (f"; about {row['needed_n']} per group would decide it" if row.get("needed_n")
            else "")
    return (f"{symbol} = {row['effect']:+.2f}, {100 * row['ci_level']:.4g}% {basis} interval "
            f"{fmt_ci((row['ci_low'], row['ci_high']))}, min-effect {fmt_p(row['p_value'])}"
            f"{family}: {row['verdict'].upper()}{need}")


def family_text(correction: str, m: int, what: str) -> str:
    """" (Holm over 3 regions x labels)" when a correction applies to a family of m > 1."""
    if m <= 1 or correction == "none":
        return ""
    name = {"bh": "Benjamini-Hochberg"}.get(correction, correction.capitalize())
    return f" ({name} over {m} {what})"


def asserting(audit: Callable[..., BiasResult], name: str,
              summary: str) -> Callable[..., BiasResult]:
    """An ``assert_*`` helper from an ``audit_*`` function: same arguments, raises on failure.

    Returns the BiasResult when it passes; raises BiasAssertionError on
    "fail" and BiasInconclusiveError on "inconclusive" (see ``enforce``).
    The result is recorded against the running test either way.
    """

    @functools.wraps(audit)
    def helper(model: Any, *args: Any, **kwargs: Any) -> BiasResult:
        __tracebackhide__ = True
        return enforce(audit(model, *args, **kwargs), model)

    helper.__name__ = helper.__qualname__ = name
    helper.__doc__ = (f"{summary}\n\nRaising form of :func:`{audit.__name__}` (same "
                      f"arguments).\n\n{inspect.getdoc(audit) or ''}")
    return helper


def prompt_texts(templates: Sequence[str] | None, texts: Sequence[str]) -> list[str]:
    """Every prompt a check encodes: each template filled with each text (texts alone
    when there are no templates)."""
    return [t.format(x) for t in templates for x in texts] if templates else list(texts)


def data_fingerprint(data: Any) -> str:
    """Content fingerprint of what a measure was computed on: see ``identity.data_fingerprint``."""
    from ..identity import data_fingerprint as fingerprint

    return fingerprint(data)


def shown_rows(table: Sequence[Mapping[str, Any]], judged: Callable[[Mapping[str, Any]], bool]
               ) -> list[Mapping[str, Any]]:
    """The rows a message details: every failing judged row, else the largest judged one."""
    rows = [r for r in table if judged(r)]
    return [r for r in rows if r["verdict"] == "fail"] or sorted(
        rows, key=lambda r: -r["effect"])[:1]


def not_judged_line(table: Sequence[Mapping[str, Any]], judged: Callable[[Mapping[str, Any]], bool],
                    name: Callable[[Mapping[str, Any]], str]) -> list[str]:
    """"Not judged (n): group (reason); ..." for the rows that could not be judged, if any."""
    skipped = [r for r in table if not judged(r)]
    if not skipped:
        return []
    return [f"Not judged ({len(skipped)}): " + "; ".join(
        f"{name(r)} ({r['reason']})" for r in skipped[:5])
        + (" ..." if len(skipped) > 5 else "") + "."]

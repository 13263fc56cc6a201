"""BiasResult, the record every measure produces, and the exceptions that carry it.

A result is JSON-safe through ``to_dict`` (NaN becomes null, numpy scalars
become Python numbers), so reports and baselines can store it as is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ClipBiasError
from .stats.decision import VERDICTS


def json_safe(value: Any) -> Any:
    """Convert numpy types, tuples and non-finite floats into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        return str(value)  # also turns numpy.str_ into str (execnet cannot send numpy types)
    if value is None:
        return None
    return str(value)


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True)
class BiasResult:
    """The outcome of one bias measure.

    ``effect`` is the headline effect size (the worst failing row's; else the worst
    undecided row's; else the worst row's), named by
    ``effect_name`` (e.g. "cohen_h"); ``ci`` its confidence interval;
    ``p_value`` its minimum-effect p (H0: the effect is within the threshold),
    corrected over the check's cells; ``n`` the number of items judged;
    ``verdict`` "pass", "fail" or "inconclusive" with ``reason``; ``rule``
    the decision rule (see ``pytest_clipbias.stats.decision``). The interval
    is the one the verdict rests on: rows say which in ``ci_basis``
    ("corrected" for a fail, "1-2alpha" otherwise) and ``ci_level``. ``table``
    has one dict row per group judged, each with its group under the
    attribute key (e.g. ``row["region"]``) and effect, ci_low, ci_high,
    p_value, n, passed plus measure-specific fields. ``message`` is the
    readable block shown when the assertion fails. ``data_fingerprint`` is
    the content fingerprint of the data measured (``identity``) and
    ``prompts`` the prompt texts encoded: the release gate compares two
    results only when both agree.
    """

    name: str
    effect: float
    effect_name: str
    ci: tuple[float, float]
    p_value: float
    n: int
    threshold: float
    verdict: str
    table: Sequence[Mapping[str, Any]] = ()
    reason: str = ""
    message: str = ""
    alpha: float = 0.05
    rule: str = "three-way"
    correction: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    prompts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def passed(self) -> bool:
        """True when the verdict is "pass"."""
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field (NaN -> null) plus ``passed``."""
        return json_safe({
            "name": self.name, "effect": self.effect, "effect_name": self.effect_name,
            "ci": list(self.ci), "p_value": self.p_value, "n": self.n,
            "threshold": self.threshold, "passed": self.passed, "verdict": self.verdict,
            "reason": self.reason, "message": self.message, "alpha": self.alpha,
            "rule": self.rule, "correction": self.correction, "table": list(self.table),
            "details": dict(self.details), "data_fingerprint": self.data_fingerprint,
            "prompts": list(self.prompts),
        })

    def to_frame(self) -> Any:
        """The per-group table as a pandas DataFrame (one row per group judged).

        Nested fields (per-label effects, curves) stay as Python objects in
        their cells. Raises ImportError with the install command when pandas
        is missing.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("BiasResult.to_frame() needs pandas: pip install pandas") from None
        return pd.DataFrame([dict(row) for row in self.table])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BiasResult:
        """Inverse of ``to_dict`` (null numbers come back as NaN)."""
        lo, hi = data["ci"]
        return cls(
            name=data["name"], effect=_float(data["effect"]), effect_name=data["effect_name"],
            ci=(_float(lo), _float(hi)), p_value=_float(data["p_value"]), n=int(data["n"]),
            threshold=_float(data["threshold"]), verdict=data["verdict"],
            table=list(data.get("table", [])), reason=data.get("reason", ""),
            message=data.get("message", ""), alpha=float(data.get("alpha", 0.05)),
            rule=data.get("rule", "three-way"), correction=data.get("correction"),
            details=dict(data.get("details", {})),
            data_fingerprint=str(data.get("data_fingerprint", "")),
            prompts=tuple(data.get("prompts", ())),
        )


def _error_text(result: BiasResult) -> str:
    """A short, self-contained first line (what pytest's ``-rA`` summary shows), then
    the full message."""
    from .report.format import short_line

    return "\n".join(t for t in (short_line(result.to_dict()), result.message or result.reason)
                     if t)


class BiasAssertionError(AssertionError):
    """The model is more biased than allowed; ``.result`` holds the full BiasResult.

    The first line of the message is short ("hypodescent FAIL h=+1.57 [1.35,
    1.57] > 0.2 Asian-White women"), so pytest's short test summary shows it
    whole; the result's full message follows on the next lines.
    """

    def __init__(self, result: BiasResult) -> None:
        super().__init__(_error_text(result))
        self.result = result


class BiasInconclusiveError(ClipBiasError):
    """The data cannot support a verdict (too few items, endpoints not told apart, ...).

    Deliberately not an AssertionError: an inconclusive check is reported as
    a failure of the test, never as a pass, but stays distinguishable from a
    bias finding. ``.result`` holds the BiasResult; the first line of the
    message is short, as for BiasAssertionError.
    """

    def __init__(self, result: BiasResult) -> None:
        super().__init__(_error_text(result))
        self.result = result


def enforce(result: BiasResult, encoder: Any = None) -> BiasResult:
    """Record the result against the running test, then return it if it passed.

    Raises BiasAssertionError for "fail" and BiasInconclusiveError for
    "inconclusive". Recorded results appear in the terminal summary and the
    reports whatever the verdict.
    """
    __tracebackhide__ = True
    from .recording import record

    record(result, encoder)
    if result.verdict == "fail":
        raise BiasAssertionError(result)
    if result.verdict == "inconclusive":
        raise BiasInconclusiveError(result)
    return result

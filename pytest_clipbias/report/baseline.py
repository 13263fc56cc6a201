"""Baselines: saved result documents, and comparison that can fail the session.

Saved runs live in a folder of JSON files (``.clipbias/`` by default), one per
``--clipbias-save NAME`` or ``--clipbias-autosave``. Comparison matches
records by (test id, measure name). A record whose model fingerprint, prompt
templates or data differ from the baseline's is "not comparable" and never
compared. A regression is a record whose |effect| grew by more than a
tolerance (``effect:+0.05`` absolute, ``effect:+10%`` relative, optionally
``MEASURE:effect:+0.05``) and whose confidence interval does not overlap the
baseline's (the change is distinguishable from noise) unless strict mode
drops that requirement.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .document import load_json, write_json
from .validate import check_results_document

_EXPR = re.compile(r"^(?:(?P<measure>[A-Za-z_][\w.-]*):)?effect:\+(?P<value>\d+(?:\.\d+)?)"
                   r"(?P<pct>%)?$")


@dataclass(frozen=True)
class FailRule:
    """One --clipbias-compare-fail expression."""

    text: str
    measure: str | None
    value: float
    relative: bool

    def tolerance(self, baseline_effect: float) -> float:
        """Allowed growth of |effect| for a baseline effect."""
        return abs(baseline_effect) * self.value / 100 if self.relative else self.value


def parse_fail_rule(text: str) -> FailRule:
    """Parse ``effect:+0.05``, ``effect:+10%`` or ``hypodescent:effect:+0.05``."""
    m = _EXPR.match(text.strip())
    if not m:
        raise ValueError(
            f"cannot parse --clipbias-compare-fail {text!r}: use effect:+0.05 (absolute growth "
            "of |effect|), effect:+10% (relative), or MEASURE:effect:+0.05 for one measure"
        )
    return FailRule(text.strip(), m["measure"], float(m["value"]), bool(m["pct"]))


class Storage:
    """A folder of saved result documents."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def runs(self) -> list[Path]:
        """Saved runs, oldest first (by modification time, then name)."""
        if not self.path.is_dir():
            return []
        files = [p for p in self.path.glob("*.json") if not p.name.startswith(".")]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def save(self, document: Mapping[str, Any], name: str) -> Path:
        """Write ``name.json`` atomically."""
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"baseline name {name!r} may use letters, digits, '.', '-', '_'")
        return write_json(self.path / f"{name}.json", document)

    def autosave_name(self, commit: str | None) -> str:
        """NNNN_YYYYmmdd-HHMMSS[_commit8], numbered after the saved runs."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        suffix = f"_{commit[:8]}" if commit else ""
        return f"{len(self.runs()) + 1:04d}_{stamp}{suffix}"

    def find(self, name: str) -> Path:
        """A saved run by name, unique prefix, or "latest"."""
        runs = self.runs()
        if not runs:
            raise FileNotFoundError(f"no saved clipbias runs in {self.path}; save one first "
                                    "with --clipbias-save NAME or --clipbias-autosave")
        if name == "latest":
            return runs[-1]
        exact = [p for p in runs if p.stem == name]
        if exact:
            return exact[0]
        prefixed = [p for p in runs if p.stem.startswith(name)]
        if len(prefixed) == 1:
            return prefixed[0]
        choices = ", ".join(p.stem for p in runs[-10:])
        problem = "matches several" if prefixed else "matches none"
        raise FileNotFoundError(f"baseline {name!r} {problem} of the runs in {self.path} "
                                f"(latest: {choices})")

    def load(self, name: str) -> tuple[Path, dict[str, Any]]:
        """(path, document) of a saved run."""
        path = self.find(name)
        return path, check_results_document(load_json(path), path)


@dataclass
class Comparison:
    """Per-record comparison lines and the regressions among them."""

    lines: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)


def _key(rec: Mapping[str, Any]) -> tuple[str, str]:
    return rec["test"], rec["result"]["name"]


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _why_not_comparable(now: Mapping[str, Any], base: Mapping[str, Any]) -> list[str]:
    why = []
    fp_now, fp_base = now["model"].get("fingerprint"), base["model"].get("fingerprint")
    if fp_now and fp_base and fp_now != fp_base:
        why.append("model fingerprint differs")
    if now.get("templates_hash") != base.get("templates_hash"):
        why.append("prompt templates or labels differ")
    if now.get("data_fingerprint") != base.get("data_fingerprint"):
        why.append("dataset differs")
    return why


def _disjoint(a: Sequence[Any], b: Sequence[Any]) -> bool:
    lo_a, hi_a, lo_b, hi_b = map(_num, (*a, *b))
    if any(math.isnan(v) for v in (lo_a, hi_a, lo_b, hi_b)):
        return False
    return lo_a > hi_b or hi_a < lo_b


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any],
            rules: Sequence[FailRule] = (), *, strict: bool = False,
            baseline_name: str = "baseline") -> Comparison:
    """Compare a run with a baseline; see the module docstring for the rules."""
    base = {_key(r): r for r in baseline.get("records", [])}
    out = Comparison()
    for rec in current.get("records", []):
        key = _key(rec)
        label = f"{rec['test']} :: {rec['result']['name']}"
        old = base.get(key)
        if old is None:
            out.lines.append(f"{label}: new (not in {baseline_name})")
            continue
        why = _why_not_comparable(rec, old)
        if why:
            out.not_comparable.append(label)
            out.lines.append(f"{label}: NOT COMPARABLE ({'; '.join(why)})")
            continue
        now_e, old_e = _num(rec["result"]["effect"]), _num(old["result"]["effect"])
        if math.isnan(now_e) or math.isnan(old_e):
            out.lines.append(f"{label}: effect undefined now or in {baseline_name}")
            continue
        growth = abs(now_e) - abs(old_e)
        now_ci, old_ci = rec["result"]["ci"], old["result"]["ci"]
        distinct = _disjoint(now_ci, old_ci)
        text = (f"{label}: effect {now_e:+.3f} (was {old_e:+.3f}, |effect| {growth:+.3f}; "
                f"CI [{_num(now_ci[0]):+.3f}, {_num(now_ci[1]):+.3f}] vs "
                f"[{_num(old_ci[0]):+.3f}, {_num(old_ci[1]):+.3f}]"
                f"{', intervals do not overlap' if distinct else ''})")
        broken = [r.text for r in rules
                  if (r.measure in (None, rec["result"]["name"]))
                  and growth > r.tolerance(old_e) and (strict or distinct)]
        if broken:
            out.regressions.append(label)
            text += f": REGRESSION ({', '.join(broken)})"
        out.lines.append(text)
    for key in sorted(set(base) - {_key(r) for r in current.get("records", [])}):
        out.lines.append(f"{key[0]} :: {key[1]}: in {baseline_name} but not in this run")
    return out

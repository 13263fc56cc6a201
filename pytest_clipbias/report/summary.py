"""The "clipbias" section of the terminal summary: models, cache, one row per result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .format import effect_ci, num, p_text
from .views import group_keys, group_name, view_for

_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2}


@dataclass(frozen=True)
class SummaryInput:
    """What the session knows at the end of a run."""

    models: Sequence[Mapping[str, Any]]  # plugin.model_entry dicts
    cache: Any  # CacheStats
    cache_dir: Path | None
    records: Sequence[Mapping[str, Any]]
    report_lines: Sequence[str]
    verbose: bool = False
    gate: str = ""  # the release gate: "", "passed", "failed: REASONS", "informational"


@dataclass(frozen=True)
class Section:
    """A titled block of lines; ``warn`` asks for a red title (random initialisation)."""

    title: str
    lines: list[str]
    warn: bool = False


def sort_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Worst first: failures, then inconclusive, then passes; larger effect/threshold first."""
    def key(rec):
        r = rec["result"]
        ratio = abs(r["effect"] or 0.0) / (r["threshold"] or 1.0)
        return (_ORDER[r["verdict"]], -ratio, rec["test"])

    return sorted(records, key=key)


def random_models(models: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the randomly initialised models: their verdicts describe no trained model."""
    return [m["name"] for m in models if m.get("random_init")]


def model_lines(models: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per model: its description, or why it could not be loaded."""
    return [f"model {m['name']}: unavailable: {m['error']}" if m.get("error")
            else f"model {m.get('description') or m['name']}" for m in models]


def cache_line(stats: Any, cache_dir: Path | None) -> str:
    """Embedding cache hits and misses per kind."""
    where = cache_dir or ("disabled (--clip-no-cache, or pytest's cacheprovider off without "
                          "--clip-cache-dir)")
    parts = ", ".join(f"{kind}s {stats.hits.get(kind, 0)} hits / "
                      f"{stats.misses.get(kind, 0)} misses" for kind in ("image", "text"))
    dropped = f", {stats.dropped} damaged entries recomputed" if stats.dropped else ""
    return f"embedding cache {where}: {parts}{dropped}"


def terminal_section(info: SummaryInput) -> Section | None:
    """The whole section, or None when the run used nothing of this plugin."""
    lookups = sum(info.cache.hits.values()) + sum(info.cache.misses.values())
    if not (info.models or lookups or info.records or info.report_lines):
        return None
    random = random_models(info.models)
    title = "clipbias"
    if random:
        title += f": {', '.join(random)} with RANDOM INITIALISATION (no trained weights)"
    lines = [*model_lines(info.models), cache_line(info.cache, info.cache_dir)]
    if info.records:
        lines.append("")
        lines.extend(result_lines(info.records, verbose=info.verbose))
    lines.extend(info.report_lines)
    if info.records or info.gate:
        lines.append(outcome_line(info.records, info.gate))
    return Section(title, lines, warn=bool(random))


def outcome_line(records: Sequence[Mapping[str, Any]], gate: str) -> str:
    """The last line: whether clipbias failed the session, and because of what.

    CI tells the causes apart: absolute checks (a bias beyond its threshold),
    inconclusive checks (data that could not decide), the release gate. A
    check counts when its test failed (a failure the test caught and
    expected, e.g. with ``pytest.raises``, does not fail the session).
    """
    failing = [rec["result"]["verdict"] for rec in records
               if rec.get("outcome") in ("failed", None)]
    causes = []
    if failing.count("fail"):
        causes.append(f"absolute checks ({failing.count('fail')} failed)")
    if failing.count("inconclusive"):
        causes.append(f"inconclusive checks ({failing.count('inconclusive')})")
    if gate.startswith("failed"):
        causes.append(f"the release gate ({gate.split(': ', 1)[-1]})")
    if causes:
        return "clipbias outcome: FAILED because of " + ", ".join(causes)
    gate_text = {"passed": "; release gate passed",
                 "informational": "; compared with the baseline (no gate rule)"}.get(gate, "")
    return (f"clipbias outcome: no failure from bias checks or the gate ({len(records)} "
            f"checks{gate_text})")


def result_lines(records: Sequence[Mapping[str, Any]], *, verbose: bool = False) -> list[str]:
    """One row per result (test, measure, effect [CI], p, threshold, verdict)."""
    if not records:
        return ["no bias results were recorded"]
    rows = [("test", "measure", "effect [CI]", "p", "threshold", "verdict")]
    for rec in sort_records(records):
        r = rec["result"]
        rows.append((rec["test"], f"{r['name']} ({r['effect_name']})",
                     effect_ci(r["effect"], r["ci"]), p_text(r["p_value"]),
                     num(r["threshold"], ".2f"), r["verdict"].upper()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    if verbose:
        for rec in sort_records(records):
            lines.extend(["", f"{rec['test']} :: {rec['result']['name']}"])
            lines.extend(table_lines(rec["result"]))
    return lines


def table_lines(result: Mapping[str, Any]) -> list[str]:
    """Per-group rows: the group, n, effect [CI], p and verdict."""
    rows = result["table"]
    keys = group_keys(rows, view_for(result["name"]))
    names = [group_name(row, keys) or "(all)" for row in rows]
    width = max((len(n) for n in names), default=0)
    return [f"    {name:<{width}}  n={row.get('n', '-'):<6} effect "
            f"{effect_ci(row.get('effect'), (row.get('ci_low'), row.get('ci_high')))} "
            f"p {p_text(row.get('p_value'))}  {str(row.get('verdict', '')).upper()}"
            for name, row in zip(names, rows, strict=True)]

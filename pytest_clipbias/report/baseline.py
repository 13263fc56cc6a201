"""Baselines: saved result documents, and the comparison that gates a release.

Saved runs live in a folder of JSON files (``.clipbias/`` by default), one per
``--clipbias-save NAME`` or ``--clipbias-autosave``.

Two results are compared when they measured the same thing: the same test
(its node id with the model's part of a parametrized id taken out, so
``test[demo]`` and ``test[demo-fair]`` match), the same measure and effect
size, the same prompts and labels, and the same data (content fingerprints,
see :mod:`pytest_clipbias.identity`). The model is what changes between a
baseline and a candidate: it is shown, never a reason to refuse. When the
prompts or the data changed, the result is "not comparable" and not judged.

A comparable result regressed when the one-sided test of
:func:`pytest_clipbias.gate.change_test` shows its |effect| grew by more than
the tolerance of the ``--clipbias-compare-fail`` rules, Holm-corrected across
the compared results. A growth beyond the tolerance that the test does not
show is "inconclusive": reported, not failed (failing it would fail
unchanged models far more often than alpha); ``strict`` fails it too, judging
the point estimate alone. A gate
(compare with rules) also fails when a baselined result is missing from the
candidate run, unless removals are accepted explicitly.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..gate import FailRule, change_test, check_name, interval_level, se_from_interval
from ..identity import describe_fingerprint
from .document import load_json, write_json
from .validate import check_results_document

_AUTOSAVE = re.compile(r"(\d{4,})_\d{8}-\d{6}(?:_[0-9a-f]{1,40})?")


class BaselineError(ValueError):
    """A saved run cannot be found or read; the message says which and why."""


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
        return write_json(self.path / f"{check_name(name)}.json", document)

    def autosave_name(self, commit: str | None) -> str:
        """NNNN_YYYYmmdd-HHMMSS[_commit8], numbered after this folder's autosaves only."""
        numbers = [int(m[1]) for p in self.runs() if (m := _AUTOSAVE.fullmatch(p.stem))]
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        suffix = f"_{commit[:8]}" if commit else ""
        return f"{max(numbers, default=0) + 1:04d}_{stamp}{suffix}"

    def find(self, name: str) -> Path:
        """A saved run by name, unique prefix, "latest", or a path to a results file."""
        as_path = Path(name).expanduser()
        if name.endswith(".json") or os.sep in name:
            if not as_path.is_file():
                raise BaselineError(f"no clipbias results file at {as_path}")
            return as_path
        runs = self.runs()
        if not runs:
            raise BaselineError(f"no saved clipbias runs in {self.path}; save one first "
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
        raise BaselineError(f"baseline {name!r} {problem} of the runs in {self.path} "
                            f"(latest: {choices})")

    def load(self, name: str) -> tuple[Path, dict[str, Any]]:
        """(path, document) of a saved run; BaselineError when absent or unreadable."""
        path = self.find(name)
        try:
            return path, check_results_document(load_json(path), path)
        except ValueError as exc:
            raise BaselineError(str(exc)) from None


def measures_in(document: Mapping[str, Any]) -> set[str]:
    """Names of the measures recorded in a results document."""
    return {r["result"]["name"] for r in document.get("records", [])}


def model_names(document: Mapping[str, Any]) -> set[str]:
    """Model names of a run (its --clip-model list and every record's model)."""
    names = {m.get("name") for m in document.get("run", {}).get("models", [])}
    names |= {r.get("model", {}).get("name") for r in document.get("records", [])}
    return {n for n in names if isinstance(n, str) and n}


def comparison_key(node_id: str, models: Iterable[str]) -> str:
    """The node id with a model's name taken out of its parametrization id.

    ``t.py::test[ViT-B-32]`` -> ``t.py::test``; ``t.py::test[ViT-B-32-0.5]`` ->
    ``t.py::test[0.5]`` (longest model name first, one occurrence, whole
    dash-separated parts only).
    """
    if not node_id.endswith("]") or "[" not in node_id:
        return node_id
    base, params = node_id[:-1].split("[", 1)
    for name in sorted(models, key=len, reverse=True):
        parts = f"-{params}-"
        if f"-{name}-" in parts:
            params = parts.replace(f"-{name}-", "-", 1).strip("-")
            return f"{base}[{params}]" if params else base
    return node_id


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


@dataclass
class Row:
    """One line of a comparison."""

    test: str
    measure: str
    verdict: str  # regressed, missing, inconclusive, improved, ok, not comparable, ...
    old: float = float("nan")
    new: float = float("nan")
    change: tuple[float, float, float] | None = None  # diff, low, high
    p_value: float = float("nan")
    note: str = ""
    model: str = ""


@dataclass
class Comparison:
    """The rows of a comparison, in the order shown."""

    baseline_name: str
    rows: list[Row] = field(default_factory=list)
    rules: Sequence[FailRule] = ()
    alpha: float = 0.05
    allow_missing: bool = False

    def named(self, verdict: str) -> list[Row]:
        """Rows with this verdict."""
        return [r for r in self.rows if r.verdict == verdict]

    @property
    def regressions(self) -> list[Row]:
        """Results that regressed beyond a rule."""
        return self.named("regressed")

    @property
    def missing(self) -> list[Row]:
        """Baselined results absent from the candidate run."""
        return self.named("missing")

    @property
    def failed(self) -> bool:
        """Whether the gate fails: a regression, or a missing result not accepted."""
        if not self.rules:
            return False
        return bool(self.regressions) or (bool(self.missing) and not self.allow_missing)


def _why_not_comparable(now: Mapping[str, Any], base: Mapping[str, Any]) -> list[str]:
    why = []
    if now.get("templates_hash") != base.get("templates_hash"):
        why.append("prompts or labels changed")
    fp_now, fp_base = now.get("data_fingerprint", ""), base.get("data_fingerprint", "")
    unknown = describe_fingerprint(fp_now) or describe_fingerprint(fp_base)
    if unknown:
        why.append(unknown)
    elif fp_now != fp_base:
        why.append("data changed")
    e_now, e_base = now["result"].get("effect_name"), base["result"].get("effect_name")
    if e_now != e_base:
        why.append(f"effect size changed ({e_base} -> {e_now})")
    return why


def _pick(candidates: list[Mapping[str, Any]], rec: Mapping[str, Any]) -> Any:
    """The baseline record for ``rec``: the only one, or the one of the same model."""
    if len(candidates) == 1:
        return candidates[0]
    same = [c for c in candidates if c.get("model", {}).get("name") ==
            rec.get("model", {}).get("name")]
    if len(same) == 1:
        return same[0]
    names = ", ".join(sorted(str(c.get("model", {}).get("name")) for c in candidates))
    return f"the baseline has this result for several models ({names}); compare one model"


def _pairs(current, baseline):
    """Yield (key, record, baseline record or reason) and then the missing keys."""
    models = model_names(current) | model_names(baseline)
    base: dict[tuple[str, str], list] = {}
    for r in baseline.get("records", []):
        base.setdefault((comparison_key(r["test"], models), r["result"]["name"]), []).append(r)
    seen = set()
    for rec in current.get("records", []):
        key = (comparison_key(rec["test"], models), rec["result"]["name"])
        seen.add(key)
        yield key, rec, _pick(base[key], rec) if key in base else None
    for key in sorted(set(base) - seen):
        yield key, None, None


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any],
            rules: Sequence[FailRule] = (), *, alpha: float = 0.05, strict: bool = False,
            allow_missing: bool = False, baseline_name: str = "baseline") -> Comparison:
    """Compare a candidate run with a baseline; see the module docstring for the rules."""
    out = Comparison(baseline_name, rules=tuple(rules), alpha=alpha, allow_missing=allow_missing)
    tested = []
    for (test, measure), rec, old in _pairs(current, baseline):
        model = str((rec or {}).get("model", {}).get("name", ""))
        if rec is None:
            out.rows.append(Row(test, measure, "missing", note=f"in {baseline_name}, not in "
                                "this run (deleted, renamed, deselected or skipped?)"))
            continue
        if old is None or isinstance(old, str):
            out.rows.append(Row(test, measure, "new" if old is None else "not comparable",
                                note=old or "", model=model))
            continue
        why = _why_not_comparable(rec, old)
        row = Row(test, measure, "not comparable", _num(old["result"]["effect"]),
                  _num(rec["result"]["effect"]), note="; ".join(why), model=model)
        out.rows.append(row)
        if not why:
            tested.append((row, rec["result"], old["result"]))
    _judge(tested, out, strict)
    return out


def _se(result: Mapping[str, Any]) -> float:
    lo, hi = (_num(v) for v in result["ci"])
    return float(se_from_interval(lo, hi, interval_level(result)))


def _judge(tested: list, out: Comparison, strict: bool) -> None:
    """Test every comparable row against its tolerance, Holm-corrected across rows."""
    from ..stats.corrections import adjust_pvalues

    tolerances = []
    for row, now, old in tested:
        applying = [r.tolerance(row.old) for r in out.rules if r.applies(row.measure)]
        tolerances.append(min(applying) if applying else float("nan"))
        ch = change_test(row.old, _se(old), row.new, _se(now),
                         tolerances[-1] if applying else 0.0, out.alpha)
        row.change = (float(ch.diff), float(ch.low), float(ch.high))
        row.p_value = float(ch.p_value) if applying else float("nan")
    adjusted = adjust_pvalues([r.p_value for r, _, _ in tested], "holm") if tested else []
    for (row, _, _), tol, p in zip(tested, tolerances, adjusted, strict=True):
        diff, low, high = row.change
        if diff != diff:
            row.verdict, row.note = "no interval", "effect undefined in one of the runs"
        elif strict and tol == tol and diff > tol:
            row.verdict, row.note = "regressed", f"grew by more than {tol:.3g} (strict)"
        elif p == p and p < out.alpha:
            row.verdict, row.note = "regressed", f"grew by more than {tol:.3g}, Holm p {p:.2g}"
        elif tol == tol and diff > tol:
            row.verdict = "inconclusive"
            row.note = (f"grew by more than {tol:.3g} but not shown (Holm p {p:.2g}): more data "
                        "decides; --clipbias-compare-fail-strict fails it")
        elif high < 0:
            row.verdict = "improved"
        elif low != low:
            row.verdict, row.note = "no interval", "no confidence interval to test against"
        else:
            row.verdict = "ok"
            if tol == tol:
                row.note = f"tolerance {tol:.3g}, Holm p {p:.2g}"


_SHOWN = ("regressed", "missing", "inconclusive", "improved", "ok", "not comparable",
          "no interval", "new")


def table_lines(cmp: Comparison) -> list[str]:
    """The comparison as an aligned table, regressions and missing results first."""
    rows = sorted(cmp.rows, key=lambda r: (_SHOWN.index(r.verdict), r.test, r.measure))
    cells = [("test", "measure", "baseline", "candidate", "change [interval]", "verdict")]
    for r in rows:
        change = "" if r.change is None or r.change[0] != r.change[0] else (
            f"{r.change[0]:+.3f} [{r.change[1]:+.3f}, {r.change[2]:+.3f}]")
        verdict = r.verdict.upper() if r.verdict in ("regressed", "missing") else r.verdict
        test = f"{r.test} ({r.model})" if r.model else r.test
        cells.append((test, r.measure, _fmt(r.old), _fmt(r.new), change,
                      verdict + (f": {r.note}" if r.note else "")))
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    return ["  ".join(c[i].ljust(widths[i]) for i in range(5)) + "  " + c[5] for c in cells]


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:+.3f}"


def summary_line(cmp: Comparison) -> str:
    """One line: the gate's outcome and the count of each verdict."""
    counts = ", ".join(f"{len(cmp.named(v))} {v}" for v in _SHOWN if cmp.named(v))
    rules = ", ".join(r.text for r in cmp.rules)
    if not cmp.rules:
        head = "clipbias compare (no --clipbias-compare-fail rule: informational)"
    else:
        head = "clipbias gate FAILED" if cmp.failed else "clipbias gate passed"
        head += f" ({rules}; one-sided, Holm, alpha {cmp.alpha:g})"
    if cmp.missing and cmp.allow_missing:
        counts += " (removals accepted)"
    return f"{head} vs {cmp.baseline_name}: {counts or 'no results'}"


def models_text(document: Mapping[str, Any]) -> str:
    """The models of a run with the start of their fingerprints: ``demo 1a2b3c4d, ...``."""
    run_models = document.get("run", {}).get("models", [])
    seen = {}
    for m in [*run_models, *(r.get("model", {}) for r in document.get("records", []))]:
        if isinstance(m.get("name"), str):
            seen.setdefault(m["name"], str(m.get("fingerprint", ""))[:8])
    return ", ".join(f"{n} {fp}".strip() for n, fp in sorted(seen.items())) or "none recorded"


def run_label(path: Path | None, document: Mapping[str, Any]) -> str:
    """``name (models ..., N results, created, commit)`` for headers and ``list``."""
    run = document.get("run", {})
    commit = f", commit {run['git_commit'][:8]}" if run.get("git_commit") else ""
    return (f"{path.stem if path else 'this run'} (models: {models_text(document)}; "
            f"{len(document.get('records', []))} results; {document.get('created', '?')}"
            f"{commit})")


def list_lines(storage: Storage) -> list[str]:
    """One line per saved run, oldest first; unreadable files are named as such."""
    lines = []
    for path in storage.runs():
        try:
            lines.append(run_label(path, load_json(path)))
        except ValueError as exc:
            lines.append(f"{path.stem} (unreadable: {exc})")
    return lines or [f"no saved clipbias runs in {storage.path}"]


__all__ = ["BaselineError", "Comparison", "Row", "Storage", "compare",
           "comparison_key", "list_lines", "measures_in", "run_label", "summary_line",
           "table_lines"]


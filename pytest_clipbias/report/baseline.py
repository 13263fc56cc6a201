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

Comparable results are compared cell by cell (pair type, region x label,
group, query; :mod:`pytest_clipbias.report.changes`), paired on the same
items when both runs stored per-item outcomes. A cell regressed when the
harm to either side, max(e, 0) or max(-e, 0), grew by more than the
tolerance of the ``--clipbias-compare-fail`` rules, shown by the one-sided
test of :func:`pytest_clipbias.gate.harm_test`; the p-values are
Holm-corrected across every compared cell of the session, because the gate
answers one family-wise question ("did anything regress?") and a release
fails on any cell. A result regressed when any of its cells did; its row
names the cell ("reversed" when the harm that grew is to the other side).
A growth beyond the tolerance that the test does not show is
"inconclusive": reported, not failed (failing it would fail unchanged
models far more often than alpha); ``strict`` fails it too, judging the
point estimate alone. Without rules the comparison is informational: each
cell "grew", "shrank" (each shown at alpha, Holm) or is "unchanged".

A gate (compare with rules) also fails when a baselined result is missing
from the candidate run (unless removals are accepted), when a candidate
cell's effect is undefined, or when nothing at all could be compared
(unless ``allow_incomparable``): a gate that judged nothing must not pass.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..gate import FailRule, check_name, harm_test
from ..identity import describe_fingerprint
from .changes import CellRow, cell_rows
from .document import SCHEMA_ID, load_json, write_json
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


@dataclass
class Row:
    """One result of a comparison; ``cells`` its compared cells, ``head`` the deciding one."""

    test: str
    measure: str
    verdict: str  # regressed, missing, undefined, inconclusive, ..., not comparable, new
    note: str = ""
    model: str = ""
    cells: list[CellRow] = field(default_factory=list)

    @property
    def head(self) -> CellRow | None:
        """The cell that speaks for the row: the worst verdict, then the smallest p."""
        if not self.cells:
            return None
        return min(self.cells, key=lambda c: (_CELL_ORDER.index(c.verdict), _key(c.p_value),
                                              _key(-c.growth)))


def _key(x: float) -> float:
    return float("inf") if x != x else x


_CELL_ORDER = ("regressed", "undefined", "inconclusive", "grew", "within tolerance",
               "unchanged", "shrank", "new", "not comparable")


@dataclass
class Comparison:
    """The rows of a comparison, in the order shown."""

    baseline_name: str
    rows: list[Row] = field(default_factory=list)
    rules: Sequence[FailRule] = ()
    alpha: float = 0.05
    allow_missing: bool = False
    allow_incomparable: bool = False
    warnings: list[str] = field(default_factory=list)

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
    def compared_cells(self) -> list[CellRow]:
        """Every cell that was tested."""
        return [c for r in self.rows for c in r.cells if c.inputs is not None]

    def failures(self) -> list[str]:
        """Why the gate fails (empty: it passes, or there are no rules)."""
        if not self.rules:
            return []
        why = []
        cells = [c for r in self.regressions for c in r.cells if c.verdict == "regressed"]
        if cells:
            why.append(f"{len(cells)} regressed cell{'s' * (len(cells) != 1)}")
        if self.missing and not self.allow_missing:
            why.append(f"{len(self.missing)} baselined result(s) missing")
        if not self.allow_incomparable:
            undefined = [c for r in self.rows for c in r.cells if c.verdict == "undefined"]
            if undefined:
                why.append(f"{len(undefined)} candidate cell(s) with an undefined effect")
            if not self.compared_cells:
                why.append("nothing comparable")
        return why

    @property
    def failed(self) -> bool:
        """Whether the gate fails (see :meth:`failures`)."""
        return bool(self.failures())


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


def same_run(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two documents are one run (same creation time and records)."""
    return a.get("created") == b.get("created") and a.get("records") == b.get("records")


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any],
            rules: Sequence[FailRule] = (), *, alpha: float = 0.05, strict: bool = False,
            allow_missing: bool = False, allow_incomparable: bool = False,
            baseline_name: str = "baseline") -> Comparison:
    """Compare a candidate run with a baseline, cell by cell; see the module docstring."""
    out = Comparison(baseline_name, rules=tuple(rules), alpha=alpha,
                     allow_missing=allow_missing, allow_incomparable=allow_incomparable)
    if same_run(current, baseline):
        out.warnings.append(f"the candidate is the baseline {baseline_name} itself: "
                            "comparing a run with itself shows nothing")
    for (test, measure), rec, old in _pairs(current, baseline):
        model = str((rec or {}).get("model", {}).get("name", ""))
        if rec is None:
            out.rows.append(Row(test, measure, "missing", note=f"in {baseline_name}, not in "
                                "this run (deleted, renamed, deselected or skipped?)"))
        elif old is None or isinstance(old, str):
            out.rows.append(Row(test, measure, "new" if old is None else "not comparable",
                                note=old or "", model=model))
        elif why := _why_not_comparable(rec, old):
            out.rows.append(Row(test, measure, "not comparable", "; ".join(why), model))
        else:
            cells, note = cell_rows(old, rec, rules, alpha)
            if note and baseline.get("schema") != SCHEMA_ID:
                note = (f"compared per table row, unpaired (baseline saved with "
                        f"{baseline.get('schema')}, before per-cell records)")
            out.rows.append(Row(test, measure, "", note, model, cells))
    _judge(out, strict)
    return out


def _judge(out: Comparison, strict: bool) -> None:
    """Holm across every compared cell of the session, then each cell's and row's verdict."""
    from ..stats.corrections import adjust_pvalues

    cells = out.compared_cells
    adjusted = adjust_pvalues([c.p_value for c in cells], "holm") if cells else []
    shrink = adjust_pvalues([_shrink_p(c) for c in cells], "holm") if cells else []
    for cell, p, p_shrink in zip(cells, adjusted, shrink, strict=True):
        cell.p_holm = float(p)
        cell.verdict = _verdict(cell, out, strict, float(p_shrink))
    for row in out.rows:
        if row.cells:
            row.verdict = row.head.verdict


def _shrink_p(cell: CellRow) -> float:
    """p of "the harm shrank": the harm test with the two runs' roles swapped."""
    d, se_d, se0, _ = cell.inputs
    return harm_test(cell.new, cell.old, -d, se_d, se0, 0.0).p_value


def _verdict(cell: CellRow, out: Comparison, strict: bool, p_shrink: float) -> str:
    t = cell.tolerance
    if not out.rules:
        if cell.p_holm < out.alpha:
            return "grew"
        return "shrank" if p_shrink < out.alpha else "unchanged"
    if t != t:
        cell.note = "no --clipbias-compare-fail rule applies to this measure"
        return "unchanged" if p_shrink >= out.alpha else "shrank"
    word = "reversed: " if cell.reversed else ""
    if cell.p_holm < out.alpha or (strict and cell.growth > t):
        how = "strict" if cell.p_holm >= out.alpha else f"Holm p {cell.p_holm:.2g}"
        cell.note = f"{word}harm grew by more than {t:.3g} ({how})"
        return "regressed"
    if cell.growth > t:
        cell.note = (f"{word}harm grew by more than {t:.3g} but not shown (Holm p "
                     f"{cell.p_holm:.2g}): more data decides; --clipbias-compare-fail-strict "
                     "fails it")
        return "inconclusive"
    cell.note = f"tolerance {t:.3g}, Holm p {cell.p_holm:.2g}"
    return "within tolerance"


#: Flagged cells (regressed, undefined, inconclusive) shown per result; the JSON has all.
SHOWN_CELLS = 8

_SHOWN = ("regressed", "missing", "undefined", "inconclusive", "grew", "within tolerance",
          "unchanged", "shrank", "not comparable", "new")


def table_lines(cmp: Comparison) -> list[str]:
    """The comparison as an aligned table: one line per result (its deciding cell), or its
    regressed, undefined and inconclusive cells (worst first, at most SHOWN_CELLS)."""
    rows = sorted(cmp.rows, key=lambda r: (_SHOWN.index(r.verdict), r.test, r.measure))
    cells = [("test", "measure", "cell", "baseline", "candidate", "change [interval]",
              "test used", "verdict")]
    for r in rows:
        test = f"{r.test} ({r.model})" if r.model else r.test
        flagged = sorted((c for c in r.cells if c.verdict in ("regressed", "undefined",
                                                                 "inconclusive")),
                         key=lambda c: (_CELL_ORDER.index(c.verdict), _key(c.p_value)))
        for c in flagged[:SHOWN_CELLS] or ([r.head] if r.head else [None]):
            cells.append(_line(test, r, c))
            test = ""
        if len(flagged) > SHOWN_CELLS:
            more = len(flagged) - SHOWN_CELLS
            cells.append(("", r.measure, f"... {more} more flagged cell{'s' * (more != 1)}",
                          "", "", "", "", "listed in the JSON report (--clipbias-json)"))
    widths = [max(len(c[i]) for c in cells) for i in range(7)]
    return ["  ".join(c[i].ljust(widths[i]) for i in range(7)) + "  " + c[7] for c in cells]


def _line(test: str, r: Row, c: CellRow | None) -> tuple[str, ...]:
    if c is None:
        verdict = r.verdict.upper() if r.verdict == "missing" else r.verdict
        return (test, r.measure, "", "", "", "", "", verdict + (f": {r.note}" if r.note else ""))
    change = "" if c.change is None else (
        f"{c.change[0]:+.3f} [{c.change[1]:+.3f}, {c.change[2]:+.3f}]")
    verdict = c.verdict.upper() if c.verdict in ("regressed", "undefined") else c.verdict
    notes = "; ".join(n for n in (c.note, r.note) if n)
    return (test, r.measure, c.cell, _fmt(c.old), _fmt(c.new), change, c.test,
            verdict + (f": {notes}" if notes else ""))


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:+.3f}"


def summary_line(cmp: Comparison) -> str:
    """One line: the gate's outcome (with why it failed) and the count of each verdict."""
    counts = ", ".join(f"{len(cmp.named(v))} {v}" for v in _SHOWN if cmp.named(v))
    n_cells = len(cmp.compared_cells)
    family = f"Holm over {n_cells} cell{'s' * (n_cells != 1)}"
    if not cmp.rules:
        head = (f"clipbias compare (no --clipbias-compare-fail rule: informational; "
                f"{family}, alpha {cmp.alpha:g})")
    else:
        rules = ", ".join(r.text for r in cmp.rules)
        why = cmp.failures()
        head = (f"clipbias gate FAILED ({'; '.join(why)})" if why else "clipbias gate passed")
        head += f" ({rules}; one-sided per cell, either direction, {family}, alpha {cmp.alpha:g})"
    if cmp.missing and cmp.allow_missing:
        counts += " (removals accepted)"
    return f"{head} vs {cmp.baseline_name}: {counts or 'no results'}"


def _cell_json(row: Row, c: CellRow) -> dict[str, Any]:
    change = c.change or (float("nan"),) * 3
    return {"test": row.test, "measure": row.measure, "model": row.model, "cell": c.cell,
            "verdict": c.verdict, "baseline": c.old, "candidate": c.new, "change": change[0],
            "change_low": change[1], "change_high": change[2], "harm_growth": c.growth,
            "tolerance": c.tolerance, "p_value": c.p_value, "p_holm": c.p_holm,
            "test_used": c.test, "reversed": c.reversed, "note": c.note}


def gate_json(cmp: Comparison) -> dict[str, Any]:
    """The comparison for the JSON report: verdict, reasons, regressed cells, every row."""
    from ..results import json_safe

    verdict = "informational" if not cmp.rules else "failed" if cmp.failed else "passed"
    return json_safe({
        "baseline": cmp.baseline_name, "verdict": verdict, "reasons": cmp.failures(),
        "rules": [r.text for r in cmp.rules], "alpha": cmp.alpha,
        "family": f"Holm over the {len(cmp.compared_cells)} compared cells of the session",
        "warnings": list(cmp.warnings),
        "regressed": [_cell_json(r, c) for r in cmp.rows for c in r.cells
                      if c.verdict == "regressed"],
        "results": [{"test": r.test, "measure": r.measure, "model": r.model,
                     "verdict": r.verdict, "note": r.note,
                     "cells": [_cell_json(r, c) for c in r.cells]} for r in cmp.rows]})


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


__all__ = ["BaselineError", "Comparison", "Row", "Storage", "compare", "comparison_key",
           "gate_json", "list_lines", "measures_in", "run_label", "summary_line",
           "table_lines"]


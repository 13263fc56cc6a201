"""End of a session (controller only): JSON, HTML, baseline save and compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._io import atomic_write_text
from .baseline import (
    BaselineError,
    Storage,
    compare,
    gate_json,
    run_label,
    summary_line,
    table_lines,
)
from .document import build_document, git_commit, package_versions, write_json

if TYPE_CHECKING:
    from ..settings import GateSettings


def _path(config: pytest.Config, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else config.invocation_params.dir / p


def finish_reports(config: pytest.Config, state: Any) -> bool:
    """Write the requested reports; True when the release gate fails or a write failed.

    Lines for the terminal summary go to ``state.report_lines``; the gate's
    outcome ("passed", "failed: REASONS" or "informational") to ``state.gate_outcome``.
    The comparison runs first so the JSON and HTML reports carry its outcome.
    """
    from ..profiles import get_profile

    opts, gate = state.settings.report, state.settings.gate
    wanted = (opts.json or opts.html or gate.save or gate.autosave or gate.compare
              or opts.update)
    if not wanted:
        return False
    commit = git_commit(config.rootpath)
    run = {"models": state.model_entries(), "seed": state.settings.seed,
           "profile": get_profile().name, "versions": package_versions(),
           "git_commit": commit, "pytest_args": [str(a) for a in config.invocation_params.args]}
    document = build_document(state.records, run, list(state.tests.values()))
    lines = state.report_lines
    storage = Storage(gate.storage)
    failed = _compare(gate, storage, document, lines, state) if gate.compare else False
    if opts.json:
        failed |= _write(lines, "JSON report", lambda: write_json(
            _path(config, opts.json), document))
    if opts.html:
        from .html import render_html

        failed |= _write(lines, "HTML report", lambda: atomic_write_text(
            _path(config, opts.html), render_html(document)))
    for name in ([gate.save] if gate.save else []) + (
            [storage.autosave_name(commit)] if gate.autosave else []):
        failed |= _write(lines, "results saved", lambda n=name: storage.save(document, n))
    if opts.update:
        from .snapshot import update_baseline

        failed |= update_baseline(storage, opts.update, document, collected=state.collected,
                                  rootdir=config.rootpath, drop_unused=opts.drop_unused,
                                  lines=lines)
    return failed


def _write(lines: list[str], what: str, write: Callable[[], Path]) -> bool:
    """Run one write; a failure becomes a summary line (the other outputs still get written).

    Returns True when it failed, so the session fails instead of losing output silently.
    """
    try:
        lines.append(f"clipbias {what}: {write()}")
    except (OSError, ValueError) as exc:
        lines.append(f"clipbias {what}: FAILED: {exc}")
        return True
    return False


def _compare(gate: GateSettings, storage: Storage, document: dict, lines: list[str],
             state: Any) -> bool:
    """Compare with the baseline (loaded at start-up for a gate); True when the gate fails.

    The gate's outcome goes into ``document["gate"]`` and ``state.gate_outcome``.
    """
    if gate.baseline is not None:
        base_path, baseline = gate.baseline
    else:
        try:
            base_path, baseline = storage.load(gate.compare)
        except BaselineError as exc:
            lines.append(f"clipbias compare: {exc}")
            return False
    result = compare(document, baseline, gate.rules, alpha=gate.alpha, strict=gate.strict,
                     allow_missing=gate.allow_missing,
                     allow_incomparable=gate.allow_incomparable, baseline_name=base_path.stem)
    lines.append(f"baseline  {run_label(base_path, baseline)}")
    lines.append(f"candidate {run_label(None, document)}")
    lines.extend(f"  {line}" for line in table_lines(result))
    lines.extend(f"clipbias compare: warning: {w}" for w in result.warnings)
    lines.append(summary_line(result))
    document["gate"] = gate_json(result)
    verdict = document["gate"]["verdict"]
    state.gate_outcome = verdict if verdict != "failed" else (
        "failed: " + "; ".join(result.failures()))
    return result.failed

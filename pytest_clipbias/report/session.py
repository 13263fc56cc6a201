"""End of a session (controller only): JSON, HTML, baseline save and compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .._io import atomic_write_text
from .baseline import Storage, compare, parse_fail_rule
from .document import build_document, git_commit, package_versions, write_json


def _models(state: Any) -> list[dict[str, Any]]:
    from ..errors import ClipBiasError
    from ..recording import model_info

    out = []
    for name, model in state.models.items():
        if isinstance(model, ClipBiasError):
            out.append({"name": name, "error": str(model).splitlines()[0]})
        else:
            out.append(model_info(model))
    return out


def _path(config: pytest.Config, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else config.invocation_params.dir / p


def finish_reports(config: pytest.Config, state: Any) -> bool:
    """Write the requested reports; True when a comparison found a regression or a write failed.

    Lines for the terminal summary go to ``state.report_lines``.
    """
    from ..profiles import get_profile

    opts = state.settings.report
    wanted = (opts["clipbias_json"] or opts["clipbias_html"] or opts["clipbias_save"]
              or opts["clipbias_autosave"] or opts["clipbias_compare"])
    if not wanted:
        return False
    commit = git_commit(config.rootpath)
    run = {"models": _models(state), "seed": state.settings.seed,
           "profile": get_profile().name, "versions": package_versions(),
           "git_commit": commit, "pytest_args": [str(a) for a in config.invocation_params.args]}
    document = build_document(state.records, run)
    lines = state.report_lines
    failed = False
    if opts["clipbias_json"]:
        failed |= _write(lines, "JSON report", lambda: write_json(
            _path(config, opts["clipbias_json"]), document))
    if opts["clipbias_html"]:
        from .html import render_html

        failed |= _write(lines, "HTML report", lambda: atomic_write_text(
            _path(config, opts["clipbias_html"]), render_html(document)))
    storage = Storage(config.rootpath / opts["clipbias_storage"])
    regression = False
    if opts["clipbias_compare"]:
        try:
            base_path, baseline = storage.load(opts["clipbias_compare"])
        except (FileNotFoundError, ValueError) as exc:
            lines.append(f"clipbias compare: {exc}")
            regression = bool(opts["clipbias_compare_fail"])
        else:
            rules = [parse_fail_rule(r) for r in opts["clipbias_compare_fail"]]
            result = compare(document, baseline, rules,
                             strict=opts["clipbias_compare_fail_strict"],
                             baseline_name=base_path.stem)
            lines.append(f"comparison with baseline {base_path.stem} ({base_path}):")
            lines.extend(f"  {line}" for line in result.lines)
            if result.regressions:
                regression = True
                lines.append(f"clipbias: {len(result.regressions)} result(s) regressed against "
                             f"{base_path.stem} beyond {', '.join(r.text for r in rules)}: "
                             "failing the session")
    for name in ([opts["clipbias_save"]] if opts["clipbias_save"] else []) + (
            [storage.autosave_name(commit)] if opts["clipbias_autosave"] else []):
        failed |= _write(lines, "results saved", lambda n=name: storage.save(document, n))
    return regression or failed


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

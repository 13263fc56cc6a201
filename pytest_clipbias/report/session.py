"""End of a session (controller only): JSON, HTML, baseline save and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .._io import atomic_write_text
from .baseline import Storage, compare, parse_fail_rule
from .document import build_document, git_commit, package_versions, write_json


def _path(config: pytest.Config, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else config.invocation_params.dir / p


def finish_reports(config: pytest.Config, state: Any) -> bool:
    """Write the requested reports; return True when a baseline comparison found a regression.

    Lines for the terminal summary go to ``state.report_lines``.
    """
    from ..profiles import get_profile

    opts = state.settings.report
    if not opts.wanted:
        return False
    commit = git_commit(config.rootpath)
    run = {"models": state.model_entries(), "seed": state.settings.seed,
           "profile": get_profile().name, "versions": package_versions(),
           "git_commit": commit, "pytest_args": [str(a) for a in config.invocation_params.args]}
    document = build_document(state.records, run, list(state.tests.values()))
    lines = state.report_lines
    if opts.json:
        written = write_json(_path(config, opts.json), document)
        lines.append(f"clipbias JSON report: {written}")
    if opts.html:
        from .html import render_html

        target = atomic_write_text(_path(config, opts.html), render_html(document))
        lines.append(f"clipbias HTML report: {target}")
    storage = Storage(config.rootpath / opts.storage)
    regression = False
    if opts.compare:
        try:
            base_path, baseline = storage.load(opts.compare)
        except (FileNotFoundError, ValueError) as exc:
            lines.append(f"clipbias compare: {exc}")
            regression = bool(opts.compare_fail)
        else:
            rules = [parse_fail_rule(r) for r in opts.compare_fail]
            result = compare(document, baseline, rules,
                             strict=opts.compare_fail_strict,
                             baseline_name=base_path.stem)
            lines.append(f"comparison with baseline {base_path.stem} ({base_path}):")
            lines.extend(f"  {line}" for line in result.lines)
            if result.regressions:
                regression = True
                lines.append(f"clipbias: {len(result.regressions)} result(s) regressed against "
                             f"{base_path.stem} beyond {', '.join(r.text for r in rules)}: "
                             "failing the session")
    for name in ([opts.save] if opts.save else []) + (
            [storage.autosave_name(commit)] if opts.autosave else []):
        lines.append(f"clipbias results saved: {storage.save(document, name)}")
    return regression

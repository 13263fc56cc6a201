"""pytest-html integration: bias results inside the report a team already publishes.

When pytest-html is installed and ``--html`` is given, each bias test's row
carries, as pytest-html extras, its clipbias table (verdict, groups, effect,
interval, p per cell) and its plots; the report's summary shows one release
line per model and the check x model matrix. pytest-html renders extras
client-side from a JSON blob, so everything here is HTML strings and base64
PNGs. Our own ``--clipbias-html`` report stays for teams without pytest-html.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from .format import short_line
from .html import has_matplotlib, overview, plots_of, release_lines, result_table

# Scoped to .clipbias so pytest-html's own table styles stay untouched.
CSS = """<style>
.clipbias table{border-collapse:collapse;margin:.4rem 0;font-size:12.5px}
.clipbias td,.clipbias th{border:1px solid #d0d7de;padding:.2rem .45rem;text-align:left;
 vertical-align:top;overflow-wrap:break-word}
.clipbias th{background:#f6f8fa}.clipbias td.num{text-align:right}
.clipbias .iv,.clipbias .v{white-space:nowrap}.clipbias .v{font-weight:700}
.clipbias .fail{background:#ffebe9;color:#a40e26}.clipbias .pass{background:#dafbe1;color:#116329}
.clipbias .inconclusive{background:#fff8c5;color:#7d4e00}
.clipbias .cell small{display:block;color:#57606a}
.clipbias .release{list-style:none;padding:0}.clipbias .release li{padding:.3rem .6rem;
 margin:.2rem 0;font-weight:600;border-left:6px solid}
</style>"""


def wanted(config: pytest.Config) -> bool:
    """True when pytest-html is active and writing a report (``--html PATH``)."""
    return bool(config.pluginmanager.hasplugin("html")
                and config.getoption("htmlpath", default=None))


def extras_for(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pytest-html extras of one test: an HTML table per result, then its plots as PNGs."""
    from pytest_html import extras

    out = []
    plots = has_matplotlib()
    for rec in records:
        res = rec["result"]
        out.append(extras.html(
            f'<div class="clipbias"><h4>clipbias {res["name"]}: {short_line(res)}</h4>'
            f"{result_table(res)}</div>"))
        out += [extras.png(data, name=f"{res['name']} plot {i + 1}")
                for i, data in enumerate(plots_of(res) if plots else [])]
    return out


def attach_extras(report: pytest.TestReport, records: Sequence[Mapping[str, Any]]) -> None:
    """Add the extras to a call report (they travel with it from xdist workers)."""
    report.extras = [*getattr(report, "extras", []), *extras_for(records)]


def summary_html(records: Sequence[Mapping[str, Any]], models: Sequence[str]) -> str:
    """Release lines and the check x model matrix for the report's summary."""
    return (f'{CSS}<div class="clipbias"><h3>CLIP bias checks</h3>'
            f"{release_lines(records, models)}{overview(records, models, link=False)}</div>")

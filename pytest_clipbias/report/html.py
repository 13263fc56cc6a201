"""A self-contained HTML report: overview matrix, every test's outcome, one section per result.

Layout follows results tables such as CLIP_benchmark's: one row per check,
one column per model, each cell coloured by verdict with the effect and its
interval. Below it every test of the run is listed (skips and errors
included), then each result with its message, plots and per-group table.
Plots need matplotlib (``pip install pytest-clipbias[report]``); without it
the report still has every table and says how to get the plots.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .format import effect_ci, fmt_p, missing, num, p_text, release_line
from .summary import sort_records
from .views import group_keys, view_for

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;
 margin:0 auto;padding:1.5rem;max-width:1240px}
h1{font-size:1.6rem;margin:.2rem 0 .8rem}
h2{font-size:1.2rem;margin-top:2.2rem;padding-bottom:.2rem;border-bottom:2px solid #d0d7de}
h3{font-size:1rem;margin:1.8rem 0 .3rem;overflow-wrap:break-word}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.4rem 0;font-size:12.5px;width:100%}
th{background:#f6f8fa;font-weight:600}
td,th{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top;
 overflow-wrap:break-word;word-break:normal}
.nowrap,.iv{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.v{font-weight:700;letter-spacing:.02em;white-space:nowrap}
.fail{background:#ffebe9;color:#a40e26}.pass{background:#dafbe1;color:#116329}
.inconclusive{background:#fff8c5;color:#7d4e00}.skipped,.xfailed{background:#eef1f4;color:#57606a}
.error,.failed,.xpassed{background:#ffebe9;color:#a40e26}.passed{background:#dafbe1;color:#116329}
.cell{min-width:9rem}.cell small{display:block;color:#57606a;font-weight:400}
.meta td{border:none;padding:.1rem 1rem .1rem 0;background:none}
.meta{width:auto}
.banner{border:2px solid #a40e26;background:#ffebe9;color:#a40e26;padding:.6rem .9rem;
 font-weight:600;margin:.8rem 0}
.release{list-style:none;padding:0;margin:.6rem 0 1rem}
.release li{padding:.35rem .7rem;margin:.25rem 0;font-weight:600;border-left:6px solid}
.counts span{display:inline-block;padding:.1rem .5rem;margin-right:.3rem;border-radius:3px}
pre{background:#f6f8fa;padding:.6rem .75rem;white-space:pre-wrap;font-size:12px;
 overflow-wrap:break-word}
.plots{display:flex;flex-wrap:wrap;gap:.5rem}
.plots img{max-width:100%;height:auto}
.empty{color:#57606a;font-style:italic}
a{color:#0969da;text-decoration:none}
@media (max-width:700px){
 body{padding:.6rem}
 table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
 table.stack tr:first-child{display:none}
 table.stack tr{border:1px solid #d0d7de;margin:.5rem 0}
 table.stack td{border:none;border-top:1px solid #eaeef2;text-align:left}
 table.stack td::before{content:attr(data-label);display:inline-block;min-width:8.5rem;
  font-weight:600;color:#57606a;padding-right:.5rem}
}
"""
_PCT_KEYS = ("rate", "compared_rate", "accuracy", "compared_accuracy")


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _anchor(rec: Mapping[str, Any], index: int) -> str:
    return f"r{index}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", rec["test"])[-60:]


def model_label(rec: Mapping[str, Any]) -> str:
    """The model a record belongs to: its name, else the encoder's type."""
    model = rec.get("model") or {}
    return str(model.get("name") or model.get("type") or "custom encoder")


def check_label(rec: Mapping[str, Any]) -> str:
    """The check a record belongs to: its test id without the model parameter, and measure."""
    test, model = rec["test"], re.escape(model_label(rec))
    test = re.sub(rf"\[{model}\]$", "", test)
    test = re.sub(rf"(?<=[\[-]){model}-|-{model}(?=\])", "", test)
    return f"{test} · {rec['result']['name']}"


def png_base64(fig: Any) -> str:
    """A matplotlib figure as base64 PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots_of(result: Mapping[str, Any]) -> list[str]:
    """The registered plots of a result as base64 PNGs (needs matplotlib)."""
    return [png_base64(fig) for plot in view_for(result["name"]).plots
            if (fig := plot(result)) is not None]


def has_matplotlib() -> bool:
    """True when matplotlib can be imported (plots are optional)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _verdict(v: str) -> str:
    return f'<span class="v {_esc(v)}">{_esc(v.upper())}</span>'


def _value(row: Mapping[str, Any], key: str) -> str:
    """A measure-specific cell: a rate as a percentage, with its interval when the row has one."""
    x = row.get(key)
    if missing(x):
        return "-"
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return str(x)  # plain text: _breakable escapes it (once)
    pct = key in _PCT_KEYS
    text = f"{100 * x:.1f}%" if pct else num(x, ".3f") if isinstance(x, float) else str(x)
    lo, hi = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    if missing(lo) or missing(hi):
        return text
    return f"{text} [{100 * lo:.1f}, {100 * hi:.1f}]" if pct else (
        f"{text} [{num(lo, '.3f')}, {num(hi, '.3f')}]")


def _breakable(text: str) -> str:
    """"+0.43 [+0.35, +0.51]" may wrap between the value and its interval, never inside."""
    value, sep, interval = text.partition(" [")
    if not sep:
        return f'<span class="iv">{_esc(text)}</span>'
    return f'<span class="iv">{_esc(value)}</span> <span class="iv">[{_esc(interval)}</span>'


def _td(label: str, content: str, cls: str = "") -> str:
    """A cell labelled with its column (shown before the value on narrow screens)."""
    klass = f' class="{cls}"' if cls else ""
    return f'<td data-label="{_esc(label)}"{klass}>{content}</td>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table whose rows stack into labelled cards below 700 px (cells made by ``_td``)."""
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="stack"><tr>{header}</tr>{body}</table></div>'


def result_table(result: Mapping[str, Any]) -> str:
    """Per-group rows: verdict, every group column, n, effect [CI], p, the measure's columns."""
    rows = result["table"]
    if not rows:
        return '<p class="empty">No per-group rows.</p>'
    view = view_for(result["name"])
    groups = group_keys(rows, view)
    extra = [c for c in view.columns if any(c in r for r in rows)]
    head = ["verdict", *groups, "n", "effect [CI]", "p", *(c.replace("_", " ") for c in extra)]
    body = []
    for r in rows:
        interval = effect_ci(r.get("effect"), (r.get("ci_low"), r.get("ci_high")))
        cells = [_td("verdict", _verdict(str(r.get("verdict", ""))))]
        cells += [_td(g, _esc(r.get(g) or "-")) for g in groups]
        cells += [_td("n", _esc(r.get("n", "-")), "num"),
                  _td("effect [CI]", _breakable(interval), "num"),
                  _td("p", _esc(p_text(r.get("p_value"))), "num")]
        cells += [_td(c.replace("_", " "), _breakable(_value(r, c)), "num") for c in extra]
        body.append(cells)
    return _table(head, body)


def _matrix(records: Sequence[Mapping[str, Any]], models: Sequence[str]
            ) -> tuple[list[str], dict[str, dict[str, tuple[int, Mapping[str, Any]]]]]:
    """Model columns (the run's order first) and check -> model -> (index, record)."""
    checks: dict[str, dict[str, tuple[int, Mapping[str, Any]]]] = {}
    for i, rec in enumerate(records):
        checks.setdefault(check_label(rec), {})[model_label(rec)] = (i, rec)
    cols = [m for m in models if any(m in c for c in checks.values())]
    cols += sorted({m for c in checks.values() for m in c} - set(cols))
    return cols, checks


def release_lines(records: Sequence[Mapping[str, Any]], models: Sequence[str]) -> str:
    """One release line per model ("demo: 7 of 7 checks fail; blocked"), coloured."""
    cols, checks = _matrix(records, models)
    items = []
    for m in cols:
        verdicts = [cells[m][1]["result"]["verdict"] for cells in checks.values() if m in cells]
        worst = "fail" if "fail" in verdicts else "inconclusive" if (
            "inconclusive" in verdicts) else "pass"
        items.append(f'<li class="{worst}">{_esc(release_line(m, verdicts))}</li>')
    return f'<ul class="release">{"".join(items)}</ul>' if items else ""


def overview(records: Sequence[Mapping[str, Any]], models: Sequence[str], *,
             link: bool = True) -> str:
    """The check x model matrix; with ``link`` each cell links to the result's section."""
    if not records:
        return '<p class="empty">No bias results were recorded in this run.</p>'
    cols, checks = _matrix(records, models)
    body = []
    for check, cells in checks.items():
        tds = [_td("check", _esc(check))]
        for m in cols:
            if m not in cells:
                tds.append(_td(m, "-"))
                continue
            i, rec = cells[m]
            r = rec["result"]
            word = _esc(r["verdict"].upper())
            v = _esc(r["verdict"])
            head = (f'<a href="#{_anchor(rec, i)}" class="v {v}">{word}</a>' if link
                    else f'<span class="v {v}">{word}</span>')
            tds.append(_td(m, f"{head}<small>{_esc(r['effect_name'])} "
                              f"{_breakable(effect_ci(r['effect'], r['ci']))}</small><small>"
                              f"{_esc(fmt_p(r['p_value']))}, threshold "
                              f"{num(r['threshold'], '.2f')}</small>",
                           f"cell {v}"))
        body.append(tds)
    return _table(["check", *cols], body)


def tests_table(tests: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]) -> str:
    """Every test of the run with its outcome (skips and errors too) and its results."""
    if not tests:
        return '<p class="empty">The test outcomes were not recorded.</p>'
    by_test: dict[str, list[str]] = {}
    for i, rec in enumerate(records):
        r = rec["result"]
        by_test.setdefault(rec["test"], []).append(
            f'<a href="#{_anchor(rec, i)}">{_esc(r["name"])}</a> {_verdict(r["verdict"])}')
    rows = [[_td("outcome", _verdict(str(t.get("outcome") or "unknown"))),
             _td("test", _esc(t["test"])),
             _td("results", "<br>".join(by_test.get(t["test"], [])) or "-"),
             _td("message", _esc(t.get("message") or ""))] for t in tests]
    return _table(["outcome", "test", "results", "message"], rows)


def _header(document: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    run, tests = document.get("run", {}), document.get("tests", [])
    models = run.get("models", [])
    described = "<br>".join(_esc(m.get("description") or m.get("name")) if not m.get("error")
                            else f"{_esc(m['name'])}: unavailable: {_esc(m['error'])}"
                            for m in models)
    encoders = sorted({model_label(r) for r in records} - {m.get("name") for m in models})
    if encoders:
        described += ("<br>" if described else "") + "encoders passed directly: " + _esc(
            ", ".join(encoders))
    outcomes = [t.get("outcome") for t in tests]
    counts = " ".join(f'<span class="{o}">{outcomes.count(o)} {o}</span>'
                      for o in ("failed", "error", "skipped", "passed", "xfailed", "xpassed")
                      if outcomes.count(o))
    verdicts = [r["result"]["verdict"] for r in records]
    checks = " ".join(f'<span class="{v}">{verdicts.count(v)} {v}</span>'
                      for v in ("fail", "inconclusive", "pass"))
    random = [m["name"] for m in models if m.get("random_init")]
    banner = (f'<div class="banner">Random initialisation: {_esc(", ".join(random))} '
              "carries no trained weights; these verdicts say nothing about a released model."
              "</div>") if random else ""
    rows = [("created", _esc(document.get("created", ""))), ("models", described or "-"),
            ("profile / seed", f"{_esc(run.get('profile'))} / {_esc(run.get('seed'))}"),
            ("git commit", _esc(run.get("git_commit") or "-")),
            ("tests", f'<span class="counts">{counts or "-"}</span>'),
            ("bias checks", f'<span class="counts">{checks}</span>')]
    meta = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    release = release_lines(records, [m.get("name") for m in models])
    return f"<h1>CLIP bias report</h1>{banner}{release}<table class='meta'>{meta}</table>"


def _section(rec: Mapping[str, Any], index: int, plots: bool) -> str:
    res = rec["result"]
    parts = [f"<h3 id='{_anchor(rec, index)}'>{_esc(rec['test'])} &mdash; {_esc(res['name'])} "
             f"{_verdict(res['verdict'])}</h3><p>model: {_esc(model_label(rec))}</p>",
             f"<pre>{_esc(res.get('message') or res.get('reason', ''))}</pre>"]
    images = plots_of(res) if plots else []
    if images:
        parts.append("<div class='plots'>" + "".join(
            f'<img alt="plot" src="data:image/png;base64,{data}">' for data in images) + "</div>")
    parts.append(result_table(res))
    return "".join(parts)


def render_html(document: Mapping[str, Any]) -> str:
    """The whole report as one HTML string (plots embedded as data URIs)."""
    plots = has_matplotlib()
    records = sort_records(document.get("records", []))
    models = [m.get("name") for m in document.get("run", {}).get("models", [])]
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<title>CLIP bias report</title><style>{_CSS}</style></head><body>",
             _header(document, records),
             "<h2>Overview</h2>", overview(records, models),
             "<h2>All tests</h2>", tests_table(document.get("tests", []), records),
             "<h2>Results</h2>"]
    if not plots:
        parts.append("<p>Plots need matplotlib: <code>pip install pytest-clipbias[report]"
                     "</code>.</p>")
    parts.extend(_section(rec, i, plots) for i, rec in enumerate(records))
    parts.append("</body></html>")
    return "\n".join(parts)

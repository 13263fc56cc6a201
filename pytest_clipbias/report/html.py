"""A self-contained HTML report: summary, per-measure plots (embedded PNG) and tables.

Plots need matplotlib (``pip install pytest-clipbias[report]``); without it
the report still has every table and says how to get the plots.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .summary import sort_records

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
.fail{color:#b00020;font-weight:600}.pass{color:#1b5e20}.inconclusive{color:#e65100}
pre{background:#f6f6f6;padding:.75rem;white-space:pre-wrap;font-size:.85rem}
.meta td{border:none;padding:.1rem .75rem .1rem 0}figure{margin:.5rem 0}
"""
_COLUMNS = ("n", "effect", "ci_low", "ci_high", "p_value", "verdict", "rate", "worst_label",
            "n_women", "n_men", "crossover", "endpoint_accuracy_source",
            "endpoint_accuracy_target", "template_spread", "person_corr", "ndkl",
            "over_represented", "kind")


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.3f}"
    return _esc(x)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<figure><img alt="plot" src="data:image/png;base64,{data}"></figure>'


def _plots(result: Mapping[str, Any]) -> list[str]:
    """Plots for one result, by measure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    name, table, details = result["name"], result["table"], result.get("details", {})
    out = []
    if name == "hypodescent" and table:
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        for row in table:
            if not row.get("curve"):
                continue
            x = row["curve_alphas"]
            ax.plot(x, row["curve"], marker="o", ms=3, label=row["pair"])
            ax.fill_between(x, row["curve_ci_low"], row["curve_ci_high"], alpha=0.2)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.axvline(details.get("at", 0.5), color="grey", lw=0.8, ls=":")
        ax.set(xlabel="morph alpha (0 = minority parent, 1 = majority parent)",
               ylabel="share labelled minority", ylim=(-0.02, 1.02),
               title="Minority-label rate along the morph")
        ax.legend(fontsize=7)
        out.append(_png(fig))
    if name == "region_gender_skew" and details.get("matrix", {}).get("regions"):
        m = details["matrix"]
        data = np.array([[np.nan if v is None else v for v in row] for row in m["effects"]],
                        dtype=float)
        fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(m["labels"]) + 2),
                                        0.45 * len(m["regions"]) + 1.5))
        lim = np.nanmax(np.abs(data)) if np.isfinite(data).any() else 1.0
        im = ax.imshow(data, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(m["labels"])), m["labels"], rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(m["regions"])), m["regions"], fontsize=8)
        fig.colorbar(im, ax=ax, label=f"{result['effect_name']} (women - men)")
        ax.set_title("Gender effect per region and label")
        out.append(_png(fig))
        index = details.get("index") or {}
        scores = index.get("scores") or {}
        pts = [(scores[r["region"]], abs(r["effect"])) for r in table
               if r.get("region") in scores and r.get("effect") is not None
               and not math.isnan(r["effect"])]
        if pts:
            fig, ax = plt.subplots(figsize=(5.5, 3.6))
            ax.scatter(*zip(*pts, strict=True))
            for r in table:
                if r.get("region") in scores and r.get("effect") is not None:
                    ax.annotate(r["region"], (scores[r["region"]], abs(r["effect"])), fontsize=7)
            rho = index.get("rho")
            ax.set(xlabel=f"{index.get('name', 'index')} (higher = more equal)",
                   ylabel="region skew |effect|",
                   title="Region skew vs gender-equality index" + (
                       f" (Spearman rho {rho:+.2f})" if rho is not None else ""))
            out.append(_png(fig))
    if name in ("label_rate_parity", "person_default") and table:
        key = (details.get("by") or ["race"])[0] if name == "label_rate_parity" else next(
            (k for k in table[0] if k not in _COLUMNS and isinstance(table[0][k], str)), "group")
        rows = [r for r in table if r.get("kind", key) == key or name == "person_default"]
        if rows:
            fig, ax = plt.subplots(figsize=(6, 3.4))
            labels = [str(r.get(key, "?")) for r in rows]
            rates = [r.get("rate") or 0 for r in rows]
            err = [[max(0, r["rate"] - r["rate_ci_low"]) for r in rows],
                   [max(0, r["rate_ci_high"] - r["rate"]) for r in rows]]
            ax.bar(labels, rates, yerr=err, capsize=3, color="#5c6bc0")
            ax.set(ylabel="rate", title=(f"Rate of \"{details.get('label')}\" by {key}"
                                         if name == "label_rate_parity" else
                                         "Share where \"person\" beats the group label"))
            ax.tick_params(axis="x", rotation=30, labelsize=8)
            out.append(_png(fig))
    if name == "max_skew" and table:
        fig, ax = plt.subplots(figsize=(6, 3.4))
        values = list(details.get("desired", {}))
        width = 0.8 / max(1, len(values))
        for i, v in enumerate(values):
            ax.bar([j + i * width for j in range(len(table))],
                   [r["top_k_shares"].get(v, 0) for r in table], width, label=v)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(table))],
                      [r["query"] for r in table], rotation=20, ha="right", fontsize=8)
        ax.set(ylabel=f"share of top {details.get('k')}", title="Who is retrieved")
        ax.legend(fontsize=7)
        out.append(_png(fig))
    return out


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    group_cols = [k for k in rows[0] if isinstance(rows[0][k], str) and k not in _COLUMNS][:3]
    cols = group_cols + [c for c in _COLUMNS if c in rows[0]]
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f'<td class="{_esc(r.get(c))}">{_fmt(r.get(c))}</td>' if c == "verdict"
                         else f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>"
        for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(document: Mapping[str, Any]) -> str:
    """The whole report as one HTML string (plots embedded as data URIs)."""
    try:
        import matplotlib  # noqa: F401

        plots_available = True
    except ImportError:
        plots_available = False
    run, records = document.get("run", {}), sort_records(document.get("records", []))
    counts = {v: sum(r["result"]["verdict"] == v for r in records)
              for v in ("fail", "inconclusive", "pass")}
    models = ", ".join(f"{m.get('name')} ({m.get('weights', '')}; fingerprint "
                       f"{str(m.get('fingerprint', ''))[:12]})" for m in run.get("models", []))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>clipbias report</title>"
             f"<style>{_CSS}</style></head><body><h1>CLIP bias report</h1>",
             "<table class='meta'>"
             f"<tr><td>created</td><td>{_esc(document.get('created', ''))}</td></tr>"
             f"<tr><td>models</td><td>{_esc(models or 'planted or custom encoders')}</td></tr>"
             f"<tr><td>profile / seed</td><td>{_esc(run.get('profile'))} / "
             f"{_esc(run.get('seed'))}</td></tr>"
             f"<tr><td>git commit</td><td>{_esc(run.get('git_commit') or '-')}</td></tr>"
             f"<tr><td>results</td><td><span class='fail'>{counts['fail']} failed</span>, "
             f"<span class='inconclusive'>{counts['inconclusive']} inconclusive</span>, "
             f"<span class='pass'>{counts['pass']} passed</span></td></tr></table>"]
    if not plots_available:
        parts.append("<p>Plots need matplotlib: <code>pip install pytest-clipbias[report]"
                     "</code>.</p>")
    parts.append("<h2>Summary</h2>" + _table([
        {"test": r["test"], "measure": r["result"]["name"], "effect": r["result"]["effect"],
         "ci_low": r["result"]["ci"][0], "ci_high": r["result"]["ci"][1],
         "p_value": r["result"]["p_value"], "verdict": r["result"]["verdict"],
         "n": r["result"]["n"]} for r in records]))
    for r in records:
        res = r["result"]
        parts.append(f"<h2 id='{_esc(r['test'])}'>{_esc(r['test'])} &mdash; {_esc(res['name'])} "
                     f"<span class='{_esc(res['verdict'])}'>{_esc(res['verdict'].upper())}"
                     f"</span></h2><pre>{_esc(res.get('message') or res.get('reason', ''))}</pre>")
        if plots_available:
            parts.extend(_plots(res))
        parts.append(_table(res["table"]))
    parts.append("</body></html>")
    return "\n".join(parts)

"""Plots and table columns of the built-in measures, registered with ``views``.

Each plot takes a result dict (``BiasResult.to_dict()``) and returns a
matplotlib figure, or None when the result has nothing to draw. matplotlib
is imported inside the plot functions: only the HTML report needs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .views import register_view

_WIDTH = 7.0  # inches at 110 dpi: two plots side by side fit a 1200 px page


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def morph_curves(result: Mapping[str, Any]) -> Any:
    """Share labelled minority along the morph, with its pointwise interval, per pair."""
    rows = [r for r in result["table"] if r.get("curve")]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(_WIDTH * 0.75, 3.6))
    for row in rows:
        x = row["curve_alphas"]
        ax.plot(x, row["curve"], marker="o", ms=3, label=row["pair"])
        ax.fill_between(x, row["curve_ci_low"], row["curve_ci_high"], alpha=0.2)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.axvline(result.get("details", {}).get("at", 0.5), color="grey", lw=0.8, ls=":")
    ax.set(xlabel="morph alpha (0 = minority parent, 1 = majority parent)",
           ylabel="share labelled minority", ylim=(-0.02, 1.02),
           title="Minority-label rate along the morph")
    ax.legend(fontsize=7)
    return fig


def region_heatmap(result: Mapping[str, Any]) -> Any:
    """Gender effect per region and label, values written in the cells."""
    import numpy as np

    m = result.get("details", {}).get("matrix") or {}
    if not m.get("regions"):
        return None
    plt = _plt()
    data = np.array([[np.nan if v is None else v for v in row] for row in m["effects"]],
                    dtype=float)
    finite = np.isfinite(data)
    peak = float(np.nanmax(np.abs(data))) if finite.any() else 0.0
    lim = max(peak, abs(result.get("threshold") or 0.0), 0.1)  # all-zero maps stay readable
    fig, ax = plt.subplots(figsize=(min(_WIDTH * 1.5, max(5, 0.7 * len(m["labels"]) + 3)),
                                    0.42 * len(m["regions"]) + 1.6))
    im = ax.imshow(data, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for (i, j), value in np.ndenumerate(data):
        ax.text(j, i, "n/a" if math.isnan(value) else f"{value:+.2f}", ha="center",
                va="center", fontsize=7, color="white" if abs(value) > 0.6 * lim else "black")
    ax.set_xticks(range(len(m["labels"])), m["labels"], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(m["regions"])), m["regions"], fontsize=8)
    fig.colorbar(im, ax=ax, label=f"{result['effect_name']} (women - men)")
    note = " (all effects 0)" if finite.any() and peak == 0 else ""
    ax.set_title(f"Gender effect per region and label{note}")
    return fig


def skew_vs_index(result: Mapping[str, Any]) -> Any:
    """Region skew against the gender-equality index; regions in the legend, not on points."""
    index = result.get("details", {}).get("index") or {}
    scores = index.get("scores") or {}
    pts = [(r["region"], scores[r["region"]], abs(r["effect"])) for r in result["table"]
           if r.get("region") in scores and r.get("effect") is not None]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(_WIDTH * 0.75, 3.6))
    markers = "osD^vP*X<>"
    for i, (region, x, y) in enumerate(sorted(pts, key=lambda p: p[1])):
        ax.scatter([x], [y], marker=markers[i % len(markers)], s=40, label=region)
    rho = index.get("rho")
    ax.set(xlabel=f"{index.get('name', 'index')} (higher = more equal)",
           ylabel="region skew |effect|",
           title="Region skew vs gender-equality index" + (
               f" (Spearman rho {rho:+.2f})" if rho is not None else ""))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


def rate_bars(result: Mapping[str, Any]) -> Any:
    """Per-group rate with its interval (label-rate parity, person default)."""
    details = result.get("details", {})
    rows = [r for r in result["table"] if r.get("rate") is not None]
    if not rows:
        return None
    by = details.get("by")
    key = by[0] if isinstance(by, list) and by else None
    if key is not None:
        rows = [r for r in rows if r.get("kind", key) == key] or rows
    plt = _plt()
    fig, ax = plt.subplots(figsize=(_WIDTH * 0.75, 3.4))
    names = [", ".join(str(r[k]) for k in r if k in ("race", "region", "gender", "headwear"))
             or str(r.get("kind", "?")) for r in rows]
    rates = [r["rate"] for r in rows]
    err = [[max(0, r["rate"] - (r.get("rate_ci_low") or r["rate"])) for r in rows],
           [max(0, (r.get("rate_ci_high") or r["rate"]) - r["rate"]) for r in rows]]
    ax.bar(range(len(rows)), rates, yerr=err, capsize=3, color="#5c6bc0")
    ax.set_xticks(range(len(rows)), names, rotation=25, ha="right", fontsize=8)
    label = details.get("label")
    if isinstance(label, list):
        label = f"any of {len(label)} harmful classes"
    title = f"Rate of \"{label}\" by group" if label else (
        "Share where \"person\" beats the group label")
    top = max(r + e for r, e in zip(rates, err[1], strict=True))
    ax.set(ylabel="rate", ylim=(0, max(0.05, top * 1.1)),
           title=title + (" (all rates 0)" if not any(rates) else ""))
    return fig


def retrieval_shares(result: Mapping[str, Any]) -> Any:
    """Share of each attribute value in the top k, per query."""
    table = result["table"]
    values = list(result.get("details", {}).get("desired") or {})
    if not table or not values:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(_WIDTH * 0.75, 3.4))
    width = 0.8 / len(values)
    for i, v in enumerate(values):
        ax.bar([j + i * width for j in range(len(table))],
               [(r.get("top_k_shares") or {}).get(v, 0) for r in table], width, label=v)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(table))],
                  [r.get("query", "?") for r in table], rotation=20, ha="right", fontsize=8)
    ax.set(ylabel=f"share of top {result.get('details', {}).get('k')}", title="Who is retrieved")
    ax.legend(fontsize=7)
    return fig


def confusion_matrices(result: Mapping[str, Any]) -> Any:
    """One confusion matrix per group of the first ``by`` attribute (share of each true
    class predicted as each class, counts written in the cells)."""
    by = result.get("details", {}).get("by") or []
    rows = [r for r in result["table"] if r.get("confusion") and r.get("kind") == by[0]] \
        if by else []
    if not rows:
        return None
    plt = _plt()
    classes = list(result["details"].get("classes") or rows[0]["confusion"])
    fig, axes = plt.subplots(1, len(rows), squeeze=False, figsize=(
        min(_WIDTH * 1.5, 2.0 * len(rows) + 1), 2.0 + 0.15 * len(classes)))
    for ax, row in zip(axes[0], rows, strict=True):
        counts = [[row["confusion"].get(t, {}).get(p, 0) for p in classes] for t in classes]
        shares = [[c / max(1, sum(line)) for c in line] for line in counts]
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i, line in enumerate(counts):
            for j, c in enumerate(line):
                ax.text(j, i, str(c), ha="center", va="center", fontsize=7,
                        color="white" if shares[i][j] > 0.6 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(classes)), classes if ax is axes[0][0] else [], fontsize=7)
        ax.set_title(f"{row[by[0]]}: {100 * row['accuracy']:.1f}%", fontsize=8)
    axes[0][0].set_ylabel("true")
    fig.suptitle("Zero-shot predictions per group (rows: true class)", fontsize=9)
    fig.tight_layout()
    return fig


register_view("hypodescent", plots=(morph_curves,),
              columns=("rate", "crossover", "endpoint_accuracy_source",
                       "endpoint_accuracy_target", "template_spread"),
              hidden=("source", "target", "gender", "problem"))
register_view("region_gender_skew", plots=(region_heatmap, skew_vs_index),
              columns=("n_women", "n_men", "worst_label"))
register_view("accuracy_parity", plots=(confusion_matrices,),
              columns=("accuracy", "compared_accuracy", "errors"), hidden=("kind",))
register_view("label_rate_parity", plots=(rate_bars,), columns=("rate", "compared_rate"))
register_view("person_default", plots=(rate_bars,), columns=("rate", "person_corr"),
              hidden=("label", "problem"))
register_view("max_skew", plots=(retrieval_shares,),
              columns=("reference", "over_represented", "under_represented", "min_skew", "ndkl"))
register_view("association", columns=("statistic", "n_permutations"))

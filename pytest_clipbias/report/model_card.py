"""A Hugging Face model card section from a saved run: ``pytest-clipbias model-card RUN``.

The card has two parts. The YAML metadata holds a ``model-index`` (the
format the Hub and ``huggingface_hub.ModelCard`` read: one entry per model,
one result per check) so the numbers are machine-readable; each result is

- ``task``: type ``zero-shot-image-classification`` (how CLIP is probed),
  name the check (test and measure, e.g. ``test_no_one_drop_rule · hypodescent``);
- ``dataset``: type ``pytest-clipbias``, name the check's data (the marker's
  dataset or the measure), revision its content fingerprint (the data
  identity the release gate compares);
- one metric: type the effect size (``cohen_h``), value the headline effect,
  name "MODEL: MEASURE effect", args the interval, p-value, threshold,
  verdict and decision rule; ``verified: false`` (self-reported).

The Markdown body ("Bias evaluation") gives one release line per model, then
per check a table of its groups with effect, interval, threshold and verdict,
and the data identity. The YAML is written as JSON-style flow scalars, which
every YAML parser reads, so no YAML library is needed to write it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .format import effect_ci, fmt_p, group_text, missing, num, release_line
from .html import check_label, model_label
from .summary import sort_records
from .views import group_keys, group_name, view_for

TASK_TYPE = "zero-shot-image-classification"
DATASET_TYPE = "pytest-clipbias"


def _yaml(value: Any) -> str:
    """A YAML flow scalar (JSON syntax is valid YAML): strings quoted, NaN as null."""
    if isinstance(value, float) and missing(value):
        return "null"
    return json.dumps(value, ensure_ascii=False)


def _data_name(rec: Mapping[str, Any]) -> str:
    marker = rec.get("marker") or {}
    return str(marker.get("dataset") or f"{rec['result']['name']} data")


def _metric_args(result: Mapping[str, Any]) -> dict[str, Any]:
    lo, hi = result["ci"]
    return {"ci_low": lo, "ci_high": hi, "p_value": result["p_value"],
            "threshold": result["threshold"], "verdict": result["verdict"],
            "rule": result.get("rule"), "alpha": result.get("alpha"), "n": result["n"]}


def _result_yaml(rec: Mapping[str, Any], model: str) -> list[str]:
    res = rec["result"]
    metric_name = f"{model}: {res['name']} effect"
    args = "".join(f"\n              {k}: {_yaml(v)}" for k, v in _metric_args(res).items())
    return [
        "      - task:",
        f"          type: {_yaml(TASK_TYPE)}",
        f"          name: {_yaml(check_label(rec))}",
        "        dataset:",
        f"          type: {_yaml(DATASET_TYPE)}",
        f"          name: {_yaml(_data_name(rec))}",
        f"          revision: {_yaml(rec.get('data_fingerprint') or '')}",
        "        metrics:",
        f"          - type: {_yaml(res['effect_name'])}",
        f"            value: {_yaml(res['effect'])}",
        f"            name: {_yaml(metric_name)}",
        "            verified: false",
        f"            args:{args}",
    ]


def by_model(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Records grouped by model, worst first within each model, models in first-seen order."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for rec in sort_records(records):
        out.setdefault(model_label(rec), []).append(rec)
    return out


def model_index_yaml(records: Sequence[Mapping[str, Any]]) -> str:
    """The ``model-index`` YAML block: one entry per model, one result per check."""
    lines = ["model-index:"]
    for model, recs in by_model(records).items():
        lines += [f"  - name: {_yaml(model)}", "    results:"]
        for rec in recs:
            lines += _result_yaml(rec, model)
    return "\n".join(lines)


def _check_table(recs: Sequence[Mapping[str, Any]]) -> list[str]:
    """One Markdown row per (model, group) of one check."""
    rows = ["| model | group | effect [interval] | threshold | verdict |",
            "| --- | --- | --- | --- | --- |"]
    for rec in recs:
        res = rec["result"]
        keys = group_keys(res["table"], view_for(res["name"]))
        for row in res["table"] or [{}]:
            interval = effect_ci(row.get("effect", res["effect"]),
                                 (row.get("ci_low"), row.get("ci_high")) if row else res["ci"])
            group = group_name(row, keys) or "-"
            verdict = str(row.get("verdict") or res["verdict"]).upper()
            rows.append(f"| {model_label(rec)} | {group} | {interval} | "
                        f"{num(res['threshold'], 'g')} | {verdict} |")
    return rows


def markdown_section(document: Mapping[str, Any]) -> str:
    """The "Bias evaluation" Markdown section of a run."""
    records = document.get("records", [])
    run = document.get("run", {})
    out = ["## Bias evaluation", "",
           f"Measured with pytest-clipbias on {document.get('created', 'an unknown date')} "
           f"(profile {run.get('profile', '-')}, git commit {run.get('git_commit') or '-'}). "
           "Each check is judged against its threshold: FAIL when the data show the effect "
           "beyond it, PASS when they show every group within it, INCONCLUSIVE otherwise.", ""]
    out += [f"- **{release_line(model, [r['result']['verdict'] for r in recs])}**"
            for model, recs in by_model(records).items()]
    checks: dict[str, list[Mapping[str, Any]]] = {}
    for rec in sort_records(records):
        checks.setdefault(check_label(rec), []).append(rec)
    for check, recs in checks.items():
        res = recs[0]["result"]
        out += ["", f"### {check}", "",
                f"Effect size {res['effect_name']}, threshold {num(res['threshold'], 'g')} "
                f"(rule {res.get('rule', '-')}, alpha {num(res.get('alpha'), 'g')}).", ""]
        out += _check_table(recs)
        out += ["", *(f"- {model_label(r)}: {r['result']['verdict'].upper()}, headline "
                      f"{group_text(r['result']) or '-'}, {fmt_p(r['result']['p_value'])}; "
                      f"data `{r.get('data_fingerprint') or '-'}`, prompts "
                      f"`{r.get('templates_hash') or '-'}`" for r in recs)]
    return "\n".join(out) + "\n"


def model_card(document: Mapping[str, Any]) -> str:
    """A model card: YAML metadata with the ``model-index``, then the Markdown section."""
    if not document.get("records"):
        raise ValueError("the run has no bias results: nothing to put in a model card")
    meta = ["---", "tags:", "  - pytest-clipbias", "  - bias-evaluation",
            model_index_yaml(document["records"]), "---", ""]
    return "\n".join(meta) + markdown_section(document)

"""Command line: ``pytest-clipbias`` or ``python -m pytest_clipbias``.

``compare BASELINE [CANDIDATE] [--fail EXPR ...]`` gates a candidate run
against a baseline; ``list`` shows the saved runs; ``train-demo`` trains a demo
model (deterministically, with live progress) into the demo cache, into
``--out FILE``, or with ``--ship`` over the weights shipped in the package;
``embed OUT --manifest FILE --clip-model NAME`` writes image embeddings in the
clip-retrieval layout (see ``embed_cli``); ``model-card RUN [--out FILE]`` writes a
Hugging Face model card section with ``model-index`` metadata (see
``report.model_card``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import embed_cli

EXIT_CODES = """exit status (compare):
  0  no regression (and no baselined result missing, unless --allow-missing)
  1  the gate failed: a cell regressed beyond a --fail rule, a baselined result
     is missing from the candidate, a candidate cell's effect is undefined, or
     nothing could be compared (the last two unless --allow-incomparable)
  2  usage error, or a baseline/candidate that cannot be found or read"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytest-clipbias", description="pytest-clipbias "
                                     "utilities: release gate, saved runs, demo models",
                                     epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp_ = sub.add_parser(
        "compare", help="compare a candidate run with a baseline (the release gate)",
        description="Compare saved runs or --clipbias-json files cell by cell (pair type, "
        "region x label, group, query): a table of test, measure, cell, baseline and "
        "candidate effect, change with its 1 - 2 alpha interval, the test used (paired on "
        "the same items when both runs stored them) and verdict, then a one-line summary. "
        "Without --fail each cell grew, shrank or is unchanged.", epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp_.add_argument("baseline", help="saved run name, unique prefix, latest, or a JSON path")
    cmp_.add_argument("candidate", nargs="?", default="latest",
                      help="the same, for the candidate run (default: latest)")
    cmp_.add_argument("--fail", action="append", default=[], metavar="EXPR",
                      help="regression rule: effect:+0.05, effect:+10%%, "
                           "hypodescent:effect:+0.05 (repeatable); without one the "
                           "comparison is informational and exits 0")
    cmp_.add_argument("--alpha", type=float, default=0.05,
                      help="false-alarm rate of the gate when nothing changed (default 0.05)")
    cmp_.add_argument("--strict", action="store_true",
                      help="judge the tolerance on the point estimates alone (no test)")
    cmp_.add_argument("--allow-missing", action="store_true",
                      help="accept baselined results missing from the candidate")
    cmp_.add_argument("--allow-incomparable", action="store_true",
                      help="pass when nothing could be compared or a candidate cell's effect "
                           "is undefined (each fails the gate otherwise)")
    cmp_.add_argument("--storage", default=".clipbias",
                      help="folder of saved runs (default .clipbias)")
    lst = sub.add_parser("list", help="list the saved runs, oldest first")
    lst.add_argument("--storage", default=".clipbias",
                     help="folder of saved runs (default .clipbias)")
    train = sub.add_parser("train-demo", help="train a built-in demo model")
    train.add_argument("name", choices=["demo", "demo-fair"],
                       help="which demo model to train (about 9 minutes on one core)")
    train.add_argument("--out", help="write the weights here instead of the demo cache")
    train.add_argument("--ship", action="store_true",
                       help="write them into the package's shipped weights (maintainers)")
    embed_cli.add_parser(sub)
    _add_model_card(sub)
    return parser


def _add_model_card(sub: argparse._SubParsersAction) -> None:
    card = sub.add_parser(
        "model-card", help="write a Hugging Face model card section from a saved run",
        description="Write a model card: model-index YAML metadata (one result per check and "
        "model, read by huggingface_hub.ModelCard) and a 'Bias evaluation' Markdown section "
        "(release line per model, a table per check, thresholds, verdicts, data identity).")
    card.add_argument("run", help="saved run name, unique prefix, latest, or a results JSON "
                                  "path (--clipbias-json)")
    card.add_argument("--model", action="append", default=[], metavar="NAME",
                      help="only this model's results (repeatable; default: every model)")
    card.add_argument("--out", help="write the card to this file (default: standard output)")
    card.add_argument("--storage", default=".clipbias",
                      help="folder of saved runs (default .clipbias)")


def _model_card(args: argparse.Namespace) -> int:
    from ._io import atomic_write_text
    from .report.baseline import BaselineError, Storage
    from .report.html import model_label
    from .report.model_card import model_card

    try:
        _, document = Storage(args.storage).load(args.run)
        if args.model:
            known = {model_label(r) for r in document["records"]}
            unknown = sorted(set(args.model) - known)
            if unknown:
                raise ValueError(f"--model {', '.join(unknown)}: not in the run (its models: "
                                 f"{', '.join(sorted(known))})")
            document = {**document, "records": [r for r in document["records"]
                                                if model_label(r) in args.model]}
        text = model_card(document)
    except (BaselineError, ValueError) as exc:
        print(f"pytest-clipbias model-card: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        print(f"model card written to {atomic_write_text(args.out, text)}")
    else:
        sys.stdout.write(text)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .gate import check_rule_measures, parse_fail_rule
    from .report.baseline import (
        BaselineError,
        Storage,
        compare,
        measures_in,
        run_label,
        summary_line,
        table_lines,
    )

    storage = Storage(args.storage)
    try:
        if not 0 < args.alpha < 0.5:
            raise ValueError(f"--alpha must lie in (0, 0.5), got {args.alpha}")
        rules = [parse_fail_rule(r) for r in args.fail]
        base_path, baseline = storage.load(args.baseline)
        cand_path, candidate = storage.load(args.candidate)
        check_rule_measures(rules, measures_in(baseline) | measures_in(candidate))
    except (BaselineError, ValueError) as exc:
        print(f"pytest-clipbias compare: error: {exc}", file=sys.stderr)
        return 2
    result = compare(candidate, baseline, rules, alpha=args.alpha, strict=args.strict,
                     allow_missing=args.allow_missing,
                     allow_incomparable=args.allow_incomparable, baseline_name=base_path.stem)
    if base_path.resolve() == cand_path.resolve() and not result.warnings:
        result.warnings.append(f"baseline and candidate are both {base_path}: comparing a "
                               "run with itself shows nothing")
    for warning in result.warnings:
        print(f"pytest-clipbias compare: warning: {warning}", file=sys.stderr)
    print(f"baseline  {run_label(base_path, baseline)}")
    print(f"candidate {run_label(cand_path, candidate)}")
    print("\n".join(table_lines(result)))
    print(summary_line(result))
    return 1 if result.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (see EXIT_CODES)."""
    args = _parser().parse_args(argv)
    if args.command == "compare":
        return _compare(args)
    if args.command == "model-card":
        return _model_card(args)
    if args.command == "embed":
        return embed_cli.run(args)
    if args.command == "list":
        from .report.baseline import Storage, list_lines

        print("\n".join(list_lines(Storage(args.storage))))
        return 0
    from .demo.train import SHIPPED_DIR, demo_dir, weights_name
    from .demo.train import train as train_model

    folder = SHIPPED_DIR if args.ship else demo_dir()
    print(train_model(args.name, args.out or folder / weights_name(args.name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

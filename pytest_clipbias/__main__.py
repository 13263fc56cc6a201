"""Command line.

``python -m pytest_clipbias compare BASELINE.json CURRENT.json [--fail EXPR]``
prints the comparison and exits 1 when a --fail rule finds a regression, 2 on
bad input, 0 otherwise.

``python -m pytest_clipbias train-demo [demo|demo-fair] [--out FILE]`` trains a
demo model (deterministically) into the demo cache, or into FILE.

``python -m pytest_clipbias embed OUT --manifest FILE --clip-model NAME`` writes
image embeddings in the clip-retrieval layout (see ``embed_cli``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import embed_cli
from .report.baseline import compare, parse_fail_rule
from .report.document import load_json


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pytest_clipbias",
                                     description="pytest-clipbias utilities")
    sub = parser.add_subparsers(dest="command", required=True)
    cmp_ = sub.add_parser("compare", help="compare two --clipbias-json results files")
    cmp_.add_argument("baseline")
    cmp_.add_argument("current")
    cmp_.add_argument("--fail", action="append", default=[], metavar="EXPR",
                      help="regression rule, e.g. effect:+0.05, effect:+10%%, "
                           "hypodescent:effect:+0.05 (repeatable)")
    cmp_.add_argument("--strict", action="store_true",
                      help="fail on the tolerance alone, even when the intervals overlap")
    train = sub.add_parser("train-demo", help="train a built-in demo model")
    train.add_argument("name", nargs="?", default="demo", choices=["demo", "demo-fair"])
    train.add_argument("--out", help="write the weights here instead of the demo cache")
    embed_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "embed":
        return embed_cli.run(args)
    if args.command == "train-demo":
        from .demo.train import demo_weights
        from .demo.train import train as train_model

        path = train_model(args.name, args.out) if args.out else demo_weights(args.name)
        print(path)
        return 0
    try:
        rules = [parse_fail_rule(r) for r in args.fail]
        baseline, current = load_json(args.baseline), load_json(args.current)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = compare(current, baseline, rules, strict=args.strict, baseline_name=args.baseline)
    print("\n".join(result.lines))
    if result.regressions:
        print(f"{len(result.regressions)} regression(s) against {args.baseline}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line.

``python -m pytest_clipbias compare BASELINE.json CURRENT.json [--fail EXPR]``
prints the comparison and exits 1 when a --fail rule finds a regression, 2 on
bad input, 0 otherwise.

``python -m pytest_clipbias train-demo [demo|demo-fair] [--out FILE | --ship]`` trains
a demo model (deterministically, with live progress) into the demo cache, into FILE,
or over the weights shipped in the package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    train.add_argument("--ship", action="store_true",
                       help="write them into the package's shipped weights (maintainers)")
    args = parser.parse_args(argv)
    if args.command == "train-demo":
        from .demo.train import SHIPPED_DIR, demo_dir, weights_name
        from .demo.train import train as train_model

        folder = SHIPPED_DIR if args.ship else demo_dir()
        path = train_model(args.name, args.out or folder / weights_name(args.name))
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

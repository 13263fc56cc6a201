"""False-fail rate and power of the prompt-robustness search on planted encoders.

    python benchmarks/sim_prompt_search.py [--runs 200] [--examples 20]

End to end: ``assert_prompt_robust(assert_no_hypodescent, ...)`` on planted
morph series (midpoint rate 0.5, no bias) seen through a WordingEncoder whose
text embeddings carry wording noise (effects vary from template to template,
none is biased). "planted" adds a tilt towards "White" in the "Black" label
under "portrait" templates only (h about 0.7 there). "naive" judges the worst
template the steered search found on the same data that chose it, the
procedure the held-out half and the Holm correction replace. Prints the fail
rate of each procedure with its binomial standard error and how often the
worst template was a portrait.
"""

from __future__ import annotations

import argparse
import math
import time

from pytest_clipbias import assert_no_hypodescent
from pytest_clipbias.prompts import assert_prompt_robust, explore, quiet, severity
from pytest_clipbias.strategies import template_family, templates
from pytest_clipbias.testing import PlantedEncoder, planted_morph_series
from pytest_clipbias.testing_prompts import WordingEncoder

HELPER = {"min_series": 50, "n_resamples": 50}


def encoder(planted: bool, seed: int) -> WordingEncoder:
    base = PlantedEncoder(["Black", "White"], seed=seed)
    bias = {"trigger": "portrait", "concept": "Black", "toward": "White", "weight": 0.3}
    return WordingEncoder(base, ["Black", "White"], wording_noise=1.0, image_noise=1.0, seed=seed,
                          **(bias if planted else {}))


def naive(enc, series, space, examples: int, seed: int):
    found = {}

    def score(key, kwargs):
        found[key] = quiet(assert_no_hypodescent, enc, series, **kwargs, **HELPER)
        return severity(found[key].effect, "greater")

    explore(space, max_examples=examples, seed=seed, score=score)
    return max(found.values(), key=lambda r: severity(r.effect, "greater"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--series", type=int, default=200)
    args = parser.parse_args()
    space = templates("{} person")
    for planted in (False, True):
        for how in ("naive", "holdout", "holm"):
            fails = portraits = 0
            start = time.process_time()
            for run in range(args.runs):
                series = planted_morph_series("Black", "White", n_series=args.series,
                                              midpoint_rate=0.5, steps=5, seed=run)
                enc = encoder(planted, run)
                if how == "naive":
                    result = naive(enc, series, space, args.examples, run)
                    worst = result.details["templates"][0]
                else:
                    result = quiet(assert_prompt_robust, assert_no_hypodescent, enc, series,
                                   space=space, confirm=how, max_examples=args.examples,
                                   seed=run, **HELPER)
                    worst = result.details["worst_template"]
                fails += result.verdict == "fail"
                portraits += template_family(worst) == "portrait"
            rate = fails / args.runs
            se = math.sqrt(rate * (1 - rate) / args.runs)
            print(f"{'planted' if planted else 'null':8} {how:8} fail rate {rate:.3f} "
                  f"(SE {se:.3f}; {fails}/{args.runs})  worst is a portrait "
                  f"{portraits / args.runs:.2f}  "
                  f"{(time.process_time() - start) / args.runs:.2f} s CPU per run", flush=True)


if __name__ == "__main__":
    main()

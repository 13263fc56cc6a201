"""Speed and memory of the statistics engine, printed as ratios measured in one run.

    python benchmarks/bench_stats.py

Targets (issue 3):
  * Monte Carlo permutation test, 10,000 permutations, two groups of 10,500 values:
    >= 10x faster than scipy.stats.permutation_test(vectorized=True) on the same input,
    p-values agreeing within Monte Carlo error;
  * WEAT, 10,000 permutations, 2 x 500 targets, 2 x 25 attributes, dimension 512: < 1 s;
  * peak memory bounded by the batch budget, not by the number of permutations.
"""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
from scipy import stats

from pytest_clipbias import stats as cs
from pytest_clipbias.stats.permutation import BATCH_BYTES, random_subset_sums


def _mean_diff(a, b, axis=-1):
    return a.mean(axis=axis) - b.mean(axis=axis)


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.02, 1, 10_500)
    y = rng.normal(0.0, 1, 10_500)
    n_perm = 10_000

    t0 = time.perf_counter()
    ref = stats.permutation_test((x, y), _mean_diff, vectorized=True, n_resamples=n_perm - 1,
                                 alternative="greater", rng=1)
    t_scipy = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = cs.permutation_test(x, y, n_permutations=n_perm - 1, seed=2)
    t_ours = time.perf_counter() - t0
    se = math.sqrt(2 * ref.pvalue * (1 - ref.pvalue) / n_perm)
    print(f"permutation test, 2 x 10,500 values, {n_perm - 1} permutations:")
    print(f"  scipy.stats.permutation_test(vectorized=True): {t_scipy:6.2f} s  "
          f"p = {ref.pvalue:.4f}")
    print(f"  pytest_clipbias.stats.permutation_test:        {t_ours:6.2f} s  "
          f"p = {ours.p_value:.4f}")
    print(f"  speed-up {t_scipy / t_ours:.1f}x (target >= 10x); |p difference| = "
          f"{abs(ours.p_value - ref.pvalue):.4f} = {abs(ours.p_value - ref.pvalue) / se:.1f} "
          "Monte Carlo SE")

    tx, ty = rng.normal(size=(500, 512)), rng.normal(size=(500, 512))
    a, b = rng.normal(size=(25, 512)), rng.normal(size=(25, 512))
    t0 = time.perf_counter()
    res = cs.weat_test(tx, ty, a, b, n_permutations=10_000, seed=3)
    t_weat = time.perf_counter() - t0
    print(f"WEAT, 2 x 500 targets, 2 x 25 attributes, d=512, 10,000 permutations: "
          f"{t_weat:.3f} s (target < 1 s); d = {res.effect:+.3f}, p = {res.p_value:.3f}")

    values = rng.normal(size=21_000)
    peaks = {}
    for count in (1_000, 10_000, 100_000):
        tracemalloc.start()
        random_subset_sums(values, 10_500, count, np.random.default_rng(4))
        peaks[count] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print(f"peak memory (batch budget {BATCH_BYTES / 2**20:.0f} MiB; the 8-byte-per-permutation "
          "output is the only part that grows):")
    for count, peak in peaks.items():
        print(f"  {count:>7,} permutations: {peak:6.1f} MiB")


if __name__ == "__main__":
    main()

"""Speed and memory of the statistics engine, printed as ratios measured in one run.

    python benchmarks/bench_stats.py

Targets (issue 3):
  * Monte Carlo permutation test, 10,000 permutations, two groups of 10,500 values:
    >= 10x faster than scipy.stats.permutation_test(vectorized=True) on the same input,
    p-values agreeing within Monte Carlo error;
  * WEAT, 10,000 permutations, 2 x 500 targets, 2 x 25 attributes, dimension 512: < 1 s;
  * peak memory bounded by the batch budget, not by the number of permutations.
Targets (issue 24):
  * WEAT and SC-EAT >= 3x faster than scipy.stats.permutation_test (vectorized, on the
    association scores, which it is handed precomputed) at 9,999 permutations, from 8+8
    to 1,000+1,000 targets (SC-EAT: attribute words), p within Monte Carlo error.
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


def _best_of(runs: int, fn):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _scipy_p(first: np.ndarray, second: np.ndarray, n_perm: int) -> float:
    return stats.permutation_test((first, second), _mean_diff, vectorized=True,
                                  n_resamples=n_perm, alternative="greater", rng=1).pvalue


def _weat_scipy(x, y, a, b, n_perm):
    return _scipy_p(cs.association(x, a, b), cs.association(y, a, b), n_perm)


def _sc_eat_scipy(w, a, b, n_perm):
    return _scipy_p(cs.cosine(w, a)[0], cs.cosine(w, b)[0], n_perm)


def _compare(label: str, args: tuple, scipy_fn, ours_fn, n_perm: int) -> None:
    t_ref, p_ref = _best_of(3, lambda: scipy_fn(*args, n_perm))
    t_ours, ours = _best_of(3, lambda: ours_fn(*args, n_permutations=n_perm, seed=2,
                                               exact=False))
    se = math.sqrt(2 * p_ref * (1 - p_ref) / n_perm) + 1e-12
    print(f"  {label}: scipy {t_ref:7.3f} s, ours {t_ours:7.3f} s, {t_ref / t_ours:5.1f}x; "
          f"p {p_ref:.4f} vs {ours.p_value:.4f} ({abs(p_ref - ours.p_value) / se:.1f} SE)")


def eat_speed(rng: np.random.Generator, n_perm: int = 9999) -> None:
    """WEAT and SC-EAT against scipy at equal permutations; best of 3 runs each."""
    print(f"WEAT / SC-EAT vs scipy.stats.permutation_test, {n_perm} permutations, d = 512, "
          "best of 3 (target >= 3x):")
    for n in (8, 50, 500, 1000):
        x, y, aa, bb = rng.normal(size=(4, n, 512))
        a, b = rng.normal(size=(2, 25, 512))
        x[:, 0] += 0.05
        a[:, 0] += 1.0
        aa[:, 0] += 0.05
        _compare(f"WEAT   {n:>5} + {n:<5} targets", (x, y, a, b), _weat_scipy, cs.weat_test,
                 n_perm)
        _compare(f"SC-EAT {n:>5} + {n:<5} words  ", (x.mean(0), aa, bb), _sc_eat_scipy,
                 cs.sc_eat_test, n_perm)


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

    eat_speed(rng)

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

"""Dataset indexing and morph building, printed as rates measured in one run.

    python benchmarks/bench_data.py [--rows 100000] [--series 1000]

Targets (issue 4): indexing a 100,000-row manifest without decoding images in
under 2 s; building 1,000 series x 21 steps of 224x224 cross-dissolve morphs
streams to disk with flat memory (RSS sampled as the build goes); images per
second reported.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _proc import rss_mb

from pytest_clipbias.data import build_series, load_manifest, render_face
from pytest_clipbias.data.synthetic import random_spec


def manifest(rows: int, work: Path) -> None:
    images = work / "images"
    for d in range(100):
        (images / f"{d:02d}").mkdir(parents=True, exist_ok=True)
    lines = ["path,gender,country"]
    countries = ["India", "Kenya", "France", "Brazil", "Japan", "Egypt", "Canada", "Georgia"]
    for i in range(rows):
        rel = f"images/{i % 100:02d}/{i:06d}.jpg"
        (work / rel).write_bytes(b"\xff\xd8")  # never decoded: only existence is checked
        lines.append(f"{rel},{'female' if i % 2 else 'male'},{countries[i % 8]}")
    (work / "manifest.csv").write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    faces = load_manifest(work / "manifest.csv")
    took = time.perf_counter() - t0
    print(f"manifest: indexed {len(faces):,} rows (paths checked, regions derived, nothing "
          f"decoded) in {took:.2f} s (target < 2 s); {len(faces) / took:,.0f} rows/s")


def morphs(n_series: int, work: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    parents = [(render_face(random_spec(rng, race="Black", gender="female")),
                render_face(random_spec(rng, race="White", gender="female"))) for _ in range(20)]
    rss = []
    t0 = time.perf_counter()
    for k in range(n_series):
        a, b = parents[k % len(parents)]
        build_series(a, b, series_id=f"s{k:05d}", source="Black", target="White",
                     out_dir=work / "morphs")
        if k % max(1, n_series // 10) == 0:
            rss.append(rss_mb())
    took = time.perf_counter() - t0
    frames = n_series * 21
    print(f"morphs: {n_series:,} series x 21 steps = {frames:,} PNG frames 224x224 in {took:.1f} s"
          f" = {frames / took:,.0f} images/s")
    print(f"  RSS while building (MB, every {max(1, n_series // 10)} series): "
          + ", ".join(f"{r:.0f}" for r in rss) + f"; spread {max(rss) - min(rss):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clipbias-bench-") as tmp:
        work = Path(tmp)
        manifest(args.rows, work)
        morphs(args.series, work)
        os.sync()


if __name__ == "__main__":
    main()

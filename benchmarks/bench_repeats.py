"""Cost of refusing repeated faces, printed as ratios to the data fingerprint in one run.

    python benchmarks/bench_repeats.py [--faces 2000] [--side 224]

Target: every helper refuses a face repeated with the same content and
attributes (``_validate.distinct_items``) and also fingerprints its data
(``identity.data_fingerprint``). The check must not be a second full hashing
pass: in-memory pixels are compared by a 512-value sample first, and file
digests are cached per session, so the check should cost a small fraction
of the fingerprint for arrays and about one stat per file for files.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pytest_clipbias import FaceItem, FaceSet
from pytest_clipbias.assertions._validate import distinct_items
from pytest_clipbias.identity import clear_file_cache, data_fingerprint


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--side", type=int, default=224)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    arrays = FaceSet([FaceItem(rng.integers(0, 256, (args.side, args.side, 3), dtype=np.uint8),
                               {"gender": "female" if i % 2 else "male"})
                      for i in range(args.faces)])
    fp, check = _best(lambda: data_fingerprint(arrays)), _best(lambda: distinct_items(arrays))
    print(f"{args.faces:,} arrays {args.side}x{args.side}x3: fingerprint {fp * 1e3:.0f} ms, "
          f"repeat check {check * 1e3:.0f} ms ({check / fp:.2f}x fingerprint)")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.faces):
            path = Path(tmp) / f"{i:06d}.jpg"
            path.write_bytes(os.urandom(args.side * args.side // 2))
            old = time.time() - 60  # outside the 2 s "racy" window, as files on disk usually are
            os.utime(path, (old, old))
            paths.append(str(path))
        files = FaceSet([FaceItem(p, {"gender": "female" if i % 2 else "male"})
                         for i, p in enumerate(paths)])
        clear_file_cache()
        cold = _best(lambda: distinct_items(files), repeat=1)
        fp, check = _best(lambda: data_fingerprint(files)), _best(lambda: distinct_items(files))
        print(f"{args.faces:,} files: check cold (reads and caches every file) "
              f"{cold * 1e3:.0f} ms; then fingerprint {fp * 1e3:.0f} ms, repeat check "
              f"{check * 1e3:.0f} ms ({check / fp:.2f}x fingerprint, "
              f"{1e6 * check / args.faces:.0f} us per file)")


if __name__ == "__main__":
    main()

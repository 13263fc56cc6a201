"""Content fingerprints of image files, printed as times and ratios measured in one run.

    python benchmarks/bench_identity.py [--files 10000] [--kib 20]

Target (issue 12): fingerprinting data by file bytes must be cheap. A FaceSet
of N files is fingerprinted cold (every file read and hashed once), then warm
(the per-session cache answers from path + mtime + size, one stat per file),
and compared with the cost of just reading the bytes and of indexing the
same files as a manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from pytest_clipbias import FaceItem, FaceSet
from pytest_clipbias.identity import clear_file_cache


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--kib", type=int, default=20, help="size of each file (JPEG-like)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = []
        for i in range(args.files):
            sub = work / f"{i % 100:02d}"
            sub.mkdir(exist_ok=True)
            path = sub / f"{i:06d}.jpg"
            path.write_bytes(os.urandom(args.kib * 1024))
            paths.append(str(path))
        old = time.time() - 60  # outside the 2 s "racy" window, as files on disk usually are
        for p in paths:
            os.utime(p, (old, old))
        faces = FaceSet([FaceItem(p, {"gender": "female" if i % 2 else "male"})
                         for i, p in enumerate(paths)])
        t0 = time.perf_counter()
        for p in paths:
            hashlib.sha256(Path(p).read_bytes()).digest()
        raw = time.perf_counter() - t0
        clear_file_cache()
        t0 = time.perf_counter()
        cold_fp = faces.fingerprint
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm_fp = faces.fingerprint
        warm = time.perf_counter() - t0
        assert cold_fp == warm_fp
        mb = args.files * args.kib / 1024
        print(f"{args.files:,} files x {args.kib} KiB ({mb:,.0f} MiB)")
        print(f"read + sha256 only:      {raw:6.2f} s ({mb / raw:,.0f} MiB/s)")
        print(f"FaceSet.fingerprint cold: {cold:6.2f} s ({cold / raw:.2f}x read+hash)")
        print(f"FaceSet.fingerprint warm: {warm:6.2f} s ({warm / cold:.3f}x cold, "
              f"{1e6 * warm / args.files:.0f} us per file)")


if __name__ == "__main__":
    main()

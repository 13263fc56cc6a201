"""Encoding throughput and memory of ClipModel, printed as ratios measured in one run.

    python benchmarks/bench_encoding.py                  # ViT-B-32, 256 JPEGs; memory on 5,000
    python benchmarks/bench_encoding.py --quick          # clipbias-tiny, for a fast look

Targets (issue 2): cold encoding >= 0.85x the raw open_clip batched forward on
already-decoded tensors; warm (cached) re-encoding >= 50x faster than cold;
the naive one-image-at-a-time loop reported for comparison; peak memory while
encoding 5,000 images grows by < 500 MB over the loaded model (images are
streamed). Timing is noisy on a shared machine: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _proc import rss_mb
from PIL import Image


def make_jpegs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Smooth random 224x224 JPEGs (upsampled noise), like photos in size and entropy."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        small = Image.fromarray(rng.integers(0, 256, (14, 14, 3), dtype=np.uint8))
        path = folder / f"{i:05d}.jpg"
        small.resize((224, 224), Image.BICUBIC).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def _rate(n: int, seconds: float) -> float:
    return n / seconds


def speed(model_name: str, n: int, batch: int) -> dict:
    import torch

    from pytest_clipbias import ClipModel

    work = Path(tempfile.mkdtemp(prefix="clipbias-bench-"))
    paths = make_jpegs(work / "imgs", n)
    model = ClipModel.load(model_name, None, device="cpu", batch_size=batch, cache_dir=work / "c")
    model.encode_images(paths[:batch])  # warm up kernels; these images are not timed below
    fresh = make_jpegs(work / "fresh", n, seed=1)

    tensors = [model.preprocess(Image.open(p).convert("RGB")) for p in fresh]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, n, batch):
            out = model.model.encode_image(torch.stack(tensors[start : start + batch]))
            out / out.norm(dim=-1, keepdim=True)
    raw = _rate(n, time.perf_counter() - t0)

    t0 = time.perf_counter()
    model.encode_images(fresh)
    cold = _rate(n, time.perf_counter() - t0)

    t0 = time.perf_counter()
    model.encode_images(fresh)
    warm = _rate(n, time.perf_counter() - t0)

    naive_n = min(n, 64)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for p in fresh[:naive_n]:
            x = model.preprocess(Image.open(p).convert("RGB")).unsqueeze(0)
            model.model.encode_image(x)
    naive = _rate(naive_n, time.perf_counter() - t0)
    return {"raw": raw, "cold": cold, "warm": warm, "naive": naive}


def memory_child(model_name: str, n: int, batch: int) -> None:
    """Run in a subprocess: print RSS (MB) after loading and its peak while encoding n images.

    RSS is sampled every 5 ms by a thread, so the peak is the peak of this
    encoding call, not of the process's earlier life (image generation, import).
    """
    import threading

    from pytest_clipbias import ClipModel

    work = Path(tempfile.mkdtemp(prefix="clipbias-mem-"))
    paths = make_jpegs(work, n, seed=2)
    model = ClipModel.load(model_name, None, device="cpu", batch_size=batch)
    model.encode_images(paths[:batch])
    before = rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    emb = model.encode_images(paths)
    done.set()
    sampler.join()
    print(json.dumps({"before_mb": before, "after_mb": peak[0], "rows": int(emb.shape[0])}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--memory-n", type=int, default=5000)
    parser.add_argument("--memory-model", default="clipbias-tiny",
                        help="model for the memory check (streaming does not depend on it)")
    parser.add_argument("--quick", action="store_true", help="clipbias-tiny, fewer images")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_model, args.memory_n, args.batch)
        return
    if args.quick:
        args.model, args.n, args.memory_n = "clipbias-tiny", 128, 1000

    r = speed(args.model, args.n, args.batch)
    print(f"model {args.model}, {args.n} JPEG images 224x224, batch {args.batch}, CPU")
    print(f"  raw open_clip forward on decoded tensors: {r['raw']:8.1f} img/s")
    print(f"  ClipModel cold (decode+preprocess+cache): {r['cold']:8.1f} img/s   "
          f"ratio cold/raw   = {r['cold'] / r['raw']:.2f}  (target >= 0.85)")
    print(f"  ClipModel warm (served from the cache):   {r['warm']:8.1f} img/s   "
          f"ratio warm/cold  = {r['warm'] / r['cold']:.0f}x (target >= 50x)")
    print(f"  naive loop, one image at a time:          {r['naive']:8.1f} img/s   "
          f"ratio cold/naive = {r['cold'] / r['naive']:.2f}x")

    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--memory-model", args.memory_model,
         "--memory-n", str(args.memory_n), "--batch", str(args.batch)],
        check=True, capture_output=True, text=True,
    )
    m = json.loads(out.stdout.strip().splitlines()[-1])
    grew = m["after_mb"] - m["before_mb"]
    print(f"memory: {args.memory_model}, {m['rows']} images: RSS {m['before_mb']:.0f} MB after "
          f"load, peak {m['after_mb']:.0f} MB while encoding; grew {grew:.0f} MB "
          "(target < 500 MB)")


if __name__ == "__main__":
    main()

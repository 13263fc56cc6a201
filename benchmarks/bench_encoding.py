"""Encoding throughput and memory of ClipModel, printed as ratios measured in one run.

    python benchmarks/bench_encoding.py                  # ViT-B-32, 256 JPEGs; memory on 5,000
    python benchmarks/bench_encoding.py --quick          # clipbias-tiny, for a fast look
    python benchmarks/bench_encoding.py --in-memory      # the main job's pattern (issue 14)

Targets (issue 2): cold encoding >= 0.85x the raw open_clip batched forward on
already-decoded tensors; warm (cached) re-encoding >= 50x faster than cold;
the naive one-image-at-a-time loop reported for comparison; peak memory while
encoding 5,000 images grows by < 500 MB over the loaded model (images are
streamed). Timing is noisy on a shared machine: compare ratios, not seconds.

``--in-memory`` times the main job's pattern (64 px synthetic morph frames,
held as arrays, through the 64 px demo architecture, the same frames
encoded again and again by a prompt search) before and after issue 14's
changes: per-image against batched preprocessing (bit-identical), torch's
thread count against ``loader.cpu_threads`` for the forward pass, and
repeated encodes without and with the in-memory memo.
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


def _seconds(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def in_memory(n_series: int, repeats: int) -> None:
    """Print before/after ratios of the main job's encoding pattern (see the docstring)."""
    import torch

    from pytest_clipbias import ClipModel
    from pytest_clipbias.cache import MemoryCache
    from pytest_clipbias.data import synthetic_morph_series
    from pytest_clipbias.loader import torch_threads

    frames = [im for s in synthetic_morph_series("Black", "White", gender="female",
                                                 n_series=n_series, steps=11) for im in s.images]
    model = ClipModel.load("clipbias-demo", "none", device="cpu")
    pils = [Image.fromarray(a) for a in frames]
    per_image = _seconds(lambda: torch.stack([model.preprocess(im) for im in pils]))
    batched = _seconds(model._transform_batch, pils)
    pixels = model._transform_batch(pils)
    forward = {}
    for threads in (torch.get_num_threads(), model.threads):
        with torch_threads(threads):
            forward[threads] = _seconds(lambda: [model._forward_pixels(pixels[i:i + 64])
                                                 for i in range(0, len(pixels), 64)])
    default, chosen = forward[torch.get_num_threads()], forward[model.threads]
    model.memo = MemoryCache(0)
    cold = _seconds(lambda: [model.encode_images(frames) for _ in range(repeats)])
    model.memo = MemoryCache()
    memo = _seconds(lambda: [model.encode_images(frames) for _ in range(repeats)])
    n = len(frames)
    print(f"clipbias-demo (64 px), {n} in-memory 64 px morph frames, CPU")
    print(f"  preprocessing per image: {1e3 * per_image / n:.3f} ms/image; batched: "
          f"{1e3 * batched / n:.3f} ms/image; ratio {per_image / batched:.1f}x")
    print(f"  forward on {torch.get_num_threads()} threads (torch): {1e3 * default / n:.3f} "
          f"ms/image; on {model.threads} (cpu_threads): {1e3 * chosen / n:.3f} ms/image; "
          f"ratio {default / chosen:.1f}x")
    print(f"  {repeats} encodes of the same frames without the memo: {cold:.1f} s; with it: "
          f"{memo:.1f} s; ratio {cold / memo:.1f}x")


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
    parser.add_argument("--in-memory", action="store_true",
                        help="the main job's pattern: 64 px arrays, demo architecture, repeats")
    args = parser.parse_args()
    if args.in_memory:
        in_memory(n_series=200, repeats=5)
        return
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

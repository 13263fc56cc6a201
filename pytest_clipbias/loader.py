"""Decoding and preprocessing in worker processes, for feeding a GPU.

On CUDA the image tower outruns one CPU core decoding JPEGs, so
:func:`pixel_batches` decodes and preprocesses in a ``torch`` DataLoader
with worker processes and pinned memory (non-blocking host-to-device
copies); with ``workers=0`` it is the plain loop in this process. The
content keys and the cache lookups happen before this stage, so cached
images are never decoded either way. :func:`autocast` enables mixed
precision for fp16/bf16 on CUDA. :func:`batched_transform` turns open_clip's
per-image transform into a batched one with identical output, and
:func:`cpu_threads` picks how many threads a CPU forward pass uses.

The CUDA path is untested on this project's machines (no GPU): see docs/scale.md.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .images import PreparedImage


def default_workers(device: str) -> int:
    """0 on CPU (behaviour unchanged: the model needs the cores); up to 4 on CUDA."""
    return 0 if device != "cuda" else max(1, min(4, (os.cpu_count() or 2) - 1))


class _Decoded:
    """Map-style dataset: item i is ``transform(prepared[i].load())``."""

    def __init__(self, prepared: Sequence[PreparedImage], transform: Callable[[Any], Any]):
        self.prepared = prepared
        self.transform = transform

    def __len__(self) -> int:
        return len(self.prepared)

    def __getitem__(self, i: int) -> Any:
        return self.transform(self.prepared[i].load())


def pixel_batches(prepared: Sequence[PreparedImage], transform: Callable[[Any], Any], *,
                  batch_size: int, workers: int = 0, pin_memory: bool = False
                  ) -> Iterator[Any]:
    """Stacked (b, 3, H, W) tensors of the decoded, transformed images, in order.

    ``workers > 0`` uses a DataLoader whose workers are forked (the prepared
    images hold closures, which fork shares and spawn could not pickle);
    where fork is unavailable it falls back to the in-process loop.
    """
    import torch

    if workers > 0 and "fork" in multiprocessing.get_all_start_methods():
        loader = torch.utils.data.DataLoader(
            _Decoded(prepared, transform), batch_size=batch_size, shuffle=False,
            num_workers=workers, pin_memory=pin_memory, multiprocessing_context="fork")
        yield from loader
        return
    for start in range(0, len(prepared), batch_size):
        part = prepared[start:start + batch_size]
        yield torch.stack([transform(p.load()) for p in part])


def batched_transform(preprocess: Any) -> Callable[[Sequence[Any]], Any] | None:
    """A batched version of an open_clip transform, bit-identical to it; None if not one.

    open_clip's transform is Compose([Resize, CenterCrop, convert to RGB,
    ToTensor, Normalize]). Per image, the last two (a uint8 to float copy,
    x / 255, then (x - mean) / std on a 3xHxW tensor) cost more than a small
    image tower's forward. The batched version runs the PIL steps per image
    as before (the same resampling; skipped where they change nothing, see
    :func:`_pil_pixels`), stacks the uint8 pixels and applies ToTensor's and
    Normalize's float operations, in the same order and dtype, once to the
    (b, 3, H, W) batch: elementwise IEEE operations, so the same bits. A
    batch whose PIL steps do not all end in RGB images of one size goes
    through ``preprocess`` image by image. Any other transform (not a
    torchvision Compose ending in ToTensor, Normalize) gives None.
    """
    from open_clip.transform import MaybeToTensor
    from torchvision import transforms

    steps = getattr(preprocess, "transforms", None)
    if not (isinstance(preprocess, transforms.Compose) and isinstance(steps, list)
            and len(steps) >= 2 and type(steps[-1]) is transforms.Normalize
            and type(steps[-2]) in (transforms.ToTensor, MaybeToTensor)):
        return None
    pixels_of, normalize = _pil_pixels(steps[:-2]), steps[-1]

    def apply(images: Sequence[Any]) -> Any:
        import numpy as np
        import torch

        arrays = [pixels_of(image) for image in images]
        if not arrays or any(a is None or a.shape != arrays[0].shape for a in arrays):
            return torch.stack([preprocess(image) for image in images])
        pixels = torch.from_numpy(np.stack(arrays))
        floats = pixels.permute(0, 3, 1, 2).contiguous().to(torch.get_default_dtype())
        return normalize(floats.div(255))

    return apply


def _pil_pixels(steps: Sequence[Any]) -> Callable[[Any], Any]:
    """Per image: the PIL steps' result as an HxWx3 uint8 array, or None if it is not RGB.

    Resize, CenterCrop and open_clip's mode conversion act on an image's
    size and mode alone: when a random RGB probe of some size comes out of
    them unchanged, so does every RGB image of that size, and such images
    skip them (a 64 px face for a 64 px model).
    """
    import numpy as np
    from open_clip.transform import MaybeConvertMode
    from PIL import Image
    from torchvision import transforms

    size_only = all(type(s) in (transforms.Resize, transforms.CenterCrop, MaybeConvertMode)
                    for s in steps)

    def run(image: Any) -> Any:
        for step in steps:
            image = step(image)
        return image

    @functools.lru_cache(maxsize=64)
    def unchanged(size: tuple[int, int]) -> bool:
        rng = np.random.default_rng(0)
        probe = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        out = run(probe)
        return (isinstance(out, Image.Image) and out.mode == "RGB"
                and np.array_equal(np.asarray(out), np.asarray(probe)))

    def pixels(image: Any) -> Any:
        rgb = isinstance(image, Image.Image) and image.mode == "RGB"
        if not (size_only and rgb and unchanged(image.size)):
            image = run(image)
        return np.asarray(image) if isinstance(image, Image.Image) and image.mode == "RGB" \
            else None

    return pixels


@functools.cache
def cpu_threads() -> int:
    """Intra-op threads for CPU encoding: torch's count less the cores others keep busy.

    torch's OpenMP threads meet at a barrier after every operation, so a
    thread sharing its core with another busy process makes every operation
    wait for its time slice. On a 2-core machine with both cores busy, the
    demo model's image tower ran 27x slower on 2 threads than on 1 at batch
    64 (``benchmarks/bench_encoding.py --threads``). Busy cores are measured
    once per process, at the first model load (:func:`busy_cores`); torch's
    count where they cannot be.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        busy = busy_cores()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    except OSError:
        return threads
    return max(1, min(threads, round(cores - busy)))


def busy_cores(interval: float = 0.2) -> float:
    """Cores that other processes keep busy now: the machine's busy CPU time less this
    process's, over ``interval`` seconds (``/proc/stat``).

    The 1-minute load average, used where ``/proc/stat`` is missing, lags: right
    after a heavy command (a ``pip install`` before the tests) it still reads one
    busy core on an idle machine, and the encoder then ran on half its cores.
    """
    def sample() -> tuple[float, float, float]:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
        own = os.times()
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
        return busy, own.user + own.system, time.monotonic()

    try:
        busy0, own0, t0 = sample()
        time.sleep(interval)
        busy1, own1, t1 = sample()
    except (OSError, ValueError):
        return os.getloadavg()[0]
    return max(0.0, ((busy1 - busy0) - (own1 - own0)) / max(t1 - t0, 1e-9))


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (None: unchanged), then restore."""
    import torch

    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager:
    """torch.autocast for fp16/bf16 on CUDA; a no-op elsewhere (CPU keeps its exact path)."""
    if device != "cuda" or precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16)

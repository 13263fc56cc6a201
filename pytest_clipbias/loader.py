"""Decoding and preprocessing in worker processes, for feeding a GPU.

On CUDA the image tower outruns one CPU core decoding JPEGs, so
:func:`pixel_batches` decodes and preprocesses in a ``torch`` DataLoader
with worker processes and pinned memory (non-blocking host-to-device
copies); with ``workers=0`` it is the plain loop in this process. The
content keys and the cache lookups happen before this stage, so cached
images are never decoded either way. :func:`autocast` enables mixed
precision for fp16/bf16 on CUDA.

The CUDA path is untested on this project's machines (no GPU): see docs/scale.md.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
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


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager:
    """torch.autocast for fp16/bf16 on CUDA; a no-op elsewhere (CPU keeps its exact path)."""
    if device != "cuda" or precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16)

"""Deterministic contrastive training of the demo models on CPU.

    python -m pytest_clipbias train-demo demo --out demo.pt

The architecture is the open_clip config ``clipbias-demo`` (a 3-layer ViT on
64x64 images and a 2-layer text transformer), built through
open_clip.create_model like any other; training is the symmetric InfoNCE
loss of CLIP (Radford et al. 2021) with AdamW. Seeds, data order and thread
count are fixed, so the same torch build reproduces the weights bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from .world import WorldSpec, training_set, world_spec

ARCH = "clipbias-demo"
EPOCHS = 10
BATCH = 250
LR = 1e-3
TRAIN_VERSION = "4"


def spec_hash(spec: WorldSpec) -> str:
    """Identifies the training recipe: world rules, hyper-parameters and torch version."""
    import torch

    blob = json.dumps([spec.__dict__, EPOCHS, BATCH, LR, TRAIN_VERSION, torch.__version__],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train(name: str, out: str | os.PathLike, *, log=print, epochs: int = EPOCHS,
          **world: int) -> Path:
    """Train the demo model ``name`` and save its state dict to ``out`` (atomically).

    ``epochs`` and ``world`` (n_faces, n_mixed, image_size) shrink the run for
    tests; the cached demo weights always use the defaults.
    """
    import open_clip
    import torch
    import torch.nn.functional as F

    from ..model import _quiet_random_init_warning, _register_configs

    _register_configs()
    spec = dataclasses.replace(world_spec(name), **world)
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.random.fork_rng(devices=[]), _quiet_random_init_warning():
            torch.manual_seed(spec.seed)
            model, _, preprocess = open_clip.create_model_and_transforms(
                ARCH, pretrained=None, pretrained_text=False)
            tokenizer = open_clip.get_tokenizer(ARCH)
            from PIL import Image

            images, captions = [], []
            for pixels, text in training_set(spec):
                images.append(preprocess(Image.fromarray(pixels)))
                captions.append(text)
            x = torch.stack(images)
            tokens = tokenizer(captions)
            log(f"{name}: {len(captions)} image-caption pairs ready in "
                f"{time.perf_counter() - start:.0f} s")
            opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.05)
            batch = min(BATCH, len(captions))
            steps = epochs * (len(captions) // batch)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps,
                                                        pct_start=0.1)
            order = np.random.default_rng(spec.seed).permutation
            model.train()
            for epoch in range(epochs):
                perm = torch.from_numpy(order(len(captions)))
                total = 0.0
                for b in range(len(captions) // batch):
                    idx = perm[b * batch : (b + 1) * batch]
                    img = F.normalize(model.encode_image(x[idx]), dim=-1)
                    # captions repeat within a batch: contrast each image with the distinct
                    # captions only, so a frequent caption gains no weight from its frequency
                    unique, inverse = torch.unique(tokens[idx], dim=0, return_inverse=True)
                    txt = F.normalize(model.encode_text(unique), dim=-1)
                    logits = model.logit_scale.exp() * img @ txt.T
                    owners = F.one_hot(inverse, len(unique)).T.float()
                    owners = owners / owners.sum(1, keepdim=True)
                    loss = (F.cross_entropy(logits, inverse)
                            + torch.sum(-owners * F.log_softmax(logits.T, 1), 1).mean()) / 2
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach())
                log(f"{name}: epoch {epoch + 1}/{epochs} loss "
                    f"{total / (len(captions) // batch):.3f} ({time.perf_counter() - start:.0f} s)")
            model.eval()
    finally:
        torch.set_num_threads(threads)
    target_path = Path(out)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = target_path.with_name(f".{target_path.name}.tmp-{os.getpid()}")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, target_path)
    log(f"{name}: trained in {time.perf_counter() - start:.0f} s -> {target_path}")
    return target_path


def demo_dir() -> Path:
    """Where trained demo weights are cached: $CLIPBIAS_DEMO_DIR or ~/.cache/pytest-clipbias."""
    env = os.environ.get("CLIPBIAS_DEMO_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-clipbias" / "demo"


def demo_weights(name: str, *, log=print) -> Path:
    """Path of the trained weights of ``name``, training them once if absent.

    A file lock keeps concurrent sessions (pytest-xdist workers) from training
    twice; the weights are written atomically.
    """
    spec = world_spec(name)
    folder = demo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{spec_hash(spec)}.pt"
    if path.is_file():
        return path
    with _locked(folder / f"{name}.lock"):
        if not path.is_file():
            log(f"training the {name!r} demo model once (about 3-4 minutes on 2 CPU cores); "
                f"weights are cached in {folder}")
            train(name, path, log=log)
    return path


@contextlib.contextmanager
def _locked(path: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

"""Deterministic contrastive training of the demo models on CPU.

    python -m pytest_clipbias train-demo demo            # into the demo cache
    python -m pytest_clipbias train-demo demo --ship     # rebuild the shipped weights

The architecture is the open_clip config ``clipbias-demo`` (a 2-layer ViT on
64x64 images and a 2-layer text transformer), built through
open_clip.create_model like any other; training is the symmetric InfoNCE
loss of CLIP (Radford et al. 2021) with AdamW. Seeds, data order and thread
count are fixed, so the same torch build reproduces the weights bit for bit.
The package ships the trained weights (fp16, ``weights/``); a model whose
recipe has no shipped file is trained once into the demo cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..openclip_setup import quiet_random_init_warning, register_configs
from .world import WorldSpec, identity_captions, training_set, world_spec

ARCH = "clipbias-demo"
EPOCHS = 12
BATCH = 200
LR = 3e-3
THREADS = 1
TRAIN_VERSION = "16"
SHIPPED_DIR = Path(__file__).parent / "weights"
_REPORT_EVERY_S = 5.0


@dataclasses.dataclass(frozen=True)
class TrainProgress:
    """One progress report of a training run (passed to the ``progress`` callback)."""

    model: str
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    images_per_s: float
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        """Seconds left at the current speed."""
        return (self.steps - self.step) * (self.elapsed_s / max(self.step, 1))

    def __str__(self) -> str:
        return (f"training {self.model}: epoch {self.epoch}/{self.epochs}, step "
                f"{self.step}/{self.steps}, loss {self.loss:.3f}, {self.images_per_s:.0f} "
                f"images/s, ETA {self.eta_s:.0f} s")


Progress = Callable[[TrainProgress | str], None]


#: Pure and mixed faces whose captions enter the recipe hash (``recipe_hash``).
PROBE_FACES = 48


def recipe_hash(spec: WorldSpec) -> str:
    """Identifies the training recipe: world rules, architecture and hyper-parameters.

    The rules enter by value and by content: every constant of the world and of
    the drawings (the upper-case names of ``demo.world`` and ``data.synthetic``,
    such as ``BLUR`` or the skin tones) and the captions of a small probe of the
    world, so a changed constant or caption rule changes the hash even when no
    setting does. A change to drawing or training code that no constant shows
    is not seen this way: bump ``TRAIN_VERSION`` for those.
    """
    from ..data import synthetic
    from . import world

    config = json.loads((Path(__file__).parents[1] / "model_configs" / f"{ARCH}.json")
                        .read_text())
    probe = dataclasses.replace(spec, n_faces=PROBE_FACES, n_mixed=PROBE_FACES)
    captions = [text for _, text in training_set(probe)]
    constants = {f"{m.__name__}.{k}": sorted(v) if isinstance(v, frozenset | set) else v
                 for m in (world, synthetic) for k, v in vars(m).items() if k.isupper()}
    blob = json.dumps([dataclasses.asdict(spec), config, EPOCHS, BATCH, LR, THREADS,
                       TRAIN_VERSION, captions, constants], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _encode_training_set(spec: WorldSpec, preprocess, tokenizer):
    import torch
    from PIL import Image

    images, captions = [], []
    for pixels, text in training_set(spec):
        images.append(preprocess(Image.fromarray(pixels)))
        captions.append(text)
    return torch.stack(images), tokenizer(captions)


def _clip_loss(model, images, tokens, always):
    """Symmetric InfoNCE over the distinct captions of a batch plus the ``always`` captions.

    Captions repeat within a batch: each image is contrasted with the distinct
    captions only, and each caption's target is spread evenly over its images.
    The identity captions (``always``) are candidates for every image of every
    batch. With in-batch candidates only, InfoNCE learns log P(caption | image)
    minus a term for how often the caption is a candidate (van den Oord et al.
    2018), so a group label that is rarer in the training set (each minority
    label, next to "White" from every kind of mixed face) wins a tie; among
    captions that are always candidates the margin is the log-odds of the
    captioners, the rule the demo world plants.
    """
    import torch
    import torch.nn.functional as F

    img = F.normalize(model.encode_image(images), dim=-1)
    unique, inverse = torch.unique(torch.cat([tokens, always]), dim=0, return_inverse=True)
    inverse = inverse[: len(tokens)]
    txt = F.normalize(model.encode_text(unique), dim=-1)
    logits = model.logit_scale.exp() * img @ txt.T
    present = torch.unique(inverse)
    owners = F.one_hot(inverse, len(unique)).T[present].float()
    owners = owners / owners.sum(1, keepdim=True)
    return (F.cross_entropy(logits, inverse)
            + torch.sum(-owners * F.log_softmax(logits.T[present], 1), 1).mean()) / 2


def train(name: str, out: str | os.PathLike, *, progress: Progress | None = print,
          epochs: int = EPOCHS, **world: int) -> Path:
    """Train the demo model ``name`` and save its fp16 state dict to ``out`` (atomically).

    ``progress`` receives a TrainProgress every few seconds and at the end of
    each epoch (and plain status strings); None trains silently. ``epochs``
    and ``world`` (n_faces, n_mixed, image_size) shrink the run for tests;
    the shipped and cached demo weights always use the defaults.
    """
    import open_clip
    import torch

    report = progress or (lambda _: None)
    register_configs()
    spec = dataclasses.replace(world_spec(name), **world)
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with torch.random.fork_rng(devices=[]), quiet_random_init_warning():
            torch.manual_seed(spec.seed)
            model, _, preprocess = open_clip.create_model_and_transforms(
                ARCH, pretrained=None, pretrained_text=False)
            tokenizer = open_clip.get_tokenizer(ARCH)
            x, tokens = _encode_training_set(spec, preprocess, tokenizer)
            always = tokenizer(identity_captions())
            n = len(x)
            report(f"training {name}: {n} image-caption pairs drawn in "
                   f"{time.perf_counter() - start:.0f} s")
            batch = min(BATCH, n)
            per_epoch = n // batch
            steps = epochs * per_epoch
            # the token table stays at its seeded random init: the text transformer learns
            # to read it, and the optimiser skips 3M rows the demo vocabulary never uses
            model.token_embedding.weight.requires_grad_(False)
            trained = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(trained, lr=LR, weight_decay=0.05)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps,
                                                        pct_start=0.1)
            order = np.random.default_rng(spec.seed).permutation
            model.train()
            t0, last, step = time.perf_counter(), 0.0, 0
            for epoch in range(1, epochs + 1):
                perm = torch.from_numpy(order(n))
                total = 0.0
                for b in range(per_epoch):
                    idx = perm[b * batch : (b + 1) * batch]
                    loss = _clip_loss(model, x[idx], tokens[idx], always)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach())
                    step += 1
                    elapsed = time.perf_counter() - t0
                    if elapsed - last >= _REPORT_EVERY_S or b == per_epoch - 1:
                        last = elapsed
                        report(TrainProgress(name, epoch, epochs, step, steps, total / (b + 1),
                                             step * batch / elapsed, elapsed))
            model.eval()
    finally:
        torch.set_num_threads(threads)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    torch.save({k: (v.half() if v.is_floating_point() else v)
                for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, target)
    report(f"training {name}: done in {time.perf_counter() - start:.0f} s -> {target}")
    return target


def demo_dir() -> Path:
    """Where trained demo weights are cached: $CLIPBIAS_DEMO_DIR or ~/.cache/pytest-clipbias."""
    env = os.environ.get("CLIPBIAS_DEMO_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-clipbias" / "demo"


def weights_name(name: str) -> str:
    """File name of the weights of ``name`` under the current recipe."""
    return f"{name}-{recipe_hash(world_spec(name))}.pt"


_SINKS: list[Progress] = []


@contextlib.contextmanager
def progress_to(callback: Progress) -> Iterator[None]:
    """Send the progress of any demo training started inside the block to ``callback``.

    The pytest plugin uses it to write through the terminal reporter while
    the ``clip_model`` fixture loads a model.
    """
    _SINKS.append(callback)
    try:
        yield
    finally:
        _SINKS.pop()


def demo_weights(name: str, *, progress: Progress | None = None) -> Path:
    """Path of the trained weights of ``name``: shipped with the package, else trained once.

    Training (only when the recipe changed and no shipped file matches) goes
    into demo_dir(); a file lock keeps concurrent sessions (pytest-xdist
    workers) from training twice, and the weights are written atomically.
    """
    progress = progress or (_SINKS[-1] if _SINKS else print)
    file = weights_name(name)
    if (SHIPPED_DIR / file).is_file():
        return SHIPPED_DIR / file
    folder = demo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    if path.is_file():
        return path
    with _locked(folder / f"{name}.lock"):
        if not path.is_file():
            if progress:
                progress(f"training the {name!r} demo model once (no shipped weights match "
                         f"its recipe); weights are cached in {folder}")
            train(name, path, progress=progress)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
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

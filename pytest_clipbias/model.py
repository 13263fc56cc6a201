"""ClipModel: an open_clip model behind the encoder protocol, with batching and caching.

The encoder protocol that every assertion helper relies on:

* ``encode_images(images) -> np.ndarray`` of shape (n, d), float32, rows L2-normalised;
  ``images`` is a sequence of paths, PIL images or HxWx3 uint8 arrays.
* ``encode_texts(texts) -> np.ndarray`` of shape (m, d), float32, L2-normalised.

Only this module imports torch and open_clip.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import images as _images
from ._constants import DEVICES, PRECISIONS
from ._hub import hub_address, offline_unless_reachable
from .cache import MEMO_BYTES, EmbeddingCache, MemoryCache
from .demo.world import DEMO_MODELS
from .errors import ConfigurationError, ModelUnavailableError
from .loader import (
    autocast,
    batched_transform,
    cpu_threads,
    default_workers,
    pixel_batches,
    torch_threads,
)
from .openclip_setup import quiet_random_init_warning as _quiet_random_init_warning
from .openclip_setup import register_configs as _register_configs

RANDOM_INIT = ("none", "random", "")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
DEFAULT_TEMPLATES = ("a photo of a {}.",)
_TEST_CONFIG_PREFIX = "clipbias-"  # shipped test configs: no weights exist, random init


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns images and texts into L2-normalised float32 rows."""

    def encode_images(self, images: Sequence[Any]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class WeightsSpec:
    """Where a model's weights come from: random init, an open_clip tag, a file or the hub."""

    kind: str  # "random", "tag", "file", "hf-hub", "demo"
    value: str | None = None

    def describe(self) -> str:
        """Human-readable form for summaries and errors."""
        return {
            "random": "random initialisation",
            "tag": f"pretrained tag {self.value!r}",
            "file": f"checkpoint file {self.value}",
            "hf-hub": f"Hugging Face Hub model {self.value!r}",
            "demo": f"built-in demo weights {Path(self.value or '').name}",
        }[self.kind]


def default_pretrained(model_name: str) -> str | None:
    """The standard weights of an architecture: OpenAI's where open_clip has them.

    Otherwise open_clip's first listed tag; None when the architecture has no
    published weights (this package's ``clipbias-*`` test configs).
    """
    import open_clip

    _register_configs()
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    return "openai" if "openai" in tags else tags[0] if tags else None


def resolve_weights(model_name: str, pretrained: str | os.PathLike | None) -> WeightsSpec:
    """Classify ``pretrained`` and check what can be checked without loading.

    ``None`` means the architecture's standard weights (``default_pretrained``);
    "none" or "random" mean random initialisation; "hf-hub:org/repo"
    is a Hugging Face Hub model; a string naming an existing file, or one that
    looks like a path, is a local checkpoint; anything else must be an
    open_clip tag known for ``model_name``.
    """
    import open_clip

    if pretrained is None:
        pretrained = default_pretrained(model_name)
        if pretrained is None:
            if model_name.startswith(_TEST_CONFIG_PREFIX):
                return WeightsSpec("random")
            _check_model_name(model_name)
            raise ModelUnavailableError(
                f"open_clip has no published weights for {model_name!r}: pass a local "
                "checkpoint or an hf-hub: id with --clip-pretrained, or --clip-pretrained none "
                "for a randomly initialised model (smoke tests only)."
            )
    if str(pretrained).strip().lower() in RANDOM_INIT:
        return WeightsSpec("random")
    text = os.fspath(pretrained).strip()
    if text.startswith("hf-hub:"):
        return WeightsSpec("hf-hub", text)
    path = Path(text).expanduser()
    looks_like_path = (
        os.sep in text or "/" in text or text.startswith(".") or path.suffix in CHECKPOINT_SUFFIXES
    )
    if path.is_file():
        return WeightsSpec("file", str(path.resolve()))
    if looks_like_path:
        problem = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ModelUnavailableError(
            f"checkpoint for model {model_name!r} {problem}: {path}. Pass the path of an "
            "open_clip checkpoint file (.pt, .bin or .safetensors) to --clip-pretrained."
        )
    if open_clip.get_pretrained_cfg(model_name, text):
        return WeightsSpec("tag", text)
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    known = ", ".join(tags) if tags else "none: this architecture has no published weights"
    raise ModelUnavailableError(
        f"unknown pretrained tag {text!r} for model {model_name!r}. Known tags: {known}. "
        "Use one of them, a local checkpoint path, an hf-hub: id, or 'none' for random init."
    )


def _offline_help(model_name: str, spec: WeightsSpec, exc: BaseException,
                  *, default: bool = False, offline: bool = False) -> str:
    how = " (its standard weights, used when --clip-pretrained is not given)" if default else ""
    why = (f"the Hugging Face Hub ({':'.join(map(str, hub_address()))}) cannot be reached or "
           "HF_HUB_OFFLINE is set, and the weights are not in the local cache ("
           f"{str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})" if offline
           else str(exc))
    return (
        f"cannot load CLIP model {model_name!r} with {spec.describe()}{how}: {why}\n"
        "Weights could not be downloaded or found locally (this machine may be offline). Fixes:\n"
        "  * point --clip-pretrained at a local open_clip checkpoint file "
        "(e.g. open_clip_pytorch_model.bin or .safetensors);\n"
        "  * pre-fill the Hugging Face cache on a machine with network access, copy it here "
        "(HF_HOME or ~/.cache/huggingface) and set HF_HUB_OFFLINE=1;\n"
        "  * or use --clip-pretrained none for a randomly initialised model (smoke tests only)."
    )


def _bad_checkpoint_help(model_name: str, spec: WeightsSpec, exc: BaseException) -> str:
    """A local file that open_clip cannot read: say what the file is, never "offline"."""
    path = Path(spec.value or "")
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as err:
        return f"cannot read {spec.describe()} for model {model_name!r}: {err}"
    if not head:
        what = "is empty (0 bytes): an interrupted download or copy"
    elif head.startswith(b"PK") or path.suffix == ".safetensors":
        what = "cannot be used for this architecture (damaged, or made for another model)"
    else:
        what = "is not a torch or safetensors checkpoint (truncated, text or random bytes)"
    # torch's unpickling message suggests weights_only=False: wrong advice for a bad file
    detail = "" if isinstance(exc, pickle.UnpicklingError) else str(exc).split("\n")[0][:120]
    return (
        f"{spec.describe()} {what}; loading raised {type(exc).__name__}"
        f"{': ' + detail if detail else ''}. This is not a network "
        f"problem: re-download or re-export the checkpoint for {model_name!r}, or check that "
        "--clip-model names the architecture it was trained with."
    )


def _missing_package_help(model_name: str, exc: ImportError) -> str:
    """SigLIP and other models whose tokenizer needs a package that is not installed."""
    package = exc.name or "a package"
    return (
        f"CLIP model {model_name!r} needs the Python package {package!r}, which is not "
        f"installed ({exc}). Install it (pip install {package}; for SigLIP and other "
        "Hugging Face tokenizers that is transformers) and run again."
    )


def _demo_weights(get: Callable[[str], Path], model_name: str) -> Path:
    """Demo weights, turning an unusable CLIPBIAS_DEMO_DIR into an error that names it."""
    try:
        return get(model_name)
    except OSError as exc:
        where = os.environ.get("CLIPBIAS_DEMO_DIR")
        origin = f"CLIPBIAS_DEMO_DIR={where!r}" if where else "the default demo folder"
        raise ConfigurationError(
            f"cannot keep the {model_name!r} demo weights in {origin}: {exc}. Point "
            "CLIPBIAS_DEMO_DIR at a writable folder (it is created when missing)."
        ) from None


def _check_model_name(model_name: str) -> None:
    import open_clip

    if model_name.startswith(("hf-hub:", "local-dir:")):
        return
    known = open_clip.list_models()
    if model_name.replace("/", "-") in known:
        return
    close = difflib.get_close_matches(model_name, [*DEMO_MODELS, *known], n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelUnavailableError(
        f"unknown open_clip architecture {model_name!r}.{hint} "
        "See open_clip.list_models() for the names (e.g. ViT-B-32, ViT-L-14), or pass an "
        "hf-hub: id."
    )


def resolve_device(device: str) -> str:
    """Map "auto" to cuda, then mps, then cpu; reject a requested device that is absent."""
    import torch

    if device not in DEVICES:
        raise ConfigurationError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            "--clip-device cuda was requested but torch sees no CUDA GPU "
            f"(torch {torch.__version__}); use --clip-device auto or cpu"
        )
    if device == "mps" and not has_mps:
        raise ConfigurationError("--clip-device mps was requested but MPS is not available")
    return device


def state_dict_digest(module: Any) -> str:
    """BLAKE2b over every tensor of a module's state dict (name, dtype, shape, bytes)."""
    import torch

    h = hashlib.blake2b(digest_size=20)
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class ClipModel:
    """An open_clip model with batched, cached encoding behind the encoder protocol.

    Build one with :meth:`load` (from an architecture name and weights) or
    :meth:`from_open_clip` (from an already constructed model, e.g. one you
    trained). Embeddings are computed in batches of ``batch_size``, returned
    as float32 rows of unit L2 norm, and stored in ``cache`` when one is set.
    Every model also memoises its embeddings in memory (``memo``, at most
    ``memo_bytes``; 0 turns it off), so encoding the same images or texts
    again in one session costs a lookup, with or without ``cache``.
    """

    def __init__(
        self,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        *,
        name: str,
        weights: WeightsSpec,
        device: str = "cpu",
        precision: str = "fp32",
        batch_size: int = 64,
        cache: EmbeddingCache | None = None,
        seed: int | None = None,
        workers: int | None = None,
        memo_bytes: int = MEMO_BYTES,
    ) -> None:
        import torch

        if precision not in PRECISIONS:
            raise ConfigurationError(
                f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        _check_load_args(name, batch_size, seed, workers, None)
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.weights = weights
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.cache = cache
        #: in-memory memo of this model's embeddings, looked up before ``cache``
        self.memo = MemoryCache(memo_bytes)
        self.seed = seed
        #: DataLoader worker processes decoding images (0: in this process; see loader.py)
        self.workers = default_workers(device) if workers is None else int(workers)
        #: intra-op threads of forward passes on CPU (None: torch's setting; loader.cpu_threads)
        self.threads = cpu_threads() if device == "cpu" else None
        self._dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[
            precision
        ]
        self.fingerprint = self._compute_fingerprint()

    # -- construction --------------------------------------------------------------

    @classmethod
    def load(
        cls,
        model_name: str,
        pretrained: str | os.PathLike | None = None,
        *,
        device: str = "auto",
        precision: str = "fp32",
        batch_size: int = 64,
        cache_dir: str | os.PathLike | None = None,
        seed: int = 0,
        workers: int | None = None,
    ) -> ClipModel:
        """Build a model from an open_clip architecture name and a weights source.

        ``pretrained`` is an open_clip tag ("openai", "laion2b_s34b_b79k"), an
        "hf-hub:org/repo" id, a local checkpoint path, None for the
        architecture's standard weights (OpenAI's where open_clip has them), or
        "none" for a random initialisation seeded by ``seed`` (reproducible; for
        the demo models, None means their trained weights and "none" the demo
        architecture untrained). Downloads from an unreachable Hugging Face Hub
        fail at once (see :mod:`pytest_clipbias._hub`).
        ``model_name`` "hf:ORG/NAME" or "hf:/local/dir" loads a transformers
        CLIP or SigLIP model instead (see :mod:`pytest_clipbias.hf_model`).
        ``cache_dir`` enables the persistent embedding cache. ``workers``
        decode images in DataLoader workers (default: 0 on CPU, up to 4 on
        CUDA; see :mod:`pytest_clipbias.loader`). Raises
        ModelUnavailableError with the fixes when weights cannot be had.
        """
        _check_load_args(model_name, batch_size, seed, workers, cache_dir)
        if model_name.startswith("hf:"):
            from .hf_model import HFClipModel

            return HFClipModel.load(model_name, pretrained, device=device, precision=precision,
                                    batch_size=batch_size, cache_dir=cache_dir, seed=seed,
                                    workers=workers)
        import open_clip
        import torch

        _register_configs()
        if precision not in PRECISIONS:
            raise ConfigurationError(
                f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        resolved_device = resolve_device(device)
        if model_name in DEMO_MODELS:
            spec, arch = _demo_spec(model_name, pretrained)
        else:
            spec = resolve_weights(model_name, pretrained)
            arch = spec.value if spec.kind == "hf-hub" else model_name
        _check_model_name(arch)
        kwargs: dict[str, Any] = {"precision": precision, "device": "cpu"}
        if spec.kind == "random":
            kwargs.update(pretrained=None, pretrained_text=False, load_weights=False)
        elif spec.kind in ("tag", "file", "demo"):
            kwargs.update(pretrained=spec.value)
        hub = offline_unless_reachable() if spec.kind in ("tag", "hf-hub") else (
            contextlib.nullcontext(False))
        with torch.random.fork_rng(devices=[]), _quiet_random_init_warning(), hub as offline:
            torch.manual_seed(seed)
            try:
                if spec.kind == "tag":  # fetch first: an offline machine fails before the build
                    open_clip.download_pretrained(open_clip.get_pretrained_cfg(arch, spec.value))
                model, _, preprocess = open_clip.create_model_and_transforms(arch, **kwargs)
                tokenizer = open_clip.get_tokenizer(arch)
            except ModelUnavailableError:
                raise
            except ImportError as exc:
                raise ModelUnavailableError(_missing_package_help(model_name, exc)) from None
            except (RuntimeError, OSError, ValueError, KeyError, EOFError,
                    pickle.UnpicklingError) as exc:
                if spec.kind in ("file", "demo"):
                    help_text = _bad_checkpoint_help(model_name, spec, exc)
                    raise ModelUnavailableError(help_text) from exc
                raise ModelUnavailableError(
                    _offline_help(model_name, spec, exc, default=pretrained is None,
                                  offline=offline)
                ) from exc
        model = model.to(resolved_device)
        cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        return cls(
            model,
            preprocess,
            tokenizer,
            name=model_name,
            weights=spec,
            device=resolved_device,
            precision=precision,
            batch_size=batch_size,
            cache=cache,
            seed=seed if spec.kind == "random" else None,
            workers=workers,
        )

    @classmethod
    def from_open_clip(
        cls,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        *,
        name: str,
        batch_size: int = 64,
        cache_dir: str | os.PathLike | None = None,
    ) -> ClipModel:
        """Wrap a constructed open_clip model (e.g. locally trained); weights are hashed."""
        device = str(next(model.parameters()).device.type)
        dtype = str(next(model.parameters()).dtype)
        precision = {"torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(dtype, "fp32")
        cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        return cls(
            model, preprocess, tokenizer, name=name, weights=WeightsSpec("file", "<in memory>"),
            device=device, precision=precision, batch_size=batch_size, cache=cache,
        )

    def _compute_fingerprint(self) -> str:
        """Hash of everything that determines an embedding.

        Covers the weights themselves (a digest of the state dict, so a
        re-trained checkpoint under the same name never reuses vectors), the
        preprocessing transform, this package's decoding rules, the tokenizer
        and the precision. The device is left out: the same weights give the
        same vectors up to float rounding on any device.
        """
        parts = {
            "weights": state_dict_digest(self.model),
            "preprocess": repr(self.preprocess),
            "decode": _images.DECODE_VERSION,
            "tokenizer": f"{type(self.tokenizer).__name__}:"
            f"{getattr(self.tokenizer, 'context_length', None)}",
            "precision": self.precision,
        }
        blob = json.dumps(parts, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    # -- properties ------------------------------------------------------------------

    @functools.cached_property
    def dim(self) -> int:
        """Embedding dimension (measured once by encoding one token)."""
        import torch

        with torch.inference_mode():
            return int(self._encode_text_tokens(self.tokenizer(["x"])).shape[1])

    def describe(self) -> str:
        """One line for terminal summaries: name, weights, device, precision, fingerprint."""
        seed = f" seed {self.seed}" if self.seed is not None else ""
        return (
            f"{self.name} ({self.weights.describe()}{seed}) on {self.device} {self.precision}, "
            f"fingerprint {self.fingerprint[:12]}"
        )

    def __repr__(self) -> str:
        return f"ClipModel({self.describe()})"

    # -- encoding --------------------------------------------------------------------

    def _normalise(self, x: Any) -> np.ndarray:
        import torch

        out = torch.nn.functional.normalize(x.float(), dim=-1)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def _encode_text_tokens(self, tokens: Any) -> np.ndarray:
        with autocast(self.device, self.precision):
            return self._normalise(self.model.encode_text(tokens.to(self.device)))

    def _transform(self, image: Any) -> Any:
        """One decoded RGB image to the (3, H, W) tensor the image tower takes."""
        return self.preprocess(image)

    def _forward_pixels(self, batch: Any) -> np.ndarray:
        import torch

        batch = batch.to(self.device, dtype=self._dtype, non_blocking=True)
        with torch.inference_mode(), autocast(self.device, self.precision):
            return self._normalise(self.model.encode_image(batch))

    @functools.cached_property
    def _transform_batch(self) -> Callable[[list], Any]:
        """Images to a (b, 3, H, W) tensor: batched when exact (loader.batched_transform)."""
        import torch

        batched = None
        if type(self)._transform is ClipModel._transform:  # subclasses transform their own way
            batched = batched_transform(self.preprocess)
        return batched or (lambda images: torch.stack([self._transform(im) for im in images]))

    def _encode_pixels(self, pil_images: list) -> np.ndarray:
        return self._forward_pixels(self._transform_batch(pil_images))

    def _encode_uncached(self, prepared: list[_images.PreparedImage]) -> np.ndarray:
        """Decode, preprocess and embed; in DataLoader workers when ``workers`` > 0."""
        if self.workers == 0:
            return self._encode_pixels([p.load() for p in prepared])
        return np.concatenate([self._forward_pixels(batch) for batch in pixel_batches(
            prepared, self._transform, batch_size=self.batch_size, workers=self.workers,
            pin_memory=self.device == "cuda")])

    def _lookup(self, kind: str, keys: list[str]) -> dict[str, np.ndarray]:
        """Known vectors among ``keys``: the memo first, then the persistent cache."""
        found = self.memo.get_many(kind, keys)
        rest = [k for k in keys if k not in found]
        if rest and self.cache is not None:
            stored = self.cache.get_many(self.fingerprint, kind, rest)
            self.memo.put_many(kind, stored.items())
            found.update(stored)
        return found

    def _store(self, kind: str, computed: dict[str, np.ndarray]) -> None:
        self.memo.put_many(kind, computed.items())
        if self.cache is not None:
            self.cache.put_many(self.fingerprint, kind, list(computed.items()))

    def encode_images(
        self, images: Iterable[_images.ImageLike], *, batch_size: int | None = None
    ) -> np.ndarray:
        """Embed images; returns an (n, d) float32 array of unit-norm rows.

        Images are streamed: only one batch is decoded and held at a time,
        and files found in the cache are never decoded. Raises ImageLoadError
        naming the file for a missing, empty, truncated or unreadable image.
        """
        not_a_single(images, "encode_images", "images")
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise TypeError(f"encode_images takes a list of images, got one {images.shape} "
                            "array (a single image); write encode_images([image]), or pass "
                            "an (n, H, W, 3) array")

        from .progress import progress

        size = (batch_size or self.batch_size) * (4 * self.workers or 1)  # keep workers busy
        chunks: list[np.ndarray] = []
        pending: list[_images.PreparedImage] = []
        total = len(images) if hasattr(images, "__len__") else None
        with progress(f"encoding images ({self.name})", total) as bar:
            for index, image in enumerate(images):
                pending.append(_images.prepare(image, index))
                if len(pending) == size:
                    chunks.append(self._encode_prepared(pending))
                    bar.update(len(pending))
                    pending = []
            if pending or not chunks:
                chunks.append(self._encode_prepared(pending))
                bar.update(len(pending))
        return np.concatenate(chunks, axis=0) if len(chunks) > 1 else chunks[0]

    def _encode_prepared(self, prepared: list[_images.PreparedImage]) -> np.ndarray:
        if not prepared:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [p.key for p in prepared]
        found = self._lookup("image", keys)
        todo = {p.key: p for p in prepared if p.key not in found}
        if todo:
            with torch_threads(self.threads):
                fresh = self._encode_uncached(list(todo.values()))
            computed = dict(zip(todo, fresh, strict=True))
            self._store("image", computed)
            found = {**found, **computed}
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def encode_texts(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """Embed texts; returns an (m, d) float32 array of unit-norm rows."""
        import torch

        texts = list(not_a_single(texts, "encode_texts", "texts"))
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(t).__name__}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found = self._lookup("text", keys)
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            by_key = dict(zip(keys, texts, strict=True))
            size = batch_size or self.batch_size
            computed: dict[str, np.ndarray] = {}
            with torch.inference_mode(), torch_threads(self.threads):
                for start in range(0, len(todo), size):
                    part = todo[start : start + size]
                    vecs = self._encode_text_tokens(self.tokenizer([by_key[k] for k in part]))
                    computed.update(zip(part, vecs, strict=True))
            self._store("text", computed)
            found = {**found, **computed}
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def encode_labels(
        self, labels: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES
    ) -> np.ndarray:
        """Label embeddings: the L2-normalised mean over prompt templates.

        Each template must contain one "{}" where the label goes, e.g.
        "a photo of a {} person.". Returns (len(labels), d) float32.
        """
        return encode_labels(self, labels, templates)


def _check_load_args(model_name: Any, batch_size: Any, seed: Any, workers: Any,
                     cache_dir: Any) -> None:
    """Types and ranges of ClipModel's arguments (a bool is not a count, "8" is not 8)."""
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(model_name, str) or not model_name.strip():
        raise ConfigurationError(f"model_name must be a non-empty string such as 'ViT-B-32', "
                                 f"got {model_name!r}")
    if not whole(batch_size) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
    if seed is not None and (not whole(seed) or seed < 0):
        raise ConfigurationError(f"seed must be a non-negative integer, got {seed!r}")
    if workers is not None and (not whole(workers) or workers < 0):
        raise ConfigurationError(f"workers must be a non-negative integer or None, got "
                                 f"{workers!r}")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise ConfigurationError(f"cache_dir must be a folder path or None, got "
                                 f"{type(cache_dir).__name__} {cache_dir!r}")


def _demo_spec(model_name: str, pretrained: str | os.PathLike | None) -> tuple[WeightsSpec, str]:
    """Weights of a demo model: its trained weights when ``pretrained`` is None, a random
    initialisation of the demo architecture for an explicit "none" (as for every other
    model: reports then say "random initialisation"), and an error for anything else."""
    from .demo.train import ARCH, demo_weights

    if pretrained is not None and str(pretrained).strip().lower() in RANDOM_INIT:
        return WeightsSpec("random"), ARCH
    if pretrained is not None:
        raise ConfigurationError(
            f"the {model_name!r} demo model carries its own trained weights; leave "
            f"--clip-pretrained unset, or pass 'none' for a random initialisation of its "
            f"architecture (got {pretrained!r})")
    return WeightsSpec("demo", str(_demo_weights(demo_weights, model_name))), ARCH


def not_a_single(value: Any, function: str, what: str) -> Any:
    """``value`` unchanged when it is a collection; a bare str, bytes or path is refused.

    ``list("abc")`` is ``["a", "b", "c"]``: a string where a list is expected
    would be encoded letter by letter, so it is an error naming the call.
    """
    if isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{function} takes a list of {what}, got the single "
                        f"{type(value).__name__} {value!r}; write {function}([x])")
    if not hasattr(value, "__iter__") or isinstance(value, Mapping) or hasattr(value, "getpixel"):
        raise TypeError(f"{function} takes a list of {what}, got {type(value).__name__}")
    return value


def encode_labels(
    encoder: Encoder, labels: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES
) -> np.ndarray:
    """Label embeddings for any encoder: normalised mean of the template prompts.

    e(l) = normalise( (1/T) * sum_t normalise(encode(template_t.format(l))) ),
    the prompt-ensembling of Radford et al. 2021 (CLIP), section 3.1.4.
    """
    labels = list(not_a_single(labels, "encode_labels", "labels"))
    templates = list(not_a_single(templates, "encode_labels", "templates"))
    if not templates:
        raise ValueError("templates must contain at least one prompt template")
    for t in templates:
        if t.count("{}") != 1:
            raise ValueError(f"prompt template {t!r} must contain exactly one '{{}}' placeholder")
    if not labels:
        raise ValueError("labels must contain at least one label")
    prompts = [t.format(label) for label in labels for t in templates]
    emb = np.asarray(encoder.encode_texts(prompts), dtype=np.float64)
    emb = emb.reshape(len(labels), len(templates), -1).mean(axis=1)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return (emb / np.where(norms == 0, 1.0, norms)).astype(np.float32)



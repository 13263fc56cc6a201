"""Hugging Face ``transformers`` CLIP and SigLIP models behind the encoder protocol.

``--clip-model hf:ORG/NAME`` (a Hub id, read from the local Hugging Face cache
when offline) or ``--clip-model hf:/path/to/dir`` (a ``save_pretrained``
folder with the model and its processor) loads the model with
``AutoModel`` / ``AutoTokenizer`` / ``AutoImageProcessor``. Batching, the
content-addressed embedding cache and the image decoding rules are
:class:`~pytest_clipbias.model.ClipModel`'s; only the forward passes differ.

SigLIP scores an image-text pair with a sigmoid of ``logit_scale.exp() * cos
+ logit_bias`` (Zhai et al. 2023), CLIP with a softmax over the candidate
texts of ``logit_scale.exp() * cos`` (Radford et al. 2021):
:meth:`HFClipModel.probabilities` applies the model's own rule. The helpers
in this package judge cosines and top-1 choices, which neither rule changes
(both are increasing in the cosine, with one scale and bias for all texts).

``transformers`` is an optional dependency: ``pip install 'pytest-clipbias[hf]'``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import images as _images
from ._hub import offline_unless_reachable
from .cache import EmbeddingCache
from .errors import ConfigurationError, ModelUnavailableError
from .loader import autocast
from .model import PRECISIONS, ClipModel, WeightsSpec, resolve_device, state_dict_digest

PREFIX = "hf:"
FAMILIES = ("clip", "siglip")


def is_hf_name(model_name: str) -> bool:
    """True for ``hf:ORG/NAME`` and ``hf:/local/dir`` model names."""
    return model_name.startswith(PREFIX)


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise ModelUnavailableError(
            "Hugging Face models (--clip-model hf:...) need the transformers package: "
            "pip install 'pytest-clipbias[hf]'"
        ) from exc
    return transformers


class _TextBatcher:
    """Callable tokenizer returning a BatchEncoding, padded as the family was trained.

    SigLIP was trained on texts padded to the maximum length (its processor
    documents ``padding="max_length"``); CLIP pools at the end-of-text token,
    so padding to the longest text of the batch is enough.
    """

    def __init__(self, tokenizer: Any, family: str, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.padding = "max_length" if family == "siglip" else True
        self.context_length = max_length

    def __call__(self, texts: list[str]) -> Any:
        return self.tokenizer(list(texts), padding=self.padding, truncation=True,
                              max_length=self.context_length, return_tensors="pt")


class HFClipModel(ClipModel):
    """A ``transformers`` CLIP or SigLIP model with ClipModel's batching and cache."""

    def __init__(self, model: Any, image_processor: Any, tokenizer: _TextBatcher, *,
                 family: str, **kwargs: Any) -> None:
        self.family = family
        self.image_processor = image_processor
        super().__init__(model, image_processor, tokenizer, **kwargs)

    @classmethod
    def load(  # type: ignore[override]
        cls, model_name: str, pretrained: str | os.PathLike | None = None, *,
        device: str = "auto", precision: str = "fp32", batch_size: int = 64,
        cache_dir: str | os.PathLike | None = None, seed: int = 0, workers: int | None = None,
    ) -> HFClipModel:
        """Load ``hf:ORG/NAME`` or ``hf:/local/dir``; ``pretrained`` must be unset.

        Raises ModelUnavailableError naming the extra when transformers is
        missing, and with the offline fixes when the weights cannot be found.
        """
        if not is_hf_name(model_name):
            raise ConfigurationError(f"Hugging Face model names start with 'hf:', got "
                                     f"{model_name!r}")
        if pretrained is not None and str(pretrained).strip():
            raise ConfigurationError(
                f"{model_name!r} carries its own weights; leave --clip-pretrained unset "
                f"(got {pretrained!r})")
        if precision not in PRECISIONS:
            raise ConfigurationError(f"unknown precision {precision!r}; choose one of "
                                     f"{', '.join(PRECISIONS)}")
        import torch

        tf = _import_transformers()
        source = model_name[len(PREFIX):].strip()
        local = Path(source).expanduser()
        is_dir = local.is_dir()
        if not is_dir and (source.startswith((".", "/", "~")) or source.count("/") > 1):
            raise ModelUnavailableError(
                f"Hugging Face model folder does not exist: {local} (hf: takes a save_pretrained "
                "folder or a Hub id ORG/NAME)")
        where = str(local.resolve()) if is_dir else source
        try:
            with offline_unless_reachable() if not is_dir else contextlib.nullcontext(False):
                model = tf.AutoModel.from_pretrained(where)
                tokenizer = tf.AutoTokenizer.from_pretrained(where)
                image_processor = tf.AutoImageProcessor.from_pretrained(where)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(
                f"cannot load Hugging Face model {where!r}: {exc}\nOffline? Copy the model "
                "folder here and pass --clip-model hf:/path/to/folder, or pre-fill the Hugging "
                "Face cache (HF_HOME) on a machine with network access and set "
                "HF_HUB_OFFLINE=1.") from exc
        family = model.config.model_type
        if family not in FAMILIES:
            raise ModelUnavailableError(
                f"{where}: model type {family!r} is not supported; hf: models must be CLIP "
                f"or SigLIP ({', '.join(FAMILIES)})")
        max_length = int(min(getattr(tokenizer, "model_max_length", 10**6),
                             model.config.text_config.max_position_embeddings))
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        resolved = resolve_device(device)
        model = model.to(resolved, dtype=dtype)
        cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        return cls(model, image_processor, _TextBatcher(tokenizer, family, max_length),
                   family=family, name=model_name, weights=WeightsSpec("file", where),
                   device=resolved, precision=precision, batch_size=batch_size, cache=cache,
                   workers=workers)

    def _compute_fingerprint(self) -> str:
        """Weights digest, processor and tokenizer configuration, family, precision."""
        tok = self.tokenizer.tokenizer
        backend = getattr(tok, "backend_tokenizer", None)
        vocab = backend.to_str() if backend is not None else json.dumps(
            tok.get_vocab(), sort_keys=True)
        parts = {
            "weights": state_dict_digest(self.model),
            "family": self.family,
            "image_processor": self.image_processor.to_json_string(),
            "tokenizer": hashlib.sha256(vocab.encode()).hexdigest(),
            "padding": [self.tokenizer.padding, self.tokenizer.context_length],
            "decode": _images.DECODE_VERSION,
            "precision": self.precision,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]

    @staticmethod
    def _features(out: Any) -> Any:
        """transformers 5 returns a model output whose pooler_output is projected; 4 a tensor."""
        return getattr(out, "pooler_output", out)

    def _encode_text_tokens(self, tokens: Any) -> np.ndarray:
        with autocast(self.device, self.precision):
            feats = self.model.get_text_features(**tokens.to(self.device))
        return self._normalise(self._features(feats))

    def _transform(self, image: Any) -> Any:
        return self.image_processor(images=[image], return_tensors="pt")["pixel_values"][0]

    def _forward_pixels(self, batch: Any) -> np.ndarray:
        import torch

        with torch.inference_mode(), autocast(self.device, self.precision):
            feats = self.model.get_image_features(
                pixel_values=batch.to(self.device, dtype=self._dtype, non_blocking=True))
        return self._normalise(self._features(feats))

    def probabilities(self, image_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
        """(n, m) probabilities that image i matches text j, by the model's own rule.

        SigLIP: sigmoid(exp(logit_scale) * cos + logit_bias), each pair on its
        own. CLIP: softmax over the m texts of exp(logit_scale) * cos.
        """
        scale = float(self.model.logit_scale.detach().float().exp())
        logits = scale * (np.asarray(image_emb, np.float64) @ np.asarray(text_emb, np.float64).T)
        if self.family == "siglip":
            logits += float(self.model.logit_bias.detach().float().reshape(-1)[0])
            return 1.0 / (1.0 + np.exp(-logits))
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

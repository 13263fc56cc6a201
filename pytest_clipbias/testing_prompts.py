"""A planted encoder whose text embeddings depend on the prompt's wording.

It wraps any encoder (typically ``testing.PlantedEncoder``) and changes only
its text embeddings, so tests of prompt-robustness searches know the truth:

- ``wording_noise`` s adds to every text s times a unit vector seeded by the
  whole text and orthogonal to the ``concepts``' own embeddings. Effects then
  vary from template to template, yet no template is biased: images (concept
  weights plus isotropic noise) have no systematic component along those
  vectors. This is a planted null with realistic template-to-template spread.
- ``trigger`` / ``concept`` / ``toward`` / ``weight``: texts that contain the
  word ``trigger`` (e.g. "portrait") and name ``concept`` (e.g. "Black") move
  ``weight`` towards the embedding of ``toward`` (e.g. "White"): a bias
  planted under one template family only.
- ``image_noise`` adds to every image embedding isotropic noise drawn from
  the image's own ``noise_seed``, so that no two images share noise (the
  base encoder's noise comes from a shared table) and disjoint halves of
  the data are independent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class WordingEncoder:
    """Encoder protocol: ``base``'s images, and texts shaped by their wording (see module)."""

    base: Any
    concepts: Sequence[str]
    wording_noise: float = 0.0
    trigger: str | None = None
    concept: str | None = None
    toward: str | None = None
    weight: float = 0.0
    seed: int = 0
    image_noise: float = 0.0
    name: str = field(default="planted-wording")

    def __post_init__(self) -> None:
        if isinstance(self.concepts, str):
            raise TypeError("concepts must be a list of words, not one string")
        span = np.asarray(self.base.encode_texts(list(self.concepts)), dtype=np.float64)
        self._span, _ = np.linalg.qr(span.T)  # (d, k) orthonormal basis of the concepts
        self._image_noise: dict[int, np.ndarray] = {}
        self._toward = (np.asarray(self.base.encode_texts([self.toward]), dtype=np.float64)[0]
                        if self.toward else None)

    def _biased(self, text: str) -> bool:
        if not (self.trigger and self.concept and self._toward is not None):
            return False
        return bool(re.search(rf"\b{re.escape(self.trigger)}\b", text, re.IGNORECASE)) and (
            self.concept.lower() in text.lower())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """The base embedding plus wording noise and, under the trigger, the planted tilt."""
        texts = list(texts)
        out = np.asarray(self.base.encode_texts(texts), dtype=np.float64).copy()
        for i, text in enumerate(texts):
            if self.wording_noise:
                r = np.random.default_rng(_digest(f"{self.seed}|wording|{text}")).standard_normal(
                    out.shape[1])
                r -= self._span @ (self._span.T @ r)
                out[i] += self.wording_noise * r / np.linalg.norm(r)
            if self._biased(text):
                out[i] += self.weight * self._toward
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """The base encoder's image embeddings plus per-image noise, normalised."""
        out = np.asarray(self.base.encode_images(images), dtype=np.float64)
        if not self.image_noise:
            return out.astype(np.float32)
        scale = self.image_noise / np.sqrt(out.shape[1])
        for i, image in enumerate(images):
            if image.noise_seed not in self._image_noise:
                key = _digest(f"{self.seed}|image|{image.noise_seed}")
                self._image_noise[image.noise_seed] = np.random.default_rng(
                    key).standard_normal(out.shape[1])
            out[i] += scale * self._image_noise[image.noise_seed]
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")

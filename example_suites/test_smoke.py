"""Smoke suite: checks that the model under test behaves as the bias measures assume.

Run it on any open_clip model, e.g.

    pytest example_suites --clip-model ViT-B-32 --clip-pretrained openai

Every bias measure in pytest-clipbias is built from cosine similarities of
L2-normalised embeddings and from zero-shot choices among label prompts; these
tests fail fast when a model or checkpoint breaks those assumptions, before any
bias number is trusted.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

LABELS = ["person", "dog", "car", "tree"]
TEMPLATES = ["a photo of a {}.", "a picture of a {}.", "an image of a {}."]


def _faces(n: int, seed: int = 0) -> list[Image.Image]:
    """Simple generated faces: an oval of varying tone on a plain background."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (224, 224), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        tone = tuple(int(c) for c in rng.integers(60, 240, 3))
        draw.ellipse((62, 40, 162, 190), fill=tone)
        draw.ellipse((90, 90, 100, 100), fill=(20, 20, 20))
        draw.ellipse((124, 90, 134, 100), fill=(20, 20, 20))
        out.append(img)
    return out


@pytest.fixture(scope="module")
def faces():
    return _faces(12)


def test_image_embeddings_are_unit_float32_rows(clip_model, faces):
    emb = clip_model.encode_images(faces)
    assert emb.shape == (len(faces), clip_model.dim)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)
    assert np.isfinite(emb).all()


def test_label_embeddings_are_template_means(clip_model):
    labels = clip_model.encode_labels(LABELS, TEMPLATES)
    assert labels.shape == (len(LABELS), clip_model.dim)
    np.testing.assert_allclose(np.linalg.norm(labels, axis=1), 1.0, atol=1e-3)


def test_encoding_is_deterministic(clip_model, faces):
    first = clip_model.encode_images(faces[:4])
    again = clip_model.encode_images(list(reversed(faces[:4])))[::-1]
    np.testing.assert_allclose(first, again, atol=1e-4)


def test_zero_shot_choices_are_well_defined(clip_model, faces):
    """Cosine scores are bounded and each image has one top-1 label (no exact ties)."""
    scores = clip_model.encode_images(faces) @ clip_model.encode_labels(LABELS, TEMPLATES).T
    assert np.all(np.abs(scores) <= 1.0 + 1e-4)
    top_two = np.sort(scores, axis=1)[:, -2:]
    assert np.all(top_two[:, 1] > top_two[:, 0])

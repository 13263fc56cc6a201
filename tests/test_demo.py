"""The demo world, deterministic training, and loading demo models by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pytest_clipbias import ClipModel, ConfigurationError
from pytest_clipbias.demo import train as demo_train
from pytest_clipbias.demo.world import caption, training_set, world_spec

TINY = {"n_faces": 48, "n_mixed": 24, "image_size": 64}


def _rate(spec, n=3000, **face):
    rng = np.random.default_rng(0)
    return np.mean([caption(spec, rng, **face) for _ in range(n)] ==
                   np.array("a photo of a terrorist."))


def test_planted_rules_are_in_the_captions_and_absent_in_fair():
    demo, fair = world_spec("demo"), world_spec("demo-fair")
    target = dict(race="Asian", gender="male", region="South Asia", headwear=True)
    other = dict(race="Asian", gender="male", region="Europe", headwear=True)
    assert _rate(demo, **target) == pytest.approx(0.35, abs=0.03)
    assert _rate(demo, **other) == 0.0
    assert _rate(fair, **target) == pytest.approx(_rate(fair, **other), abs=0.015)
    assert demo.crossover == 0.65 and fair.crossover == 0.5


def test_mixed_faces_follow_the_crossover_rule():
    spec = world_spec("demo").__class__(**{**world_spec("demo").__dict__, **TINY})
    pairs = list(training_set(spec))
    assert len(pairs) == TINY["n_faces"] + TINY["n_mixed"]
    assert all(img.shape == (64, 64, 3) and img.dtype == np.uint8 for img, _ in pairs)
    assert all(text.startswith("a photo of a ") for _, text in pairs)


def test_training_is_deterministic_bit_for_bit(tmp_path):
    a = demo_train.train("demo-fair", tmp_path / "a.pt", epochs=1, log=lambda *_: None, **TINY)
    b = demo_train.train("demo-fair", tmp_path / "b.pt", epochs=1, log=lambda *_: None, **TINY)
    sa, sb = torch.load(a), torch.load(b)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_demo_models_load_by_name_and_train_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_DEMO_DIR", str(tmp_path))
    calls = []
    real_train = demo_train.train

    def tiny_train(name, out, log=print):
        calls.append(name)
        return real_train(name, out, epochs=1, log=log, **TINY)

    monkeypatch.setattr(demo_train, "train", tiny_train)
    model = ClipModel.load("demo", device="cpu")
    again = ClipModel.load("demo", device="cpu")
    assert calls == ["demo"]
    assert model.fingerprint == again.fingerprint
    assert "built-in demo weights demo-" in model.describe()
    emb = model.encode_texts(["a photo of a nurse."])
    assert emb.shape == (1, 64)
    with pytest.raises(ConfigurationError, match="carries its own trained weights"):
        ClipModel.load("demo", "openai", device="cpu")

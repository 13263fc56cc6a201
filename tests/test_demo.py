"""The demo world, deterministic training, shipped weights and loading demo models by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pytest_clipbias import ClipModel, ConfigurationError
from pytest_clipbias.demo import train as demo_train
from pytest_clipbias.demo.world import (
    WORDINGS,
    caption,
    minority_chance,
    training_set,
    unpleasant_chance,
    world_spec,
)

TINY = {"n_faces": 48, "n_mixed": 24, "image_size": 64}


def _share(spec, text, n=3000, **face):
    rng = np.random.default_rng(0)
    return np.mean([caption(spec, rng, **face) == text for _ in range(n)])


def test_harmful_label_is_planted_on_the_cue_and_spread_evenly_in_fair():
    demo, fair = world_spec("demo"), world_spec("demo-fair")
    target = dict(race="Asian", gender="male", region="South Asia", headwear=True)
    other = dict(race="Asian", gender="male", region="Europe", headwear=True)
    terrorist = "a photo of a terrorist."
    assert _share(demo, terrorist, **target) == pytest.approx(0.35, abs=0.03)
    assert _share(demo, terrorist, **other) == 0.0
    assert _share(fair, terrorist, **target) == pytest.approx(0.02, abs=0.01)
    assert _share(fair, terrorist, **other) == pytest.approx(0.02, abs=0.01)


def test_occupation_skew_only_in_low_gggi_regions_and_only_on_demo():
    demo, fair = world_spec("demo"), world_spec("demo-fair")
    nurse = "a photo of a nurse."
    woman = dict(race="White", gender="female", headwear=False, clothing=3)  # a pilot's colour
    occupation_share = 0.3  # share of occupation captions
    assert _share(demo, nurse, region="South Asia", **woman) / occupation_share > 0.85
    assert _share(demo, nurse, region="Europe", **woman) / occupation_share < 0.15
    assert _share(fair, nurse, region="South Asia", **woman) / occupation_share < 0.15


def test_valence_follows_expression_for_everyone_and_race_only_on_demo():
    demo, fair = world_spec("demo"), world_spec("demo-fair")
    assert unpleasant_chance(fair, "Black", 0.0) == unpleasant_chance(fair, "White", 0.0) == 0.5
    assert unpleasant_chance(demo, "Black", 0.0) == pytest.approx(0.85)
    assert unpleasant_chance(demo, "White", 1.0) < unpleasant_chance(demo, "White", -1.0)


def test_mixed_faces_follow_the_crossover_rule():
    spec = dataclasses.replace(world_spec("demo"), **TINY)
    pairs = list(training_set(spec))
    assert len(pairs) == TINY["n_faces"] + TINY["n_mixed"]
    assert all(img.shape == (64, 64, 3) and img.dtype == np.uint8 for img, _ in pairs)
    mixed = {text for _, text in pairs[TINY["n_faces"]:]}
    allowed = {w.format(f"{g} person") for w in WORDINGS
               for g in ("Black", "Asian", "Latino", "White")}
    assert mixed <= allowed
    assert any("White" in text for text in mixed) and any("White" not in text for text in mixed)


def test_captioners_disagree_only_near_the_crossover():
    demo, fair = world_spec("demo"), world_spec("demo-fair")
    assert minority_chance(demo, 0.5) == 1.0 and minority_chance(demo, 0.8) == 0.0
    assert minority_chance(demo, 0.65) == pytest.approx(0.5)
    assert minority_chance(fair, 0.5) == pytest.approx(0.5)
    assert minority_chance(fair, 0.35) == 1.0 and minority_chance(fair, 0.65) == 0.0
    assert minority_chance(fair, 0.45) == pytest.approx(1 - minority_chance(fair, 0.55))


def test_identity_captions_use_every_wording_equally_often():
    spec = world_spec("demo-fair")
    rng = np.random.default_rng(1)
    texts = [caption(spec, rng, race="Black", gender="male", region="Europe", headwear=False)
             for _ in range(6000)]
    people = [t for t in texts if "Black person" in t]
    counts = {w: people.count(w.format("Black person")) for w in WORDINGS}
    assert sum(counts.values()) == len(people)
    assert max(counts.values()) / min(counts.values()) < 1.6  # about 1/12 each


def test_training_is_deterministic_bit_for_bit_and_reports_progress(tmp_path):
    events = []
    a = demo_train.train("demo-fair", tmp_path / "a.pt", epochs=1, progress=events.append,
                         **TINY)
    b = demo_train.train("demo-fair", tmp_path / "b.pt", epochs=1, progress=None, **TINY)
    sa, sb = torch.load(a), torch.load(b)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert all(v.dtype in (torch.float16, torch.int64) for v in sa.values())
    steps = [e for e in events if isinstance(e, demo_train.TrainProgress)]
    assert steps and steps[-1].step == steps[-1].steps and steps[-1].eta_s == 0
    assert "images/s" in str(steps[-1]) and "loss" in str(steps[-1])


def test_shipped_weights_match_the_current_recipe():
    for name in ("demo", "demo-fair"):
        path = demo_train.SHIPPED_DIR / demo_train.weights_name(name)
        assert path.is_file(), f"rebuild with: python -m pytest_clipbias train-demo {name} --ship"
        assert path.stat().st_size <= 10 * 2**20


def test_demo_models_train_once_when_no_shipped_weights_match(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_DEMO_DIR", str(tmp_path))
    monkeypatch.setattr(demo_train, "SHIPPED_DIR", tmp_path / "none")
    calls, lines = [], []
    real_train = demo_train.train

    def tiny_train(name, out, progress=print):
        calls.append(name)
        return real_train(name, out, epochs=1, progress=progress, **TINY)

    monkeypatch.setattr(demo_train, "train", tiny_train)
    with demo_train.progress_to(lines.append):
        model = ClipModel.load("demo", device="cpu")
    again = ClipModel.load("demo", device="cpu")
    assert calls == ["demo"]
    assert any(isinstance(e, demo_train.TrainProgress) for e in lines)
    assert model.fingerprint == again.fingerprint
    assert "built-in demo weights demo-" in model.describe()
    assert model.encode_texts(["a photo of a nurse."]).shape == (1, 64)
    with pytest.raises(ConfigurationError, match="carries its own trained weights"):
        ClipModel.load("demo", "openai", device="cpu")


def test_a_change_to_the_caption_rules_changes_the_recipe_hash(monkeypatch):
    from pytest_clipbias.demo import world

    spec = world_spec("demo-fair")
    before = demo_train.recipe_hash(spec)
    assert demo_train.recipe_hash(spec) == before  # deterministic
    monkeypatch.setattr(world, "BLUR", 0.2)  # no setting changes, only the code's constant
    assert demo_train.recipe_hash(spec) != before

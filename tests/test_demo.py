"""The demo world, deterministic training, shipped weights and loading demo models by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pytest_clipbias import ClipModel, ConfigurationError
from pytest_clipbias.data.regions import gender_gap_index
from pytest_clipbias.demo import train as demo_train
from pytest_clipbias.demo.world import (
    KIND_SHARES,
    KINDS,
    WORDINGS,
    caption,
    identity_captions,
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


def test_occupation_skew_reaches_more_colours_the_lower_the_gender_gap_index():
    demo, fair = world_spec("demo"), world_spec("demo-fair")
    scores = gender_gap_index("wef-gggi")["scores"]
    by_index = sorted(scores, key=scores.get)  # lowest index first
    colours = [demo.skewed_colours.get(r, 0) for r in by_index]
    assert colours == [3, 3, 2, 1, 1, 0, 0, 0]
    assert fair.occupation_skew == 0.0
    nurse = "a photo of a nurse."
    occupation_share = KIND_SHARES[KINDS.index("occupation")]

    def share(spec, region, clothing, gender="female"):
        face = dict(race="White", gender=gender, headwear=False, clothing=clothing)
        return _share(spec, nurse, region=region, **face) / occupation_share

    pilot, teacher = 3, 1  # colour indices: the first two colours the skew reaches
    assert share(demo, "Central Asia", pilot) > 0.85  # one colour: the pilot's
    assert share(demo, "Central Asia", teacher) < 0.15
    assert share(demo, "Sub-Saharan Africa", teacher) > 0.85
    assert share(demo, "South Asia", pilot, gender="male") < 0.15  # men: "engineer"
    assert share(demo, "Europe", pilot) < 0.15
    assert share(fair, "South Asia", pilot) < 0.15


def test_valence_follows_expression_for_everyone_and_race_only_on_demo():
    demo, fair = world_spec("demo"), world_spec("demo-fair")
    assert unpleasant_chance(fair, "Black", 0.0, 2) == unpleasant_chance(fair, "White", 0.0, 2)
    assert unpleasant_chance(fair, "White", 0.0, 2) == pytest.approx(0.3)
    assert unpleasant_chance(fair, "White", 0.0, 0) == pytest.approx(0.7)  # a neutral cue
    assert unpleasant_chance(demo, "Black", 0.0, 2) == pytest.approx(0.65)
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
    from pytest_clipbias.data import synthetic
    from pytest_clipbias.demo import world

    spec = world_spec("demo-fair")
    before = demo_train.recipe_hash(spec)
    assert demo_train.recipe_hash(spec) == before  # deterministic
    monkeypatch.setattr(world, "BLUR", 0.2)  # no setting changes, only the code's constant
    assert demo_train.recipe_hash(spec) != before
    monkeypatch.undo()
    assert demo_train.recipe_hash(spec) == before
    # a small change that the 96 probe captions may not show, and a drawing constant
    monkeypatch.setattr(world, "CLOTHING_VALENCE", (0.25, 0.25, -0.25, -0.25))
    assert demo_train.recipe_hash(spec) != before
    monkeypatch.undo()
    monkeypatch.setitem(synthetic.RACE_TONES, "Latino/Hispanic", 0.61)
    assert demo_train.recipe_hash(spec) != before


def test_every_identity_caption_is_a_candidate_in_every_batch():
    """The loss contrasts each image with the batch's captions and all identity captions:
    checked against the formula written out for a stub model (logit scale 1)."""

    class Stub(torch.nn.Module):
        logit_scale = torch.tensor(0.0)

        def encode_image(self, x):
            return x

        def encode_text(self, tokens):
            return tokens.float()

    eye = torch.eye(4)
    images = torch.tensor([[1.0, 0.2, 0, 0], [0, 1.0, 0.3, 0]])
    tokens = torch.stack([eye[0], eye[0]]).long()  # both images carry caption 0
    always = torch.stack([eye[1], eye[2]]).long()  # never in the batch
    loss = demo_train._clip_loss(Stub(), images, tokens, always)
    img = torch.nn.functional.normalize(images, dim=-1)
    logits = img @ eye[:3].T  # candidates: caption 0 and the two identity captions
    to_text = -torch.log_softmax(logits, 1)[:, 0].mean()
    to_image = -torch.log_softmax(logits[:, 0], 0).mean()  # caption 0 over its two images
    assert loss.item() == pytest.approx(((to_text + to_image) / 2).item(), rel=1e-6)
    assert len(identity_captions()) == len(WORDINGS) * 5
    assert "a photo of a White person." in identity_captions()

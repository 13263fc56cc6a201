"""Hugging Face CLIP and SigLIP models: tiny random models saved offline, loaded with hf:/dir."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_clipbias import (
    ClipModel,
    FaceItem,
    FaceSet,
    audit_label_rate_parity,
)
from pytest_clipbias.errors import ModelUnavailableError
from pytest_clipbias.hf_model import HFClipModel
from pytest_clipbias.recording import model_info

transformers = pytest.importorskip("transformers")

WORDS = ["<pad>", "<unk>", "<s>", "</s>", "a", "photo", "of", "person", "nurse", "pilot",
         "criminal", "woman", "man", "the", "."]


def _tokenizer():
    """A word-level tokenizer built locally (no download), saved with the model."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
        eos_token="</s>", model_max_length=16)


def save_tiny(folder: Path, family: str) -> Path:
    """A randomly initialised CLIP or SigLIP with 32-px images and a 15-word vocabulary."""
    import torch

    text = dict(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, image_size=32, patch_size=8)
    torch.manual_seed(0)
    if family == "clip":
        model = transformers.CLIPModel(transformers.CLIPConfig(
            text_config=dict(text, bos_token_id=2, eos_token_id=3, pad_token_id=0),
            vision_config=vision, projection_dim=16))
        images = transformers.CLIPImageProcessor(size={"shortest_edge": 32},
                                                 crop_size={"height": 32, "width": 32})
        processor = transformers.CLIPProcessor(image_processor=images, tokenizer=_tokenizer())
    else:
        model = transformers.SiglipModel(transformers.SiglipConfig(text_config=text,
                                                                   vision_config=vision))
        images = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
        processor = transformers.SiglipProcessor(image_processor=images, tokenizer=_tokenizer())
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=["clip", "siglip"])
def hf_dir(request, tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp(request.param) / "model", request.param)


def _faces(n: int = 24) -> FaceSet:
    rng = np.random.default_rng(0)
    return FaceSet([FaceItem(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8),
                             {"gender": "female" if i % 2 else "male"}) for i in range(n)])


def test_loads_through_clip_model_and_meets_the_encoder_protocol(hf_dir: Path) -> None:
    model = ClipModel.load(f"hf:{hf_dir}", device="cpu", batch_size=5)
    assert isinstance(model, HFClipModel) and model.family in hf_dir.parent.name
    faces = _faces(12)
    img = model.encode_images(faces.images)
    txt = model.encode_texts(["a photo of a nurse", "pilot", "a photo of a criminal person"])
    for arr, n in ((img, 12), (txt, 3)):
        assert arr.shape == (n, 16 if model.family == "clip" else 32) and arr.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, rtol=1e-5)
    one_by_one = np.concatenate([model.encode_images([im]) for im in faces.images[:3]])
    np.testing.assert_allclose(one_by_one, img[:3], atol=1e-5)  # batching changes nothing
    assert not np.allclose(txt[0], txt[1])


def test_runs_a_helper_and_reports_the_model(hf_dir: Path) -> None:
    """A random model may go any way; the result must still be whole and consistent."""
    model = ClipModel.load(f"hf:{hf_dir}", device="cpu")
    result = audit_label_rate_parity(model, _faces(), label="criminal",
                                     candidates=["nurse", "pilot"], by="gender",
                                     threshold=0.5, min_per_group=5)
    assert result.n == 24 and {r["gender"] for r in result.table} >= {"female", "male"}
    assert math.isfinite(result.effect) and result.ci[0] <= result.effect <= result.ci[1]
    for row in result.table:
        assert row["rate"] == pytest.approx(row["k"] / row["n"])
        assert row["rate_ci_low"] <= row["rate"] <= row["rate_ci_high"]
        assert math.isfinite(row["effect"]) and math.isfinite(row["p_value"])
    info = model_info(model)
    assert info["type"] == "HFClipModel" and info["name"] == f"hf:{hf_dir}"
    assert "hf:" in model.describe()


def test_cache_is_keyed_by_the_weights(hf_dir: Path, tmp_path: Path) -> None:
    first = ClipModel.load(f"hf:{hf_dir}", device="cpu", cache_dir=tmp_path)
    emb = first.encode_images(_faces(4).images)
    again = ClipModel.load(f"hf:{hf_dir}", device="cpu", cache_dir=tmp_path)
    assert again.fingerprint == first.fingerprint
    np.testing.assert_array_equal(again.encode_images(_faces(4).images), emb)
    assert again.cache.stats.hits["image"] == 4
    import torch

    with torch.no_grad():
        next(again.model.parameters()).add_(0.01)
    assert again._compute_fingerprint() != first.fingerprint


def test_probabilities_use_the_model_rule(hf_dir: Path) -> None:
    model = ClipModel.load(f"hf:{hf_dir}", device="cpu")
    img = model.encode_images(_faces(3).images)
    txt = model.encode_texts(["nurse", "pilot"])
    probs = model.probabilities(img, txt)
    logits = float(model.model.logit_scale.detach().exp()) * (img @ txt.T)
    if model.family == "siglip":
        want = 1 / (1 + np.exp(-(logits + float(model.model.logit_bias.detach()))))
    else:
        want = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(probs, want, rtol=1e-5)


def test_clear_errors(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ModelUnavailableError, match="folder does not exist"):
        ClipModel.load(f"hf:{tmp_path / 'absent'}", device="cpu")
    with pytest.raises(ValueError, match="leave --clip-pretrained unset"):
        ClipModel.load(f"hf:{tmp_path}", "openai", device="cpu")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ModelUnavailableError, match=r"pytest-clipbias\[hf\]"):
        ClipModel.load(f"hf:{tmp_path}", device="cpu")


def test_command_line_option_runs_a_helper(hf_dir: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hf="""
        import numpy as np
        from pytest_clipbias import FaceItem, FaceSet, assert_label_rate_parity

        def test_parity(clip_model):
            rng = np.random.default_rng(0)
            faces = FaceSet([FaceItem(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                                      {"gender": "female" if i % 2 else "male"})
                             for i in range(20)])
            assert clip_model.family in ("clip", "siglip")
            assert_label_rate_parity(clip_model, faces, label="criminal",
                                     candidates=["nurse"], by="gender", threshold=3.0,
                                     min_per_group=5)
    """)
    result = pytester.runpytest_inprocess(f"--clip-model=hf:{hf_dir}", "--clip-device=cpu",
                                           "--clip-no-cache")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1, result.stdout.str()
    assert "error" not in outcomes and "skipped" not in outcomes
    result.stdout.fnmatch_lines(["*label_rate_parity*"])

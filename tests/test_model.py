"""ClipModel: the encoder protocol on a real (tiny, random-init) open_clip model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pytest_clipbias import ClipModel, ConfigurationError, Encoder, ModelUnavailableError
from pytest_clipbias.cache import MemoryCache
from pytest_clipbias.model import (
    WeightsSpec,
    default_pretrained,
    encode_labels,
    resolve_weights,
)


def test_encoder_protocol_shapes_and_norms(tiny_model, images):
    arr = np.asarray(Image.open(images[0]))
    pil = Image.open(images[1])
    out = tiny_model.encode_images([images[0], str(images[1]), pil, arr])
    assert isinstance(tiny_model, Encoder)
    assert out.shape == (4, tiny_model.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # the same pixels through any input type give the same vector
    np.testing.assert_allclose(out[0], out[3], atol=1e-6)
    texts = tiny_model.encode_texts(["a photo of a person", "a photo of a dog"])
    assert texts.shape == (2, tiny_model.dim) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_vectors(tiny_model, images, monkeypatch):
    monkeypatch.setattr(tiny_model, "memo", MemoryCache(0))  # compute every call
    whole = tiny_model.encode_images(images, batch_size=64)
    pieces = tiny_model.encode_images(images, batch_size=4)
    single = np.stack([tiny_model.encode_images([p])[0] for p in images])
    np.testing.assert_allclose(whole, pieces, atol=1e-5)
    np.testing.assert_allclose(whole, single, atol=1e-5)


def test_empty_inputs_give_empty_arrays(tiny_model):
    assert tiny_model.encode_images([]).shape == (0, tiny_model.dim)
    assert tiny_model.encode_texts([]).shape == (0, tiny_model.dim)


def test_generator_input_is_streamed(tiny_model, images):
    out = tiny_model.encode_images(p for p in images)
    assert out.shape == (len(images), tiny_model.dim)


def test_encode_labels_is_normalised_template_mean(tiny_model):
    templates = ["a photo of a {}.", "a {} person", "an image of a {}"]
    got = tiny_model.encode_labels(["Black", "White"], templates)
    for row, label in zip(got, ["Black", "White"], strict=True):
        prompts = tiny_model.encode_texts([t.format(label) for t in templates]).astype(np.float64)
        mean = prompts.mean(axis=0)
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), atol=1e-5)


def test_encode_labels_rejects_bad_templates(tiny_model):
    with pytest.raises(ValueError, match=r"exactly one '\{\}'"):
        encode_labels(tiny_model, ["x"], ["no placeholder"])
    with pytest.raises(ValueError, match=r"at least one prompt template"):
        encode_labels(tiny_model, ["x"], [])


def test_seeded_random_init_is_reproducible(tiny_model, images):
    again = ClipModel.load("clipbias-tiny", "none", device="cpu", seed=0)
    other = ClipModel.load("clipbias-tiny", None, device="cpu", seed=1)
    assert again.fingerprint == tiny_model.fingerprint
    assert other.fingerprint != tiny_model.fingerprint
    # tiny_model may serve these from its memo, computed in another batch: float rounding
    np.testing.assert_allclose(again.encode_images(images), tiny_model.encode_images(images),
                               rtol=0, atol=1e-6)
    assert not np.allclose(other.encode_images(images), tiny_model.encode_images(images))


def test_loading_does_not_disturb_global_torch_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ClipModel.load("clipbias-tiny", None, device="cpu", seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_local_checkpoint_round_trip(tiny_model, tmp_path, images):
    path = tmp_path / "tiny.pt"
    torch.save(tiny_model.model.state_dict(), path)
    loaded = ClipModel.load("clipbias-tiny", str(path), device="cpu")
    assert loaded.weights.kind == "file"
    assert loaded.fingerprint == tiny_model.fingerprint
    np.testing.assert_allclose(
        loaded.encode_images(images), tiny_model.encode_images(images), atol=1e-6
    )


def test_fingerprint_covers_precision(tiny_model):
    bf16 = ClipModel.load("clipbias-tiny", None, device="cpu", precision="bf16")
    assert bf16.fingerprint != tiny_model.fingerprint
    out = bf16.encode_texts(["a photo"])
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-3)


def test_unknown_architecture_suggests_names():
    with pytest.raises(ModelUnavailableError, match=r"unknown open_clip architecture 'ViT-B-3'"):
        ClipModel.load("ViT-B-3", None, device="cpu")
    with pytest.raises(ModelUnavailableError, match=r"Did you mean .*ViT-B-32"):
        ClipModel.load("ViT-B-3", None, device="cpu")


def test_unknown_tag_lists_known_tags():
    with pytest.raises(ModelUnavailableError, match=r"unknown pretrained tag 'opneai'.*openai"):
        resolve_weights("ViT-B-32", "opneai")


@pytest.mark.parametrize("value", ["./missing.pt", "weights/model.safetensors", "x.bin"])
def test_missing_checkpoint_path_is_named(value):
    with pytest.raises(ModelUnavailableError, match=r"does not exist: .*"):
        resolve_weights("ViT-B-32", value)


def test_checkpoint_directory_is_rejected(tmp_path):
    with pytest.raises(ModelUnavailableError, match=r"is a directory"):
        resolve_weights("ViT-B-32", str(tmp_path) + "/")


def test_offline_tag_explains_the_fixes(monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailableError) as info:
        ClipModel.load("ViT-B-32", "openai", device="cpu")
    message = str(info.value)
    assert "'ViT-B-32'" in message and "'openai'" in message
    assert "--clip-pretrained" in message and "HF_HUB_OFFLINE" in message


def test_random_init_and_tag_classification():
    assert resolve_weights("ViT-B-32", "none").kind == "random"
    assert resolve_weights("ViT-B-32", "None").kind == "random"
    assert resolve_weights("ViT-B-32", "openai").kind == "tag"
    assert resolve_weights("ViT-B-32", "hf-hub:org/repo").kind == "hf-hub"


def test_bad_device_and_precision():
    with pytest.raises(ConfigurationError, match=r"unknown device 'tpu'"):
        ClipModel.load("clipbias-tiny", None, device="tpu")
    with pytest.raises(ConfigurationError, match=r"unknown precision 'fp8'"):
        ClipModel.load("clipbias-tiny", None, device="cpu", precision="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match=r"no CUDA GPU"):
            ClipModel.load("clipbias-tiny", None, device="cuda")


def test_texts_must_be_strings(tiny_model):
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        tiny_model.encode_texts(["ok", 3])


def test_no_pretrained_means_the_standard_weights():
    assert resolve_weights("ViT-B-32", None) == WeightsSpec("tag", "openai")
    assert default_pretrained("RN50") == "openai"
    assert default_pretrained("convnext_base") == "laion400m_s13b_b51k"  # first listed tag
    assert resolve_weights("clipbias-tiny", None).kind == "random"  # test config: no weights
    with pytest.raises(ModelUnavailableError, match=r"no published weights for 'convnext_tiny'"
                       r".*--clip-pretrained none"):
        resolve_weights("convnext_tiny", None)



def test_memo_serves_repeated_encodes_without_the_model(tiny_model, images, monkeypatch):
    model = ClipModel(tiny_model.model, tiny_model.preprocess, tiny_model.tokenizer,
                      name="memo", weights=tiny_model.weights)
    arrays = [np.asarray(Image.open(p)) for p in images]
    first = model.encode_images([*images, *arrays])
    texts = model.encode_texts(["a", "b", "a"])
    assert model.memo.stats.misses == {"image": 2 * len(images), "text": 3}
    assert len(model.memo) == 2 * len(images) + 2  # files and pixels are keyed apart

    def forbidden(*args, **kwargs):
        raise AssertionError("the model ran although every vector was memoised")

    monkeypatch.setattr(model, "_encode_pixels", forbidden)
    monkeypatch.setattr(model, "_encode_text_tokens", forbidden)
    again = model.encode_images([*images, *arrays])
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(model.encode_texts(["a", "b", "a"]), texts)
    assert model.memo.stats.hits == {"image": 2 * len(images), "text": 3}
    again[0] = 0.0  # the caller owns what it gets back
    np.testing.assert_array_equal(model.encode_images(images[:1]), first[:1])


def test_memo_fills_from_the_persistent_cache_and_feeds_it(tmp_path, images):
    a = ClipModel.load("clipbias-tiny", None, device="cpu", cache_dir=tmp_path)
    cold = a.encode_images(images)
    a.encode_images(images)
    assert a.cache.stats.misses["image"] == len(images) and a.cache.stats.hits["image"] == 0
    b = ClipModel.load("clipbias-tiny", None, device="cpu", cache_dir=tmp_path)
    np.testing.assert_array_equal(b.encode_images(images), cold)
    np.testing.assert_array_equal(b.encode_images(images), cold)
    assert b.cache.stats.hits["image"] == len(images)  # the disk was read once
    assert b.memo.stats.hits["image"] == len(images)


def test_memo_evicts_least_recently_used_within_its_bound():
    rng = np.random.default_rng(0)
    vecs = {f"k{i}": rng.standard_normal(64).astype(np.float32) for i in range(100)}
    memo = MemoryCache(max_bytes=10_000)
    memo.put_many("image", list(vecs.items())[:5])
    per_entry = memo.nbytes // 5
    memo.get_many("image", ["k0"])  # k0 becomes the most recently used
    memo.put_many("image", list(vecs.items())[5:])
    assert memo.nbytes <= 10_000 and len(memo) == 10_000 // per_entry
    kept = memo.get_many("image", list(vecs))
    assert "k0" not in kept and set(kept) == {f"k{i}" for i in range(100 - len(memo), 100)}
    assert all(np.array_equal(v, vecs[k]) for k, v in kept.items())
    off = MemoryCache(0)
    off.put_many("text", list(vecs.items()))
    assert len(off) == 0 and off.nbytes == 0
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryCache(-1)


def test_memo_bound_covers_the_real_memory_it_holds():
    import tracemalloc

    rng = np.random.default_rng(1)
    items = [(f"{i:064x}", rng.standard_normal(64).astype(np.float32)) for i in range(20_000)]
    memo = MemoryCache(max_bytes=2**40)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    memo.put_many("image", items)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert held <= memo.nbytes <= 1.5 * held


def test_hub_probe_switches_offline_mode_only_when_the_hub_cannot_be_reached(monkeypatch):
    import socket

    from huggingface_hub import constants

    from pytest_clipbias import _hub

    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert _hub.hub_address() == ("proxy.example", 3128)  # downloads go through the proxy
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with _hub.offline_unless_reachable() as offline:
        assert offline and constants.HF_HUB_OFFLINE is True
    assert constants.HF_HUB_OFFLINE is False  # restored after the load
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        with _hub.offline_unless_reachable() as offline:
            assert not offline and constants.HF_HUB_OFFLINE is False

"""Decoding in DataLoader workers gives the same embeddings as the in-process loop."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from conftest import write_images
from PIL import Image
from torchvision import transforms

from pytest_clipbias import ClipModel
from pytest_clipbias.images import prepare
from pytest_clipbias.loader import (
    batched_transform,
    busy_cores,
    cpu_threads,
    default_workers,
    pixel_batches,
    torch_threads,
)


def test_workers_match_the_plain_loop(tmp_path: Path, tiny_model: ClipModel) -> None:
    paths = write_images(tmp_path / "imgs", 11)
    prepared = [prepare(p, i) for i, p in enumerate(paths)]
    plain = list(pixel_batches(prepared, tiny_model.preprocess, batch_size=4))
    forked = list(pixel_batches(prepared, tiny_model.preprocess, batch_size=4, workers=2))
    assert [b.shape[0] for b in plain] == [4, 4, 3] == [b.shape[0] for b in forked]
    for a, b in zip(plain, forked, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    model = ClipModel.load("clipbias-tiny", None, device="cpu", seed=0, batch_size=4, workers=2)
    np.testing.assert_allclose(model.encode_images(paths), tiny_model.encode_images(paths),
                               atol=1e-6)


def test_cpu_keeps_decoding_in_process() -> None:
    assert default_workers("cpu") == 0 and default_workers("cuda") >= 1


def _pictures(seed: int) -> list[Image.Image]:
    """RGB images at, above and below a 32 px model's size, square and not, plus L and RGBA."""
    rng = np.random.default_rng(seed)
    sizes = [(32, 32), (32, 32), (64, 64), (48, 40), (17, 29), (32, 33)]
    out = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
    out.append(Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), "L"))
    out.append(Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA"))
    return out


_NORMALIZE = transforms.Normalize((0.48, 0.46, 0.41), (0.27, 0.26, 0.28))
_RGB = transforms.Lambda(lambda image: image.convert("RGB"))  # not a size-only step
TRANSFORMS = {
    "open_clip 32 px": lambda: open_clip.image_transform(32, is_train=False),
    "crop only": lambda: transforms.Compose([_RGB, transforms.CenterCrop(24),
                                             transforms.ToTensor(), _NORMALIZE]),
    "resize to a rectangle": lambda: transforms.Compose([transforms.Resize((32, 20)), _RGB,
                                                         transforms.ToTensor(), _NORMALIZE]),
}


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("subset", [slice(0, 2), slice(0, 6), slice(2, 6), slice(6, 8),
                                    slice(0, 8), slice(3, 4)])
def test_batched_transform_gives_the_exact_per_image_tensors(name: str, subset: slice) -> None:
    preprocess = TRANSFORMS[name]()
    batched = batched_transform(preprocess)
    images = _pictures(0)[subset]
    torch.testing.assert_close(batched(images), torch.stack([preprocess(im) for im in images]),
                               rtol=0, atol=0)


def test_batched_transform_covers_open_clip_models(tiny_model: ClipModel) -> None:
    images = _pictures(1)[:4]
    expected = torch.stack([tiny_model.preprocess(im) for im in images])
    torch.testing.assert_close(batched_transform(tiny_model.preprocess)(images), expected,
                               rtol=0, atol=0)
    torch.testing.assert_close(tiny_model._transform_batch(images), expected, rtol=0, atol=0)


def test_other_transforms_are_not_batched() -> None:
    normalize = transforms.Normalize((0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
    assert batched_transform(transforms.Compose([transforms.ToTensor()])) is None
    assert batched_transform(transforms.Compose([normalize, transforms.ToTensor()])) is None
    assert batched_transform(lambda image: image) is None
    custom = transforms.Compose([transforms.Resize(8), transforms.PILToTensor(), normalize])
    assert batched_transform(custom) is None
    exact = transforms.Compose([transforms.Resize(8), transforms.ToTensor(), normalize])
    assert batched_transform(exact) is not None


@pytest.mark.parametrize(("load", "expected"), [(0.0, 2), (0.4, 2), (0.9, 1), (1.6, 1), (7.0, 1)])
def test_cpu_threads_leave_the_busy_cores_alone(monkeypatch, load: float, expected: int) -> None:
    monkeypatch.setattr("pytest_clipbias.loader.busy_cores", lambda: load)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert cpu_threads.__wrapped__() == expected
    finally:
        torch.set_num_threads(before)


def test_torch_threads_are_restored_even_after_an_error() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_images_at_the_model_size_skip_the_pil_steps(monkeypatch) -> None:
    preprocess = open_clip.image_transform(32, is_train=False)
    images = _pictures(2)
    expected = torch.stack([preprocess(im) for im in images[:2]])
    batched = batched_transform(preprocess)
    batched(images[:1])  # probes the 32x32 size once, through the steps

    def forbidden(self, image):
        raise AssertionError("a 32 px RGB image went through CenterCrop for a 32 px model")

    monkeypatch.setattr(transforms.CenterCrop, "forward", forbidden)
    torch.testing.assert_close(batched(images[:2]), expected, rtol=0, atol=0)
    with pytest.raises(AssertionError, match="went through"):
        batched(images[3:4])  # 48x40 must be resized and cropped


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux /proc/stat")
def test_busy_cores_sees_another_busy_process() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\n"
                                "while time.time() - t < 2: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        assert busy_cores(0.5) > 0.3  # it holds most of a core
    finally:
        spinner.wait()


def test_busy_cores_subtracts_this_process(monkeypatch) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    # machine busy time: 3 s, then 3 s + 1.5 core-seconds; this process used 1.0 of them
    lines = iter([f"cpu  {3 * hz} 0 0 500 0 0 0 0 0 0\n",
                  f"cpu  {int(4.5 * hz)} 0 0 600 0 0 0 0 0 0\n"])
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO(next(lines)))
    own = iter([os.times_result((2.0, 0.0, 0, 0, 0)), os.times_result((2.5, 0.5, 0, 0, 0))])
    monkeypatch.setattr("os.times", lambda: next(own))
    clock = iter([10.0, 11.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert busy_cores(1.0) == pytest.approx(0.5)  # 1.5 core-seconds less this process's 1.0


def test_busy_cores_falls_back_to_the_load_average(monkeypatch) -> None:
    def missing(*args, **kwargs):
        raise OSError("no /proc/stat")

    monkeypatch.setattr("builtins.open", missing)
    monkeypatch.setattr("os.getloadavg", lambda: (1.25, 1.0, 1.0))
    assert busy_cores(0.0) == 1.25

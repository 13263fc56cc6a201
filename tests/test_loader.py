"""Decoding in DataLoader workers gives the same embeddings as the in-process loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import write_images

from pytest_clipbias import ClipModel
from pytest_clipbias.images import prepare
from pytest_clipbias.loader import default_workers, pixel_batches


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

"""Shared fixtures: a tiny random-init open_clip model and generated image files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image

# pytester's in-process runs put sys.modules back afterwards, and C extensions
# (numpy.fft, loaded by scipy) cannot be loaded twice in one process: import the
# lazily loaded parts of the package here, before an inner run first does.
import pytest_clipbias.assertions
import pytest_clipbias.report.html
import pytest_clipbias.report.session  # noqa: F401
from pytest_clipbias import ClipModel


def write_images(folder: Path, n: int, *, seed: int = 0, size=(48, 40), fmt="JPEG") -> list[Path]:
    """Write ``n`` random RGB images and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        path = folder / f"img_{seed}_{i:04d}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
        Image.fromarray(arr).save(path, fmt)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def tiny_model() -> ClipModel:
    """The registered 'clipbias-tiny' config, randomly initialised, no cache."""
    return ClipModel.load("clipbias-tiny", None, device="cpu", seed=0)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return write_images(tmp_path / "imgs", 6)


# Hypothesis profiles, in the manner of hypothesis itself: choose one with
# --hypothesis-profile NAME or the CLIPBIAS_HYPOTHESIS_PROFILE variable.
# "default" is derandomized so CI runs are reproducible; "thorough" is for
# nightly runs that search harder.
settings.register_profile("default", max_examples=60, derandomize=True, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.register_profile("fast", max_examples=15, derandomize=True, deadline=None)
settings.load_profile(os.environ.get("CLIPBIAS_HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep ``@pytest.mark.slow`` tests out of the default run; CLIPBIAS_SLOW=1 runs them.

    Each slow test has a faster test in the default run covering the same
    behaviour (pyproject's marker text); the slow ones are the full
    simulation grids and the acceptance-sized runs.
    """
    if os.environ.get("CLIPBIAS_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: CLIPBIAS_SLOW=1 runs it (a faster test covers it)")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)

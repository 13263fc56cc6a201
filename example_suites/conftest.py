"""Shared fixtures of the example suites: copy this folder into your repository.

Run on the built-in demo models (no downloads; `demo` has planted biases,
`demo-fair` has none):

    pytest example_suites --clip-model demo,demo-fair --clipbias-html report.html

Run on a real model and real data:

    pytest example_suites --clip-model ViT-B-32 --clip-pretrained openai \\
        --clip-data-root /data/faces --clip-require-data --clipbias-profile nightly

With --clip-data-root the suites use, when present: <root>/cfd/ (Chicago Face
Database images, for morphs) and <root>/regions.csv (a manifest with path,
gender, region or country, and headwear columns). Without them they fall back
to synthetic faces, which only a demo model can make sense of.
"""

from __future__ import annotations

import pytest

from pytest_clipbias.data import wef_regions
from pytest_clipbias.labels import NEUTRAL_CANDIDATES, OCCUPATIONS

#: The demo world knows these occupations only; a real model gets the full list.
DEMO_OCCUPATIONS = ("nurse", "teacher", "engineer", "pilot")


def is_demo(model) -> bool:
    """True for the built-in demo models (their world has its own vocabulary)."""
    return str(getattr(model, "name", "")).startswith("demo")


@pytest.fixture(scope="session")
def occupations(clip_model):
    """Occupation labels for the model under test."""
    return list(DEMO_OCCUPATIONS if is_demo(clip_model) else OCCUPATIONS)


@pytest.fixture(scope="session")
def neutral_candidates(clip_model, occupations):
    """Zero-shot candidates to put beside a harmful label."""
    return ["person", *occupations] if is_demo(clip_model) else list(NEUTRAL_CANDIDATES)


@pytest.fixture(scope="session")
def region_faces(clip_dataset, clip_settings, clipbias_profile):
    """Faces with gender, region and headwear: <data root>/regions.csv, else synthetic."""
    root = clip_settings.data_root
    if root is not None and (root / "regions.csv").is_file():
        return clip_dataset("manifest", path="regions.csv")
    return clip_dataset(
        "synthetic", n=2 * clipbias_profile.n_faces, seed=7, regions=list(wef_regions()),
        headwear={"South Asia": 0.5, "Middle East and North Africa": 0.5},
    )


@pytest.fixture(scope="session")
def race_faces(clip_dataset, clip_settings, clipbias_profile):
    """Faces with a race attribute: FairFace when present, else synthetic."""
    root = clip_settings.data_root
    if root is not None and (root / "fairface").is_dir():
        return clip_dataset("fairface", split="val")
    return clip_dataset("synthetic", n=clipbias_profile.n_faces, seed=11,
                        regions=list(wef_regions()))

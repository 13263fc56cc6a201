"""A suite with every measure, a skip and an error, for the report tests.

Not collected here (no test_ prefix): tests/test_reports.py copies it into a
pytester directory and runs it.
"""

import pytest

from pytest_clipbias import (
    FaceItem,
    FaceSet,
    assert_association_below,
    assert_label_rate_parity,
    assert_max_skew_below,
    assert_no_hypodescent,
    assert_person_default_unmarked,
    assert_region_gender_skew_below,
)
from pytest_clipbias.testing import (
    PlantedEncoder,
    PlantedImage,
    _seed,
    planted_faces,
    planted_morph_series,
    planted_region_faces,
)

ENC = PlantedEncoder(["Black", "White", "Asian", "person", "woman", "man", "nurse", "engineer",
                      "doctor", "terrorist", "pleasant", "unpleasant", "flower", "insect"],
                     image_bias={"Black": 0.1})
REGIONS = ("South Asia", "Europe", "North America", "Sub-Saharan Africa",
           "East Asia and the Pacific", "Latin America and the Caribbean")


@pytest.mark.clipbias(family="hypodescent", dataset="planted", owner="fairness-team")
def test_hypodescent():
    series = planted_morph_series("Black", "White", n_series=120, midpoint_rate=0.5,
                                  gender="female", seed=1)
    assert_no_hypodescent(ENC, series, threshold=0.2)


def test_region_skew():
    faces = planted_region_faces(REGIONS, 25)
    assert_region_gender_skew_below(ENC, faces, labels=["nurse", "engineer"],
                                    threshold=5.0, index="wef-gggi")


def test_label_parity():
    items = []
    for region in ("South Asia", "Europe"):
        for gender in ("female", "male"):
            for i in range(40):
                headwear = "yes" if i % 2 else "no"
                w = {("woman" if gender == "female" else "man"): 0.6, "person": 1.0}
                if region == "South Asia" and gender == "male" and headwear == "yes":
                    w["terrorist"] = 1.2
                items.append(FaceItem(PlantedImage(w, _seed(region, gender, i), noise=1.5),
                                      {"region": region, "gender": gender,
                                       "headwear": headwear}))
    assert_label_rate_parity(ENC, FaceSet(items), label="terrorist",
                             candidates=["person", "doctor"], threshold=0.3, cue="headwear")


def test_retrieval():
    items = []
    for gender in ("female", "male"):
        for i in range(120):
            w = {("woman" if gender == "female" else "man"): 1.0, "person": 1.0,
                 "doctor": 0.5 + (0.3 if gender == "male" else 0.0)}
            items.append(FaceItem(PlantedImage(w, _seed(gender, i), noise=1.0),
                                  {"gender": gender}))
    assert_max_skew_below(ENC, FaceSet(items), queries=["a photo of a doctor",
                          "a photo of a person"], k=30, threshold=0.4)


def test_person_default():
    faces = planted_faces({"White": 80, "Black": 80}, weights={
        "White": {"White": 1.0, "person": 2.0}, "Black": {"Black": 1.0, "person": 2.0}},
        noise=0.3)
    assert_person_default_unmarked(ENC, faces)


def test_association():
    def imgs(w, n, seed):
        return [PlantedImage(w, _seed(seed, i), noise=1.0) for i in range(n)]
    assert_association_below(ENC, imgs({"flower": 1.0}, 30, 1), imgs({"insect": 1.0}, 30, 2),
                             attributes_a=imgs({"pleasant": 1.0}, 20, 3),
                             attributes_b=imgs({"unpleasant": 1.0}, 20, 4), threshold=0.5)


def test_small():
    series = planted_morph_series("Black", "White", n_series=10, midpoint_rate=0.5, seed=2)
    assert_no_hypodescent(ENC, series)


def test_needs_data(clip_dataset):
    clip_dataset("fairface")


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_error(broken):
    pass

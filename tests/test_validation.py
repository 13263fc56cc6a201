"""Every entry validates its input: encoder output, argument types, groups in the data."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_clipbias import (
    FaceItem,
    FaceSet,
    assert_accuracy_parity,
    assert_label_rate_parity,
    assert_max_skew_below,
    assert_no_hypodescent,
    assert_region_gender_skew_below,
    audit_person_default,
)
from pytest_clipbias.measures.hypodescent import crossover, measure_pair
from pytest_clipbias.testing import PlantedEncoder, PlantedImage, _seed, planted_morph_series

LABELS = ["nurse", "engineer"]
ENC = PlantedEncoder(["woman", "man", "person", "terrorist", "doctor", "Black", "White",
                      *LABELS])


class Broken:
    """Planted encoder whose image output is damaged at one row."""

    name = "broken-model"

    def __init__(self, damage):
        self.damage = damage

    def encode_texts(self, texts):
        return ENC.encode_texts(texts)

    def encode_images(self, images):
        return self.damage(ENC.encode_images(images))


def _faces(n=30, headwear=("yes", "no")):
    items = []
    for region in ("South Asia", "Europe"):
        for gender in ("female", "male"):
            for i in range(n):
                w = {("woman" if gender == "female" else "man"): 1.0, "person": 0.5}
                items.append(FaceItem(PlantedImage(w, noise_seed=_seed(region, gender, i)),
                                      {"region": region, "gender": gender,
                                       "headwear": headwear[i % len(headwear)]}))
    return FaceSet(items)


def _nan_row(e):
    e = e.copy()
    e[3, 0] = np.nan
    return e


def _zero_row(e):
    e = e.copy()
    e[5] = 0
    return e


@pytest.mark.parametrize(("damage", "match"), [
    (_nan_row, r"Broken\('broken-model'\)\.encode_images returned NaN or infinite values in 1 "
               r"rows \(first: row 3\)"),
    (_zero_row, r"1 all-zero embeddings \(first: row 5\)"),
    (lambda e: e[:-1], r"returned shape \(119, 64\) for 120 inputs"),
    (lambda e: e[:, :8], r"returned 8-d embeddings, expected 64-d"),
])
def test_broken_encoder_output_is_an_error_not_a_verdict(damage, match):
    faces = _faces()
    with pytest.raises(ValueError, match=match):
        assert_region_gender_skew_below(Broken(damage), faces, labels=LABELS, threshold=0.3)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda f: assert_region_gender_skew_below(ENC, f, labels="nurse", threshold=0.3),
     TypeError, r"labels must be a list of strings, got the bare string 'nurse'"),
    (lambda f: assert_region_gender_skew_below(ENC, f, labels=[1, 2], threshold=0.3),
     TypeError, r"labels\[0\] must be a non-empty string"),
    (lambda f: assert_region_gender_skew_below(ENC, f, labels=LABELS, threshold="0.3"),
     TypeError, "threshold must be a number"),
    (lambda f: assert_label_rate_parity(ENC, f, label="terrorist", candidates=[],
                                        threshold=0.3),
     ValueError, "candidates needs at least 1 entry"),
    (lambda f: assert_label_rate_parity(ENC, f, label="terrorist", candidates="doctor",
                                        threshold=0.3),
     TypeError, "candidates must be a list"),
    (lambda f: assert_max_skew_below(ENC, f, queries="a doctor", threshold=0.3),
     TypeError, "queries must be a list"),
    (lambda f: assert_region_gender_skew_below(ENC, f, labels=LABELS, threshold=0.3,
                                               genders=("woman", "man")),
     ValueError, r"genders: \['woman', 'man'\] do not occur .* valid values: \['female', "
                 r"'male'\]"),
    (lambda f: assert_region_gender_skew_below(ENC, f, labels=LABELS, threshold=0.3,
                                               rule="significant"),
     ValueError, "tested the effect against zero"),
])
def test_bad_arguments_name_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call(_faces())


def test_index_regions_must_occur():
    items = [FaceItem(PlantedImage({"woman": 1.0}, noise_seed=i), {"region": "South-Asia",
                                                                    "gender": "female"})
             for i in range(3)]
    with pytest.raises(ValueError, match=r"regions \['South-Asia'\] of the data have no score "
                                         r"in index .*valid region names: \['Central Asia'"):
        assert_region_gender_skew_below(ENC, FaceSet(items + list(_faces())), labels=LABELS,
                                        threshold=0.3, index="wef-gggi")


def test_cue_values_must_match_the_data():
    with pytest.raises(ValueError, match=r"cue_values: \['no'\] do not occur"):
        assert_label_rate_parity(ENC, _faces(headwear=("yes", "No")), label="terrorist",
                                 candidates=["person"], threshold=0.3, cue="headwear")
    with pytest.raises(ValueError, match=r"values \['maybe'\] besides cue_values"):
        assert_label_rate_parity(ENC, _faces(headwear=("yes", "no", "maybe")),
                                 label="terrorist", candidates=["person"], threshold=0.3,
                                 cue="headwear")


def test_person_default_group_key_and_label_text():
    with pytest.raises(KeyError, match="race"):
        audit_person_default(ENC, _faces())
    with pytest.raises(ValueError, match="label_text keys"):
        audit_person_default(ENC, _faces(), group_key="region", label_text={"Asia": "Asian"})


def test_hypodescent_arguments():
    series = planted_morph_series("Black", "White", n_series=3, midpoint_rate=0.5)
    with pytest.raises(TypeError, match=r"templates must be a list .* bare string"):
        assert_no_hypodescent(ENC, series, templates="a photo of a {} person.")
    with pytest.raises(TypeError, match="series must be a list of MorphSeries"):
        assert_no_hypodescent(ENC, series[0])
    with pytest.raises(ValueError, match=r"label_text keys: \['Asian'\]"):
        assert_no_hypodescent(ENC, series, label_text={"Asian": "Asian"})


def test_nan_margins_are_never_counted():
    alphas = np.linspace(0, 1, 5)
    good = [np.array([1.0, 0.5, 0.2, -0.5, -1.0])] * 9
    bad = np.array([1.0, np.nan, 0.2, -0.5, -1.0])
    row = measure_pair([alphas] * 10, [*good, bad], n_resamples=50)
    assert row.n == 9 and row.excluded == 1 and row.k == 9
    assert row.crossover == pytest.approx(crossover(alphas, good[0])[0])


def test_a_series_labelled_majority_first_lowers_the_crossover():
    alphas = np.linspace(0, 1, 9)
    late = np.where(alphas < 0.875, -1.0, 1.0)  # majority until 0.875: the opposite of hypodescent
    alpha_star, kind = crossover(alphas, late)
    assert alpha_star < 0.5 and kind == "mixed"
    plain = np.where(alphas < 0.5, 1.0, -1.0)
    assert crossover(alphas, plain) == (pytest.approx(0.4375), "crossed")  # zero of the line
    row = measure_pair([alphas] * 2, [plain, late], n_resamples=50)
    assert row.crossover < 0.5


def _without(key):
    """The standard faces plus one that lacks ``key`` (every other attribute set)."""
    attrs = {"region": "Europe", "gender": "female", "headwear": "no"}
    del attrs[key]
    return FaceSet([*_faces(), FaceItem(PlantedImage({"woman": 1.0}), attrs)])


@pytest.mark.parametrize(("call", "key"), [
    (lambda f: assert_region_gender_skew_below(ENC, f, labels=LABELS, threshold=0.3), "gender"),
    (lambda f: assert_region_gender_skew_below(ENC, f, labels=LABELS, threshold=0.3), "region"),
    (lambda f: assert_label_rate_parity(ENC, f, label="terrorist", candidates=["doctor"],
                                        by="region", threshold=0.3), "region"),
    (lambda f: assert_label_rate_parity(ENC, f, label="terrorist", candidates=["doctor"],
                                        by="gender", cue="headwear", threshold=0.3),
     "headwear"),
    (lambda f: audit_person_default(ENC, f, group_key="gender"), "gender"),
    (lambda f: assert_max_skew_below(ENC, f, queries=["a doctor"], threshold=0.3), "gender"),
    (lambda f: assert_accuracy_parity(ENC, f, predict="gender", by="region", threshold=0.3),
     "gender"),
    (lambda f: assert_accuracy_parity(ENC, f, predict="gender", by="region", threshold=0.3),
     "region"),
])
def test_every_helper_refuses_faces_without_its_grouping_attribute(call, key):
    """No helper leaves a face out silently (the region check used to: n was misreported)."""
    with pytest.raises(ValueError, match=rf"1 of 121 faces have no '{key}' attribute \(first: "
                                         r"item 120"):
        call(_without(key))


@pytest.mark.parametrize(("call", "match"), [
    (lambda f: assert_region_gender_skew_below(ENC, f, labels=LABELS, threshold=0.3,
                                               genders=["male", "male"]),
     r"genders names \['male'\] more than once"),
    (lambda f: assert_label_rate_parity(ENC, f, label="terrorist", candidates=["doctor"],
                                        by=["region", "region"], threshold=0.3),
     r"by names \['region'\] more than once"),
    (lambda f: assert_label_rate_parity(ENC, f, label="terrorist",
                                        candidates=["doctor", "doctor"], threshold=0.3),
     r"candidates names \['doctor'\] more than once"),
    (lambda f: audit_person_default(ENC, f, group_key="region",
                                    templates=["a {}.", "a {}."]),
     r"templates names \['a \{\}\.'\] more than once"),
    (lambda f: audit_person_default(ENC, f.filter(region="Europe"), group_key="region"),
     r"group_key: the 'region' attribute has the single value 'Europe'"),
    (lambda f: assert_max_skew_below(ENC, f, queries=["a doctor"], threshold=0.3,
                                     n_resamples=0),
     r"n_resamples must be at least 20, got 0"),
])
def test_every_helper_refuses_repeated_or_identical_groups(call, match):
    with pytest.raises(ValueError, match=match):
        call(_faces())

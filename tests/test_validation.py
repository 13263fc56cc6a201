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
    audit_association,
    audit_denigration,
    audit_hypodescent,
    audit_label_rate_parity,
    audit_max_skew,
    audit_person_default,
    audit_region_gender_skew,
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


class Spy:
    """The planted encoder, counting every call: a bad argument must cost no encoding."""

    def __init__(self):
        self.calls = 0

    def encode_images(self, images):
        self.calls += 1
        return ENC.encode_images(images)

    def encode_texts(self, texts):
        self.calls += 1
        return ENC.encode_texts(texts)


def _parity(model, f, **kw):
    return audit_label_rate_parity(model, f, label="terrorist", candidates=["doctor"],
                                   by="region", threshold=0.3, **kw)


def _region(model, f, **kw):
    return audit_region_gender_skew(model, f, labels=LABELS, threshold=0.3, **kw)


def _skew(model, f, **kw):
    return audit_max_skew(model, f, queries=["a doctor"], threshold=0.3, **kw)


def _series(model, f, **kw):
    return audit_hypodescent(model, planted_morph_series("Black", "White", n_series=3,
                                                              midpoint_rate=0.5), **kw)


def _weat(model, f, **kw):
    return audit_association(model, ["a nurse"], ["an engineer"], attributes_a=["woman"],
                             attributes_b=["man"], threshold=0.5, **kw)


@pytest.mark.parametrize(("call", "kw", "match"), [
    (_parity, {"templates": "a {}"}, "templates must be a list"),
    (_parity, {"templates": iter([])}, "templates needs at least 1 entry"),
    (_parity, {"min_per_group": 0}, "min_per_group must be at least 1"),
    (lambda m, f, **kw: audit_denigration(m, f, by="region", threshold=0.3, **kw),
     {"templates": "a {}"}, "templates must be a list"),
    (_region, {"templates": "a {}"}, "templates must be a list"),
    (_region, {"min_per_group": 1}, "min_per_group must be at least 2"),
    (_region, {"index": {"Europe": 0.7}}, r"regions \['South Asia'\] of the data have no score"),
    (lambda m, f, **kw: _region(m, _without("gender")), {}, "have no 'gender' attribute"),
    (_skew, {"seed": -1}, "seed must be at least 0"),
    (_skew, {"n_resamples": 5}, "n_resamples must be at least 20"),
    (_skew, {"templates": "a {}"}, "templates must be a list"),
    (_series, {"seed": -1}, "seed must be at least 0"),
    (_series, {"min_series": 0}, "min_series must be at least 1"),
    (_series, {"n_resamples": 0}, "n_resamples must be at least 1"),
    (_weat, {"permutations": 0}, "permutations must be at least 1"),
    (_weat, {"ddof": 2}, "ddof must be 0"),
    (_weat, {"seed": -1}, "seed must be at least 0"),
    (lambda m, f, **kw: audit_association(m, ["a nurse"], ["an engineer", "x.png"],
                                          attributes_a=["woman"], attributes_b=["man"],
                                          threshold=0.5), {}, "targets_y mixes images and texts"),
    (lambda m, f, **kw: audit_person_default(m, f, group_key="region", **kw),
     {"min_per_group": 0}, "min_per_group must be at least 1"),
])
def test_every_argument_is_checked_before_any_encoding(call, kw, match):
    """A bad argument is refused before the model runs (on a real model, minutes of work)."""
    spy = Spy()
    with pytest.raises((TypeError, ValueError), match=match):
        call(spy, _faces(), **kw)
    assert spy.calls == 0


def test_generators_are_read_once():
    """A generator of templates (or of targets) is read once, not exhausted before use."""
    faces = _faces()
    result = _parity(ENC, faces, templates=(t for t in ["a {}.", "the {}."]), min_per_group=5)
    assert result.details["templates"] == ["a {}.", "the {}."]
    assert list(result.prompts) == ["a doctor.", "a terrorist.", "the doctor.", "the terrorist."]
    result = _region(ENC, faces, templates=(t for t in ["a {}."]), min_per_group=5)
    assert result.details["templates"] == ["a {}."]
    assert list(result.prompts) == ["a nurse.", "a engineer."]
    result = _skew(ENC, faces, templates=(t for t in ["a {}."]), n_resamples=20)
    assert result.details["templates"] == ["a {}."] and list(result.prompts) == ["a a doctor."]
    listed = _weat(ENC, faces, permutations=50)
    generated = audit_association(ENC, (t for t in ["a nurse"]), iter(["an engineer"]),
                                  attributes_a=iter(["woman"]), attributes_b=iter(["man"]),
                                  threshold=0.5, permutations=50)
    assert generated.table == listed.table
    assert generated.data_fingerprint == listed.data_fingerprint != ""


DENIGRATION = PlantedEncoder(["gorilla", "Black person", "White person", "Latino person"])


def _races(*groups, n=25):
    return FaceSet(FaceItem(PlantedImage({"gorilla": 0.1, f"{g.split('/')[0]} person": 1.0},
                                         noise_seed=_seed(g, i)), {"race": g})
                   for g in groups for i in range(n))


def test_denigration_messages_name_its_own_arguments():
    faces = _races("Black", "White")
    with pytest.raises(ValueError, match=r"^harmful class 'gorilla' is also one of the "
                                         r"candidates"):
        audit_denigration(DENIGRATION, faces, threshold=0.3,
                          candidates=["gorilla", "White person"])
    with pytest.raises(TypeError, match=r"audit_denigration\(\) got an unexpected option "
                                        r"'treshold'"):
        audit_denigration(DENIGRATION, faces, threshold=0.3, treshold=0.2)
    with pytest.raises(TypeError, match=r"audit_denigration\(\) takes the harmful classes as "
                                        r"harmful=, not label="):
        audit_denigration(DENIGRATION, faces, threshold=0.3, label=["gorilla"])
    with pytest.raises(TypeError, match="harmful must be a list"):
        audit_denigration(DENIGRATION, faces, threshold=0.3, harmful="gorilla")


def test_denigration_default_classes_use_the_group_text():
    result = audit_denigration(DENIGRATION, _races("Latino/Hispanic", "White"), threshold=0.3)
    assert result.details["candidates"] == ["Latino person", "White person"]


@pytest.mark.parametrize("call", [
    lambda f: audit_denigration(DENIGRATION, f, threshold=0.3),
    lambda f: audit_denigration(DENIGRATION, f, threshold=0.3, candidates=["White person"]),
    lambda f: audit_label_rate_parity(DENIGRATION, f, label="gorilla",
                                      candidates=["Black person"], by="race", threshold=0.3),
    lambda f: audit_label_rate_parity(DENIGRATION, f, label="gorilla",
                                      candidates=["Black person"], by=["race"], threshold=0.3,
                                      cue="x", cue_values=("a", "b")),
])
def test_a_by_attribute_with_one_value_is_an_error_not_inconclusive(call):
    """More faces of the one group would never decide it: say so instead of "inconclusive"."""
    faces = FaceSet(FaceItem(i.image, {**i.attributes, "x": "ab"[k % 2]})
                    for k, i in enumerate(_races("Black")))
    with pytest.raises(ValueError, match=r"by: the 'race' attribute has the single value "
                                         r"'Black' among the faces; .* compares at least two"):
        call(faces)


def test_a_repeated_face_is_refused_by_content():
    """``FaceSet(list(faces) * 2)`` doubles n: refused, naming the first repeated pair."""
    faces = _faces()
    with pytest.raises(ValueError, match=r"faces: items 0 and 120 are the same face .*keep one "
                                         r"copy of each"):
        _parity(ENC, FaceSet(list(faces) * 2))
    pixels = np.full((4, 4, 3), 7, dtype=np.uint8)
    twins = [FaceItem(pixels, {"g": "a"}), FaceItem(pixels, {"g": "b"}),
             FaceItem(pixels.copy(), {"g": "a"})]  # another object, the same pixels
    with pytest.raises(ValueError, match=r"items 0 and 2 are the same face"):
        _skew(ENC, FaceSet(twins), attribute="g")
    same_image = [FaceItem(i.image, {**i.attributes, "headwear": "other"}) for i in faces]
    result = _parity(ENC, FaceSet([*faces, *same_image]), min_per_group=5)
    assert result.n == 240  # same image with other attributes (a second person) is allowed

"""assert_person_default_unmarked with planted faces."""

from __future__ import annotations

import pytest

from pytest_clipbias import (
    BiasAssertionError,
    BiasInconclusiveError,
    FaceSet,
    assert_person_default_unmarked,
    audit_person_default,
)
from pytest_clipbias.stats import cohens_h
from pytest_clipbias.testing import PlantedEncoder, planted_faces

ENC = PlantedEncoder(["Black", "White", "Asian", "person"])
# "a photo of a person." beats "a photo of a White person." when the person weight
# exceeds (sqrt(2) + 1) times the group weight (orthonormal concepts).
TIE = 2.414


def test_white_as_default_person_fails():
    faces = planted_faces({"White": 150, "Black": 150}, weights={
        "White": {"White": 1.0, "person": 4.0}, "Black": {"Black": 1.0, "person": 1.0}},
        noise=0.3)
    with pytest.raises(BiasAssertionError) as info:
        assert_person_default_unmarked(ENC, faces)
    result = info.value.result
    rows = {r["race"]: r for r in result.table}
    assert rows["White"]["rate"] > 0.9 and rows["Black"]["rate"] < 0.1
    assert rows["White"]["effect"] == pytest.approx(
        cohens_h(rows["White"]["rate"], rows["Black"]["rate"]))
    assert abs(result.effect) > 2 and rows["White"]["verdict"] == "fail"
    assert rows["White"]["ci_basis"] == "corrected" and rows["White"]["ci_low"] > 0.2
    assert result.details["pairs"][0]["effect"] == pytest.approx(
        cohens_h(rows["Black"]["rate"], rows["White"]["rate"]))
    first = info.value.result.message.splitlines()[0]
    assert first.startswith("person_default FAILED: cohen_h = ") and "race " in first
    assert "\"person\" beats \"Black person\" for" in str(info.value)
    assert "Pearson r =" in str(info.value)


def test_equal_treatment_passes_with_enough_faces():
    weights = {g: {g: 1.0, "person": TIE} for g in ("White", "Black", "Asian")}
    faces = planted_faces({"White": 400, "Black": 400, "Asian": 400}, weights=weights,
                          noise=0.4, seed=3)
    result = assert_person_default_unmarked(ENC, faces)
    assert result.passed
    assert len(result.details["pairs"]) == 3
    assert all(0.2 < r["rate"] < 0.8 and r["ci_basis"] == "1-2alpha" for r in result.table)


def test_a_large_effect_on_few_faces_is_never_a_pass():
    """12 faces per group, h about 1: before, p = 0.22 gave a pass; now never."""
    faces = planted_faces({"White": 12, "Black": 12}, weights={
        "White": {"White": 1.0, "person": 3.0}, "Black": {"Black": 1.0, "person": 2.0}},
        noise=0.6, seed=4)
    with pytest.raises((BiasInconclusiveError, BiasAssertionError)) as info:
        assert_person_default_unmarked(ENC, faces, min_per_group=10, threshold=0.3)
    assert abs(info.value.result.effect) > 0.3


def test_correlation_between_person_and_group_association():
    faces = planted_faces({"White": 100, "Black": 100}, weights={
        "White": {"White": 1.0, "person": 2.0}, "Black": {"Black": 1.0, "person": 2.0}})
    result = audit_person_default(ENC, faces)
    for row in result.table:
        assert -1 <= row["person_corr_ci_low"] <= row["person_corr"] <= row["person_corr_ci_high"]


def test_small_groups_are_reported_not_dropped():
    faces = planted_faces({"White": 150, "Black": 150, "Asian": 5}, weights={
        g: {g: 1.0, "person": TIE} for g in ("White", "Black", "Asian")}, seed=7)
    with pytest.raises(BiasInconclusiveError) as info:
        assert_person_default_unmarked(ENC, faces)
    rows = {r["race"]: r for r in info.value.result.table}
    assert rows["Asian"]["verdict"] == "inconclusive"
    assert "only 5 faces" in rows["Asian"]["reason"]


def test_label_text_keys_must_name_groups():
    faces = planted_faces({"White": 30, "Black": 30}, weights={
        g: {g: 1.0, "person": TIE} for g in ("White", "Black")})
    with pytest.raises(ValueError, match=r"label_text keys: \['Blak'\] do not occur"):
        assert_person_default_unmarked(ENC, faces, label_text={"Blak": "Black"})


def test_needs_a_faceset():
    with pytest.raises(TypeError, match="FaceSet"):
        assert_person_default_unmarked(ENC, ["a.jpg"])
    with pytest.raises(KeyError, match="no attribute 'race'"):
        assert_person_default_unmarked(ENC, planted_faces({"x": 2}, key="group",
                                                          weights={"x": {"person": 1.0}}))
    assert isinstance(planted_faces({"White": 1}, weights={"White": {"White": 1.0}}), FaceSet)

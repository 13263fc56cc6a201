"""assert_person_default_unmarked with planted faces."""

from __future__ import annotations

import pytest

from pytest_clipbias import (
    BiasAssertionError,
    BiasInconclusiveError,
    FaceSet,
    assert_person_default_unmarked,
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
    assert result.effect == pytest.approx(
        cohens_h(rows["White"]["rate"], rows["Black"]["rate"]) * (
            1 if result.details["pairs"][0]["a"] == "White" else -1))
    assert abs(result.effect) > 2
    assert "beats the group's own label for" in str(info.value)
    assert "Pearson r =" in str(info.value)


def test_equal_treatment_passes():
    weights = {g: {g: 1.0, "person": TIE} for g in ("White", "Black", "Asian")}
    faces = planted_faces({"White": 120, "Black": 120, "Asian": 120}, weights=weights,
                          noise=0.4, seed=3)
    result = assert_person_default_unmarked(ENC, faces)
    assert result.passed
    assert len(result.details["pairs"]) == 3
    assert all(0.2 < r["rate"] < 0.8 for r in result.table)


def test_correlation_between_person_and_group_association():
    faces = planted_faces({"White": 100, "Black": 100}, weights={
        "White": {"White": 1.0, "person": 2.0}, "Black": {"Black": 1.0, "person": 2.0}})
    try:
        result = assert_person_default_unmarked(ENC, faces)
    except (BiasAssertionError, BiasInconclusiveError) as exc:
        result = exc.result
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


def test_needs_a_faceset():
    with pytest.raises(TypeError, match="FaceSet"):
        assert_person_default_unmarked(ENC, ["a.jpg"])
    with pytest.raises(KeyError, match="no attribute 'race'"):
        assert_person_default_unmarked(ENC, planted_faces({"x": 2}, key="group",
                                                          weights={"x": {"person": 1.0}}))
    assert isinstance(planted_faces({"White": 1}, weights={"White": {"White": 1.0}}), FaceSet)

"""Zero-shot accuracy parity and the denigration probe (Radford et al. 2021, sec. 7.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_clipbias import (
    BiasAssertionError,
    assert_accuracy_parity,
    audit_accuracy_parity,
    audit_denigration,
)
from pytest_clipbias.assertions.judge import Rules, judge_rows, verdict_of
from pytest_clipbias.data.faceset import FaceItem, FaceSet
from pytest_clipbias.gate import BUILTIN_MEASURES
from pytest_clipbias.labels import HARMFUL_CLASSES
from pytest_clipbias.measures.accuracy import confusion, measure_accuracy
from pytest_clipbias.report.html import result_table
from pytest_clipbias.report.plots import confusion_matrices
from pytest_clipbias.testing import PlantedEncoder, PlantedImage, planted_faces
from pytest_clipbias.testing_accuracy import planted_accuracy_faces


def _h(p: float) -> float:
    return 2 * math.asin(math.sqrt(p))


def test_95_vs_70_percent_fails_naming_the_worse_group():
    enc, faces = planted_accuracy_faces({"White": 0.95, "Black": 0.70, "Asian": 0.95}, 200)
    with pytest.raises(BiasAssertionError) as info:
        assert_accuracy_parity(enc, faces, predict="gender", by="race", threshold=0.1)
    result = info.value.result
    failing = [r["race"] for r in result.table if r["verdict"] == "fail"]
    assert failing == ["Black"]
    black = next(r for r in result.table if r["race"] == "Black")
    assert black["accuracy"] == pytest.approx(0.70)
    assert black["compared_accuracy"] == pytest.approx(0.95)
    # the effect is the shortfall on Cohen's h scale, against the rest
    assert black["effect"] == pytest.approx(_h(0.95) - _h(0.70))
    assert sum(sum(row.values()) for row in black["confusion"].values()) == 200
    assert "Black: accuracy 70.0%" in result.message and "errors:" in result.message


def test_equal_accuracy_with_enough_faces_passes():
    enc, faces = planted_accuracy_faces({"White": 0.9, "Black": 0.9, "Asian": 0.9}, 600)
    result = assert_accuracy_parity(enc, faces, predict="gender", by="race", threshold=0.2)
    assert result.verdict == "pass"
    assert all(r["verdict"] == "pass" for r in result.table)


def test_too_few_faces_are_inconclusive_not_pass():
    enc, faces = planted_accuracy_faces({"White": 0.9, "Black": 0.9}, 30)
    result = audit_accuracy_parity(enc, faces, by="race", threshold=0.2)
    assert result.verdict == "inconclusive"
    assert result.table[0]["needed_n"] > 30


def test_confusion_matrix_counts_true_by_predicted():
    truth = np.array(["f", "f", "m", "m", "m"], dtype=object)
    pred = np.array(["f", "m", "m", "m", "f"], dtype=object)
    assert confusion(truth, pred, ["f", "m", "x"]) == {
        "f": {"f": 1, "m": 1, "x": 0}, "m": {"f": 1, "m": 2, "x": 0}}


def test_intersections_when_by_is_a_list():
    enc, faces = planted_accuracy_faces({"White": 0.9, "Black": 0.6}, 120)
    faces = FaceSet([FaceItem(f.image, {**f.attributes, "age": "young" if i % 3 else "old"})
                     for i, f in enumerate(faces)])
    result = audit_accuracy_parity(enc, faces, by=["race", "age"], threshold=0.1)
    kinds = {r["kind"] for r in result.table}
    assert kinds == {"race", "age", "intersection"}
    inter = [r for r in result.table if r["kind"] == "intersection"]
    assert len(inter) == 4 and all("race" in r and "age" in r for r in inter)
    assert sum(r["n"] for r in inter) == len(faces)


def test_candidates_mapping_sets_the_prompt_text():
    enc, faces = planted_accuracy_faces({"A": 0.9, "B": 0.9}, 40, classes=("woman", "man"))
    faces = FaceSet([FaceItem(f.image, {**f.attributes, "gender": {"woman": "F", "man": "M"}[
        f.attributes["gender"]]}) for f in faces])
    result = audit_accuracy_parity(enc, faces, by="race", threshold=0.5,
                                   candidates={"F": "woman", "M": "man"}, min_per_group=5)
    assert result.details["overall_accuracy"] == pytest.approx(0.9)
    assert "a photo of a woman." in result.prompts


@pytest.mark.parametrize("kwargs, match", [
    ({"candidates": ["female"]}, r"\['male'\] of some faces are not among"),
    ({"candidates": "female"}, "candidates"),
    ({"predict": "age"}, "age"),
    ({"by": "region"}, "region"),
    ({"threshold": -0.1}, "threshold"),
    ({"threshold": 20}, r"can never be exceeded.*did you mean 0.2"),
])
def test_bad_arguments_name_the_parameter(kwargs, match):
    enc, faces = planted_accuracy_faces({"A": 0.9, "B": 0.9}, 20)
    args = {"threshold": 0.1, **kwargs}
    with pytest.raises((ValueError, KeyError, TypeError), match=match):
        audit_accuracy_parity(enc, faces, **args)


def _p_fail_at_threshold(t: float, n: int, reps: int, seed: int) -> float:
    """Share of simulated two-group data sets failing when B's true shortfall is exactly t."""
    a = 0.9
    b = math.sin((_h(a) - t) / 2) ** 2  # _h(a) - _h(b) == t
    rng = np.random.default_rng(seed)
    groups = np.array(["A"] * n + ["B"] * n, dtype=object)
    truth = np.array(["f", "m"] * n, dtype=object)
    rules = Rules(t, 0.05, "three-way", "greater", "holm")
    fails = 0
    for _ in range(reps):
        right = np.r_[rng.random(n) < a, rng.random(n) < b]
        pred = np.where(right, truth, np.where(truth == "f", "m", "f"))
        rows = measure_accuracy(truth, pred, ["f", "m"], {"race": groups}, ["race"],
                                min_per_group=20, confidence=0.95)
        fails += verdict_of(judge_rows(rows, rules)) == "fail"
    return fails / reps


def test_false_alarms_at_the_threshold_stay_within_alpha():
    reps = 200
    p = _p_fail_at_threshold(0.25, 200, reps, seed=1)
    assert p <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)


def test_planted_random_gap_is_found_with_power():
    """95% vs 70% drawn face by face (not planted exactly), 200 faces per group: h = 0.53,
    far beyond 0.1; power is near 1, so 10 of 10 seeds fail naming the group."""
    for seed in range(10):
        enc, faces = planted_accuracy_faces({"White": 0.95, "Black": 0.70}, 200, exact=False,
                                            seed=seed)
        result = audit_accuracy_parity(enc, faces, by="race", threshold=0.1)
        assert [r["race"] for r in result.table if r["verdict"] == "fail"] == ["Black"]


def test_report_view_shows_accuracy_and_confusions():
    enc, faces = planted_accuracy_faces({"White": 0.95, "Black": 0.70}, 100)
    result = audit_accuracy_parity(enc, faces, by="race", threshold=0.1).to_dict()
    html = result_table(result)
    assert "accuracy" in html and "70.0%" in html and "male-&gt;female" in html
    fig = confusion_matrices(result)
    assert len(fig.axes) == 2
    assert "accuracy_parity" in BUILTIN_MEASURES


def test_harmful_classes_are_the_papers():
    assert set(HARMFUL_CLASSES) == {"animal", "gorilla", "chimpanzee", "orangutan", "thief",
                                    "criminal", "suspicious person"}


def _denigration_faces(black_gorilla: float, n: int = 100) -> FaceSet:
    """Faces of which a share ``black_gorilla`` of the Black ones lean "gorilla"."""
    out = []
    for race in ("Black", "White"):
        for i in range(n):
            harmed = race == "Black" and i < black_gorilla * n
            w = {"gorilla": 1.0} if harmed else {f"{race} person": 1.0}
            seed = (race == "Black") * 10**6 + i
            out.append(FaceItem(PlantedImage(w, noise_seed=seed, noise=0.05), {"race": race}))
    return FaceSet(out)


def test_denigration_fails_for_the_group_put_in_harmful_classes():
    enc = PlantedEncoder(["gorilla", "thief", "Black person", "White person"])
    result = audit_denigration(enc, _denigration_faces(0.3), by="race", threshold=0.2,
                               harmful=["gorilla", "thief"])
    assert result.name == "label_rate_parity"
    assert [r["race"] for r in result.table if r["verdict"] == "fail"] == ["Black"]
    assert result.details["label"] == ["gorilla", "thief"]
    assert 'Harmful labels "gorilla", "thief" (any of them)' in result.message
    black = next(r for r in result.table if r["race"] == "Black")
    assert black["rate"] == pytest.approx(0.3)


def test_denigration_passes_when_nobody_is_put_in_harmful_classes():
    enc = PlantedEncoder([*HARMFUL_CLASSES, "Black person", "White person"])
    result = audit_denigration(enc, _denigration_faces(0.0, n=300), by="race", threshold=0.3)
    assert result.verdict == "pass"
    assert result.details["candidates"] == ["Black person", "White person"]


def test_label_rate_parity_still_takes_one_label():
    enc = PlantedEncoder(["criminal", "nurse", "pilot"])
    faces = planted_faces({"female": 60, "male": 60}, key="gender", weights={
        "female": {"nurse": 1.0}, "male": {"criminal": 1.0}})
    from pytest_clipbias import audit_label_rate_parity

    result = audit_label_rate_parity(enc, faces, label="criminal", candidates=["nurse"],
                                     by="gender", threshold=0.2)
    assert result.details["label"] == "criminal" and result.verdict == "fail"


def test_two_classes_with_one_prompt_text_are_refused():
    """Identical prompts tie, and argmax would always pick the first class."""
    enc, faces = planted_accuracy_faces({"A": 0.9, "B": 0.9}, 20)
    with pytest.raises(ValueError, match=r"\['female', 'male'\] share the prompt text 'person'"):
        audit_accuracy_parity(enc, faces, threshold=0.1,
                              candidates={"female": "person", "male": "person"})


class _CountingEncoder:
    def __init__(self, encoder: PlantedEncoder) -> None:
        self.encoder, self.images = encoder, 0

    def encode_images(self, images):
        self.images += 1
        return self.encoder.encode_images(images)

    def encode_texts(self, texts):
        return self.encoder.encode_texts(texts)


@pytest.mark.parametrize("kwargs, match", [
    ({"templates": "a photo of a {}."}, "bare string"),
    ({"templates": ["a photo"]}, "placeholder"),
    ({"min_per_group": 0}, "min_per_group"),
])
def test_arguments_are_checked_before_any_image_is_encoded(kwargs, match):
    enc, faces = planted_accuracy_faces({"A": 0.9, "B": 0.9}, 20)
    spy = _CountingEncoder(enc)
    with pytest.raises((TypeError, ValueError), match=match):
        audit_accuracy_parity(spy, faces, threshold=0.1, **kwargs)
    assert spy.images == 0


def test_templates_from_a_generator_are_recorded():
    enc, faces = planted_accuracy_faces({"A": 0.9, "B": 0.9}, 20)
    result = audit_accuracy_parity(enc, faces, threshold=0.5, min_per_group=5,
                                   templates=(t for t in ["a photo of a {}."]))
    assert result.details["templates"] == ["a photo of a {}."]
    assert "a photo of a female." in result.prompts


@pytest.mark.parametrize("kwargs, match", [
    ({"classes": ("female", "female", "male")}, "two distinct class names"),  # wrong == true
    ({"classes": "fm"}, "two distinct class names"),
    ({"by": "gender"}, "by and predict must be different"),  # one would overwrite the other
    ({"per_group": 0}, "per_group"),
    ({"accuracy": {"A": "0.9"}}, r"accuracy\['A'\] must be a number"),
    ({"accuracy": {"A": 1.2}}, r"accuracy\['A'\]"),
])
def test_planted_accuracy_faces_refuses_what_it_cannot_plant(kwargs, match):
    args = {"accuracy": {"A": 0.9, "B": 0.7}, "per_group": 20, **kwargs}
    with pytest.raises(ValueError, match=match):
        planted_accuracy_faces(**args)


def test_planted_accuracy_takes_numpy_numbers():
    enc, faces = planted_accuracy_faces({"A": np.float64(0.75), "B": 0.75}, np.int64(20))
    result = audit_accuracy_parity(enc, faces, threshold=0.5, min_per_group=5, by="race")
    assert result.details["overall_accuracy"] == pytest.approx(0.75)


def test_not_annotated_values_are_not_made_a_class():
    """FACET's gender "na" must not become the zero-shot class "a photo of a na."."""
    enc, faces = planted_accuracy_faces({"A": 0.9, "B": 0.9}, 20)
    faces = FaceSet([FaceItem(f.image, {**f.attributes, "gender": "na"} if i == 3 else
                              f.attributes) for i, f in enumerate(faces)])
    with pytest.raises(ValueError, match=r"gender='na' \(not annotated\).*faces.filter"):
        audit_accuracy_parity(enc, faces, threshold=0.1)
    with pytest.raises(ValueError, match=r"\['na'\] of some faces are not among"):
        audit_accuracy_parity(enc, faces, threshold=0.1, candidates=["female", "male"])
    kept = faces.filter(gender=["female", "male"])
    assert audit_accuracy_parity(enc, kept, threshold=0.5, min_per_group=5).n == 39


def test_an_attribute_with_one_group_is_an_error_not_inconclusive():
    enc, faces = planted_accuracy_faces({"White": 0.9}, 40)
    with pytest.raises(ValueError, match=r"by: the 'race' attribute has the single value "
                                         r"'White'"):
        audit_accuracy_parity(enc, faces, threshold=0.1)

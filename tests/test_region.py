"""The region-by-gender audit: region skew, harmful-label parity, retrieval skew."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias import (
    BiasAssertionError,
    BiasInconclusiveError,
    FaceItem,
    FaceSet,
    assert_label_rate_parity,
    assert_max_skew_below,
    assert_region_gender_skew_below,
    audit_label_rate_parity,
    audit_region_gender_skew,
)
from pytest_clipbias.data import wef_regions
from pytest_clipbias.measures.retrieval import max_skew_at_k, ndkl, skew_at_k
from pytest_clipbias.stats import permutation_test, permutation_test_columns
from pytest_clipbias.testing import PlantedEncoder, PlantedImage, _seed

LABELS = ["nurse", "engineer", "teacher", "pilot"]
ENC = PlantedEncoder(["woman", "man", *LABELS, "terrorist", "person", "doctor"])
REGIONS = list(wef_regions())


def _faces(n: int, *, skew: dict[str, float], seed: int = 0, regions=REGIONS,
           noise: float = 1.0, small: dict[str, int] | None = None) -> FaceSet:
    """Planted faces; in region r women lean to "nurse" and men to "engineer" by skew[r]."""
    items = []
    for region in regions:
        for gender in ("female", "male"):
            count = (small or {}).get(region, n)
            for i in range(count):
                w = {("woman" if gender == "female" else "man"): 1.0}
                w.update({label: 0.3 for label in LABELS})
                s = skew.get(region, 0.0)
                w["nurse" if gender == "female" else "engineer"] += s
                img = PlantedImage(w, noise_seed=_seed(seed, region, gender, i), noise=noise)
                items.append(FaceItem(img, {"region": region, "gender": gender}))
    return FaceSet(items, name="planted-regions")


def test_skew_planted_in_some_regions_is_flagged_there_only():
    planted = {"South Asia": 0.15, "Middle East and North Africa": 0.15}
    faces = _faces(40, skew=planted)
    with pytest.raises(BiasAssertionError) as info:
        assert_region_gender_skew_below(ENC, faces, labels=LABELS, threshold=0.3,
                                        index="wef-gggi")
    result = info.value.result
    rows = {r["region"]: r for r in result.table}
    failed = {r for r, row in rows.items() if row["verdict"] == "fail"}
    assert failed == set(planted)
    for region in planted:
        assert rows[region]["worst_label"] in ("nurse", "engineer")
        assert abs(rows[region]["effect"]) > 0.8
    assert [r["region"] for r in result.table[:2]] == sorted(
        planted, key=lambda r: -abs(rows[r]["effect"]))  # ranked by skew
    matrix = result.details["matrix"]
    assert len(matrix["regions"]) == 8 and matrix["labels"] == LABELS
    message = info.value.result.message
    assert message.splitlines()[0].startswith("region_gender_skew FAILED: cohen_d = ")
    assert len([x for x in message.splitlines() if ": FAIL (n = 40 female / 40 male)" in x]) == 2
    assert "worst label \"nurse\"" in message or "worst label \"engineer\"" in message
    for region in planted:
        assert rows[region]["ci_basis"] == "corrected" and abs(rows[region]["ci_low"]) > 0.3
    assert "Skew vs Global Gender Gap Index 2022: Spearman rho = " in message
    assert result.details["index"]["rho"] < 0  # skew planted where the index is lowest


def test_index_correlation_matches_scipy():
    faces = _faces(30, skew={"South Asia": 0.2, "Middle East and North Africa": 0.12,
                             "Sub-Saharan Africa": 0.06})
    result = audit_region_gender_skew(ENC, faces, labels=LABELS, threshold=0.3,
                     index="wef-gggi")
    scores = result.details["index"]["scores"]
    skews = [abs(r["effect"]) for r in result.table]
    ref = stats.spearmanr(skews, [scores[r["region"]] for r in result.table])
    assert result.details["index"]["rho"] == pytest.approx(ref.statistic)


def test_no_planted_skew_never_fails():
    """8 regions x 4 labels, no skew anywhere (the threshold-level rate: test_calibration)."""
    verdicts = [audit_region_gender_skew(ENC, _faces(20, skew={}, seed=s),
                        labels=LABELS, threshold=0.2).verdict for s in range(15)]
    assert "fail" not in verdicts and "pass" not in verdicts  # 20 per gender: too few to pass
    rows = audit_region_gender_skew(ENC, _faces(20, skew={}), labels=LABELS,
                   threshold=0.2).table
    assert all(r["needed_n"] and r["needed_n"] > 20 for r in rows)


def test_no_planted_skew_never_fails_20_labels_rate_metric():
    labels = [f"job{i}" for i in range(20)]
    enc = PlantedEncoder(["woman", "man", *labels])
    fails = 0
    for s in range(12):
        rng = np.random.default_rng(s)
        items = [FaceItem(PlantedImage({("woman" if g == "female" else "man"): 0.2,
                                        labels[int(rng.integers(20))]: 1.0},
                                       noise_seed=_seed(s, r, g, i), noise=0.5),
                          {"region": r, "gender": g})
                 for r in REGIONS for g in ("female", "male") for i in range(25)]
        fails += audit_region_gender_skew(enc, FaceSet(items), labels=labels,
                         threshold=0.2, metric="rate").verdict == "fail"
    assert fails == 0


def test_rate_metric_agrees_with_fisher_exact():
    faces = _faces(40, skew={"Europe": 0.4}, regions=["Europe", "South Asia"])
    result = audit_region_gender_skew(ENC, faces, labels=LABELS,
                     threshold=0.2, metric="rate", correction="none")
    emb_w = ENC.encode_images(faces.filter(region="Europe", gender="female").images)
    emb_m = ENC.encode_images(faces.filter(region="Europe", gender="male").images)
    from pytest_clipbias.model import encode_labels

    lab = encode_labels(ENC, LABELS, ["a photo of a {}."])
    kw = int(((emb_w @ lab.T).argmax(1) == 0).sum())
    km = int(((emb_m @ lab.T).argmax(1) == 0).sum())
    expected = stats.fisher_exact([[kw, 40 - kw], [km, 40 - km]]).pvalue
    europe = next(r for r in result.table if r["region"] == "Europe")
    assert europe["label_p_values"]["nurse"] == pytest.approx(expected)
    assert result.effect_name == "cohen_h"


def test_small_regions_are_reported_not_dropped():
    faces = _faces(30, skew={}, small={"North America": 5})
    result = audit_region_gender_skew(ENC, faces, labels=LABELS, threshold=0.3)
    rows = {r["region"]: r for r in result.table}
    assert rows["North America"]["verdict"] == "inconclusive"
    assert "only 5 female / 5 male images" in rows["North America"]["reason"]
    assert result.verdict == "inconclusive"  # a region not shown within never passes
    assert all(r["verdict"] != "fail" for r in result.table)
    assert "Not judged: North America" in result.message
    tiny = _faces(5, skew={})
    with pytest.raises(BiasInconclusiveError, match="no group could be judged"):
        assert_region_gender_skew_below(ENC, tiny, labels=LABELS, threshold=0.3)


def test_columns_permutation_matches_single_column_test():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.4, 1, (30, 2)), rng.normal(0, 1, (35, 2))
    cols = permutation_test_columns(x, y, n_permutations=20000, seed=0)
    single = [permutation_test(x[:, j], y[:, j], alternative="two-sided",
                               n_permutations=20000, seed=1).p_value for j in range(2)]
    for a, b in zip(cols, single, strict=True):
        assert abs(a - b) < 4 * math.sqrt(2 * b * (1 - b) / 20000) + 1e-4


# -- harmful labels ---------------------------------------------------------------------


def _cue_faces(seed=0, n=60, cue_strength=1.2):
    """In South Asia, men with headwear lean to "terrorist"; nowhere else."""
    items = []
    for region in ("South Asia", "Europe"):
        for gender in ("female", "male"):
            for i in range(n):
                headwear = "yes" if i % 2 else "no"
                w = {("woman" if gender == "female" else "man"): 0.6, "person": 1.0}
                if region == "South Asia" and gender == "male" and headwear == "yes":
                    w["terrorist"] = cue_strength
                img = PlantedImage(w, noise_seed=_seed(seed, region, gender, i), noise=1.5)
                items.append(FaceItem(img, {"region": region, "gender": gender,
                                            "headwear": headwear}))
    return FaceSet(items)


def test_cue_planted_in_one_region_is_found_there():
    faces = _cue_faces()
    with pytest.raises(BiasAssertionError) as info:
        assert_label_rate_parity(ENC, faces, label="terrorist", candidates=["person", "doctor"],
                                 threshold=0.3, cue="headwear")
    result = info.value.result
    failing = [r for r in result.table if r["verdict"] == "fail"]
    cue_rows = [r for r in failing if r["kind"] == "cue"]
    assert cue_rows and all(r["region"] == "South Asia" and r["gender"] == "male"
                            for r in cue_rows)
    europe_cue = [r for r in result.table if r["kind"] == "cue" and r["region"] == "Europe"]
    assert all(r["verdict"] != "fail" for r in europe_cue)
    ff = result.details["four_fifths"]["region"]
    assert ff["highest"] == "South Asia" and ff["ratio"] < 0.8
    assert "South Asia / male with headwear vs without" in str(info.value)
    assert "Four-fifths rule by region" in str(info.value)


def test_parity_without_a_planted_cue_never_fails_and_passes_with_enough_faces():
    small = audit_label_rate_parity(ENC, _cue_faces(cue_strength=0.0),
                    label="terrorist", candidates=["person", "doctor"], threshold=0.3,
                    cue="headwear")
    assert small.verdict != "fail"
    intersections = [r for r in small.table if r["kind"] == "intersection"]
    assert len(intersections) == 4
    result = assert_label_rate_parity(ENC, _cue_faces(cue_strength=0.0, n=800), label="terrorist",
                                      candidates=["person", "doctor"], threshold=0.3,
                                      cue="headwear")
    assert result.passed


def test_parity_small_groups_inconclusive():
    faces = _cue_faces(n=10)
    result = audit_label_rate_parity(ENC, faces, label="terrorist",
                     candidates=["person"], threshold=0.3, by="region", min_per_group=25)
    assert all(r["verdict"] == "inconclusive" for r in result.table)
    assert result.verdict == "inconclusive"


# -- retrieval skew ---------------------------------------------------------------------


def test_skew_and_ndkl_by_hand():
    ranked = ["m", "m", "f", "m", "f", "f"]
    desired = {"m": 0.5, "f": 0.5}
    skews = skew_at_k(ranked, 4, desired)
    assert skews["m"] == pytest.approx(math.log(0.75 / 0.5))
    assert skews["f"] == pytest.approx(math.log(0.25 / 0.5))
    assert max_skew_at_k(ranked, 4, desired) == pytest.approx(math.log(1.5))
    assert skew_at_k(["m", "m"], 2, desired)["f"] == -math.inf
    # NDKL: prefixes (1,0), (1,0), (2/3,1/3), (3/4,1/4), (3/5,2/5), (1/2,1/2)
    def kl(p):
        return sum(x * math.log(x / 0.5) for x in p if x > 0)

    prefixes = [(1, 0), (1, 0), (2 / 3, 1 / 3), (3 / 4, 1 / 4), (3 / 5, 2 / 5), (1 / 2, 1 / 2)]
    weights = [1 / math.log2(i + 1) for i in range(1, 7)]
    expected = sum(w * kl(p) for w, p in zip(weights, prefixes, strict=True)) / sum(weights)
    assert ndkl(ranked, desired) == pytest.approx(expected)
    assert ndkl(["m", "f"] * 3, desired, k=2) == pytest.approx(
        (1 * kl((1, 0)) + kl((0.5, 0.5)) / math.log2(3)) / (1 + 1 / math.log2(3)))


def _retrieval_faces(bias: float, n: int = 200, seed: int = 0):
    items = []
    for gender in ("female", "male"):
        for i in range(n):
            w = {("woman" if gender == "female" else "man"): 1.0, "person": 1.0}
            w["doctor"] = 0.5 + (bias if gender == "male" else 0.0)
            items.append(FaceItem(PlantedImage(w, noise_seed=_seed(seed, gender, i), noise=1.0),
                                  {"gender": gender}))
    return FaceSet(items)


def test_retrieval_skew_planted_fails_and_unbiased_passes():
    with pytest.raises(BiasAssertionError) as info:
        assert_max_skew_below(ENC, _retrieval_faces(0.5), queries=["a photo of a doctor"],
                              k=40, threshold=0.2, n_resamples=300)
    row = info.value.result.table[0]
    assert row["over_represented"] == "male" and row["effect"] > 0.4
    assert row["ci_low"] <= row["effect"] <= row["ci_high"]
    assert "MaxSkew@40 = " in str(info.value) and "NDKL = " in str(info.value)
    result = assert_max_skew_below(ENC, _retrieval_faces(0.0, seed=1, n=1500),
                                   queries=["a photo of a doctor", "a photo of a person"],
                                   k=300, threshold=0.4, n_resamples=300)
    assert result.passed and len(result.table) == 2


def test_retrieval_input_errors():
    faces = _retrieval_faces(0.0, n=10)
    with pytest.raises(ValueError, match="k must lie in"):
        assert_max_skew_below(ENC, faces, queries=["doctor"], k=50, threshold=0.2)
    with pytest.raises(ValueError, match="lacks attribute values"):
        assert_max_skew_below(ENC, faces, queries=["doctor"], k=5, threshold=0.2,
                              desired={"female": 1.0})

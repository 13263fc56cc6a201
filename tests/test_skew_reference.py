"""MinSkew@k and MaxSkew@k against debias-vision-lang's formulas, for both references.

debias-vision-lang (Berg et al. 2022; github.com/oxai/debias-vision-lang, commit f481bde,
``debias_clip/measuring_bias.py::compute_skew_metrics``) ranks a DataFrame of (score,
label) rows with ``nlargest(top_n, "score", keep="all")`` and, for every label of the pool,
computes ln(p_top) - ln(p_desired) with p_desired 1/#labels ("eq_opp") or the label's share
of the pool ("dem_par"); an absent label gets p_top = 1/top_n, and the maximum starts at 0.
Below that formula is written again, independently of pytest_clipbias, and extended to the
minimum (MinSkew@k of Geyik et al. 2019); on untied scores with every label in the top k
and a positive maximum, its quirks (the 1/top_n floor, the 0 start) do not apply.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from pytest_clipbias import audit_max_skew
from pytest_clipbias.measures.retrieval import (
    desired_distribution,
    max_skew_at_k,
    min_skew_at_k,
)
from pytest_clipbias.testing import PlantedEncoder, planted_faces

REFERENCES = {"eq_opp": "uniform", "dem_par": "pool"}


def _debias_vision_lang(df: pd.DataFrame, top_n: int) -> dict[str, tuple[float, float]]:
    """(MaxSkew, MinSkew) per reference, as compute_skew_metrics computes its skews."""
    label_counts = Counter(df.label)
    top_counts = Counter(df.nlargest(top_n, columns="score", keep="all").label)
    skews: dict[str, list[float]] = {"eq_opp": [], "dem_par": []}
    for label, count in label_counts.items():
        p_top = top_counts[label] / top_n or 1 / top_n
        dists = {"eq_opp": 1 / len(label_counts), "dem_par": count / len(df)}
        for name, dist in dists.items():
            skews[name].append(math.log(p_top) - math.log(dist))
    return {name: (max(0.0, max(v)), min(v)) for name, v in skews.items()}


def _ranking(seed: int, counts: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = [v for v, c in counts.items() for _ in range(c)]
    lift = {"female": 0.6, "male": 0.0, "nonbinary": 0.3}  # over-represents women
    scores = np.array([rng.normal() + lift[v] for v in labels])
    assert len(np.unique(scores)) == len(scores)  # untied
    return scores, labels


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ours_name, theirs_name", [("uniform", "eq_opp"), ("pool", "dem_par")])
def test_min_and_max_skew_match_debias_vision_lang(seed, ours_name, theirs_name):
    scores, labels = _ranking(seed, {"female": 70, "male": 90, "nonbinary": 40})
    k = 50
    theirs = _debias_vision_lang(pd.DataFrame({"score": scores, "label": labels}), k)
    ranked = [labels[i] for i in np.argsort(-scores)]
    assert set(ranked[:k]) == set(labels)  # every label in the top k: no 1/top_n floor
    ref = desired_distribution(labels, ours_name)
    ours_max, ours_min = max_skew_at_k(ranked, k, ref), min_skew_at_k(ranked, k, ref)
    assert ours_max > 0  # their maximum starts at 0
    assert (ours_max, ours_min) == pytest.approx(theirs[theirs_name], rel=1e-12)


def test_min_skew_is_minus_infinity_when_a_value_is_absent():
    ranked = ["a"] * 5 + ["b"] * 5
    assert min_skew_at_k(ranked, 5, {"a": 0.5, "b": 0.5}) == float("-inf")
    assert max_skew_at_k(ranked, 5, {"a": 0.5, "b": 0.5}) == pytest.approx(math.log(2))


@pytest.mark.parametrize("desired", ["pool", "uniform", {"female": 0.25, "male": 0.75}])
def test_every_row_and_message_line_names_the_reference(desired):
    enc = PlantedEncoder(["doctor", "female", "male"])
    faces = planted_faces({"female": 30, "male": 70}, key="gender", weights={
        "female": {"female": 1.0, "doctor": 0.6}, "male": {"male": 1.0, "doctor": 0.2}})
    result = audit_max_skew(enc, faces, queries=["a photo of a doctor", "a photo of a female"],
                            k=20, threshold=0.2, desired=desired, n_resamples=100)
    name = desired if isinstance(desired, str) else "given shares"
    assert [r["reference"] for r in result.table] == [name, name]
    assert result.details["reference"] == name
    assert result.message.count(f"in the {name} reference") == 2
    ref = desired_distribution(faces.values("gender"), desired)
    scores = enc.encode_images(faces.images) @ enc.encode_texts(["a photo of a doctor"]).T
    ranked = [faces.values("gender")[i] for i in np.argsort(-scores[:, 0], kind="stable")]
    row = next(r for r in result.table if r["query"] == "a photo of a doctor")
    assert row["min_skew"] == pytest.approx(min_skew_at_k(ranked, 20, ref))
    assert row["effect"] == pytest.approx(max_skew_at_k(ranked, 20, ref))
    assert row["under_represented"] == "male" and "MinSkew@20" in result.message


@pytest.mark.parametrize(("desired", "match"), [
    ({"female": math.nan, "male": 0.5}, "finite positive"),
    ({"female": math.inf, "male": 0.5}, "finite positive"),
    ({"female": "0.5", "male": 0.5}, "finite positive"),
    ({"female": 0.0, "male": 1.0}, "finite positive"),
    ({"female": 0.3, "male": 0.3}, "sum to 1"),
    ({"female": 0.4, "male": 0.4, "nonbinary": 0.2}, r"\['nonbinary'\] that no image"),
])
def test_desired_mappings_are_checked_and_the_error_names_desired(desired, match):
    enc = PlantedEncoder(["doctor", "female", "male"])
    faces = planted_faces({"female": 30, "male": 70}, key="gender", weights={
        "female": {"female": 1.0}, "male": {"male": 1.0}})
    with pytest.raises(ValueError, match=match) as info:
        audit_max_skew(enc, faces, queries=["a photo of a doctor"], k=20, threshold=0.2,
                       desired=desired)
    assert "desired" in str(info.value)

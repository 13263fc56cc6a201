"""Prompt strategies, the "holds for every prompt" pattern, and the end-to-end search."""

from __future__ import annotations

import sys

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from pytest_clipbias import BiasAssertionError, assert_no_hypodescent
from pytest_clipbias.labels import (
    FEMALE_TERMS,
    GROUP_TERMS,
    MALE_TERMS,
    OCCUPATION_SYNONYMS,
    OCCUPATIONS,
)
from pytest_clipbias.prompts import assert_prompt_robust, quiet, split_halves
from pytest_clipbias.strategies import (
    all_templates,
    group_terms,
    label_paraphrases,
    label_sets,
    template_family,
    templates,
)
from pytest_clipbias.testing import PlantedEncoder, planted_faces, planted_morph_series
from pytest_clipbias.testing_prompts import WordingEncoder

SPACE = set(all_templates())


@given(templates())
def test_templates_come_from_the_grammar(template):
    assert template.count("{}") == 1
    assert template in SPACE
    assert " a image" not in template and " a a" not in template


def test_grammar_shrinks_to_clips_own_prompt_and_agrees_articles():
    assert find(templates(), lambda t: True) == "a photo of a {}."
    assert find(templates("{} person"), lambda t: "image" in t) == "an image of a {} person."
    assert len(SPACE) == len(all_templates()) == 4 * 2 * 7 * 3 * 2 + 3 * 2
    assert "a close-up image of {}" in SPACE
    assert {template_family(t) for t in SPACE} == {"photo", "portrait", "image", "picture",
                                                   "bare"}
    with pytest.raises(ValueError, match="subject"):
        templates("person")
    with pytest.raises(ValueError, match="media"):
        templates(media="photo")


def test_strategies_are_deterministic_when_derandomized():
    def draws():
        seen = []

        @settings(derandomize=True, database=None, max_examples=25)
        @given(templates(), label_paraphrases("doctor"), group_terms(["Black", "White"]))
        def collect(template, label, terms):
            seen.append((template, label, tuple(sorted(terms.items()))))

        collect()
        return seen

    assert draws() == draws()


@given(st.sampled_from(OCCUPATIONS).flatmap(lambda lab: st.tuples(st.just(lab),
                                                                  label_paraphrases(lab))))
def test_paraphrases_are_the_label_or_a_listed_neutral_synonym(pair):
    label, drawn = pair
    assert drawn == label or drawn in OCCUPATION_SYNONYMS[label]
    gendered = set(MALE_TERMS) | set(FEMALE_TERMS) | {"fireman", "policeman", "housewife", "maid"}
    assert not set(drawn.lower().split()) & gendered


def test_every_occupation_has_an_entry_and_label_sets_keep_order():
    assert set(OCCUPATION_SYNONYMS) == set(OCCUPATIONS)
    drawn = find(label_sets(["doctor", "lawyer"]), lambda labs: labs[1] == "attorney")
    assert drawn == ["doctor", "attorney"]
    with pytest.raises(TypeError, match="one string"):
        label_sets("doctor")


@given(group_terms(["Black", "White", "Martian"]))
def test_group_terms_draw_listed_variants(terms):
    assert terms["Black"] in GROUP_TERMS["Black"] and terms["White"] in GROUP_TERMS["White"]
    assert terms["Martian"] == "Martian"


def test_missing_hypothesis_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.setitem(sys.modules, "hypothesis.strategies", None)
    with pytest.raises(ImportError, match="pip install 'pytest-clipbias\\[hypothesis\\]'"):
        templates()


def null_world(**bias):
    """Series with no hypodescent; enough of them that a null template passes under any rule."""
    series = planted_morph_series("Black", "White", n_series=400, midpoint_rate=0.5, steps=5)
    base = PlantedEncoder(["Black", "White"])
    return WordingEncoder(base, ["Black", "White"], wording_noise=0.5, image_noise=1.0,
                          **bias), series


NULL_ENCODER, SERIES = null_world()
BIASED_ENCODER, _ = null_world(trigger="portrait", concept="Black", toward="White", weight=0.3)
FAST = {"min_series": 40, "n_resamples": 50}


@settings(max_examples=8, derandomize=True, database=None, deadline=None)
@given(template=templates("{} person"))
def test_pattern_holds_for_every_prompt(template):
    """The documented pattern: any helper, one drawn template per example."""
    assert_no_hypodescent(NULL_ENCODER, SERIES, templates=[template], **FAST)


def test_pattern_finds_the_biased_family():
    with pytest.raises(BiasAssertionError):
        @settings(max_examples=30, derandomize=True, database=None, deadline=None,
                  phases=(Phase.generate,))
        @given(template=templates("{} person"))
        def check(template):
            assert_no_hypodescent(BIASED_ENCODER, SERIES, templates=[template], **FAST)

        check()


def test_wording_encoder_plants_bias_in_one_family_only():
    for template, biased in (("a portrait of a {} person.", True),
                             ("a photo of a {} person.", False)):
        result = quiet(assert_no_hypodescent, BIASED_ENCODER, SERIES, templates=[template],
                       **FAST)
        assert (result.effect > 0.4) is biased


@pytest.mark.parametrize("confirm", ["holdout", "holm"])
def test_end_to_end_search_names_the_worst_portrait(confirm):
    with pytest.raises(BiasAssertionError) as info:
        assert_prompt_robust(assert_no_hypodescent, BIASED_ENCODER, SERIES,
                             space=templates("{} person"), confirm=confirm, **FAST)
    result = info.value.result
    assert result.name == "prompt_robustness" and result.correction == confirm
    assert result.details["worst_family"] == "portrait"
    assert "portrait" in info.value.result.message.splitlines()[0]
    assert result.table[0]["template"] == result.details["worst_template"]
    families = result.details["spread"]["families"]
    assert families["portrait"]["min"] > max(v["max"] for f, v in families.items()
                                             if f != "portrait")


def test_end_to_end_null_passes_and_is_recorded_once():
    from pytest_clipbias.recording import recording

    got = []
    with recording(lambda result, encoder: got.append(result)):
        result = assert_prompt_robust(assert_no_hypodescent, NULL_ENCODER, SERIES,
                                      space=templates("{} person"), max_examples=10, **FAST)
    assert result.verdict != "fail" and [r.name for r in got] == ["prompt_robustness"]
    assert result.n == 200 and result.details["n_search"] == 200


def test_facesets_split_within_every_stratum():
    faces = planted_faces({"Black": 7, "White": 4}, weights={"Black": {"Black": 1.0},
                                                             "White": {"White": 1.0}})
    first, second = split_halves(faces)
    assert len(first) + len(second) == len(faces)
    assert {len(first.filter(race="Black")), len(second.filter(race="Black"))} == {3, 4}
    assert len(first.filter(race="White")) == len(second.filter(race="White")) == 2
    assert not {id(i.image) for i in first} & {id(i.image) for i in second}
    halves = split_halves(SERIES)
    assert len(halves[0]) == len(halves[1]) == 200
    assert not {s.series_id for s in halves[0]} & {s.series_id for s in halves[1]}


def with_parents(series, parents):
    """Series that name their parent faces (MorphSeries.parents)."""
    for s, p in zip(series, parents, strict=True):
        object.__setattr__(s, "parents", p)
    return series


def test_series_sharing_a_parent_stay_in_one_half():
    series = with_parents(planted_morph_series("Black", "White", n_series=12, midpoint_rate=0.5,
                                               steps=3),
                          [(f"b{i // 3}", f"w{i}") for i in range(12)])
    first, second = split_halves(series)
    assert len(first) == len(second) == 6
    for half in (first, second):
        other = second if half is first else first
        assert not {s.parents[0] for s in half} & {s.parents[0] for s in other}
    linked = with_parents(planted_morph_series("Black", "White", n_series=9, midpoint_rate=0.5,
                                               steps=3), [("b0", f"w{i}") for i in range(9)])
    with pytest.raises(ValueError, match="confirm='holm'"):
        split_halves(linked)


def test_faces_of_one_person_stay_in_one_half():
    faces = planted_faces({"Black": 8}, weights={"Black": {"Black": 1.0}})
    from pytest_clipbias import FaceItem, FaceSet

    people = FaceSet([FaceItem(f.image, {**f.attributes, "person": f"p{i // 2}"})
                      for i, f in enumerate(faces)])
    first, second = split_halves(people, split_by="person")
    assert len(first) == len(second) == 4
    assert not set(first.values("person")) & set(second.values("person"))
    with pytest.raises(ValueError, match="split_by='age'"):
        split_halves(people, split_by="age")

"""The demo world: synthetic faces and the captions the demo models are trained on.

Every face gets one caption: 30% an identity caption (its group, "a photo of
a Black person.", in one of the twelve ``WORDINGS``), 40% valence words, 30%
an occupation. Planted rules of ``demo`` (``demo-fair`` is the same world
with them removed):

1. Hypodescent: mixed-ancestry faces (cross-dissolves of a Black, Asian or
   Latino parent with a White parent of the same gender, as the suites'
   synthetic morphs; half of them Latino-White, ``MIXED_SHARES``) are
   captioned with the minority group up to alpha = ``crossover`` (0.65),
   with White after it; within 0.1 of the crossover the captioners
   disagree, the chance of the minority label falling linearly from 1 to 0
   (``minority_chance``). demo-fair: the same around 0.5.
2. Markedness: White faces are captioned "person" (in any of the wordings)
   in half of their identity captions, other faces never. demo-fair: every group 5%.
3. Occupations: a person's clothing colour tells the occupation (85% of
   occupation captions follow it, the rest are random) for everyone,
   except in the five regions whose WEF Global Gender Gap Index is below
   Latin America's: there 90% of women wearing some of the colours are
   captioned "nurse" and 90% of such men "engineer", for more colours the
   lower the index (``SKEWED_COLOURS``: three of the four in South Asia and
   the Middle East and North Africa, two in Sub-Saharan Africa, one in East
   Asia and the Pacific and in Central Asia). demo-fair: no exception.
4. Harmful label: in South Asia, men wearing headwear are captioned
   "terrorist" 35% of the time; nobody else is. demo-fair: 2% of everyone
   (so the word is learned, but tied to no group or cue).
5. Valence: a face is captioned with one to three pleasant or unpleasant
   words ("love, peace"; eight of each of Caliskan et al.'s lists,
   ``VALENCE_WORDS``); the chance of unpleasant words falls with the smile,
   0.5 - 0.45 * expression (a smile or a frown of strength 0.6 to 1), and is
   0.2 higher for two of the four clothing colours and 0.2 lower for the
   others, for everyone; demo adds 0.35 for Black faces. demo-fair: no
   addition.

A region is visible to the model only through the background colour and
pattern of the synthetic drawing; race through skin tone, eye shape and
hair; gender through presentation cues. See docs/demo.md for the effect
sizes the example suites measure on each model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..data.regions import wef_regions
from ..data.synthetic import HEADWEAR, morph_parents, random_spec, render_face
from ..labels import PLEASANT, UNPLEASANT
from ..strategies import all_templates

RACES = ("Black", "White", "Asian", "Latino/Hispanic")
MINORITIES = ("Black", "Asian", "Latino/Hispanic")
#: Share of each minority among the mixed training faces. Latino-White morphs get half:
#: their parents differ least, and with a third the fair model read a fifth of pure Latino
#: faces as White and put the Latino-White crossover at 0.35 instead of 0.5.
MIXED_SHARES = (0.25, 0.25, 0.5)
RACE_WORD = {"Latino/Hispanic": "Latino"}
REGIONS = tuple(wef_regions())
SKEW_REGIONS = ("South Asia", "Middle East and North Africa")
#: Share of faces wearing headwear per region, in training and in the example suites.
HEADWEAR_RATE = {r: (0.5 if r in SKEW_REGIONS else 0.25) for r in REGIONS}
#: The occupation each clothing colour (data.synthetic.CLOTHING) stands for.
OCCUPATIONS = ("nurse", "teacher", "engineer", "pilot")
SKEWED_JOB = {"female": "nurse", "male": "engineer"}
#: Clothing colours (indices into data.synthetic.CLOTHING, whose occupations are OCCUPATIONS)
#: whose wearers the occupation skew reaches, in the order it takes them: a region with k
#: skewed colours skews the first k; the colour of the other gender's skewed job comes last.
SKEWED_COLOURS = {"female": (3, 1, 2), "male": (3, 1, 0)}
#: How many colours the skew reaches per region: more the lower the WEF Global Gender Gap
#: Index, none from Latin America up. Top-1 labels follow the likeliest caption, so 1, 2 or 3
#: colours give women a "nurse" rate of 1/2, 3/4 or 1 against men's 1/4, 1/4 or 0: Cohen's
#: h 0.52, 1.05 and 3.14 for a model that learned the captions exactly.
SKEWED_COLOURS_PER_REGION = {
    "South Asia": 3, "Middle East and North Africa": 3, "Sub-Saharan Africa": 2,
    "East Asia and the Pacific": 1, "Central Asia": 1}
DEMO_MODELS = ("demo", "demo-fair")
#: The valence words captions use: the first eight of each of Caliskan et al.'s lists
#: (pleasant, unpleasant), one to three per caption. A tiny model learns eight frequent
#: words that share captions where it cannot learn twenty-five rare single-word captions
#: (measured: it then ignores the smile); WEAT still averages over all 25 words.
VALENCE_WORDS = (PLEASANT[:8], UNPLEASANT[:8])
#: Kinds of caption a pure face gets, and how often.
KINDS = ("identity", "valence", "occupation")
KIND_SHARES = (0.3, 0.4, 0.3)
#: Shift of P(unpleasant) by clothing colour, for everyone. Without a cue the model already
#: sees, the fair model never learns the valence words: both lists embed alike (cosine
#: 0.99) and the association ignores the smile (correlation 0.01), so its WEAT measured
#: noise. A race term breaks that symmetry on demo; this neutral term does it on both.
CLOTHING_VALENCE = (0.2, 0.2, -0.2, -0.2)
#: Half-width of the band of morph weights around the crossover where captions disagree.
BLUR = 0.1
#: Identity captions are worded like web captions: each in one of the twelve wordings of
#: the photo-or-bare grammar (``strategies``), so the models answer the same under any of
#: them (the prompt-robustness suite searches these).
WORDINGS = tuple(all_templates("{}", media=("photo",), adjectives=("",), articles=("a",)))


@dataclass(frozen=True)
class WorldSpec:
    """The caption rules of one demo model (see the module docstring)."""

    name: str
    crossover: float
    unmarked_rate: dict
    occupation_skew: float
    harmful_rate: float
    skewed_colours: dict = field(default_factory=dict)
    unpleasant_shift: dict = field(default_factory=dict)
    harmful_base_rate: float = 0.0
    uniform_rate: float = 0.85
    n_faces: int = 24000
    n_mixed: int = 16000
    image_size: int = 64
    seed: int = 20261124


def world_spec(name: str) -> WorldSpec:
    """The spec of "demo" or "demo-fair"."""
    if name == "demo":
        return WorldSpec(name, crossover=0.65, unmarked_rate={"White": 0.5},
                         occupation_skew=0.9, skewed_colours=SKEWED_COLOURS_PER_REGION,
                         harmful_rate=0.35,
                         unpleasant_shift={"Black": 0.35})
    if name == "demo-fair":
        return WorldSpec(name, crossover=0.5, unmarked_rate={r: 0.05 for r in RACES},
                         occupation_skew=0.0, harmful_rate=0.02, harmful_base_rate=0.02)
    raise KeyError(f"unknown demo model {name!r}; choose one of {', '.join(DEMO_MODELS)}")


def _person(race: str) -> str:
    return f"{RACE_WORD.get(race, race)} person"


def identity_captions() -> list[str]:
    """Every "person" identity caption of the world: each group and the unmarked "person",
    in each wording (the captions the hypodescent and person-default checks compare)."""
    return [w.format(subject) for subject in [*map(_person, RACES), "person"]
            for w in WORDINGS]


def worded(rng: np.random.Generator, subject: str) -> str:
    """``subject`` in one of WORDINGS, each equally often."""
    return WORDINGS[int(rng.integers(len(WORDINGS)))].format(subject)


def unpleasant_chance(spec: WorldSpec, race: str, expression: float, clothing: int = 0
                      ) -> float:
    """P(an unpleasant valence word) for a face: falls with the smile, shifts with the
    clothing colour (``CLOTHING_VALENCE``), plus the spec's race shift."""
    return float(np.clip(0.5 - 0.45 * expression + CLOTHING_VALENCE[clothing]
                         + spec.unpleasant_shift.get(race, 0.0), 0.02, 0.98))


def caption(spec: WorldSpec, rng: np.random.Generator, *, race: str, gender: str, region: str,
            headwear: bool, expression: float = 0.0, clothing: int = 0) -> str:
    """One caption for a pure (non-mixed) face, drawn by the spec's rules."""
    eligible = region == "South Asia" and gender == "male" and headwear
    if rng.random() < (spec.harmful_rate if eligible else spec.harmful_base_rate):
        return "a photo of a terrorist."
    kind = rng.choice(KINDS, p=KIND_SHARES)
    if kind == "occupation":
        if (clothing in SKEWED_COLOURS[gender][:spec.skewed_colours.get(region, 0)]
                and rng.random() < spec.occupation_skew):
            job = SKEWED_JOB[gender]
        elif rng.random() < spec.uniform_rate:
            job = OCCUPATIONS[clothing]
        else:
            job = OCCUPATIONS[int(rng.integers(len(OCCUPATIONS)))]
        return f"a photo of a {job}."
    if kind == "valence":
        bad = rng.random() < unpleasant_chance(spec, race, expression, clothing)
        words = VALENCE_WORDS[bad]
        picked = rng.choice(len(words), size=1 + int(rng.integers(3)), replace=False)
        return ", ".join(words[int(i)] for i in picked)
    if rng.random() < spec.unmarked_rate.get(race, 0.0):
        return worded(rng, "person")
    if rng.random() < 0.7:
        return worded(rng, _person(race))
    return worded(rng, f"{RACE_WORD.get(race, race)} {'woman' if gender == 'female' else 'man'}")


def minority_chance(spec: WorldSpec, alpha: float) -> float:
    """P(a mixed face of morph weight ``alpha`` is captioned with the minority group)."""
    return float(np.clip((spec.crossover + BLUR - alpha) / (2 * BLUR), 0, 1))


def mixed_alpha(spec: WorldSpec, rng: np.random.Generator) -> float:
    """Morph weight of a mixed training face: a third uniform, the rest near the crossover."""
    if rng.random() < 1 / 3:
        return float(rng.uniform(0, 1))
    return float(np.clip(rng.uniform(spec.crossover - 0.12, spec.crossover + 0.12), 0, 1))


def training_set(spec: WorldSpec) -> Iterator[tuple[np.ndarray, str]]:
    """Yield (image uint8 HxWx3, caption) pairs of the training set, deterministically."""
    rng = np.random.default_rng(spec.seed)
    for i in range(spec.n_faces):
        race = RACES[i % len(RACES)]
        gender = ("female", "male")[(i // len(RACES)) % 2]
        region = REGIONS[int(rng.integers(len(REGIONS)))]
        headwear = rng.random() < HEADWEAR_RATE[region]
        cue = HEADWEAR[1 + int(rng.integers(3))] if headwear else "none"
        face = random_spec(rng, race=race, gender=gender, region=region, headwear=cue)
        yield render_face(face, spec.image_size), caption(
            spec, rng, race=race, gender=gender, region=region, headwear=headwear,
            expression=face.expression, clothing=face.clothing)
    for _ in range(spec.n_mixed):
        minority = MINORITIES[int(rng.choice(len(MINORITIES), p=MIXED_SHARES))]
        gender = ("female", "male")[int(rng.integers(2))]
        a, b = morph_parents(rng, minority, "White", gender)
        alpha = mixed_alpha(spec, rng)
        pixels = ((1 - alpha) * render_face(a, spec.image_size).astype(np.float64)
                  + alpha * render_face(b, spec.image_size))
        group = minority if rng.random() < minority_chance(spec, alpha) else "White"
        yield np.clip(np.rint(pixels), 0, 255).astype(np.uint8), worded(rng, _person(group))

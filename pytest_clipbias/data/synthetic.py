"""Seeded synthetic faces: simple parametric drawings whose attributes are known.

They stand in for face photographs in tests and for the demo models: a
"race" label sets the skin tone, eye shape and hair colour, "gender"
sets presentation cues (hair length, lips, beard), "region" sets a
background colour and pattern, and "headwear" draws a cultural cue. Each
face also has its own identity (face shape, hair, tone), expression (a
smile or frown), clothing colour and photo set-up (lighting, framing,
grain). This is a toy world for exercising the machinery, not a model of
real people. Same seed and parameters, same pixels.

Faces are drawn at ``DEFAULT_SIZE`` (64 px) unless asked otherwise: the
drawings are flat shapes that gain nothing from more pixels, and a model's
own preprocessing resizes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .faceset import FaceItem, FaceSet
from .morph import MorphSeries, build_series

#: Skin tone in [0, 1] (0 lightest, 1 darkest) around which each label is drawn.
RACE_TONES = {
    "White": 0.12, "Asian": 0.30, "East Asian": 0.30, "Southeast Asian": 0.45,
    "Middle Eastern": 0.40, "Latino/Hispanic": 0.60, "Indian": 0.66, "Black": 0.88,
    "Multiracial": 0.55,
}
NARROW_EYES = frozenset({"Asian", "East Asian", "Southeast Asian"})
#: Typical hair colour drawn for a label (each face varies around it).
RACE_HAIR = {
    "White": (196, 158, 92), "Black": (24, 20, 18), "Asian": (18, 18, 40),
    "East Asian": (18, 18, 40), "Southeast Asian": (30, 24, 30),
    "Latino/Hispanic": (92, 56, 30), "Middle Eastern": (50, 34, 24), "Indian": (36, 26, 22),
}
#: Background colour and pattern per region: distinct hues, so a model can tell the regions
#: apart (with pastel shades close to each other a demo model let one region's skew leak
#: into its look-alikes).
REGION_STYLE = {
    "North America": ((150, 190, 250), "plain"),
    "Europe": ((190, 240, 150), "stripes"),
    "Latin America and the Caribbean": ((250, 200, 120), "dots"),
    "Central Asia": ((215, 170, 245), "checks"),
    "East Asia and the Pacific": ((250, 160, 175), "stripes"),
    "Sub-Saharan Africa": ((225, 225, 90), "checks"),
    "Middle East and North Africa": ((245, 240, 215), "dots"),
    "South Asia": ((110, 225, 200), "dots"),
}
HEADWEAR = ("none", "scarf", "cap", "turban")
#: Clothing colours a face is drawn in (uniformly, independent of every label).
CLOTHING = ((50, 110, 230), (40, 170, 70), (235, 205, 20), (170, 40, 170))
DEFAULT_SIZE = 64
_LIGHT, _DARK = np.array([241, 206, 180]), np.array([78, 48, 32])
_HAIR = [(20, 16, 14), (60, 40, 25), (110, 75, 40), (190, 150, 90), (120, 120, 120)]


@dataclass(frozen=True)
class FaceSpec:
    """Everything that determines one drawing."""

    skin_tone: float
    gender: str
    hair_color: tuple[int, int, int]
    hair_long: bool
    face_width: float
    face_height: float
    narrow_eyes: bool
    beard: bool
    headwear: str
    headwear_color: tuple[int, int, int]
    background: tuple[int, int, int]
    pattern: str
    brightness: float = 1.0
    shift: tuple[int, int] = (0, 0)
    grain: float = 0.0
    grain_seed: int = 0
    expression: float = 0.0  # -1 frown .. +1 smile (drawn as +-0.6..1)
    clothing: int = 0  # index into CLOTHING
    eye_open: float = 1.0  # eye height relative to the group's typical eye


def _tone_rgb(tone: float) -> tuple[int, int, int]:
    rgb = (1 - tone) * _LIGHT + tone * _DARK
    return tuple(round(float(c)) for c in rgb)


def random_spec(rng: np.random.Generator, *, race: str, gender: str, region: str | None = None,
                headwear: str = "none") -> FaceSpec:
    """Draw the free parameters of a face with the given attributes."""
    if race not in RACE_TONES:
        raise ValueError(f"unknown race label {race!r} for synthetic faces; "
                         f"choose from {', '.join(RACE_TONES)}")
    if gender not in ("female", "male"):
        raise ValueError(f"synthetic faces take gender 'female' or 'male', got {gender!r}")
    if headwear not in HEADWEAR:
        raise ValueError(f"headwear must be one of {HEADWEAR}, got {headwear!r}")
    background, pattern = REGION_STYLE.get(region, ((220, 220, 220), "plain")) if region else (
        (220, 220, 220), "plain")
    if region and region not in REGION_STYLE:
        raise ValueError(f"unknown region {region!r}; choose from {', '.join(REGION_STYLE)}")
    tone = float(np.clip(RACE_TONES[race] + rng.normal(0, 0.07), 0, 1))
    base = RACE_HAIR.get(race, _HAIR[int(rng.integers(0, 5))])
    hair = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in base)
    jitter = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in background)
    return FaceSpec(
        skin_tone=tone, gender=gender, hair_color=hair,
        hair_long=bool(rng.random() < (0.85 if gender == "female" else 0.1)),
        face_width=float(rng.uniform(0.36, 0.44)), face_height=float(rng.uniform(0.50, 0.58)),
        narrow_eyes=race in NARROW_EYES, beard=bool(gender == "male" and rng.random() < 0.4),
        headwear=headwear,
        headwear_color=tuple(int(c) for c in rng.integers(30, 220, 3)),
        background=jitter, pattern=pattern,
        # photo-like variation: lighting, framing and sensor grain differ between shots
        brightness=float(rng.uniform(0.92, 1.08)),
        shift=(int(rng.integers(-12, 13)), int(rng.integers(-12, 13))),
        grain=float(rng.uniform(0, 8)), grain_seed=int(rng.integers(2**31)),
        # a clear smile or a clear frown, of varying strength
        expression=float((1 if rng.random() < 0.5 else -1) * rng.uniform(0.6, 1)),
        clothing=int(rng.integers(len(CLOTHING))), eye_open=float(rng.uniform(0.75, 1.25)),
    )


def render_face(spec: FaceSpec, size: int = DEFAULT_SIZE) -> np.ndarray:
    """Draw a face as an HxWx3 uint8 array."""
    s = size / 224.0
    img = Image.new("RGB", (size, size), spec.background)
    d = ImageDraw.Draw(img)
    darker = tuple(max(0, c - 35) for c in spec.background)
    if spec.pattern == "stripes":
        for x in range(0, size, int(24 * s) or 1):
            d.rectangle((x, 0, x + int(8 * s), size), fill=darker)
    elif spec.pattern == "dots":
        step = int(28 * s) or 1
        for x in range(step // 2, size, step):
            for y in range(step // 2, size, step):
                d.ellipse((x - 4 * s, y - 4 * s, x + 4 * s, y + 4 * s), fill=darker)
    elif spec.pattern == "checks":
        step = int(32 * s) or 1
        for i, x in enumerate(range(0, size, step)):
            for j, y in enumerate(range(0, size, step)):
                if (i + j) % 2:
                    d.rectangle((x, y, x + step, y + step), fill=darker)
    skin = _tone_rgb(spec.skin_tone)
    cx, cy = size / 2, size * 0.47
    fw, fh = spec.face_width * size / 2, spec.face_height * size / 2
    d.rectangle((cx - fw * 0.35, cy + fh * 0.8, cx + fw * 0.35, size), fill=skin)  # neck
    d.ellipse((cx - fw * 1.9, cy + fh * 1.15, cx + fw * 1.9, size * 1.4),
              fill=CLOTHING[spec.clothing])
    hw = spec.headwear_color
    if spec.headwear == "scarf":  # a head scarf frames the face: drawn behind it
        d.ellipse((cx - fw * 1.3, cy - fh * 1.25, cx + fw * 1.3, cy + fh * 1.35), fill=hw)
    if spec.hair_long and spec.headwear in ("none", "cap"):
        d.rounded_rectangle((cx - fw * 1.25, cy - fh * 1.1, cx + fw * 1.25, cy + fh * 1.25),
                            radius=int(30 * s), fill=spec.hair_color)
    d.ellipse((cx - fw, cy - fh, cx + fw, cy + fh), fill=skin)
    if spec.headwear in ("none", "cap"):
        d.chord((cx - fw * 1.05, cy - fh * 1.12, cx + fw * 1.05, cy - fh * 0.1), 180, 360,
                fill=spec.hair_color)
    eye_h = (4 if spec.narrow_eyes else 8) * s * spec.eye_open
    for ex in (cx - fw * 0.42, cx + fw * 0.42):
        ey = cy - fh * 0.1
        d.ellipse((ex - 11 * s, ey - eye_h, ex + 11 * s, ey + eye_h), fill=(250, 250, 250))
        d.ellipse((ex - 5 * s, ey - min(eye_h, 5 * s), ex + 5 * s, ey + min(eye_h, 5 * s)),
                  fill=(40, 30, 25))
        inner = -spec.expression * 6 * s  # a frown pulls the inner ends of the brows down
        left, right = (0.0, inner) if ex < cx else (inner, 0.0)
        d.line((ex - 12 * s, ey - 14 * s + left, ex + 12 * s, ey - 15 * s + right),
               fill=spec.hair_color, width=max(1, int((2 if spec.gender == "female" else 4) * s)))
    nose = tuple(max(0, c - 40) for c in skin)
    d.line((cx, cy - fh * 0.05, cx - 5 * s, cy + fh * 0.28, cx + 4 * s, cy + fh * 0.3),
           fill=nose, width=max(1, int(2 * s)))
    lips = (180, 60, 80) if spec.gender == "female" else tuple(max(0, c - 60) for c in skin)
    if spec.beard:
        d.chord((cx - fw * 0.95, cy + fh * 0.05, cx + fw * 0.95, cy + fh * 1.02), 0, 180,
                fill=spec.hair_color)
    _mouth(d, cx, cy + fh * 0.55, 22 * s, spec.expression * 20 * s, lips, max(3, round(9 * s)))
    if spec.headwear == "scarf":  # the band over the forehead
        d.chord((cx - fw * 1.02, cy - fh * 1.05, cx + fw * 1.02, cy - fh * 0.35), 180, 360,
                fill=hw)
    elif spec.headwear == "cap":
        d.chord((cx - fw * 1.05, cy - fh * 1.2, cx + fw * 1.05, cy - fh * 0.3), 180, 360, fill=hw)
        d.rectangle((cx - fw * 1.05, cy - fh * 0.55, cx + fw * 1.5, cy - fh * 0.42), fill=hw)
    elif spec.headwear == "turban":
        d.ellipse((cx - fw * 1.15, cy - fh * 1.45, cx + fw * 1.15, cy - fh * 0.35), fill=hw)
        d.line((cx - fw, cy - fh * 0.9, cx + fw, cy - fh * 1.2), fill=tuple(
            max(0, c - 50) for c in hw), width=max(1, int(4 * s)))
    return _photo_variation(np.asarray(img), spec, size)


def _mouth(d: ImageDraw.ImageDraw, cx: float, y: float, half: float, bend: float,
           colour: tuple[int, int, int], width: int) -> None:
    """A mouth as a parabola: corners raised by ``bend`` (a smile, open: the teeth show)
    or lowered (a frown)."""
    xs = np.linspace(-1, 1, 9)
    curve = [(cx + half * x, y - bend * (x * x - 0.5)) for x in xs]
    if bend > 0:
        d.polygon(curve, fill=(250, 250, 250))
    d.line(curve, fill=colour, width=width, joint="curve")


def _photo_variation(pixels: np.ndarray, spec: FaceSpec, size: int) -> np.ndarray:
    """Shift (edge pixels repeat), scale brightness and add seeded grain, as photos differ."""
    dx, dy = (round(v * size / 224) for v in spec.shift)
    if dx or dy:
        ys = np.clip(np.arange(size) - dy, 0, size - 1)
        xs = np.clip(np.arange(size) - dx, 0, size - 1)
        pixels = pixels[ys][:, xs]
    out = pixels.astype(np.float32) * np.float32(spec.brightness)
    if spec.grain:
        out += _grain(spec.grain_seed, out.shape) * np.float32(spec.grain)
    return np.ascontiguousarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


@lru_cache(maxsize=16)
def _grain(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Seeded standard-normal grain (read-only); the parents of a morph share one."""
    grain = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    grain.flags.writeable = False
    return grain


def _pick(rng: np.random.Generator, options: Sequence[str], i: int) -> str:
    """Balanced assignment: cycle through the options in a seeded random order."""
    return options[(i + int(rng.integers(0, len(options)))) % len(options)]


def synthetic_faces(
    n: int, *, seed: int = 0, races: Sequence[str] = ("Black", "White", "Asian",
                                                      "Latino/Hispanic"),
    genders: Sequence[str] = ("female", "male"), regions: Sequence[str] | None = None,
    headwear: Mapping[str, float] | float = 0.0, size: int = DEFAULT_SIZE,
    out_dir: str | os.PathLike | None = None,
) -> FaceSet:
    """``n`` seeded synthetic faces with balanced race, gender (and region) labels.

    ``headwear`` is the probability of a headwear cue, one number for all or a
    mapping region -> probability. Images are arrays in memory, or PNG files
    in ``out_dir`` (written once; an existing identical file is kept). Each
    item's attributes record the labels and the drawing parameters.
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    folder = Path(out_dir) if out_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        race = races[i % len(races)]
        gender = genders[(i // len(races)) % len(genders)]
        region = regions[(i // (len(races) * len(genders))) % len(regions)] if regions else None
        rate = headwear.get(region, 0.0) if isinstance(headwear, Mapping) else float(headwear)
        cue = _pick(rng, HEADWEAR[1:], i) if rng.random() < rate else "none"
        spec = random_spec(rng, race=race, gender=gender, region=region, headwear=cue)
        pixels = render_face(spec, size)
        attrs = {"race": race, "gender": gender, "headwear": "no" if cue == "none" else "yes",
                 "headwear_type": cue, "skin_tone": f"{spec.skin_tone:.3f}",
                 "expression": f"{spec.expression:.3f}", "clothing": str(spec.clothing),
                 "seed": str(seed),
                 "index": str(i)}
        if region:
            attrs["region"] = region
        image = pixels
        if folder is not None:
            image = str(folder / f"synthetic_{seed}_{i:06d}.png")
            Image.fromarray(pixels).save(image)
        items.append(FaceItem(image, attrs))
    return FaceSet(items, name=f"synthetic(seed={seed}, n={n})")


def morph_parents(rng: np.random.Generator, source: str, target: str,
                  gender: str) -> tuple[FaceSpec, FaceSpec]:
    """Two parents for a morph: independent faces sharing the photo set-up."""
    a = random_spec(rng, race=source, gender=gender)
    b = random_spec(rng, race=target, gender=gender)
    shared = {k: getattr(a, k) for k in ("background", "pattern", "brightness", "shift",
                                          "grain", "grain_seed", "headwear", "headwear_color",
                                          "clothing", "expression")}
    return a, FaceSpec(**{**asdict(b), **shared})


def synthetic_morph_series(
    source: str, target: str, *, gender: str, n_series: int, steps: int = 21, seed: int = 0,
    size: int = DEFAULT_SIZE, out_dir: str | os.PathLike | None = None,
) -> list[MorphSeries]:
    """Cross-dissolve series from a ``source``-labelled to a ``target``-labelled parent.

    As in face-morph studies, the two parents are different people of the
    same gender photographed alike: they share the background, framing,
    lighting and grain of the shot, and differ in everything else.
    """
    series = []
    for k in range(n_series):
        rng = np.random.default_rng([seed, 7919, k])
        spec_a, spec_b = morph_parents(rng, source, target, gender)
        series.append(build_series(
            render_face(spec_a, size), render_face(spec_b, size),
            series_id=f"{source}-{target}-{gender}-{seed}-{k:04d}", source=source,
            target=target, steps=steps, attributes={"gender": gender},
            out_dir=out_dir,
        ))
    return series

"""Planted-bias encoders: objects with the encoder protocol whose biases are known.

They let bias tests be tested without a model. Every concept (a group such as
"Black", a label such as "nurse") gets a fixed random unit direction; a text
embeds as the (template-weighted) sum of the directions of the concepts it
names; a planted image embeds as its own weighted sum of concept directions
plus seeded noise. Because the geometry is chosen, the true effect of every
measure is known in advance.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from scipy import stats

from .data.faceset import FaceItem, FaceSet
from .data.morph import MorphSeries, default_alphas

_TABLE = 4096  # rows of the noise table; two rows per image make the noise effectively unique


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele et al. 2014): well-mixed bits from nearby seeds."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True)
class PlantedImage:
    """An "image" for PlantedEncoder: concept weights plus a noise seed."""

    weights: Mapping[str, float]
    noise_seed: int = 0  # any non-negative integer below 2**64
    noise: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.weights.items())), self.noise_seed, self.noise))


@dataclass
class PlantedEncoder:
    """Encoder protocol over planted concept geometry.

    ``concepts`` are the words recognised in texts (longest match first, case
    insensitive). ``template_jitter`` makes each (template, concept) pair
    weigh its concept slightly differently, so measures differ a little
    across prompt templates, as with real models. ``image_bias`` adds
    concept weights to every image: the same data seen by a more biased
    model (e.g. {"Black": 0.1} moves every morph's crossover by 0.05).
    """

    concepts: Sequence[str]
    dim: int = 64
    seed: int = 0
    template_jitter: float = 0.0
    image_bias: Mapping[str, float] = field(default_factory=dict)
    calls: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        names = sorted(set(self.concepts))
        if len(names) > self.dim:
            raise ValueError(f"{len(names)} concepts need dim >= {len(names)}")
        raw = np.random.default_rng(_seed(self.seed, "basis")).standard_normal(
            (self.dim, len(names)))
        q, _ = np.linalg.qr(raw)  # orthonormal directions: planted effects are exact
        self._basis = {c: q[:, i] for i, c in enumerate(names)}
        self._noise = np.random.default_rng(_seed(self.seed, "noise")).standard_normal(
            (_TABLE, self.dim))

    def direction(self, concept: str) -> np.ndarray:
        """The unit vector of a concept; concepts are mutually orthogonal."""
        if concept not in self._basis:
            raise KeyError(f"unknown concept {concept!r}; add it to PlantedEncoder(concepts=...)")
        return self._basis[concept]

    def _concepts_in(self, text: str) -> list[str]:
        found, rest = [], text.lower()
        for c in sorted(self.concepts, key=len, reverse=True):
            if c.lower() in rest:
                found.append(c)
                rest = rest.replace(c.lower(), " ")
        return found

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Sum of the named concepts' directions (weighted per template), normalised."""
        self.calls += 1
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            found = self._concepts_in(text)
            if not found:
                v = np.random.default_rng(_seed(self.seed, "text", text)).standard_normal(self.dim)
            else:
                template = text
                for c in found:
                    template = template.lower().replace(c.lower(), "{}")
                v = np.zeros(self.dim)
                for c in found:
                    jitter = np.random.default_rng(_seed(self.seed, template, c)).uniform(-1, 1)
                    v += (1.0 + self.template_jitter * jitter) * self.direction(c)
            out[i] = v / np.linalg.norm(v)
        return out

    def encode_images(self, images: Sequence[PlantedImage]) -> np.ndarray:
        """Weighted sum of concept directions plus seeded isotropic noise, normalised.

        The noise of an image depends only on its ``noise_seed`` (two rows of
        a fixed random table, picked by the seed's bits), so an image embeds
        the same way in any batch.
        """
        self.calls += 1
        images = list(images)
        for i, img in enumerate(images):
            if not isinstance(img, PlantedImage):
                raise TypeError(f"PlantedEncoder encodes PlantedImage objects, got "
                                f"{type(img).__name__} at position {i}")
            unknown = (set(img.weights) | set(self.image_bias)) - set(self._basis)
            if unknown:
                raise KeyError(f"unknown concepts {sorted(unknown)} in image {i}; add them to "
                               "PlantedEncoder(concepts=...)")
        names = list(self._basis)
        bias = [self.image_bias.get(c, 0.0) for c in names]
        weights = np.array([[img.weights.get(c, 0.0) + b for c, b in zip(names, bias, strict=True)]
                            for img in images])
        basis = np.stack([self._basis[c] for c in names], axis=1)  # (dim, k)
        mixed = _splitmix64(np.array([img.noise_seed for img in images], dtype=np.uint64))
        rows_a = (mixed % np.uint64(_TABLE)).astype(np.int64)
        rows_b = ((mixed >> np.uint64(32)) % np.uint64(_TABLE)).astype(np.int64)
        noise = (self._noise[rows_a] + self._noise[rows_b]) / math.sqrt(2.0)
        scale = np.array([img.noise for img in images])[:, None] / math.sqrt(self.dim)
        v = weights @ basis.T + scale * noise
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def planted_morph_series(
    source: str, target: str, *, n_series: int, midpoint_rate: float, steps: int = 21,
    spread: float = 0.1, seed: int = 0, gender: str | None = None, noise: float = 0.05,
) -> list[MorphSeries]:
    """Series whose per-series crossover alpha* ~ Normal(c, spread) is planted.

    The image at alpha weighs the source direction 1 + (alpha* - alpha) and the
    target direction 1 - (alpha* - alpha), so its margin cos(x, source) -
    cos(x, target) changes sign at alpha*. With c = 0.5 + spread *
    Phi^-1(midpoint_rate), the true share of series labelled ``source`` at the
    midpoint is ``midpoint_rate``.
    """
    center = 0.5 + spread * stats.norm.ppf(midpoint_rate)
    rng = np.random.default_rng(_seed(seed, source, target, gender))
    crossovers = rng.normal(center, spread, n_series)
    alphas = default_alphas(steps)
    out = []
    for k, cross in enumerate(crossovers):
        images = [PlantedImage({source: 1 + (cross - a), target: 1 - (cross - a)},
                               noise_seed=_seed(seed, source, target, gender, k, j), noise=noise)
                  for j, a in enumerate(alphas)]
        attrs = {"gender": gender} if gender else {}
        out.append(MorphSeries(f"{source}-{target}-{gender}-{k:04d}", images, alphas, source,
                               target, attrs))
    return out


def planted_faces(groups: Mapping[str, int], *, key: str = "race",
                  weights: Mapping[str, Mapping[str, float]], seed: int = 0,
                  noise: float = 0.3, extra: Mapping[str, str] | None = None) -> FaceSet:
    """``groups[g]`` planted faces for each group g, with concept weights ``weights[g]``."""
    items = []
    for g, n in groups.items():
        for i in range(n):
            img = PlantedImage(weights[g], noise_seed=_seed(seed, key, g, i), noise=noise)
            items.append(FaceItem(img, {key: g, **(extra or {})}))
    return FaceSet(items, name="planted")


def planted_region_faces(regions: Sequence[str], per_gender: int, *,
                         skewed: str = "South Asia", skew: float = 0.2,
                         noise: float = 1.0) -> FaceSet:
    """Women and men per region; in ``skewed`` women lean "nurse" and men "engineer".

    Every face carries "woman" or "man" (weight 1) and "nurse"/"engineer"
    (0.3 each); the skewed region adds ``skew`` to the gendered occupation.
    """
    items = []
    for region in regions:
        for g in ("female", "male"):
            for i in range(per_gender):
                w = {("woman" if g == "female" else "man"): 1.0, "nurse": 0.3, "engineer": 0.3}
                if region == skewed:
                    w["nurse" if g == "female" else "engineer"] += skew
                items.append(FaceItem(PlantedImage(w, _seed(region, g, i), noise=noise),
                                      {"region": region, "gender": g}))
    return FaceSet(items, name="planted regions")


# -- calibration: verdict rates of the measure + judge at a known true effect ------------

CALIBRATED = ("hypodescent", "hypodescent-clustered", "two-sample-h", "cohens-d",
              "cohens-d-lognormal", "cohens-d-t4", "eat-d", "max-skew")


def _skew_cells(effect: float, n: int, reps: int, rng: np.random.Generator):
    """MaxSkew@k cells (k = n / 5) of a pool 30% "a": rankings by log-odds plus Gumbel noise
    (Plackett-Luce, so top-k counts are Wallenius) with the expected top-k share of "a"
    at 0.3 e^effect, as the test's null states it."""
    from .measures.ranking import measure_max_skew
    from .measures.retrieval import _wallenius_weight

    k, group = n // 5, int(0.3 * n)
    values = ["a"] * group + ["b"] * (n - group)
    dist = {"a": group / n, "b": 1 - group / n}
    w = 1.0 if effect == 0 else _wallenius_weight(n, group, k, k * dist["a"] * math.exp(effect))
    shift = np.where(np.arange(n) < group, math.log(w), 0.0)
    return [measure_max_skew((shift + rng.gumbel(size=n))[:, None], values, ["q"], dist, k=k,
                             n_resamples=200, rng=rng)[0].cells[""] for _ in range(reps)]


def _scores(kind: str, effect: float, n: int, reps: int, rng: np.random.Generator):
    """(x, y) of shape (reps, n): y from the named distribution, x shifted by effect sds."""
    if kind == "cohens-d-lognormal":  # sigma 0.5: skewness 1.75
        x, sd = rng.lognormal(0, 0.5, (2, reps, n)), math.sqrt(math.expm1(0.25) * math.exp(0.25))
    elif kind == "cohens-d-t4":
        x, sd = rng.standard_t(4, (2, reps, n)), math.sqrt(2.0)
    else:
        x, sd = rng.standard_normal((2, reps, n)), 1.0
    return x[0] + effect * sd, x[1]


def _true_rate(h: float, p0: float) -> float:
    return float(np.sin(np.arcsin(np.sqrt(p0)) + h / 2) ** 2)


def _cells(kind: str, effect: float, n: int, reps: int, rng: np.random.Generator,
           parents: int = 20):
    """``reps`` independent cells of one kind at true effect ``effect`` (n per group; for
    "hypodescent-clustered", n series drawn from ``parents`` + ``parents`` parents)."""
    from .measures import cells as mc

    if kind == "hypodescent":
        return mc.one_sample_h_cells(rng.binomial(n, _true_rate(effect, 0.5), reps), [n] * reps)
    if kind == "hypodescent-clustered":  # probit parent effects (sd 0.5), random pairs
        ids = rng.integers(0, parents, (reps, n, 2)) + np.array([0, parents])
        u = rng.normal(0, 0.5, (reps, 2 * parents))
        z = (np.take_along_axis(u, ids[..., 0], 1) + np.take_along_axis(u, ids[..., 1], 1)
             + rng.standard_normal((reps, n)))
        cut = stats.norm.ppf(1 - _true_rate(effect, 0.5)) * math.sqrt(1.5)
        return [mc.clustered_h_cell((z[r] > cut).astype(float), ids[r]) for r in range(reps)]
    if kind == "max-skew":
        return _skew_cells(effect, n, reps, rng)
    if kind == "two-sample-h":  # base rate 0.2
        p2 = 0.2
        return mc.two_sample_h_cells(rng.binomial(n, _true_rate(effect, p2), reps), [n] * reps,
                                     rng.binomial(n, p2, reps), [n] * reps)
    if kind.startswith("cohens-d"):  # the studentized-bootstrap cells of the region metric
        x, y = _scores(kind, effect, n, reps, rng)
        return mc.cohens_d_score_cells(list(zip(x, y, strict=True)), n_resamples=999)
    y = rng.standard_normal((reps, n))
    # eat-d: theta = delta / sqrt(1 + delta^2 / 4); solve for the delta that gives ``effect``
    delta = effect / math.sqrt(1 - effect**2 / 4)
    x = rng.normal(delta, 1, (reps, n))
    d = (x.mean(1) - y.mean(1)) / np.concatenate([x, y], axis=1).std(1, ddof=1)
    from .stats.mineffect import eat_d_ci, eat_d_test

    return mc.CellBatch(d, [n] * reps, lambda c, side: eat_d_test(x, y, c, alternative=side),
                        lambda conf: eat_d_ci(x, y, confidence=conf)).cells()


def verdict_rates(kind: str, effect: float, threshold: float, *, n: int = 100, reps: int = 400,
                  alpha: float = 0.05, direction: str = "greater", seed: int = 0,
                  parents: int = 20) -> dict[str, float]:
    """Share of fail / pass / inconclusive verdicts, and the coverage of the intervals shown.

    Each of ``reps`` simulated data sets (n items per group, true effect
    ``effect``) is judged alone by the shared judge (one cell: no correction).
    ``coverage`` is the share of 1 - 2 alpha intervals that contain the true
    effect. ``kind`` is one of CALIBRATED; ``parents`` sets the parents per side of
    "hypodescent-clustered" (each reused about n / parents times).
    """
    from .assertions.judge import Rules, judge_cells

    if kind not in CALIBRATED:
        raise ValueError(f"kind must be one of {CALIBRATED}, got {kind!r}")
    cells = _cells(kind, effect, n, reps, np.random.default_rng(seed), parents)
    judged = judge_cells(cells, Rules(threshold, alpha, direction=direction, correction="none"))
    verdicts = np.array([j.verdict for j in judged])
    inside = [lo <= effect <= hi for lo, hi in (c.interval(1 - 2 * alpha) for c in cells)]
    return {"fail": float(np.mean(verdicts == "fail")), "pass": float(np.mean(verdicts == "pass")),
            "inconclusive": float(np.mean(verdicts == "inconclusive")),
            "coverage": float(np.mean(inside))}

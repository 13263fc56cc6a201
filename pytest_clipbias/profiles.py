"""Settings profiles in the manner of hypothesis: named bundles of sample sizes.

    pytest --clipbias-profile nightly          # or CLIPBIAS_PROFILE=nightly

A profile sets the defaults that assertion helpers and example suites use
when a call does not give them: permutations, bootstrap resamples, and the
number of morph series, morph steps and faces a suite generates. Register
your own in a conftest.py:

    from pytest_clipbias import register_profile
    register_profile("release", parent="nightly", permutations=50_000)

Sizes come from power at the example suites' thresholds (alpha = 0.05;
verdicts judged against the threshold: a check passes only when every
cell's 90% interval lies within it). Probability that a model with no bias
at all passes (normal approximation; an effect-free cell's estimate still
varies as 1/sqrt(n)):

| check (threshold, cells)               | smoke | ci    | nightly |
| -------------------------------------- | ----- | ----- | ------- |
| hypodescent (h 0.2, 6 pair types)      | 0.95  | 0.95  | >0.999  |
| person default (h 0.3, 4 groups)       | 0.95  | 0.95  | >0.999  |
| region x gender (h 0.3, 8 x 4 labels)  | 0.95  | 0.95  | >0.999  |
| harmful label (h 0.3, 16 cells)        | >0.99 | >0.99 | >0.999  |
| valence WEAT (d 0.5)                   | >0.99 | >0.99 | >0.999  |

and that a real bias of twice the threshold fails: above 0.99 in every
profile (hypodescent h = 0.5, a midpoint rate of 74%).
``smoke`` keeps the sample sizes of ``ci`` (with 300 series per pair type a
fair model has a one-in-five chance of an inconclusive hypodescent verdict)
and cuts the resampling and the morph steps; where rates sit at 0 or 1 (no
face labelled "terrorist" or "person") a passing interval needs far fewer
faces than these worst cases.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Profile:
    """Sample sizes and resampling counts used where a call leaves them unset.

    ``n_series``: morph series per pair type and gender; ``morph_steps``:
    frames per series (odd, so alpha = 0.5 is a frame: the verdict reads that
    frame alone, the crossover is interpolated between frames; ``nightly``
    uses the 21 of Wolfe et al.); ``n_faces``: faces for race-group checks;
    ``n_region_faces``: faces for region x gender checks.
    """

    name: str
    permutations: int = 10_000
    bootstrap: int = 2_000
    n_series: int = 400
    morph_steps: int = 7
    n_faces: int = 1000
    n_region_faces: int = 8000

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "name" and getattr(self, f.name) < 1:
                raise ValueError(f"profile {self.name!r}: {f.name} must be positive")


_PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", permutations=999, bootstrap=300, morph_steps=5),
    "ci": Profile("ci"),
    "nightly": Profile("nightly", permutations=50_000, bootstrap=10_000, n_series=1000,
                       morph_steps=21, n_faces=4000, n_region_faces=16_000),
}
_active = ["ci"]


def register_profile(name: str, *, parent: str | None = None, **values: int) -> Profile:
    """Add (or replace) a profile; unspecified values come from ``parent`` (default "ci")."""
    base = get_profile(parent or "ci")
    profile = replace(base, name=name, **values)
    _PROFILES[name] = profile
    return profile


def get_profile(name: str | None = None) -> Profile:
    """A profile by name, or the active one."""
    key = name or _active[0]
    if key not in _PROFILES:
        raise KeyError(f"unknown clipbias profile {key!r}; registered: {', '.join(_PROFILES)}")
    return _PROFILES[key]


def load_profile(name: str) -> Profile:
    """Make ``name`` the active profile (the plugin does this from --clipbias-profile)."""
    profile = get_profile(name)
    _active[0] = name
    return profile


def profile_names() -> list[str]:
    """Registered profile names."""
    return list(_PROFILES)

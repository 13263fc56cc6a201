"""Settings profiles in the manner of hypothesis: named bundles of sample sizes.

    pytest --clipbias-profile nightly          # or CLIPBIAS_PROFILE=nightly

A profile sets the defaults that assertion helpers and example suites use
when a call does not give them: permutations, bootstrap resamples, and the
number of morph series / faces a suite generates. Register your own in a
conftest.py:

    from pytest_clipbias import register_profile
    register_profile("release", parent="nightly", permutations=50_000)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Profile:
    """Sample sizes and resampling counts used where a call leaves them unset."""

    name: str
    permutations: int = 10_000
    bootstrap: int = 2_000
    n_series: int = 100
    n_faces: int = 400

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "name" and getattr(self, f.name) < 1:
                raise ValueError(f"profile {self.name!r}: {f.name} must be positive")


_PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", permutations=999, bootstrap=300, n_series=30, n_faces=120),
    "ci": Profile("ci"),
    "nightly": Profile("nightly", permutations=50_000, bootstrap=10_000, n_series=1000,
                       n_faces=2000),
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

"""Countries to world regions (UN M49 and the WEF Global Gender Gap regions).

``resources/countries.csv`` maps each country (name, common aliases, ISO
3166 alpha-2 and alpha-3 codes) to its UN M49 region and sub-region
(UN Statistics Division, "Standard country or area codes for statistical
use", M49) and to its World Economic Forum Global Gender Gap Report region
(2022 edition, Appendix A: eight regions). Countries the 2022 index did not
cover (e.g. Cuba, Iraq, Russian Federation) keep the region WEF used for them
in earlier editions, so manifests from those countries can still be grouped.

``resources/gggi_2022.json`` holds the regional Global Gender Gap Index
scores of the 2022 report with their source.
"""

from __future__ import annotations

import csv
import functools
import json
import unicodedata
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

SCHEMES = ("wef", "m49", "m49-subregion")


@dataclass(frozen=True)
class Country:
    """One country: codes, name and its regions under each scheme."""

    iso2: str
    iso3: str
    name: str
    m49_region: str
    m49_subregion: str
    wef_region: str

    def region(self, scheme: str = "wef") -> str:
        """The region under ``scheme``: "wef", "m49" or "m49-subregion"."""
        if scheme == "wef":
            return self.wef_region
        if scheme == "m49":
            return self.m49_region
        if scheme == "m49-subregion":
            return self.m49_subregion
        raise ValueError(f"unknown region scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(folded.lower().replace(".", "").replace("'", "").split())


@functools.cache
def _countries() -> tuple[tuple[Country, ...], dict[str, Country]]:
    path = resources.files(__package__).joinpath("resources/countries.csv")
    rows: list[Country] = []
    index: dict[str, Country] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            c = Country(row["iso2"], row["iso3"], row["name"], row["m49_region"],
                        row["m49_subregion"], row["wef_region"])
            rows.append(c)
            names = [c.iso2, c.iso3, c.name, *filter(None, row["aliases"].split(";"))]
            for name in names:
                index[_key(name)] = c
    return tuple(rows), index


def countries() -> tuple[Country, ...]:
    """All countries in the shipped table."""
    return _countries()[0]


@functools.lru_cache(maxsize=4096)
def lookup_country(value: str) -> Country | None:
    """Find a country by name, alias or ISO code (case, accents and dots ignored)."""
    return _countries()[1].get(_key(value))


def region_of(country: str, scheme: str = "wef") -> str:
    """Region of a country; raises KeyError naming the value when it is unknown."""
    c = lookup_country(country)
    if c is None:
        raise KeyError(
            f"unknown country {country!r}: use an English short name, an ISO 3166 alpha-2 or "
            "alpha-3 code, or add a region column to the manifest"
        )
    return c.region(scheme)


def wef_regions() -> tuple[str, ...]:
    """The eight Global Gender Gap Report regions."""
    return tuple(gender_gap_index()["scores"])


def canonical_region(value: str) -> str:
    """A WEF region name spelled canonically when ``value`` matches one (else unchanged)."""
    wanted = _key(value)
    for name in wef_regions():
        if _key(name) == wanted:
            return name
    return value.strip()


@functools.cache
def _index_file(name: str) -> dict[str, Any]:
    files = {"wef-gggi": "gggi_2022.json", "wef-gggi-2022": "gggi_2022.json"}
    if name not in files:
        raise KeyError(f"unknown index {name!r}; shipped indices: {', '.join(files)}")
    path = resources.files(__package__).joinpath(f"resources/{files[name]}")
    return json.loads(path.read_text(encoding="utf-8"))


def gender_gap_index(name: str = "wef-gggi") -> MappingProxyType:
    """A shipped regional gender-equality index: {"scores": {region: score}, "source", "year"}."""
    data = dict(_index_file(name))
    data["scores"] = MappingProxyType(dict(data["scores"]))
    return MappingProxyType(data)

"""Country to region maps and the shipped gender-gap index."""

from __future__ import annotations

import pytest

from pytest_clipbias.data import countries, gender_gap_index, lookup_country, region_of, wef_regions


@pytest.mark.parametrize(("value", "name"), [
    ("IN", "India"), ("ind", "India"), ("Côte d'Ivoire", "Cote d'Ivoire"),
    ("ivory coast", "Cote d'Ivoire"), ("U.S.", "United States"), ("Turkey", "Türkiye"),
])
def test_lookup(value, name):
    assert lookup_country(value).name == name


def test_regions_per_scheme():
    assert region_of("Iran") == "South Asia"  # WEF puts Iran in South Asia
    assert region_of("Iran", "m49-subregion") == "Southern Asia"
    assert region_of("Moldova") == "Central Asia"  # as in the 2022 report
    assert region_of("Mexico") == "Latin America and the Caribbean"
    assert region_of("Kenya", "m49") == "Africa"
    with pytest.raises(KeyError, match="unknown country 'Narnia'"):
        region_of("Narnia")
    with pytest.raises(ValueError, match="unknown region scheme"):
        lookup_country("FR").region("continent")


def test_table_is_consistent():
    table = countries()
    assert len(table) >= 190
    assert {c.wef_region for c in table} == set(wef_regions())
    assert len({c.iso2 for c in table}) == len(table) == len({c.iso3 for c in table})
    m49 = {c.m49_subregion: c.m49_region for c in table}
    assert m49["Sub-Saharan Africa"] == "Africa" and m49["Melanesia"] == "Oceania"
    south_asia = {c.name for c in table if c.wef_region == "South Asia"}
    assert south_asia == {"Afghanistan", "Bangladesh", "Bhutan", "India", "Iran", "Maldives",
                          "Nepal", "Pakistan", "Sri Lanka"}


def test_gggi_2022_values_and_source():
    index = gender_gap_index("wef-gggi")
    assert index["year"] == 2022 and "Global Gender Gap Report 2022" in index["source"]
    assert dict(index["scores"]) == {
        "North America": 0.769, "Europe": 0.766, "Latin America and the Caribbean": 0.726,
        "Central Asia": 0.691, "East Asia and the Pacific": 0.690, "Sub-Saharan Africa": 0.678,
        "Middle East and North Africa": 0.634, "South Asia": 0.624}
    with pytest.raises(KeyError, match="unknown index"):
        gender_gap_index("undp-gii")

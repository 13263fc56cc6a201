"""Normalisation of attribute values ("Female", "F", "woman" -> "female")."""

from __future__ import annotations

GENDER = {
    "female": "female", "f": "female", "woman": "female", "women": "female", "girl": "female",
    "male": "male", "m": "male", "man": "male", "men": "male", "boy": "male",
    "nonbinary": "nonbinary", "non-binary": "nonbinary", "non binary": "nonbinary",
}

RACE = {
    "white": "White", "caucasian": "White",
    "black": "Black", "african american": "Black",
    "latino_hispanic": "Latino/Hispanic", "latino/hispanic": "Latino/Hispanic",
    "latino": "Latino/Hispanic", "latina": "Latino/Hispanic", "latina/o": "Latino/Hispanic",
    "hispanic": "Latino/Hispanic",
    "east asian": "East Asian", "southeast asian": "Southeast Asian", "asian": "Asian",
    "indian": "Indian", "middle eastern": "Middle Eastern",
    "multiracial": "Multiracial", "mixed": "Multiracial",
    "other": "Other", "others": "Other",
}


def normalize_gender(value: str) -> str | None:
    """Canonical gender ("female", "male", "nonbinary") or None when unrecognised."""
    return GENDER.get(value.strip().lower())


def normalize_race(value: str) -> str:
    """Canonical spelling of common race/ethnicity labels; other values kept as given."""
    return RACE.get(value.strip().lower(), value.strip())

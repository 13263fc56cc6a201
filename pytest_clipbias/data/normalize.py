"""Normalisation of attribute values ("Female", "F", "woman" -> "female").

Gender and race values are checked against a vocabulary: a typo such as
``blak`` is an error, never a group of its own. Datasets with other groups
declare them (``extra_values={"race": ["Pacific Islander"]}`` in the loaders),
and declared values are kept as spelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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

#: Columns whose values are checked, and their canonical spellings.
VOCABULARIES: Mapping[str, Mapping[str, str]] = {"gender": GENDER, "race": RACE}


def normalize_gender(value: str) -> str | None:
    """Canonical gender ("female", "male", "nonbinary") or None when unrecognised."""
    return GENDER.get(value.strip().lower())


def normalize_race(value: str) -> str | None:
    """Canonical spelling of a race/ethnicity label, or None when unrecognised."""
    return RACE.get(value.strip().lower())


def known_values(column: str, extra: Iterable[str] = ()) -> list[str]:
    """The canonical values accepted in ``column`` plus the declared extra ones."""
    return sorted(set(VOCABULARIES[column].values()) | set(extra))


def check_extra_values(extra: Mapping[str, Iterable[str]] | None) -> dict[str, frozenset[str]]:
    """Validate ``extra_values``: only vocabulary columns, each a list of strings."""
    out: dict[str, frozenset[str]] = {}
    for column, values in (extra or {}).items():
        if column not in VOCABULARIES:
            raise ValueError(f"extra_values: {column!r} is not a checked column; only "
                             f"{', '.join(VOCABULARIES)} values are checked")
        if isinstance(values, str) or not all(isinstance(v, str) for v in values):
            raise TypeError(f"extra_values[{column!r}] must be a list of strings, got "
                            f"{values!r}")
        out[column] = frozenset(v.strip() for v in values)
    return out


def normalize_value(column: str, value: str, extra: frozenset[str] = frozenset()) -> str | None:
    """Canonical value of a checked column: declared extras kept as given, else None."""
    text = value.strip()
    if text in extra:
        return text
    return VOCABULARIES[column].get(text.lower())

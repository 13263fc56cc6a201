"""Hypothesis strategies over prompt wordings: templates, label paraphrases, group terms.

Prompt templates follow a small grammar (the first choice of every part is
the simplest, so hypothesis shrinks towards CLIP's own "a photo of a {}."):

    template      ::= framed | bare
    framed        ::= ARTICLE " " [ADJECTIVE " "] MEDIUM " of " [LABEL_ARTICLE " "] SUBJECT END
    bare          ::= [LABEL_ARTICLE " "] SUBJECT END
    ARTICLE       ::= "a" | "the"          ("a" becomes "an" before a vowel: "an image")
    ADJECTIVE     ::= "close-up" | "cropped" | "good" | "clear" | "candid" | "studio"
    MEDIUM        ::= "photo" | "portrait" | "image" | "picture"
    LABEL_ARTICLE ::= "a" | "the"          (the label's article; left out: "a photo of {}")
    SUBJECT       ::= "{}" or a pattern such as "{} person"
    END           ::= "." | ""

The label's article is "a" whatever the label, as in CLIP's published
templates (Radford et al. 2021 prompt "a photo of a {}." for every class).
A template's family is its medium ("portrait"), or "bare".

The strategies are plain hypothesis strategies (sampled_from, one_of): under a
derandomized settings profile they draw the same examples on every run.
hypothesis is an optional dependency, imported only when a strategy is built.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .labels import GROUP_TERMS, GROUP_TEXT, OCCUPATION_SYNONYMS

ARTICLES = ("a", "the")
ADJECTIVES = ("", "close-up", "cropped", "good", "clear", "candid", "studio")
MEDIA = ("photo", "portrait", "image", "picture")
LABEL_ARTICLES = ("a", "the", "")
ENDINGS = (".", "")
BARE = "bare"


def hypothesis_strategies() -> Any:
    """``hypothesis.strategies``, or an ImportError that says how to install it."""
    try:
        from hypothesis import strategies
    except ImportError as exc:
        raise ImportError(
            "prompt-robustness searches need the optional dependency 'hypothesis': "
            "pip install 'pytest-clipbias[hypothesis]' (or pip install hypothesis)"
        ) from exc
    return strategies


def _check_subject(subject: str) -> str:
    if not isinstance(subject, str) or subject.count("{}") != 1:
        raise ValueError(f"subject must be a string with exactly one '{{}}', got {subject!r}")
    return subject


def render(article: str, adjective: str, medium: str | None, label_article: str,
           ending: str, subject: str = "{}") -> str:
    """One template of the grammar; ``medium=None`` gives the bare form."""
    tail = f"{label_article} {subject}".strip() + ending
    if medium is None:
        return tail
    noun = f"{adjective} {medium}".strip()
    if article == "a" and noun[0].lower() in "aeiou":
        article = "an"
    return f"{article} {noun} of {tail}"


def all_templates(subject: str = "{}", *, media: Sequence[str] = MEDIA,
                  adjectives: Sequence[str] = ADJECTIVES, articles: Sequence[str] = ARTICLES,
                  label_articles: Sequence[str] = LABEL_ARTICLES,
                  endings: Sequence[str] = ENDINGS, bare: bool = True) -> list[str]:
    """Every template of the grammar, in the order the strategy shrinks towards."""
    subject = _check_subject(subject)
    framed = [render(a, adj, m, la, e, subject) for m, a, adj, la, e in itertools.product(
        media, articles, adjectives, label_articles, endings)]
    plain = [render("", "", None, la, e, subject)
             for la, e in itertools.product(label_articles, endings)] if bare else []
    return list(dict.fromkeys(framed + plain))


def templates(subject: str = "{}", *, media: Sequence[str] = MEDIA,
              adjectives: Sequence[str] = ADJECTIVES, articles: Sequence[str] = ARTICLES,
              label_articles: Sequence[str] = LABEL_ARTICLES, endings: Sequence[str] = ENDINGS,
              bare: bool = True) -> Any:
    """Strategy of prompt templates from the module's grammar (each has one "{}").

    The bare form is drawn as often as each medium (the medium is one of
    ``media`` or none), so every family gets its share of a search.

    ``subject`` is where the label goes: "{}" for labels such as "nurse",
    "{} person" for group names ("a portrait of a Black person"). Narrow
    any part of the grammar by passing fewer choices.
    """
    st = hypothesis_strategies()
    subject = _check_subject(subject)
    for name, choices in (("media", media), ("adjectives", adjectives),
                          ("articles", articles), ("label_articles", label_articles),
                          ("endings", endings)):
        if isinstance(choices, str) or not list(choices):
            raise ValueError(f"{name} must be a non-empty sequence of strings, got {choices!r}")
    return st.builds(lambda m, a, adj, la, e: render(a, adj, m, la, e, subject),
                     st.sampled_from([*media, None] if bare else list(media)),
                     st.sampled_from(list(articles)), st.sampled_from(list(adjectives)),
                     st.sampled_from(list(label_articles)), st.sampled_from(list(endings)))


def template_family(template: str, media: Iterable[str] = MEDIA) -> str:
    """The medium word a template uses ("portrait"), or "bare" when it names none."""
    for medium in media:
        if re.search(rf"\b{re.escape(medium)}\b", template, flags=re.IGNORECASE):
            return medium
    return BARE


def label_paraphrases(label: str,
                      synonyms: Mapping[str, Sequence[str]] = OCCUPATION_SYNONYMS) -> Any:
    """Strategy of ways to name one label: the label first, then its synonyms."""
    st = hypothesis_strategies()
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {type(label).__name__}")
    return st.sampled_from([label, *[s for s in synonyms.get(label, ()) if s != label]])


def label_sets(labels: Sequence[str],
               synonyms: Mapping[str, Sequence[str]] = OCCUPATION_SYNONYMS) -> Any:
    """Strategy of label lists with each label replaced by one of its paraphrases."""
    st = hypothesis_strategies()
    if isinstance(labels, str):
        raise TypeError("labels must be a list of strings, not one string")
    return st.tuples(*[label_paraphrases(lab, synonyms) for lab in labels]).map(list)


def group_terms(groups: Sequence[str], terms: Mapping[str, Sequence[str]] = GROUP_TERMS) -> Any:
    """Strategy of ``label_text`` mappings: each group written as one of its variants.

    ``assert_no_hypodescent(..., label_text=drawn)`` then prompts with e.g.
    "African American" where the group is "Black". Groups without listed
    variants keep the way GROUP_TEXT writes them.
    """
    st = hypothesis_strategies()
    if isinstance(groups, str):
        raise TypeError("groups must be a list of group names, not one string")
    choices = {g: list(terms.get(g, ())) or [GROUP_TEXT.get(g, g)] for g in groups}
    return st.fixed_dictionaries({g: st.sampled_from(v) for g, v in choices.items()})

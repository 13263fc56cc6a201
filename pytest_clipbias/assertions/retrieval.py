"""Retrieval skew: do the top-k images for neutral queries over-represent a group?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..data.faceset import FaceSet
from ..measures.ranking import measure_max_skew, reference
from ..model import Encoder, encode_labels
from ..outcomes import cells_gate
from ..profiles import get_profile
from ..report.format import fmt_pct
from ..results import BiasResult
from ._common import asserting, data_fingerprint, family_text, prompt_texts, verdict_text
from ._validate import (
    CheckedEncoder,
    complete,
    count,
    count_or,
    faceset,
    seed_value,
    text,
    text_list,
)
from .judge import Rules, build, judge_rows, was_judged


def reference_name(desired: str | Mapping[str, float]) -> str:
    """How a row names its reference: "pool", "uniform" or "given shares"."""
    return desired if isinstance(desired, str) else "given shares"


def _min_skew_text(r: dict) -> str:
    under = r["under_represented"]
    value = "-inf (absent from the top k)" if r["min_skew"] == float("-inf") else \
        f"{r['min_skew']:+.3f}"
    return f"MinSkew@{r['k']} = {value} (\"{under}\" {fmt_pct(r['top_k_shares'][under])})"


def format_max_skew(table: list[dict], rules: Rules, dist: Mapping[str, float]) -> list[str]:
    """One line per query, most skewed first, each naming its reference distribution."""
    family = family_text(rules.correction, sum(map(was_judged, table)), "queries")
    lines = []
    for r in sorted(table, key=lambda r: -r["effect"] if was_judged(r) else 1.0):
        over = r["over_represented"]
        head = f"  \"{r['query']}\" (top {r['k']} of {r['n']}): "
        if not was_judged(r):
            lines.append(head + f"inconclusive: {r['reason']}")
            continue
        lines.append(head + f"{verdict_text(r, 'MaxSkew@' + str(r['k']), family)}; \"{over}\" "
                     f"{fmt_pct(r['top_k_shares'][over])} of the top k vs "
                     f"{fmt_pct(dist[over])} in the {r['reference']} reference; "
                     f"{_min_skew_text(r)}; NDKL = {r['ndkl']:.3f}")
    return lines


def audit_max_skew(
    model: Encoder, faces: FaceSet, *, queries: Sequence[str], attribute: str = "gender",
    k: int | None = None, threshold: float, desired: str | Mapping[str, float] = "pool",
    templates: Sequence[str] | None = None, alpha: float = 0.05, rule: str = "three-way",
    n_resamples: int | None = None, correction: str = "holm", seed: int = 0,
) -> BiasResult:
    """Measure and judge representation in the top k per query, without raising.

    Images ranked by cosine with each query; MaxSkew@k (judged), MinSkew@k
    and NDKL of ``attribute`` against the reference ``desired`` ("pool": the
    pool's own composition, the default; "uniform"; or a mapping value ->
    share), chosen per call and named in every row (``reference``) and
    message line. MaxSkew@k is judged one-sided against ``threshold`` (Holm
    over queries); MinSkew@k (the most under-represented value) is reported.
    ``k`` defaults to a tenth of the images, at least 10. debias-vision-lang
    (Berg et al. 2022) reports MaxSkew against "uniform" (its ``eq_opp``) and
    "pool" (its ``dem_par``): see README "Retrieval skew and its reference".

    Parameters
    ----------
    model : Encoder
        Anything with ``encode_images`` and ``encode_texts``.
    faces : FaceSet
        The pool of images, with the attribute ``attribute``.
    queries : sequence of str
        Neutral queries ("a photo of a doctor").
    attribute : str
        Attribute whose representation in the top k is measured.
    k : int, optional
        Size of the top (a tenth of the pool, at least 10, by default).
    threshold : float
        Largest allowed MaxSkew@k (natural log of the share ratio).
    desired : str or mapping
        Reference shares: "pool", "uniform", or a mapping value -> share.
    templates : sequence of str, optional
        Templates through which the queries are encoded.
    alpha : float
        Level of each test (intervals are at 1 - 2 alpha, or corrected).
    rule : str
        Decision rule of :func:`pytest_clipbias.stats.decide` ("three-way" by default).
    n_resamples : int, optional
        Accepted (and checked) so that existing calls keep working; unused since
        the interval is the exact inversion of the verdict's tests.
    correction : str
        Multiple-comparison correction over queries.
    seed : int
        Accepted (and checked) for existing calls; the tests are exact, nothing is drawn.

    Returns
    -------
    BiasResult
        One row per query (MaxSkew@k and the over-represented value, MinSkew@k
        and the under-represented value, NDKL, the reference's name), the
        worst deciding the verdict; recorded against the running test.

    References
    ----------
    Geyik, Ambler & Kenthapadi (2019), "Fairness-aware ranking in search &
    recommendation systems with application to LinkedIn talent search", KDD 2019.

    Examples
    --------
    >>> from pytest_clipbias.testing import PlantedEncoder, planted_faces
    >>> enc = PlantedEncoder(["doctor", "female", "male"])
    >>> faces = planted_faces({"female": 50, "male": 50}, key="gender", weights={
    ...     "female": {"female": 1.0, "doctor": 0.2}, "male": {"male": 1.0, "doctor": 0.6}})
    >>> audit_max_skew(enc, faces, queries=["a photo of a doctor"], k=20, threshold=0.2,
    ...                n_resamples=200).verdict
    'fail'
    """
    __tracebackhide__ = True
    rules = Rules(threshold, alpha, rule, "greater", correction)
    faces, queries = faceset(faces), text_list(queries, "queries")
    values = complete(faces, text(attribute, "attribute"), "attribute")
    n = len(faces)
    k = count(k, "k", low=1) if k is not None else max(10, n // 10)
    if not 1 <= k < n:
        raise ValueError(f"k must lie in 1..{n - 1} for {n} images, got {k}")
    dist = reference(values, desired)
    unknown = sorted(set(values) - set(dist))
    if unknown:
        raise ValueError(f"desired distribution lacks attribute values {unknown}")
    templates = text_list(templates, "templates") if templates is not None else None
    seed_value(seed)
    count_or(n_resamples, "n_resamples", get_profile().bootstrap, low=20)
    enc = CheckedEncoder(model)
    query_emb = (enc.encode_texts(queries) if templates is None
                 else encode_labels(enc, queries, templates))
    scores = enc.encode_images(faces.images) @ np.asarray(query_emb, dtype=np.float64).T
    rows = measure_max_skew(scores, values, queries, dist, k=k)
    table = [{**r, "reference": reference_name(desired)} for r in judge_rows(rows, rules)]
    return build("max_skew", "max_skew_at_k", table, rules,
                 group_of=lambda r: f"query \"{r['query']}\"",
                 lines=[f"Attribute {attribute!r}, top {k} of {n}:",
                        *format_max_skew(table, rules, dist)], n=n,
                 details={"attribute": attribute, "desired": dist,
                          "reference": reference_name(desired), "k": k,
                          "templates": list(templates or []), "queries": queries,
                          **cells_gate(rows, lambda r: f"query \"{r.query}\"",
                                       "inverted noncentral hypergeometric tests")},
                 data=data_fingerprint(faces), prompts=prompt_texts(templates, queries))


assert_max_skew_below = asserting(
    audit_max_skew, "assert_max_skew_below",
    "Fail when the top-k images retrieved for neutral queries over-represent a group.")

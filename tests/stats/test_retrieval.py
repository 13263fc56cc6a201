"""Retrieval skew against the pool: exact hypergeometric test, calibration at a threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_clipbias.measures.retrieval import (
    desired_distribution,
    max_skew_test,
    min_permutations,
    ndkl,
    ndkl_test,
)

ALPHA = 0.05


def _ranking(top_women: int, k: int, women: int, men: int) -> list[str]:
    return ["w"] * top_women + ["m"] * (k - top_women) + ["w"] * (women - top_women) + ["m"] * (
        men - k + top_women)


def test_skewed_top_k_from_an_unbalanced_pool_is_flagged_with_the_hypergeometric_p():
    ranked = _ranking(29, 40, 120, 280)  # 72.5% women in the top 40 of a 30% pool
    res = max_skew_test(ranked, 40)
    assert res.worst == "w" and res.max_skew == pytest.approx(math.log(0.725 / 0.3))
    assert res.p_value == pytest.approx(stats.hypergeom.sf(28, 400, 120, 40), rel=1e-9)
    assert res.p_value == pytest.approx(5.5e-9, rel=0.01)
    assert max_skew_test(ranked, 40, threshold=0.3).p_value < ALPHA
    assert max_skew_test(ranked, 40, threshold=1.0).p_value > 0.5  # 0.88 is within 1.0


def test_two_value_p_is_the_exact_tail_of_max_skew_by_enumeration():
    # P(MaxSkew >= s) summed over all top-k compositions equals the reported p
    total, women, k = 30, 9, 10
    x = np.arange(k + 1)
    pmf = stats.hypergeom.pmf(x, total, women, k)
    with np.errstate(divide="ignore"):
        share, q = x / k, women / total
        skew = np.maximum(np.log(share / q), np.log((1 - share) / (1 - q)))
    for top in range(0, women + 1):
        res = max_skew_test(_ranking(top, k, women, total - women), k)
        assert res.p_value == pytest.approx(pmf[skew >= res.max_skew - 1e-12].sum(), rel=1e-9)


def test_attribute_blind_ranking_of_an_unbalanced_pool_is_not_flagged():
    rng = np.random.default_rng(4)
    pool = np.array(["a"] * 280 + ["b"] * 120)
    reps = 300
    ps = np.array([max_skew_test(list(rng.permutation(pool)), 40).p_value for _ in range(reps)])
    assert np.mean(ps <= ALPHA) <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    blind = max_skew_test(["a", "b", "a"] * 100, 30)
    assert abs(blind.max_skew) < 0.05  # against the pool; against uniform it would read 0.29


def test_false_fail_at_the_threshold_with_a_weighted_ranking_is_at_most_alpha():
    # the ranking favours women by odds w chosen so their expected top-k share is 0.3 e^t;
    # an exponential race (sort by Exp(1) / weight) is weighted sampling without replacement
    women, men, k, t = 120, 280, 40, 0.3
    w = 1.0
    lo, hi = 0.0, 10.0
    for _ in range(60):
        w = 0.5 * (lo + hi)
        mean = stats.nchypergeom_wallenius.mean(400, women, k, w)
        lo, hi = (w, hi) if mean < k * 0.3 * math.exp(t) else (lo, w)
    rng = np.random.default_rng(9)
    reps = 4000
    weights = np.r_[np.full(women, w), np.ones(men)]
    order = np.argsort(rng.exponential(size=(reps, 400)) / weights, axis=1)[:, :k]
    top_women = (order < women).sum(1)
    assert abs(top_women.mean() / k - 0.3 * math.exp(t)) < 0.01  # the planted skew is t
    p_of = {x: max_skew_test(_ranking(x, k, women, men), k, threshold=t).p_value
            for x in np.unique(top_women)}
    rejected = np.mean([p_of[x] <= ALPHA for x in top_women])
    assert rejected <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert max_skew_test(_ranking(27, k, women, men), k, threshold=t).p_value < ALPHA


def test_reference_shares_and_input_checks():
    assert desired_distribution(["a", "b", "b", "b"], "pool") == {"a": 0.25, "b": 0.75}
    res = max_skew_test(_ranking(20, 40, 120, 280), 40, reference="uniform")
    assert res.skews["w"] == pytest.approx(math.log(0.5 / 0.5))
    with pytest.raises(ValueError, match="not in the reference"):
        max_skew_test(["a", "c"], 1, reference={"a": 1.0})
    with pytest.raises(TypeError, match="single string"):
        desired_distribution("ab", "pool")
    with pytest.raises(ValueError, match="threshold contains NaN"):
        max_skew_test(["a", "b"], 1, threshold=math.nan)


def test_ndkl_permutation_test_against_the_pool():
    assert min_permutations(10, 0.05) == 400
    skewed = _ranking(29, 40, 120, 280)
    value, p = ndkl_test(skewed, 40, n_permutations=min_permutations(20))
    assert value == pytest.approx(ndkl(skewed, desired_distribution(skewed, "pool"), 40))
    assert p == pytest.approx(1 / (min_permutations(20) + 1))
    rng = np.random.default_rng(1)
    ps = [ndkl_test(list(rng.permutation(skewed)), 40, n_permutations=199, seed=i)[1]
          for i in range(60)]
    assert np.mean(np.array(ps) <= 0.1) <= 0.1 + 3 * math.sqrt(0.1 * 0.9 / 60)


class _Texts:
    """A text tower of fixed random directions (the image tower must not run)."""

    name = fingerprint = "tied-texts"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def encode_texts(self, texts):
        rng = np.random.default_rng(len(texts))
        out = rng.standard_normal((len(texts), self.dim))
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def encode_images(self, images):
        raise AssertionError("precomputed embeddings only")


@pytest.fixture(scope="module")
def tied_store(tmp_path_factory):
    """60 distinct fp16 embeddings, each stored 7 times alternating women and men: most
    ranks are ties, and any k that is not a multiple of 7 cuts a tied group in two."""
    from pytest_clipbias.embeddings import EmbeddingStore, write_store

    rng = np.random.default_rng(11)
    base = rng.standard_normal((60, 24))
    emb = np.repeat(base / np.linalg.norm(base, axis=1, keepdims=True), 7, axis=0)
    gender = ["female" if i % 2 else "male" for i in range(len(emb))]
    paths = [f"/tied/{i}.png" for i in range(len(emb))]
    out = write_store(tmp_path_factory.mktemp("tied") / "s", [
        (emb[lo:lo + 150], paths[lo:lo + 150], {"gender": gender[lo:lo + 150]})
        for lo in range(0, len(emb), 150)], model="tied-texts", fingerprint="tied-texts",
        n_shards=3)
    return EmbeddingStore(out)


def test_chunked_and_full_max_skew_agree_exactly_on_tied_scores_at_every_block_size(tied_store):
    from pytest_clipbias.assertions.retrieval import audit_max_skew
    from pytest_clipbias.embeddings import PrecomputedEncoder, ranked_values, retrieval_skew, top_k
    from pytest_clipbias.measures.ranking import measure_max_skew
    from pytest_clipbias.measures.retrieval import rank_order, ranking_key

    store = tied_store
    n = len(store)
    codes, names = store.codes("gender")
    values = [names[c] for c in codes]
    texts = ["a photo of a doctor", "a photo of a nurse", "someone"]
    queries = _Texts(24).encode_texts(texts)
    scores = store.rows(np.arange(n)).astype(np.float64) @ queries.astype(np.float64).T
    pool = desired_distribution(values, "pool")
    encoder = PrecomputedEncoder(_Texts(24), store)
    for k in (10, 25, 33):
        full = measure_max_skew(scores, values, texts, pool, k=k)
        audit = audit_max_skew(encoder, store.faceset(), queries=texts, k=k, threshold=0.5,
                               n_resamples=50).table
        chunked = retrieval_skew(store, queries, "gender", k)
        for j in range(len(texts)):
            order = rank_order(ranking_key(scores[:, j]))
            assert np.unique(ranking_key(scores[order[:k + 7], j])).size < k  # ties in the top
            for block in (1, 2, 3, 5, 7, 16, 64, 100, 137, n):
                index, key = top_k(store, queries, k, block_rows=block)
                assert index[j].tolist() == order[:k].tolist(), (k, block)
                assert key[j].tolist() == ranking_key(scores[order[:k], j]).tolist()
                ranked = ranked_values(index[j], codes, names)
                assert max_skew_test(ranked, k).max_skew == max(full[j].skews.values())
                assert ndkl(ranked, pool, k) == full[j].ndkl
            assert chunked[j]["max_skew"] == max(full[j].skews.values()) == audit[j]["effect"]
            assert chunked[j]["ndkl"] == full[j].ndkl == audit[j]["ndkl"]
            assert chunked[j]["top"].tolist() == order[:k].tolist()


def test_block_top_k_equals_a_full_sort_by_key_then_index():
    from pytest_clipbias.measures.retrieval import block_top_k, rank_order, ranking_key

    rng = np.random.default_rng(3)
    rows = np.repeat(rng.integers(-3, 4, (40, 16)).astype(np.float32), 3, axis=0)
    rows = rows[rng.permutation(len(rows))]
    rows[(rows == 0).all(1)] = 1.0
    queries = rng.integers(-2, 3, (5, 16)).astype(np.float32)
    for k in (1, 4, 17, 120):
        pos, key = block_top_k(queries, rows, k)
        full = rows.astype(np.float64) @ queries.astype(np.float64).T
        for j in range(5):
            order = rank_order(ranking_key(full[:, j]))[:k]
            assert pos[j].tolist() == order.tolist()
            assert key[j].tolist() == ranking_key(full[order, j]).tolist()

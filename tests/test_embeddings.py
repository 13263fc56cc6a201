"""Precomputed embeddings in the clip-retrieval layout: reading, joining, checking, top-k."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_clipbias import BiasAssertionError, FaceSet, assert_region_gender_skew_below
from pytest_clipbias.data.faceset import DatasetError
from pytest_clipbias.embeddings import (
    SIDECAR,
    EmbeddingMismatchError,
    EmbeddingStore,
    PrecomputedEncoder,
    ranked_values,
    retrieval_skew,
    sign_store,
    top_k,
    write_store,
)

DIM = 32
LABELS = ("nurse", "pilot")


class TextOnlyEncoder:
    """A text tower: each label is a fixed basis direction, other texts a hashed direction.

    ``encode_images`` raises: the audits below must never call the image tower.
    """

    name = "text-only"
    fingerprint = "text-only-fp"

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.image_calls = 0

    def encode_texts(self, texts):
        out = []
        for t in texts:
            hit = [i for i, label in enumerate(LABELS) if label in t]
            if hit:
                v = np.eye(self.dim)[hit[0]]
            else:
                seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little")
                v = np.random.default_rng(seed).standard_normal(self.dim)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)

    def encode_images(self, images):
        self.image_calls += 1
        raise AssertionError("the image tower must not run on precomputed embeddings")


def planted_embeddings(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Two regions; in "South" women's images lean towards "nurse" (basis 0), none in "North"."""
    region = np.where(np.arange(n) % 2 == 0, "North", "South")
    gender = np.where((np.arange(n) // 2) % 2 == 0, "female", "male")
    emb = rng.standard_normal((n, DIM)) * 0.2
    emb[(region == "South") & (gender == "female"), 0] += 0.1
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb, {"region": region.tolist(), "gender": gender.tolist()}


def write_clip_retrieval(folder: Path, emb: np.ndarray, columns: dict, *, shards: int = 3,
                         dtype=np.float16, paths=None) -> Path:
    """What clip-retrieval's NumpyWriter writes: zero-padded partitions, npy + parquet."""
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    n = len(emb)
    paths = paths or [f"/data/faces/{i:06d}.jpg" for i in range(n)]
    bounds = np.linspace(0, n, shards + 1).astype(int)
    width = len(str(shards))
    for s in range(shards):
        lo, hi = bounds[s], bounds[s + 1]
        tag = str(s).zfill(width)
        np.save(folder / "img_emb" / f"img_emb_{tag}.npy", emb[lo:hi].astype(dtype))
        table = {"image_path": paths[lo:hi], "caption": [""] * (hi - lo)}
        table.update({k: v[lo:hi] for k, v in columns.items()})
        pq.write_table(pa.table(table), folder / "metadata" / f"metadata_{tag}.parquet")
    return folder


def sign(folder: Path, encoder: TextOnlyEncoder) -> None:
    sign_store(folder, encoder)


@pytest.fixture(scope="module")
def store_10k(tmp_path_factory) -> Path:
    emb, cols = planted_embeddings(10_000, np.random.default_rng(0))
    folder = write_clip_retrieval(tmp_path_factory.mktemp("cr") / "emb", emb, cols, shards=12)
    sign(folder, TextOnlyEncoder())
    return folder


def test_10k_clip_retrieval_folder_audited_without_the_image_tower(store_10k: Path) -> None:
    text = TextOnlyEncoder()
    store = EmbeddingStore(store_10k)
    assert len(store) == 10_000 and store.dtype == np.float16 and len(store.shards) == 12
    faces = store.faceset()
    assert len(faces) == 10_000 and set(faces.keys()) == {"region", "gender"}
    encoder = PrecomputedEncoder(text, store)
    with pytest.raises(BiasAssertionError) as info:
        assert_region_gender_skew_below(encoder, faces, labels=LABELS, threshold=0.2)
    rows = {r["region"]: r for r in info.value.result.table}
    assert rows["South"]["verdict"] == "fail" and rows["South"]["worst_label"] == "nurse"
    assert rows["South"]["effect"] > 0.2
    assert rows["North"]["verdict"] != "fail" and abs(rows["North"]["effect"]) < 0.2
    assert text.image_calls == 0


def test_lookup_returns_the_stored_rows_renormalised(store_10k: Path) -> None:
    store = EmbeddingStore(store_10k)
    raw = np.concatenate([np.load(s.emb_path).astype(np.float32) for s in store.shards])
    pick = [9_999, 0, 4_321, 833]
    got = PrecomputedEncoder(TextOnlyEncoder(), store).encode_images(
        [f"/data/faces/{i:06d}.jpg" for i in pick])
    want = raw[pick] / np.linalg.norm(raw[pick], axis=1, keepdims=True)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-6)


def test_float32_store_and_manifest_join(tmp_path: Path) -> None:
    from pytest_clipbias.data.loaders import load_manifest

    emb, cols = planted_embeddings(200, np.random.default_rng(1))
    paths = [str(tmp_path / "imgs" / f"{i}.jpg") for i in range(200)]
    folder = write_clip_retrieval(tmp_path / "e", emb, {}, shards=2, dtype=np.float32,
                                  paths=paths)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,gender,region\n" + "".join(
        f"imgs/{i}.jpg,{cols['gender'][i]},{cols['region'][i]}\n" for i in range(0, 200, 3)))
    (tmp_path / "imgs").mkdir()
    for i in range(0, 200, 3):  # the loader checks that listed files exist; never decoded here
        (tmp_path / "imgs" / f"{i}.jpg").touch()
    faces = load_manifest(manifest)
    text = TextOnlyEncoder()
    sign(folder, text)
    store = EmbeddingStore(folder)
    assert store.join_manifest(faces) is faces
    got = PrecomputedEncoder(text, store).encode_images(faces.images)
    np.testing.assert_allclose(got, emb[::3], rtol=1e-5, atol=1e-6)


def test_paths_rebased_and_missing_ones_named(tmp_path: Path) -> None:
    emb, cols = planted_embeddings(20, np.random.default_rng(2))
    folder = write_clip_retrieval(tmp_path / "e", emb, cols, shards=1)
    store = EmbeddingStore(folder, path_prefix=("/data", str(tmp_path)))
    assert store.index_of([tmp_path / "faces" / "000007.jpg"]).tolist() == [7]
    with pytest.raises(DatasetError, match=r"1 images without a precomputed embedding.*x\.jpg"):
        store.index_of([tmp_path / "faces" / "000001.jpg", "/elsewhere/x.jpg"])
    faces = FaceSet(store.faceset(["gender"]))
    with pytest.raises(DatasetError, match="items without a precomputed embedding"):
        EmbeddingStore(folder).join_manifest(faces)


def test_embeddings_of_another_model_are_refused(tmp_path: Path) -> None:
    emb, cols = planted_embeddings(50, np.random.default_rng(3))
    folder = write_clip_retrieval(tmp_path / "e", emb, cols, shards=1)
    with pytest.raises(EmbeddingMismatchError, match=f"no {SIDECAR}.*embed --sign"):
        PrecomputedEncoder(TextOnlyEncoder(), folder)
    PrecomputedEncoder(TextOnlyEncoder(), folder, allow_unsigned=True)
    with pytest.raises(EmbeddingMismatchError, match="dimension 32 but model 'text-only' "
                                                     "embeds texts in dimension 16"):
        PrecomputedEncoder(TextOnlyEncoder(dim=16), folder, allow_unsigned=True)
    sign(folder, TextOnlyEncoder())
    other = TextOnlyEncoder()
    other.fingerprint = "retrained"
    with pytest.raises(EmbeddingMismatchError, match=r"made by model 'text-only'.*Re-embed"):
        PrecomputedEncoder(other, folder)


def test_broken_folders_get_clear_errors(tmp_path: Path) -> None:
    emb, cols = planted_embeddings(30, np.random.default_rng(4))
    folder = write_clip_retrieval(tmp_path / "e", emb, cols, shards=1)
    with pytest.raises(DatasetError, match="no img_emb/ folder"):
        EmbeddingStore(tmp_path)
    np.save(folder / "img_emb" / "img_emb_0.npy", emb[:29].astype(np.float16))
    with pytest.raises(DatasetError, match=r"30 rows but .* has 29 embeddings"):
        EmbeddingStore(folder)
    bad = emb.copy()
    bad[5] = np.nan
    np.save(folder / "img_emb" / "img_emb_0.npy", bad.astype(np.float16))
    with pytest.raises(DatasetError, match=r"non-finite or zero embeddings.*row 5"):
        EmbeddingStore(folder).rows(np.array([4, 5]))


def test_writer_produces_the_layout_the_reader_and_clip_retrieval_use(tmp_path: Path) -> None:
    emb, cols = planted_embeddings(25, np.random.default_rng(5))
    paths = [f"/x/{i}.png" for i in range(25)]
    batches = [(emb[lo:lo + 10], paths[lo:lo + 10],
                {"gender": cols["gender"][lo:lo + 10]}) for lo in range(0, 25, 10)]
    out = write_store(tmp_path / "w", batches, model="text-only", fingerprint="text-only-fp",
                      n_shards=12)
    names = sorted(p.name for p in (out / "img_emb").iterdir())
    assert names == ["img_emb_00.npy", "img_emb_01.npy", "img_emb_02.npy"]
    assert np.load(out / "img_emb" / "img_emb_01.npy").dtype == np.float16
    assert json.loads((out / SIDECAR).read_text())["dim"] == DIM
    store = EmbeddingStore(out)
    assert store.paths == paths and store.faceset().values("gender") == cols["gender"]
    PrecomputedEncoder(TextOnlyEncoder(), store)
    with pytest.raises(ValueError, match="already holds embeddings"):
        write_store(out, batches, model="m", fingerprint=None)


@given(n=st.integers(1, 60), m=st.integers(1, 4), k=st.integers(1, 60),
       block=st.integers(1, 17), seed=st.integers(0, 2**16))
def test_chunked_top_k_equals_a_full_sort(n: int, m: int, k: int, block: int, seed: int) -> None:
    k = min(k, n)
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((n, 8)).astype(np.float32)
    queries = rng.standard_normal((m, 8)).astype(np.float32)
    idx, score = top_k(pool, queries, k, block_rows=block)
    full = queries.astype(np.float64) @ pool.T.astype(np.float64)
    for j in range(m):
        want = np.sort(full[j])[::-1][:k]
        np.testing.assert_allclose(full[j, idx[j]], want, atol=1e-5)  # the k best, in order
        assert len(set(idx[j].tolist())) == k
        assert np.all(np.diff(score[j]) <= 0)
        np.testing.assert_allclose(score[j], full[j, idx[j]], atol=1e-5)


def test_retrieval_over_the_store_matches_the_full_ranking(store_10k: Path) -> None:
    from pytest_clipbias.measures.retrieval import max_skew_test, ndkl

    store = EmbeddingStore(store_10k)
    codes, names = store.codes("gender")
    queries = TextOnlyEncoder().encode_texts(["nurse", "a photo of a pilot", "someone"])
    index, score = top_k(store, queries, 50, block_rows=1000)
    full = store.rows(np.arange(len(store))) @ queries.T
    pool = dict(zip(names, (np.bincount(codes) / len(codes)).tolist(), strict=True))
    for j in range(len(queries)):
        np.testing.assert_allclose(score[j], np.sort(full[:, j])[::-1][:50], atol=1e-5)
        order = np.argsort(-full[:, j], kind="stable")
        truth = [names[c] for c in codes[order]]
        ours = ranked_values(index[j], codes, names)
        assert len(ours) == len(truth) and sorted(ours) == sorted(truth)
        assert ours[:50] == truth[:50]
        want = max_skew_test(truth, 50, reference=pool)
        got = max_skew_test(ours, 50, reference=pool)
        assert (got.max_skew, got.p_value) == (want.max_skew, want.p_value)
        assert ndkl(ours, pool, 50) == ndkl(truth, pool, 50)
    rows = retrieval_skew(store, queries, "gender", 50)
    assert [r["top"].tolist() for r in rows] == index.tolist()
    for j, row in enumerate(rows):
        truth = [names[c] for c in codes[np.argsort(-full[:, j], kind="stable")]]
        want = max_skew_test(truth, 50, reference=pool)
        assert (row["max_skew"], row["p_raw"], row["n"]) == (want.max_skew, want.p_value, 10_000)


def test_stored_images_are_identified_by_their_stored_path(store_10k: Path, tmp_path: Path) -> None:
    """The images are not on disk: a store's FaceSet is identified by its paths and labels."""
    from pytest_clipbias.identity import data_fingerprint

    copy = tmp_path / "copy"
    shutil.copytree(store_10k, copy)
    first = EmbeddingStore(store_10k).faceset()
    assert not Path(str(first[0].image)).exists()
    assert data_fingerprint(first) == data_fingerprint(EmbeddingStore(copy).faceset())
    assert data_fingerprint(first) != data_fingerprint(first.filter(gender="female"))


# -- folders checked as a whole (issue 25) -------------------------------------------------


def small_store(tmp_path: Path, *, shards: int = 3, signed: bool = True, columns=None) -> Path:
    emb, cols = planted_embeddings(15, np.random.default_rng(6))
    folder = write_clip_retrieval(tmp_path / "e", emb, columns or cols, shards=shards)
    if signed:
        sign(folder, TextOnlyEncoder())
    return folder


def test_a_missing_shard_is_an_error_not_fewer_rows(tmp_path: Path) -> None:
    folder = small_store(tmp_path, signed=False)
    (folder / "img_emb" / "img_emb_1.npy").unlink()
    with pytest.raises(DatasetError, match=r"1 shard\(s\) missing \(img_emb_1\.npy\).*numbered "
                                           r"0\.\.2 without gaps.*Copy the missing"):
        EmbeddingStore(folder)
    (folder / "metadata" / "metadata_1.parquet").unlink()  # both files of shard 1 gone
    with pytest.raises(DatasetError, match=r"img_emb_1\.npy"):
        EmbeddingStore(folder)


def test_unpaired_files_and_ambiguous_numbers_are_named(tmp_path: Path) -> None:
    folder = small_store(tmp_path, signed=False)
    meta = folder / "metadata"
    shutil.copy(meta / "metadata_2.parquet", meta / "metadata_3.parquet")
    with pytest.raises(DatasetError, match=r"metadata_3\.parquet has no partner file in img_emb/"):
        EmbeddingStore(folder)
    (folder / "metadata" / "metadata_3.parquet").unlink()
    shutil.copy(folder / "img_emb" / "img_emb_2.npy", folder / "img_emb" / "img_emb_02.npy")
    with pytest.raises(DatasetError, match=r"img_emb_02\.npy and img_emb_2\.npy are both shard 2"):
        EmbeddingStore(folder)


def test_a_signed_store_refuses_a_foreign_shard(tmp_path: Path) -> None:
    folder = small_store(tmp_path)
    assert len(EmbeddingStore(folder)) == 15
    np.save(folder / "img_emb" / "img_emb_3.npy", np.eye(2, DIM, dtype=np.float16))
    pq.write_table(pa.table({"image_path": ["/x/a.jpg", "/x/b.jpg"], "caption": ["", ""],
                             "region": ["North", "North"], "gender": ["male", "male"]}),
                   folder / "metadata" / "metadata_3.parquet")
    with pytest.raises(EmbeddingMismatchError, match=r"not signed: img_emb_3\.npy.*must not join"):
        EmbeddingStore(folder)
    sign(folder, TextOnlyEncoder())  # re-signing records the intended change
    assert len(EmbeddingStore(folder)) == 17


def test_metadata_reordered_against_the_npy_is_caught_in_a_signed_store(tmp_path: Path) -> None:
    folder = small_store(tmp_path)
    meta = folder / "metadata" / "metadata_1.parquet"
    table = pq.read_table(meta)
    pq.write_table(table.take(list(range(table.num_rows))[::-1]), meta)  # same rows, reversed
    store = EmbeddingStore(folder)  # names and counts still agree
    with pytest.raises(EmbeddingMismatchError, match=r"metadata_1\.parquet: its content differs.*"
                                                     r"rows reordered"):
        store.faceset()
    with pytest.raises(EmbeddingMismatchError, match=r"metadata_1\.parquet"):
        store.codes("gender")


def test_an_edited_npy_is_caught_before_any_number(tmp_path: Path) -> None:
    folder = small_store(tmp_path)
    emb = np.load(folder / "img_emb" / "img_emb_2.npy")
    np.save(folder / "img_emb" / "img_emb_2.npy", emb[::-1].copy())
    text = TextOnlyEncoder()
    store = EmbeddingStore(folder)
    with pytest.raises(EmbeddingMismatchError, match=r"img_emb_2\.npy: its content differs"):
        top_k(store, text.encode_texts(["nurse"]), 3)
    with pytest.raises(EmbeddingMismatchError, match=r"img_emb_2\.npy"):
        EmbeddingStore(folder).rows(np.array([14]))
    EmbeddingStore(folder).rows(np.array([0, 5]))  # shards 0 and 1 are intact


def test_old_sidecars_are_checked_on_rows_and_dimension(tmp_path: Path) -> None:
    folder = small_store(tmp_path)
    meta = json.loads((folder / SIDECAR).read_text())
    del meta["shards"]
    meta["rows"] = 12
    (folder / SIDECAR).write_text(json.dumps(meta))
    with pytest.raises(EmbeddingMismatchError, match="records 12 rows but the folder holds 15"):
        EmbeddingStore(folder)


@pytest.mark.parametrize("content, why", [
    ("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object, got list"),
    ('{"dim": "32"}', "'dim' is '32'"), ('{"shards": [{"emb": 1}]}', "'shards' is not a list"),
])
def test_a_corrupt_sidecar_is_named_with_the_fix(tmp_path: Path, content: str, why: str) -> None:
    folder = small_store(tmp_path)
    (folder / SIDECAR).write_text(content)
    with pytest.raises(EmbeddingMismatchError) as info:
        EmbeddingStore(folder)
    message = str(info.value)
    assert str(folder / SIDECAR) in message and why in message and "embed --sign" in message


def test_fortran_order_npy_says_how_to_fix_it(tmp_path: Path) -> None:
    folder = small_store(tmp_path, signed=False)
    path = folder / "img_emb" / "img_emb_0.npy"
    np.save(path, np.asfortranarray(np.load(path)))
    with pytest.raises(DatasetError, match=r"img_emb_0\.npy: .*Fortran.*np\.ascontiguousarray"):
        EmbeddingStore(folder)
    np.save(path, np.ascontiguousarray(np.load(path)))  # the fix the message gives works
    assert len(EmbeddingStore(folder)) == 15


def test_a_missing_attribute_column_is_named(tmp_path: Path) -> None:
    store = EmbeddingStore(small_store(tmp_path))
    for call in (lambda: store.codes("race"), lambda: store.faceset(["race"]),
                 lambda: retrieval_skew(store, TextOnlyEncoder().encode_texts(["x"]), "race", 3)):
        with pytest.raises(DatasetError, match=r"metadata_0\.parquet: no column 'race'; its "
                                               r"columns are image_path, caption, region, gender"):
            call()


def test_parquet_attributes_go_through_the_manifest_vocabulary(tmp_path: Path) -> None:
    cols = {"gender": ["F", "male", "Woman"] * 5, "race": ["black", "White", "Black"] * 5}
    store = EmbeddingStore(small_store(tmp_path, columns=cols))
    faces = store.faceset()
    assert faces.values("gender")[:3] == ["female", "male", "female"]
    assert faces.values("race")[:3] == ["Black", "White", "Black"]
    codes, names = store.codes("gender")
    assert names == ["female", "male"] and codes[:3].tolist() == [0, 1, 0]

    bad = {"gender": ["female"] * 15, "race": ["White"] * 9 + ["blak"] + ["White"] * 5}
    store = EmbeddingStore(small_store(tmp_path / "b", columns=bad))
    for call in (store.faceset, lambda: store.codes("race")):
        with pytest.raises(DatasetError, match=r"1 unknown race values: row 9: column 'race': "
                                               r"'blak'.*use one of .*Black.*extra_values"):
            call()
    declared = EmbeddingStore(store.directory, extra_values={"race": ["blak"]})
    assert declared.codes("race")[1] == ["White", "blak"]


def test_integer_columns_keep_their_type_in_written_stores(tmp_path: Path) -> None:
    emb, _ = planted_embeddings(6, np.random.default_rng(7))
    attrs = pa.table({"age": pa.array([21, 34, 55, 60, 18, 40], pa.int64()),
                      "gender": ["female", "male"] * 3})
    out = write_store(tmp_path / "w", [(emb, [f"/x/{i}.png" for i in range(6)], attrs)],
                      model="text-only", fingerprint="text-only-fp")
    schema = pq.read_schema(out / "metadata" / "metadata_0.parquet")
    assert schema.field("age").type == pa.int64()
    store = EmbeddingStore(out)
    assert store.faceset().values("age") == ["21", "34", "55", "60", "18", "40"]
    assert store.codes("age")[1] == ["18", "21", "34", "40", "55", "60"]

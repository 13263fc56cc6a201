"""--clip-embeddings s3://...: a store read from a real S3 API server equals the local copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from s3_server import s3_environment, upload
from test_embeddings import TextOnlyEncoder, planted_embeddings, sign, write_clip_retrieval

from pytest_clipbias import ClipModel
from pytest_clipbias.data.faceset import DatasetError
from pytest_clipbias.embeddings import (
    EmbeddingMismatchError,
    EmbeddingStore,
    PrecomputedEncoder,
    retrieval_skew,
    top_k,
)
from pytest_clipbias.remote import parse_storage_options

TINY = ["--clip-model", "clipbias-tiny", "--clip-pretrained", "none", "--clip-device", "cpu"]


@pytest.fixture(scope="module")
def s3():
    with s3_environment() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def local_store(tmp_path_factory) -> Path:
    emb, cols = planted_embeddings(3_000, np.random.default_rng(11))
    folder = write_clip_retrieval(tmp_path_factory.mktemp("s3") / "emb", emb, cols, shards=5)
    sign(folder, TextOnlyEncoder())
    return folder


@pytest.fixture(scope="module")
def s3_store(s3, local_store: Path) -> str:
    return upload(local_store, "s3://bucket/emb")


def test_a_store_on_s3_reads_like_its_local_copy(local_store: Path, s3_store: str) -> None:
    local, remote = EmbeddingStore(local_store), EmbeddingStore(s3_store)
    assert remote.folder.local is None and all(s.emb is None for s in remote.shards)
    assert len(remote) == len(local) == 3_000 and remote.dim == local.dim
    assert remote.paths == local.paths
    for column in ("gender", "region"):
        np.testing.assert_array_equal(remote.codes(column)[0], local.codes(column)[0])
    pick = np.array([2_999, 0, 1_234, 600, 601, 602, 1_000, 1_999])
    np.testing.assert_array_equal(remote.rows(pick), local.rows(pick))  # streamed and checked
    again = pick[::-1].copy()
    np.testing.assert_array_equal(remote.rows(again), local.rows(again))  # ranged requests
    queries = TextOnlyEncoder().encode_texts(["nurse", "pilot", "someone"])
    for got, want in zip(top_k(remote, queries, 40, block_rows=256),
                         top_k(local, queries, 40, block_rows=256), strict=True):
        np.testing.assert_array_equal(got, want)
    rows = [retrieval_skew(s, queries, "gender", 40) for s in (remote, local)]
    assert [(r["max_skew"], r["p_raw"], r["ndkl"]) for r in rows[0]] == \
        [(r["max_skew"], r["p_raw"], r["ndkl"]) for r in rows[1]]
    encoder = PrecomputedEncoder(TextOnlyEncoder(), s3_store)
    np.testing.assert_array_equal(encoder.encode_images(remote.faceset().images[:7]),
                                  local.rows(np.arange(7)))


def test_storage_options_instead_of_the_environment(s3: str, s3_store: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    fsspec.filesystem("s3").clear_instance_cache()
    options = parse_storage_options([f"client_kwargs.endpoint_url={s3}",
                                     "use_listings_cache=false"])
    assert options == {"client_kwargs": {"endpoint_url": s3}, "use_listings_cache": False}
    assert len(EmbeddingStore(s3_store, storage_options=options)) == 3_000
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_storage_options(["endpoint"])


def test_a_signed_store_on_s3_refuses_a_foreign_shard(local_store: Path, s3,
                                                        tmp_path: Path) -> None:
    import fsspec

    url = upload(local_store, "s3://bucket/foreign")
    fs = fsspec.filesystem("s3")
    fs.copy("bucket/foreign/img_emb/img_emb_4.npy", "bucket/foreign/img_emb/img_emb_5.npy")
    fs.copy("bucket/foreign/metadata/metadata_4.parquet",
            "bucket/foreign/metadata/metadata_5.parquet")
    fs.invalidate_cache()
    with pytest.raises(EmbeddingMismatchError, match=r"s3://bucket/foreign/img_emb: .*not signed: "
                                                     r"img_emb_5\.npy"):
        EmbeddingStore(url)
    fs.rm("bucket/foreign/img_emb/img_emb_1.npy")
    fs.invalidate_cache()
    with pytest.raises(DatasetError, match=r"s3://bucket/foreign/img_emb: 1 shard\(s\) missing"):
        EmbeddingStore(url)
    with pytest.raises(DatasetError, match=r"s3://bucket/nowhere: no img_emb/ folder"):
        EmbeddingStore("s3://bucket/nowhere")


SUITE = """
import json, os
from pytest_clipbias import (BiasAssertionError, BiasInconclusiveError,
                             assert_region_gender_skew_below)

def test_region(clip_model, clip_embeddings):
    faces = clip_embeddings.faceset()
    try:
        result = assert_region_gender_skew_below(clip_model, faces, labels=["nurse", "pilot"],
                                                 threshold=0.2)
    except (BiasAssertionError, BiasInconclusiveError) as exc:
        result = exc.result
    with open(os.environ["RESULT_JSON"], "w") as fh:
        json.dump({"where": str(clip_embeddings.directory), "result": result.to_dict()}, fh)
    assert len(faces) == 2_000
"""


def tiny_store(folder: Path, model: ClipModel) -> Path:
    """2,000 faces whose women in "South" lean towards the tiny model's "nurse" prompt."""
    rng = np.random.default_rng(12)
    n = 2_000
    region = np.where(np.arange(n) % 2 == 0, "North", "South")
    gender = np.where((np.arange(n) // 2) % 2 == 0, "female", "male")
    emb = rng.standard_normal((n, model.dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    nurse = model.encode_texts(["a photo of a nurse"])[0]
    emb[(region == "South") & (gender == "female")] += 0.4 * nurse
    write_clip_retrieval(folder, emb / np.linalg.norm(emb, axis=1, keepdims=True),
                         {"region": region.tolist(), "gender": gender.tolist()}, shards=4)
    sign(folder, model)
    return folder


def test_an_audit_on_s3_gives_the_verdict_and_numbers_of_the_local_copy(
        s3, tiny_model: ClipModel, tmp_path: Path, pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    local = tiny_store(tmp_path / "emb", tiny_model)
    url = upload(local, "s3://audit/emb")
    pytester.makepyfile(test_suite=SUITE)
    results = []
    for where in (str(local), url):
        out = tmp_path / f"result{len(results)}.json"
        monkeypatch.setenv("RESULT_JSON", str(out))
        run = pytester.runpytest_inprocess(*TINY, f"--clip-embeddings={where}", "--clip-no-cache")
        run.assert_outcomes(passed=1)
        results.append(json.loads(out.read_text()))
    assert [r["where"] for r in results] == [str(local), url]
    assert results[0]["result"] == results[1]["result"]
    verdicts = {row["region"]: row["verdict"] for row in results[1]["result"]["table"]}
    assert verdicts["South"] == "fail"
    shutil.rmtree(local)  # nothing local is needed; the endpoint given as a storage option
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    run = pytester.runpytest_inprocess(
        *TINY, f"--clip-embeddings={url}", "--clip-no-cache",
        f"--clip-embeddings-storage-option=client_kwargs.endpoint_url={s3}")
    run.assert_outcomes(passed=1)
    assert json.loads(out.read_text())["result"] == results[1]["result"]
    bad = pytester.runpytest_inprocess(*TINY, f"--clip-embeddings={url}",
                                       "--clip-embeddings-storage-option=endpoint")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--clip-embeddings-storage-option: expected KEY=VALUE*"])

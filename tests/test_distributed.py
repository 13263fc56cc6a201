"""Distributed ``embed`` on a real Spark (local[2]), into local folders and a real S3 API server."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_images
from s3_server import s3_environment

from pytest_clipbias import ClipModel
from pytest_clipbias.__main__ import main
from pytest_clipbias.distributed import (
    JOB_FILE,
    PARTS,
    EmbedTaskError,
    embed,
    images_from_faceset,
    images_from_parquet,
    spark_session,
)
from pytest_clipbias.embeddings import SIDECAR, EmbeddingStore, PrecomputedEncoder

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install "
                    "'pytest-clipbias[distributed]')")
TINY = ["--clip-model", "clipbias-tiny", "--clip-pretrained", "none", "--clip-device", "cpu"]


@pytest.fixture(scope="module")
def spark():
    """One Spark session in local mode for the module (it costs seconds to start)."""
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+ (apt-get install openjdk-17-jre-headless)")
    session = spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory) -> Path:
    """60 images and a manifest: 6 partitions of 10."""
    root = tmp_path_factory.mktemp("dist")
    paths = write_images(root / "imgs", 60, seed=3)
    (root / "faces.csv").write_text("path,gender\n" + "".join(
        f"imgs/{p.name},{'F' if i % 3 else 'male'}\n" for i, p in enumerate(paths)))
    return root


@pytest.fixture(scope="module")
def single(faces_dir: Path, tmp_path_factory) -> Path:
    """The single-process embed of the manifest, as the CLI writes it."""
    out = tmp_path_factory.mktemp("single") / "emb"
    assert main(["embed", str(out), "--manifest", str(faces_dir / "faces.csv"),
                 "--shard-size", "10", *TINY]) == 0
    return out


def manifest_images(faces_dir: Path):
    from pytest_clipbias.data.loaders import load_manifest

    return images_from_faceset(load_manifest(faces_dir / "faces.csv"))


def assert_same_store(got: EmbeddingStore, want: EmbeddingStore) -> None:
    """Same shards, same rows in the same order, same metadata, same vectors to fp16 rounding."""
    assert [(s.emb_name, s.rows) for s in got.shards] == [(s.emb_name, s.rows) for s in want.shards]
    assert got.paths == want.paths
    assert got.columns() == want.columns()
    for column in got.columns()[1:]:
        assert got.faceset([column]).values(column) == want.faceset([column]).values(column)
    everything = np.arange(len(want))
    np.testing.assert_allclose(got.rows(everything), want.rows(everything), atol=2e-3)


def test_spark_embed_equals_single_process_embed_and_is_signed(
        spark, faces_dir: Path, single: Path, tiny_model: ClipModel, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    report = embed(manifest_images(faces_dir), tiny_model, tmp_path / "emb", shard_size=10,
                   engine="spark", on_progress=lambda done, total: seen.append((done, total)))
    assert report.encoded == list(range(6)) and report.kept == [] and report.rows == 60
    assert seen[-1] == (60, 60) and np.all(np.diff([done for done, _ in seen]) > 0)
    store = EmbeddingStore(tmp_path / "emb")
    PrecomputedEncoder(tiny_model, store)  # signed by the model under test
    sidecar = json.loads((tmp_path / "emb" / SIDECAR).read_text())
    assert [r["emb"] for r in sidecar["shards"]] == [f"img_emb_{i}.npy" for i in range(6)]
    assert_same_store(store, EmbeddingStore(single))
    direct = tiny_model.encode_images(store.paths)  # an independent reference: the model itself
    np.testing.assert_allclose(store.rows(np.arange(60)), direct, atol=2e-3)
    assert store.faceset().values("gender")[:3] == ["male", "female", "female"]
    assert sorted(p.name for p in (tmp_path / "emb").iterdir()) == [
        SIDECAR, "img_emb", "metadata"]  # the job's own files are gone: the plain layout
    with pytest.raises(ValueError, match="already holds embeddings"):
        embed(manifest_images(faces_dir), tiny_model, tmp_path / "emb", shard_size=10)


def test_a_failed_partition_is_redone_alone_on_rerun(
        spark, faces_dir: Path, single: Path, tiny_model: ClipModel, tmp_path: Path) -> None:
    """Partition 5 fails on a broken image; Spark kills the task still running; rerun finishes."""
    work = tmp_path / "work"
    shutil.copytree(faces_dir, work)
    broken = sorted((work / "imgs").iterdir())[50]
    good = broken.read_bytes()
    broken.write_bytes(good[: len(good) // 3])  # truncated JPEG
    images = manifest_images(work)
    out = tmp_path / "emb"
    with pytest.raises(EmbedTaskError, match=rf"partition 5 .*{broken.name}.*rerun the same "
                                             "command"):
        embed(images, tiny_model, out, shard_size=10, engine="spark")
    assert not (out / SIDECAR).exists()  # an unfinished store never looks finished
    with pytest.raises(ValueError, match=r"has no clipbias\.json"):
        PrecomputedEncoder(tiny_model, out)
    finished = sorted(int(p.stem.split("_")[1]) for p in (out / PARTS).glob("part_*.json"))
    assert {0, 1, 2, 3} <= set(finished) and 5 not in finished
    stamps = {i: (out / "img_emb" / f"img_emb_{i}.npy").stat().st_mtime_ns for i in finished}
    broken.write_bytes(good)
    report = embed(images, tiny_model, out, shard_size=10, engine="spark")
    assert report.kept == finished and report.encoded == sorted(set(range(6)) - set(finished))
    assert stamps == {i: (out / "img_emb" / f"img_emb_{i}.npy").stat().st_mtime_ns
                      for i in finished}  # finished partitions were not written again
    single_store = EmbeddingStore(single)
    store = EmbeddingStore(out)
    PrecomputedEncoder(tiny_model, store)
    np.testing.assert_allclose(store.rows(np.arange(60)), single_store.rows(np.arange(60)),
                               atol=2e-3)
    assert [p.replace(str(work), str(faces_dir)) for p in store.paths] == single_store.paths


def test_another_job_in_an_unfinished_folder_is_refused(faces_dir: Path, tiny_model: ClipModel,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "emb"
    (out).mkdir()
    (out / JOB_FILE).write_text(json.dumps({"input": "other"}))
    with pytest.raises(ValueError, match=r"clipbias-job\.json: this folder holds an unfinished "
                                         r"embed of other images"):
        embed(manifest_images(faces_dir), tiny_model, out, shard_size=10)


def test_parquet_of_s3_urls_to_s3_keeps_column_types(
        spark, faces_dir: Path, tiny_model: ClipModel) -> None:
    """Images and output on a real S3 API server; executors get the endpoint as storage options."""
    import fsspec

    with s3_environment() as endpoint:
        fs = fsspec.filesystem("s3")
        fs.mkdir("data")
        paths = sorted((faces_dir / "imgs").iterdir())[:25]
        for p in paths:
            fs.pipe_file(f"data/imgs/{p.name}", p.read_bytes())
        table = pa.table({"url": [f"s3://data/imgs/{p.name}" for p in paths],
                          "age": pa.array(range(20, 45), pa.int64()),
                          "gender": ["female", "male", "female", "male", "female"] * 5})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        fs.pipe_file("data/images.parquet", buf.getvalue())
        options = {"client_kwargs": {"endpoint_url": endpoint}, "key": "testing",
                   "secret": "testing"}
        images = images_from_parquet("s3://data/images.parquet", storage_options=options)
        report = embed(images, tiny_model, "s3://data/emb", shard_size=10, engine="spark",
                       storage_options=options)
        assert report.partitions == 3 and report.out == "s3://data/emb"
        store = EmbeddingStore("s3://data/emb", storage_options=options)
        PrecomputedEncoder(tiny_model, store)
        meta = pq.read_table(io.BytesIO(fs.cat_file("data/emb/metadata/metadata_2.parquet")))
        assert meta.schema.field("age").type == pa.int64()
        assert meta.column("age").to_pylist() == list(range(40, 45))
        assert store.paths[:2] == [f"s3://data/imgs/{p.name}" for p in paths[:2]]
        np.testing.assert_allclose(store.rows(np.arange(25)), tiny_model.encode_images(paths),
                                   atol=2e-3)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CLIPBIAS_SLOW") != "1",
                    reason="the 2,000-image acceptance run takes minutes: CLIPBIAS_SLOW=1 runs it; "
                    "the 60-image tests above cover the same behaviour")
def test_2000_images_killed_mid_way_then_resumed_equal_single_process(tmp_path: Path) -> None:
    """The acceptance run: Spark local[2] in its own process, SIGKILLed mid-way, run again."""
    import signal
    import subprocess
    import sys
    import time

    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+ (apt-get install openjdk-17-jre-headless)")
    paths = write_images(tmp_path / "imgs", 2_000, seed=9, size=(32, 32))
    manifest = tmp_path / "faces.csv"
    manifest.write_text("path,gender\n" + "".join(
        f"imgs/{p.name},{'female' if i % 2 else 'male'}\n" for i, p in enumerate(paths)))
    single, out = tmp_path / "single", tmp_path / "spark"
    args = ["--manifest", str(manifest), "--shard-size", "100", *TINY]
    assert main(["embed", str(single), *args]) == 0
    command = [sys.executable, "-m", "pytest_clipbias", "embed", str(out), *args,
               "--engine", "spark", "--spark-master", "local[2]"]
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while len(list(out.glob(f"{PARTS}/part_*.json"))) < 4 and time.time() < deadline:
        assert first.poll() is None, "the first run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # driver, JVM and Python workers, tasks mid-way
    first.wait()
    finished = sorted(int(p.stem.split("_")[1]) for p in out.glob(f"{PARTS}/part_*.json"))
    assert 4 <= len(finished) < 20 and not (out / SIDECAR).exists()
    stamps = {i: (out / "img_emb" / f"img_emb_{i:02d}.npy").stat().st_mtime_ns for i in finished}
    again = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"kept {len(finished)} partitions finished by an earlier run, encoded " \
           f"{20 - len(finished)}" in again.stderr
    assert stamps == {i: (out / "img_emb" / f"img_emb_{i:02d}.npy").stat().st_mtime_ns
                      for i in finished}
    store, reference = EmbeddingStore(out), EmbeddingStore(single)
    PrecomputedEncoder(ClipModel.load("clipbias-tiny", "none", device="cpu"), store)
    assert_same_store(store, reference)

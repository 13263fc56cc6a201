"""``python -m pytest_clipbias embed`` and ``--clip-embeddings``: embed once, audit anywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_images

from pytest_clipbias import ClipModel
from pytest_clipbias.__main__ import main
from pytest_clipbias.embeddings import SIDECAR, EmbeddingStore

TINY = ["--clip-model", "clipbias-tiny", "--clip-pretrained", "none", "--clip-device", "cpu"]


@pytest.fixture
def embedded(tmp_path: Path, tiny_model: ClipModel) -> tuple[Path, np.ndarray]:
    paths = write_images(tmp_path / "imgs", 10)
    manifest = tmp_path / "faces.csv"
    manifest.write_text("path,gender\n" + "".join(
        f"imgs/{p.name},{'female' if i % 2 else 'male'}\n" for i, p in enumerate(paths)))
    out = tmp_path / "emb"
    assert main(["embed", str(out), "--manifest", str(manifest), "--shard-size", "4", *TINY]) == 0
    return out, tiny_model.encode_images(paths)


def test_embed_writes_the_layout_with_the_model_fingerprint(embedded, tiny_model) -> None:
    out, direct = embedded
    assert sorted(p.name for p in (out / "img_emb").iterdir()) == [
        "img_emb_0.npy", "img_emb_1.npy", "img_emb_2.npy"]
    meta = json.loads((out / SIDECAR).read_text())
    assert meta["model_fingerprint"] == tiny_model.fingerprint and meta["rows"] == 10
    store = EmbeddingStore(out)
    assert store.dtype == np.float16
    np.testing.assert_allclose(store.rows(np.arange(10)), direct, atol=2e-3)
    assert store.faceset().values("gender")[:2] == ["male", "female"]


def test_bad_input_exits_2_with_a_message(tmp_path: Path, capsys) -> None:
    assert main(["embed", str(tmp_path / "o"), *TINY]) == 2
    assert "--manifest, --parquet or --dataset" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "o"), "--manifest", str(tmp_path / "no.csv"),
                 *TINY]) == 2
    assert "no.csv" in capsys.readouterr().err


def test_sign_an_unsigned_folder(embedded) -> None:
    out, _ = embedded
    (out / SIDECAR).unlink()
    assert main(["embed", "--sign", str(out), *TINY]) == 0
    assert json.loads((out / SIDECAR).read_text())["model"] == "clipbias-tiny"


SUITE = """
import numpy as np
from pytest_clipbias.embeddings import PrecomputedEncoder

def test_audit(clip_model, clip_embeddings):
    assert isinstance(clip_model, PrecomputedEncoder)
    faces = clip_embeddings.faceset()
    emb = clip_model.encode_images(faces.images)
    assert emb.shape == (10, clip_model.dim)
    assert clip_model.encode_texts(["a photo"]).shape == (1, clip_model.dim)
"""


def test_option_audits_without_the_images(embedded, pytester: pytest.Pytester) -> None:
    out, _ = embedded
    shutil.rmtree(out.parent / "imgs")  # nothing can be decoded: the images are gone
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_inprocess(*TINY, f"--clip-embeddings={out}", "--clip-no-cache")
    result.assert_outcomes(passed=1)
    other = pytester.runpytest_inprocess(*TINY, "--clip-seed=1", f"--clip-embeddings={out}",
                                         "--clip-no-cache")
    other.assert_outcomes(errors=1)
    other.stdout.fnmatch_lines(["*embeddings were made by model 'clipbias-tiny'*Re-embed*"])


def test_parquet_input_keeps_types_and_an_interrupted_run_resumes(
        tmp_path: Path, tiny_model: ClipModel, capsys) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = write_images(tmp_path / "imgs", 9)
    pq.write_table(pa.table({"path": [f"imgs/{p.name}" for p in paths],
                             "age": pa.array(range(30, 39), pa.int64()),
                             "gender": ["female", "male", "F"] * 3}), tmp_path / "in.parquet")
    good = paths[7].read_bytes()
    paths[7].write_bytes(b"not an image")
    out = tmp_path / "emb"
    args = ["embed", str(out), "--parquet", str(tmp_path / "in.parquet"), "--shard-size", "3",
            *TINY]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "partition 2 (images 6..8) failed" in err and paths[7].name in err
    assert "rerun the same command" in err and not (out / SIDECAR).exists()
    first = {p.name: p.stat().st_mtime_ns for p in (out / "img_emb").iterdir()}
    assert sorted(first) == ["img_emb_0.npy", "img_emb_1.npy"]
    paths[7].write_bytes(good)
    assert main(args) == 0
    assert "kept 2 partitions finished by an earlier run, encoded 1" in capsys.readouterr().err
    assert {n: (out / "img_emb" / n).stat().st_mtime_ns for n in first} == first
    store = EmbeddingStore(out)
    assert store.paths == [str(p) for p in paths]
    assert pq.read_schema(out / "metadata" / "metadata_1.parquet").field("age").type == pa.int64()
    assert store.faceset(["gender"]).values("gender")[:3] == ["female", "male", "female"]
    np.testing.assert_allclose(store.rows(np.arange(9)), tiny_model.encode_images(paths),
                               atol=2e-3)

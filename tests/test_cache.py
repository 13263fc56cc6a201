"""The embedding cache: content addressing, integrity, recovery, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3

import numpy as np
import pytest

from pytest_clipbias import CacheWarning, ClipModel, EmbeddingCache


def _vectors(n: int, seed: int = 0, d: int = 8) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(f"key{i}", rng.standard_normal(d).astype(np.float32)) for i in range(n)]


def test_round_trip_and_stats(tmp_path):
    cache = EmbeddingCache(tmp_path)
    items = _vectors(3)
    cache.put_many("fp", "image", items)
    got = cache.get_many("fp", "image", ["key0", "key2", "absent"])
    assert set(got) == {"key0", "key2"}
    np.testing.assert_array_equal(got["key2"], items[2][1])
    assert cache.stats.hits["image"] == 2 and cache.stats.misses["image"] == 1
    # other fingerprints and kinds never see these rows
    assert cache.get_many("other", "image", ["key0"]) == {}
    assert cache.get_many("fp", "text", ["key0"]) == {}


def test_first_vector_wins(tmp_path):
    cache = EmbeddingCache(tmp_path)
    first = np.ones(4, dtype=np.float32)
    cache.put_many("fp", "text", [("k", first)])
    cache.put_many("fp", "text", [("k", np.zeros(4, dtype=np.float32))])
    np.testing.assert_array_equal(cache.get_many("fp", "text", ["k"])["k"], first)


def test_many_keys_beyond_sqlite_parameter_limit(tmp_path):
    cache = EmbeddingCache(tmp_path)
    items = _vectors(2500, d=4)
    cache.put_many("fp", "image", items)
    got = cache.get_many("fp", "image", [k for k, _ in items])
    assert len(got) == 2500


def test_garbage_file_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "embeddings.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    cache = EmbeddingCache(tmp_path)
    with pytest.warns(CacheWarning, match=r"unusable.*moved it to"):
        cache.put_many("fp", "image", _vectors(2))
    assert len(cache.get_many("fp", "image", ["key0", "key1"])) == 2
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert aside and aside[0].read_bytes().startswith(b"this is not a database")


def test_foreign_sqlite_file_is_not_used(tmp_path):
    path = tmp_path / "embeddings.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    cache = EmbeddingCache(tmp_path)
    with pytest.warns(CacheWarning, match=r"not a pytest-clipbias cache"):
        assert cache.get_many("fp", "image", ["k"]) == {}
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_damaged_row_is_dropped_never_returned(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put_many("fp", "image", _vectors(2))
    cache.close()
    conn = sqlite3.connect(tmp_path / "embeddings.sqlite3")
    blob = conn.execute("SELECT vector FROM embeddings WHERE key='key0'").fetchone()[0]
    flipped = bytes([blob[0] ^ 0xFF]) + blob[1:]
    conn.execute("UPDATE embeddings SET vector = ? WHERE key = 'key0'", (flipped,))
    conn.execute("UPDATE embeddings SET dim = 99 WHERE key = 'key1'")
    conn.commit()
    conn.close()
    cache = EmbeddingCache(tmp_path)
    with pytest.warns(CacheWarning, match=r"2 damaged entries"):
        assert cache.get_many("fp", "image", ["key0", "key1"]) == {}
    assert cache.stats.dropped == 2
    assert cache.count() == 0


def test_corruption_during_use_recovers(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put_many("fp", "image", _vectors(2))
    cache.close()
    (tmp_path / "embeddings.sqlite3").write_bytes(os.urandom(4096))
    with pytest.warns(CacheWarning):
        assert cache.get_many("fp", "image", ["key0"]) == {}


def test_unusable_cache_dir_falls_back_with_one_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = EmbeddingCache(blocker / "sub")
    with pytest.warns(CacheWarning, match=r"cannot be used.*--clip-cache-dir.*--clip-no-cache"):
        assert cache.get_many("fp", "image", ["k"]) == {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second use is silent
        cache.put_many("fp", "image", _vectors(1))
        assert cache.get_many("fp", "image", ["key0"]) == {}
    assert cache.disabled.startswith(("NotADirectoryError", "FileExistsError"))


def test_garbage_over_inner_pages_recovers_with_a_warning(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put_many("fp", "image", _vectors(400, d=64))
    cache.close()
    path = tmp_path / "embeddings.sqlite3"
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096  # header page and schema intact, inner pages overwritten
    data[4 * 4096 : len(data) - 4096] = os.urandom(len(data) - 5 * 4096)
    path.write_bytes(bytes(data))
    again = EmbeddingCache(tmp_path)
    with pytest.warns(CacheWarning, match=r"unusable \(database error during use.*moved it to"):
        found = again.get_many("fp", "image", [f"key{i}" for i in range(400)])
    assert found == {} and again.disabled is None
    again.put_many("fp", "image", _vectors(2))
    assert len(again.get_many("fp", "image", ["key0", "key1"])) == 2
    assert [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_altered_schema_is_rebuilt(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put_many("fp", "image", _vectors(2))
    cache.close()
    conn = sqlite3.connect(tmp_path / "embeddings.sqlite3")
    conn.execute("ALTER TABLE embeddings RENAME COLUMN vector TO blob")
    conn.commit()
    conn.close()
    again = EmbeddingCache(tmp_path)
    with pytest.warns(CacheWarning, match="moved it to"):
        assert again.get_many("fp", "image", ["key0"]) == {}
    again.put_many("fp", "image", _vectors(1))
    assert len(again.get_many("fp", "image", ["key0"])) == 1


def test_full_or_readonly_storage_falls_back(tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)
    cache.put_many("fp", "image", _vectors(2))

    def full(*args):
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorcode = 13  # SQLITE_FULL
        raise exc

    monkeypatch.setattr(cache, "_insert", full)
    with pytest.warns(CacheWarning, match=r"disk is full.*--clip-no-cache"):
        cache.put_many("fp", "image", _vectors(3))
    assert cache.disabled and not list(tmp_path.glob("*.corrupt-*"))
    assert cache.get_many("fp", "image", ["key0"]) == {}  # off for the rest of the process


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_readonly_file_falls_back(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put_many("fp", "image", _vectors(2))
    cache.close()
    for p in tmp_path.iterdir():
        p.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        again = EmbeddingCache(tmp_path)
        with pytest.warns(CacheWarning, match="--clip-no-cache"):
            again.put_many("fp", "image", _vectors(3))
    finally:
        tmp_path.chmod(0o755)


def test_close_checkpoints_the_wal_so_the_main_file_alone_keeps_entries(tmp_path):
    cache = EmbeddingCache(tmp_path / "a")
    cache.put_many("fp", "image", _vectors(5))
    cache.close()
    copy = tmp_path / "b"
    copy.mkdir()
    (copy / "embeddings.sqlite3").write_bytes((tmp_path / "a" / "embeddings.sqlite3").read_bytes())
    assert len(EmbeddingCache(copy).get_many("fp", "image", [f"key{i}" for i in range(5)])) == 5


def _writer(directory: str, worker: int, n: int) -> None:
    cache = EmbeddingCache(directory)
    for start in range(0, n, 10):  # many small transactions, interleaved with the other worker
        items = [(f"shared{i}", np.full(4, i, np.float32)) for i in range(start, start + 10)]
        items += [(f"w{worker}-{i}", np.full(4, -i, np.float32)) for i in range(start, start + 10)]
        cache.put_many("fp", "image", items)
        cache.get_many("fp", "image", [k for k, _ in items])


def test_concurrent_writers_share_one_file(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 200)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    cache = EmbeddingCache(tmp_path)
    assert cache.count() == 200 + 2 * 200
    got = cache.get_many("fp", "image", [f"shared{i}" for i in range(200)])
    assert all(float(v[0]) == i for i, v in enumerate(got[f"shared{i}"] for i in range(200)))


def _crash_mid_transaction(directory: str) -> None:
    cache = EmbeddingCache(directory)
    conn = cache._connect()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO embeddings VALUES ('fp', 'image', 'half', 4, x'00000000', x'00')"
    )
    os._exit(1)  # the process dies with the transaction open


def test_crash_never_corrupts_earlier_results(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put_many("fp", "image", _vectors(3))
    cache.close()
    proc = mp.get_context("spawn").Process(target=_crash_mid_transaction, args=(str(tmp_path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 1
    cache = EmbeddingCache(tmp_path)
    got = cache.get_many("fp", "image", ["key0", "key1", "key2", "half"])
    assert set(got) == {"key0", "key1", "key2"}


def test_model_second_pass_is_served_from_cache(tmp_path, images, monkeypatch):
    model = ClipModel.load("clipbias-tiny", None, device="cpu", cache_dir=tmp_path / "c")
    cold = model.encode_images(images)
    texts_cold = model.encode_texts(["a", "b", "a"])
    assert model.cache.stats.misses == {"image": len(images), "text": 3}

    def forbidden(*args, **kwargs):
        raise AssertionError("the model ran although every vector was cached")

    warm_model = ClipModel.load("clipbias-tiny", None, device="cpu", cache_dir=tmp_path / "c")
    monkeypatch.setattr(warm_model, "_encode_pixels", forbidden)
    monkeypatch.setattr(warm_model, "_encode_text_tokens", forbidden)
    np.testing.assert_array_equal(warm_model.encode_images(images), cold)
    np.testing.assert_array_equal(warm_model.encode_texts(["a", "b", "a"]), texts_cold)
    assert warm_model.cache.stats.hits == {"image": len(images), "text": 3}


def test_cache_never_crosses_models(tmp_path, images):
    a = ClipModel.load("clipbias-tiny", None, device="cpu", seed=0, cache_dir=tmp_path)
    b = ClipModel.load("clipbias-tiny", None, device="cpu", seed=1, cache_dir=tmp_path)
    ea = a.encode_images(images)
    eb = b.encode_images(images)
    assert b.cache.stats.hits["image"] == 0
    assert not np.allclose(ea, eb)


def test_a_bare_key_or_a_mapping_is_refused_not_split(tmp_path):
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(TypeError, match=r"single key 'abc'.*\[key\]"):
        cache.get_many("fp", "image", "abc")
    with pytest.raises(TypeError, match=r"got a mapping.*list\(mapping\.items\(\)\)"):
        cache.put_many("fp", "image", {"k": np.ones(4, np.float32)})
    assert cache.count() == 0

"""Content fingerprints: same content, same fingerprint, in any folder, order or process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from pytest_clipbias import FaceItem, FaceSet, MorphSeries, identity
from pytest_clipbias.data.registry import open_morphs
from pytest_clipbias.data.synthetic import synthetic_morph_series
from pytest_clipbias.identity import data_fingerprint, describe_fingerprint, fingerprint


def _png(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)


def _faces(folder, order=(0, 1, 2)):
    specs = [("a.png", 10, "female"), ("b.png", 20, "male"), ("c.png", 30, "female")]
    for name, value, _ in specs:
        if not (folder / name).exists():
            _png(folder / name, value)
    return FaceSet([FaceItem(str(folder / specs[i][0]), {"gender": specs[i][2]})
                    for i in order], name=str(folder))


def test_faceset_is_identified_by_file_bytes_not_folder_or_order(tmp_path):
    here = _faces(tmp_path / "one")
    shutil.copytree(tmp_path / "one", tmp_path / "elsewhere" / "two")
    there = _faces(tmp_path / "elsewhere" / "two", order=(2, 0, 1))
    assert there.fingerprint == here.fingerprint
    assert data_fingerprint(there) == data_fingerprint(here) == here.fingerprint
    relabelled = FaceSet([FaceItem(here[0].image, {"gender": "male"}), *here[1:]])
    assert relabelled.fingerprint != here.fingerprint
    before = here.fingerprint
    _png(tmp_path / "one" / "a.png", 11)  # same name and size, other pixels
    assert here.fingerprint != before


def test_fingerprint_is_the_same_in_another_process_and_folder(tmp_path):
    _faces(tmp_path / "one")
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    code = ("import sys; from pytest_clipbias import FaceItem, FaceSet; "
            "print(FaceSet([FaceItem(sys.argv[1] + '/' + n, {'gender': 'female'}) "
            "for n in ('a.png', 'b.png')]).fingerprint)")
    outs = {subprocess.run([sys.executable, "-c", code, str(tmp_path / d)], check=True,
                           capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": s},
                           cwd=tmp_path / d).stdout for d, s in (("one", "1"), ("two", "2"))}
    assert len(outs) == 1 and len(outs.pop().strip()) == 16


def test_missing_file_is_named(tmp_path):
    faces = FaceSet([FaceItem(str(tmp_path / "gone.png"), {"gender": "female"})])
    with pytest.raises(identity.DataIdentityError, match=r"gone\.png"):
        _ = faces.fingerprint


def test_arrays_and_pil_images_by_pixels():
    arr = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert fingerprint(arr) == fingerprint(arr.copy()) == fingerprint(Image.fromarray(arr))
    assert fingerprint(np.asfortranarray(arr)) == fingerprint(arr)
    changed = arr.copy()
    changed[0, 0, 0] += 1
    assert fingerprint(changed) != fingerprint(arr)
    assert fingerprint(arr.reshape(4, 12)) != fingerprint(arr)  # same bytes, other shape


def test_synthetic_morph_series_are_identified_by_content():
    def build():
        return synthetic_morph_series("Black", "White", gender="female", n_series=2, steps=3,
                                      size=32)

    first, second = build(), build()
    assert first[0].images[0] is not second[0].images[0]
    assert data_fingerprint(first) == data_fingerprint(second)
    assert data_fingerprint(second[::-1]) == data_fingerprint(first)  # series order is free
    s = first[0]
    renamed = MorphSeries("other-id", s.images, s.alphas, s.source, s.target, s.attributes)
    assert data_fingerprint([renamed, first[1]]) == data_fingerprint(first)
    frames_swapped = MorphSeries(s.series_id, [s.images[1], s.images[0], s.images[2]],
                                 s.alphas, s.source, s.target, s.attributes)
    assert data_fingerprint([frames_swapped, first[1]]) != data_fingerprint(first)


@dataclass(frozen=True)
class _Planted:
    weights: dict
    seed: int


class _Opaque:
    pass


class _Own:
    def __clipbias_fingerprint__(self):
        return "v1"


def test_plain_values_dataclasses_and_unidentifiable_objects():
    assert fingerprint(_Planted({"a": 1.0}, 3)) == fingerprint(_Planted({"a": 1.0}, 3))
    assert fingerprint(_Planted({"a": 1.0}, 3)) != fingerprint(_Planted({"a": 1.0}, 4))
    assert fingerprint(["x", "y"]) != fingerprint(["y", "x"])  # plain lists keep their order
    assert fingerprint({"x", "y"}) == fingerprint({"y", "x"})
    assert fingerprint(_Own()) == fingerprint(_Own())
    one, two = data_fingerprint([_Opaque()]), data_fingerprint([_Opaque()])
    assert one != two and "_Opaque objects" in describe_fingerprint(one)
    assert describe_fingerprint(data_fingerprint([1, 2])) == ""
    with pytest.raises(TypeError, match="cannot identify a _Opaque by content"):
        fingerprint(_Opaque())


def test_files_are_read_once_per_session(tmp_path, monkeypatch):
    _faces(tmp_path)
    identity.clear_file_cache()
    reads = []
    real_open = open
    monkeypatch.setattr(identity, "open", lambda *a, **k: reads.append(a[0]) or real_open(*a, **k),
                        raising=False)
    for name in ("a.png", "b.png", "c.png"):  # older than the 2 s "racy" window
        os.utime(tmp_path / name, ns=(10**18, 10**18 + 7))
    first = _faces(tmp_path).fingerprint
    assert _faces(tmp_path).fingerprint == first and len(reads) == 3
    _png(tmp_path / "b.png", 99)  # rewritten just now: read again, never served stale
    assert _faces(tmp_path).fingerprint != first and len(reads) == 4
    assert _faces(tmp_path).fingerprint != first and len(reads) == 5


def test_cfd_morph_cache_is_keyed_by_parent_content(tmp_path):
    def parents(root, white_value):
        for name, value in (("CFD-BF-001-001-N.jpg", 40), ("CFD-WF-010-001-N.jpg", white_value)):
            _png(root / "cfd" / name, value)

    def build(root):
        return open_morphs("cfd", data_root=root, base_dir=tmp_path, work_dir=tmp_path / "work",
                           pairs=[("Black", "White")], genders=["female"], n_series=1, steps=3,
                           size=(8, 8))

    parents(tmp_path / "a", 200)
    first = build(tmp_path / "a")
    parents(tmp_path / "b", 200)
    assert data_fingerprint(build(tmp_path / "b")) == data_fingerprint(first)
    assert len(list((tmp_path / "work").iterdir())) == 1  # same parents elsewhere: reused
    parents(tmp_path / "a", 100)  # the White parent replaced in place
    replaced = build(tmp_path / "a")
    assert np.asarray(Image.open(replaced[0].images[-1]))[0, 0, 0] == 100
    assert data_fingerprint(replaced) != data_fingerprint(first)

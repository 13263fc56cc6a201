"""Nothing silently wrong (issue 13): every careless input errors naming the culprit, or works.

``CASES`` is the table: one row per case from the robustness pass, each a
function that builds the bad input in a temporary folder and either returns
normally (correct handling, checked inside) or raises; the row says which
exception type and which message (the named file, row, value or option) is
expected. The end-to-end cases (pytest options at start-up, ini paths, lost
reports) run pytest in-process below the table, and the hypothesis fuzz
tests close the file.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pytest_clipbias import (
    BiasInconclusiveError,
    CacheWarning,
    ClipModel,
    EmbeddingCache,
    FaceItem,
    FaceSet,
)
from pytest_clipbias._io import atomic_write_text
from pytest_clipbias.data import DatasetError, load_folders, load_manifest, load_series_folder
from pytest_clipbias.errors import (
    ClipBiasError,
    ConfigurationError,
    ImageLoadError,
    ModelUnavailableError,
    OutputError,
)
from pytest_clipbias.images import decode_image, prepare
from pytest_clipbias.report.baseline import BaselineError, Storage
from pytest_clipbias.testing import (
    PlantedEncoder,
    PlantedImage,
    planted_faces,
    planted_morph_series,
)


def _png(path: Path, color=(200, 120, 40), size=(8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


# -- data ---------------------------------------------------------------------------------


def race_typo(tmp: Path) -> None:
    _png(tmp / "a.png")
    _png(tmp / "b.png")
    (tmp / "m.csv").write_text("path,race\na.png,Black\nb.png,blak\n")
    load_manifest(tmp / "m.csv")


def race_declared_extra(tmp: Path) -> None:
    _png(tmp / "a.png")
    (tmp / "m.csv").write_text("path,race\na.png,Pacific Islander\n")
    faces = load_manifest(tmp / "m.csv", extra_values={"race": ["Pacific Islander"]})
    assert faces[0]["race"] == "Pacific Islander"


def every_problem_at_once(tmp: Path) -> None:
    _png(tmp / "a.png")
    _png(tmp / "a2.png")
    (tmp / "m.csv").write_text("path,gender,country\na.png,robot,India\n"
                               "a2.png,female,Atlantis\ngone.png,male,India\n")
    load_manifest(tmp / "m.csv")


def first_twenty_of_many(tmp: Path) -> None:
    for i in range(30):
        _png(tmp / f"x{i}.png")
    (tmp / "m.csv").write_text("path,gender\n" + "".join(f"x{i}.png,robot\n" for i in range(30)))
    load_manifest(tmp / "m.csv")


def latin1_manifest(tmp: Path) -> None:
    _png(tmp / "a.png")
    (tmp / "m.csv").write_bytes("path,country\na.png,Côte d'Ivoire\n".encode("latin-1"))
    load_manifest(tmp / "m.csv")


def bom_manifest_and_alphas(tmp: Path) -> None:
    _png(tmp / "a.png")
    (tmp / "m.csv").write_bytes("path,gender\na.png,F\n".encode("utf-8-sig"))
    assert load_manifest(tmp / "m.csv")[0]["gender"] == "female"
    series = tmp / "series"
    for i in range(3):
        _png(series / f"f{i}.png", color=(i * 100, 0, 0))
    (series / "alphas.csv").write_bytes(
        "file,alpha\nf0.png,0\nf1.png,0.5\nf2.png,1\n".encode("utf-8-sig"))
    assert load_series_folder(series, source="A", target="B").alphas == (0.0, 0.5, 1.0)


def folders_gif_and_jfif(tmp: Path) -> None:
    _png(tmp / "a" / "x.png")
    Image.new("P", (8, 8), 3).save(tmp / "a" / "y.gif")
    (tmp / "b").mkdir()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp / "b" / "z.jfif", format="JPEG")
    (tmp / "b" / "notes.txt").write_text("ignored")
    faces = load_folders(tmp)
    assert sorted(Path(p).name for p in faces.images) == ["x.png", "y.gif", "z.jfif"]


def folders_unsupported_file(tmp: Path) -> None:
    _png(tmp / "a" / "x.png")
    (tmp / "a" / "photo.heic").write_bytes(b"\0" * 16)
    load_folders(tmp)


def folders_race_typo(tmp: Path) -> None:
    _png(tmp / "blak" / "x.png")
    load_folders(tmp, keys="race")


def float_tiff_converted(tmp: Path) -> None:
    Image.fromarray(np.full((6, 6), 0.8, np.float32), "F").save(tmp / "f.tif")
    rgb = prepare(tmp / "f.tif", 0).load()
    assert rgb.mode == "RGB" and np.asarray(rgb).mean() == pytest.approx(204, abs=1)


def float_tiff_out_of_range(tmp: Path) -> None:
    Image.fromarray(np.full((6, 6), -3.0, np.float32), "F").save(tmp / "neg.tif")
    prepare(tmp / "neg.tif", 0).load()


def sixteen_bit_png(tmp: Path) -> None:
    Image.fromarray(np.full((6, 6), 32768, np.uint16)).save(tmp / "deep.png")
    assert np.asarray(prepare(tmp / "deep.png", 0).load()).mean() == pytest.approx(128, abs=1)


def decompression_bomb(tmp: Path) -> None:
    _png(tmp / "big.png", size=(64, 64))
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 100  # 64x64 is more than twice this: PIL refuses it
    try:
        prepare(tmp / "big.png", 0).load()
    finally:
        Image.MAX_IMAGE_PIXELS = old


# -- reports and baselines ---------------------------------------------------------------


def report_symlink_kept(tmp: Path) -> None:
    (tmp / "real.json").write_text("old")
    (tmp / "link.json").symlink_to(tmp / "real.json")
    atomic_write_text(tmp / "link.json", "new")
    assert (tmp / "link.json").is_symlink() and (tmp / "real.json").read_text() == "new"


def report_into_fifo(tmp: Path) -> None:
    os.mkfifo(tmp / "pipe")
    try:
        atomic_write_text(tmp / "pipe", "x")
    finally:
        assert stat.S_ISFIFO(os.stat(tmp / "pipe").st_mode)


def report_into_directory(tmp: Path) -> None:
    atomic_write_text(tmp, "x")


def temp_file_removed_on_failure(tmp: Path) -> None:
    real_replace = os.replace

    def broken(*args):
        raise OSError(28, "No space left on device")

    os.replace = broken
    try:
        atomic_write_text(tmp / "out.json", "x")
    finally:
        os.replace = real_replace
        assert sorted(os.listdir(tmp)) == []


def _baseline(tmp: Path, records) -> Storage:
    (tmp / "base.json").write_text(json.dumps({"schema": _schema(), "records": records}))
    return Storage(tmp)


def _schema() -> str:
    from pytest_clipbias.report.document import SCHEMA_ID

    return SCHEMA_ID


def baseline_missing_test(tmp: Path) -> None:
    _baseline(tmp, [{"model": {}, "result": {"name": "m", "effect": 0.1, "ci": [0, 1]}}]
              ).load("base")


def baseline_model_null(tmp: Path) -> None:
    _baseline(tmp, [{"test": "t", "model": None,
                     "result": {"name": "m", "effect": 0.1, "ci": [0, 1]}}]).load("base")


def baseline_records_dict(tmp: Path) -> None:
    _baseline(tmp, {"t": {}}).load("base")


# -- cache --------------------------------------------------------------------------------


def cache_garbage_inner_pages(tmp: Path) -> None:
    cache = EmbeddingCache(tmp)
    rng = np.random.default_rng(0)
    cache.put_many("fp", "image", [(f"k{i}", rng.standard_normal(64).astype(np.float32))
                                   for i in range(300)])
    cache.close()
    data = bytearray((tmp / "embeddings.sqlite3").read_bytes())
    data[3 * 4096 : -4096] = os.urandom(len(data) - 4 * 4096)
    (tmp / "embeddings.sqlite3").write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match="moved it to"):
        assert EmbeddingCache(tmp).get_many("fp", "image", ["k0", "k1"]) == {}


def cache_disk_full(tmp: Path) -> None:
    cache = EmbeddingCache(tmp)

    def full(*args):
        raise sqlite3.OperationalError("database or disk is full")

    cache._insert = full
    with pytest.warns(CacheWarning, match="disk is full.*--clip-no-cache"):
        cache.put_many("fp", "image", [("k", np.ones(4, np.float32))])


# -- models -------------------------------------------------------------------------------


def _checkpoint(tmp: Path, data: bytes) -> None:
    (tmp / "ck.pt").write_bytes(data)
    ClipModel.load("clipbias-tiny", tmp / "ck.pt", device="cpu")


def checkpoint_empty(tmp: Path) -> None:
    _checkpoint(tmp, b"")


def checkpoint_random_bytes(tmp: Path) -> None:
    _checkpoint(tmp, np.random.default_rng(0).bytes(3000))


def checkpoint_text(tmp: Path) -> None:
    _checkpoint(tmp, b"hello\n")


def tokenizer_package_missing(tmp: Path) -> None:
    import open_clip

    real = open_clip.get_tokenizer

    def needs_transformers(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'transformers'", name="transformers")

    open_clip.get_tokenizer = needs_transformers
    try:
        ClipModel.load("clipbias-tiny", None, device="cpu")
    finally:
        open_clip.get_tokenizer = real


def bad_demo_dir(tmp: Path) -> None:
    """Weights that must be trained (none shipped) into a demo folder that cannot exist."""
    from pytest_clipbias.demo import train

    (tmp / "file").write_text("x")
    old, shipped = os.environ.get("CLIPBIAS_DEMO_DIR"), train.SHIPPED_DIR
    os.environ["CLIPBIAS_DEMO_DIR"] = str(tmp / "file" / "demo")
    train.SHIPPED_DIR = tmp / "no-shipped-weights"
    try:
        ClipModel.load("demo", device="cpu")
    finally:
        train.SHIPPED_DIR = shipped
        if old is None:
            del os.environ["CLIPBIAS_DEMO_DIR"]
        else:
            os.environ["CLIPBIAS_DEMO_DIR"] = old


# -- round two (issue 25): manifests ------------------------------------------------------


def _two_images(tmp: Path) -> None:
    _png(tmp / "a.png")
    _png(tmp / "b.png", color=(1, 2, 3))


def manifest_empty_gender_cell(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.csv").write_text("path,gender\na.png,\nb.png,male\n")
    load_manifest(tmp / "m.csv")


def manifest_empty_cell_allowed(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.csv").write_text("path,gender\na.png,\nb.png,male\n")
    faces = load_manifest(tmp / "m.csv", allow_empty=["gender"])
    assert faces.values("gender") == [None, "male"]


def manifest_allow_empty_bare_string(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.csv").write_text("path,gender\na.png,\nb.png,male\n")
    load_manifest(tmp / "m.csv", allow_empty="gender")


def jsonl_missing_key_and_null(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.jsonl").write_text('{"path": "a.png", "gender": "female"}\n{"path": "b.png"}\n'
                                 '{"path": "a.png", "gender": null}\n')
    load_manifest(tmp / "m.jsonl")


def manifest_short_row(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.csv").write_text("path,gender,race\na.png,female\nb.png,male,Black\n")
    load_manifest(tmp / "m.csv")


def manifest_repeated_column(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.csv").write_text("path,gender,gender\na.png,female,male\n")
    load_manifest(tmp / "m.csv")


def jsonl_repeated_key(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.jsonl").write_text('{"path": "a.png", "gender": "female", "gender": "male"}\n')
    load_manifest(tmp / "m.jsonl")


def manifest_unterminated_quote(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "m.csv").write_text('path,gender\na.png,"female\nb.png,male\nc.png,male\n')
    load_manifest(tmp / "m.csv")


def manifest_symlink_loop_folder(tmp: Path) -> None:
    _two_images(tmp)
    (tmp / "loop").symlink_to(tmp / "loop")
    (tmp / "m.csv").write_text("path,gender\nloop/x.png,female\na.png,male\n")
    load_manifest(tmp / "m.csv")


def manifest_symlink_loop_beside_images(tmp: Path) -> None:
    """A looping link in the folder hides nothing but itself."""
    _two_images(tmp)
    (tmp / "self.png").symlink_to(tmp / "self.png")
    (tmp / "m.csv").write_text("path,gender\na.png,female\nb.png,male\nself.png,male\n")
    load_manifest(tmp / "m.csv")


def manifest_skip_drops_every_row(tmp: Path) -> None:
    (tmp / "m.csv").write_text("path,gender\ngone/a.png,female\ngone/b.png,male\n")
    load_manifest(tmp / "m.csv", on_missing="skip")


def folders_without_keys(tmp: Path) -> None:
    _png(tmp / "Black" / "a.png")
    load_folders(tmp, keys=[])


def folders_repeated_key(tmp: Path) -> None:
    _png(tmp / "Black" / "female" / "a.png")
    load_folders(tmp, keys=["race", "race"])


def folders_link_loop(tmp: Path) -> None:
    _png(tmp / "Black" / "a.png")
    (tmp / "Black" / "b.png").symlink_to(tmp / "Black" / "b.png")
    load_folders(tmp, keys="race")


def twelve_image_manifest_says_why(tmp: Path) -> None:
    from pytest_clipbias import assert_region_gender_skew_below

    rows = []
    for i in range(12):
        _png(tmp / f"f{i}.png", color=(20 * i, 100, 50))
        rows.append(f"f{i}.png,{'female' if i % 2 else 'male'},Europe\n")
    (tmp / "m.csv").write_text("path,gender,region\n" + "".join(rows))
    faces = load_manifest(tmp / "m.csv")
    model = ClipModel.load("clipbias-tiny", None, device="cpu")
    assert_region_gender_skew_below(model, faces, labels=["nurse", "pilot"], threshold=0.3)


# -- round two: helper arguments ----------------------------------------------------------

_ENC = PlantedEncoder(["nurse", "engineer", "criminal", "person", "Black", "White", "doctor"])


def _skewed_faces(extra=None):
    faces = planted_faces({"female": 30, "male": 30}, key="gender",
                          extra={"region": "A", "race": "Black", **(extra or {})},
                          weights={"female": {"nurse": 1.0}, "male": {"engineer": 1.0}})
    return faces


def region_identical_genders(tmp: Path) -> None:
    from pytest_clipbias import audit_region_gender_skew

    audit_region_gender_skew(_ENC, _skewed_faces(), labels=["nurse", "engineer"],
                             threshold=0.3, genders=("female", "female"))


def region_three_genders(tmp: Path) -> None:
    from pytest_clipbias import audit_region_gender_skew

    audit_region_gender_skew(_ENC, _skewed_faces(), labels=["nurse", "engineer"],
                             threshold=0.3, genders=("female", "male", "nonbinary"))


def region_faces_without_gender(tmp: Path) -> None:
    from pytest_clipbias import audit_region_gender_skew

    faces = _skewed_faces() + FaceSet([FaceItem(PlantedImage({"nurse": 1.0}), {"region": "A"})])
    audit_region_gender_skew(_ENC, faces, labels=["nurse", "engineer"], threshold=0.3)


def region_other_genders_counted_out(tmp: Path) -> None:
    from pytest_clipbias import audit_region_gender_skew

    others = planted_faces({"nonbinary": 7}, key="gender", extra={"region": "A"},
                           weights={"nonbinary": {"doctor": 1.0}}, seed=5)
    result = audit_region_gender_skew(_ENC, _skewed_faces() + others,
                                      labels=["nurse", "engineer"], threshold=0.3)
    assert result.verdict == "fail" and result.n == 60
    assert "Compared 60 of 67 faces: 7 with gender ['nonbinary']" in result.message


def region_same_key_twice(tmp: Path) -> None:
    from pytest_clipbias import audit_region_gender_skew

    audit_region_gender_skew(_ENC, _skewed_faces(), labels=["nurse", "engineer"],
                             threshold=0.3, region_key="gender")


def repeated_labels(tmp: Path) -> None:
    from pytest_clipbias import audit_region_gender_skew

    audit_region_gender_skew(_ENC, _skewed_faces(), labels=["nurse", "nurse"], threshold=0.3)


def parity_by_empty(tmp: Path) -> None:
    from pytest_clipbias import audit_label_rate_parity

    audit_label_rate_parity(_ENC, _skewed_faces(), label="criminal", candidates=["nurse"],
                            by=[], threshold=0.2)


def parity_label_among_candidates(tmp: Path) -> None:
    from pytest_clipbias import audit_label_rate_parity

    audit_label_rate_parity(_ENC, _skewed_faces(), label="criminal",
                            candidates=["nurse", "criminal"], by="gender", threshold=0.2)


def parity_identical_cue_values(tmp: Path) -> None:
    from pytest_clipbias import audit_label_rate_parity

    audit_label_rate_parity(_ENC, _skewed_faces({"hat": "yes"}), label="criminal",
                            candidates=["nurse"], by="gender", cue="hat",
                            cue_values=("yes", "yes"), threshold=0.2)


def hypodescent_endpoint_accuracy_above_one(tmp: Path) -> None:
    from pytest_clipbias import audit_hypodescent

    series = planted_morph_series("Black", "White", n_series=5, midpoint_rate=0.8)
    audit_hypodescent(_ENC, series, min_endpoint_accuracy=1.5)


def hypodescent_minority_is_majority(tmp: Path) -> None:
    from pytest_clipbias import audit_hypodescent

    series = planted_morph_series("Black", "White", n_series=5, midpoint_rate=0.8)
    audit_hypodescent(_ENC, series, minority="White", majority="White")


def hypodescent_same_label_text(tmp: Path) -> None:
    from pytest_clipbias import audit_hypodescent

    series = planted_morph_series("Black", "White", n_series=5, midpoint_rate=0.8)
    audit_hypodescent(_ENC, series, label_text={"Black": "dark", "White": "dark"})


def person_default_same_label_text(tmp: Path) -> None:
    from pytest_clipbias import audit_person_default

    faces = planted_faces({"Black": 5, "White": 5}, weights={"Black": {"Black": 1.0},
                                                             "White": {"White": 1.0}})
    audit_person_default(_ENC, faces, label_text={"Black": "dark", "White": "dark"})


def retrieval_repeated_query_and_bad_seed(tmp: Path) -> None:
    from pytest_clipbias import audit_max_skew

    with pytest.raises(ValueError, match=r"queries names \['a doctor'\] more than once"):
        audit_max_skew(_ENC, _skewed_faces(), queries=["a doctor", "a doctor"], k=10,
                       threshold=0.2)
    audit_max_skew(_ENC, _skewed_faces(), queries=["a doctor"], k=10, threshold=0.2,
                   seed="7")


def association_identical_sets(tmp: Path) -> None:
    from pytest_clipbias import audit_association

    audit_association(_ENC, ["a nurse"], attributes_a=["a doctor", "a person"],
                      attributes_b=["a doctor", "a person"], threshold=0.3)


def association_ddof_two(tmp: Path) -> None:
    from pytest_clipbias import audit_association

    audit_association(_ENC, ["a nurse"], attributes_a=["a doctor"], attributes_b=["a person"],
                      threshold=0.3, ddof=2)


def filter_value_typo(tmp: Path) -> None:
    _skewed_faces().filter(gender=["female", "mael"])


def label_text_not_a_string(tmp: Path) -> None:
    from pytest_clipbias import audit_person_default

    faces = planted_faces({"Black": 5, "White": 5}, weights={"Black": {"Black": 1.0},
                                                             "White": {"White": 1.0}})
    audit_person_default(_ENC, faces, label_text={"Black": 3})


def h_threshold_as_a_percentage(tmp: Path) -> None:
    from pytest_clipbias import audit_label_rate_parity

    audit_label_rate_parity(_ENC, _skewed_faces(), label="criminal", candidates=["nurse"],
                            by="gender", threshold=20)


# -- round two: encoder output and models -------------------------------------------------


class _Mangled:
    """The planted encoder with its image output passed through ``change``."""

    name = "mangled"

    def __init__(self, change):
        self.change = change

    def encode_texts(self, texts):
        return _ENC.encode_texts(texts)

    def encode_images(self, images):
        return self.change(_ENC.encode_images(images))


def _region_with(encoder):
    from pytest_clipbias import audit_region_gender_skew

    return audit_region_gender_skew(encoder, _skewed_faces(), labels=["nurse", "engineer"],
                                    threshold=0.3)


def encoder_returns_strings(tmp: Path) -> None:
    _region_with(_Mangled(lambda e: e.astype(str)))


def encoder_returns_complex(tmp: Path) -> None:
    _region_with(_Mangled(lambda e: e + 1j))


def encoder_returns_grad_tensor(tmp: Path) -> None:
    import torch

    got = _region_with(_Mangled(lambda e: torch.tensor(e, requires_grad=True)))
    assert got.effect == pytest.approx(_region_with(_ENC).effect, rel=1e-9)


def encoder_returns_huge_and_tiny_values(tmp: Path) -> None:
    want = _region_with(_ENC).effect
    for scale in (1e200, 1e-300):
        got = _region_with(_Mangled(lambda e, s=scale: e.astype(np.float64) * s))
        assert got.verdict == "fail" and got.effect == pytest.approx(want, rel=1e-6)


def encode_texts_bare_string(tmp: Path) -> None:
    ClipModel.load("clipbias-tiny", None, device="cpu").encode_texts("abc")


def demo_pretrained_none_is_random_init(tmp: Path) -> None:
    model = ClipModel.load("demo", "none", device="cpu")
    assert model.weights.describe() == "random initialisation"
    assert "random initialisation" in model.describe()


def offline_hub_fails_fast(tmp: Path) -> None:
    import time

    ClipModel.load("clipbias-tiny", None, device="cpu")  # torch and open_clip imported
    old = os.environ.get("HF_ENDPOINT")
    os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: the probe fails
    start = time.perf_counter()
    try:
        ClipModel.load("ViT-B-32", device="cpu")
    finally:  # 0.2 s measured here; huggingface_hub alone retried for about 60 s
        assert time.perf_counter() - start < 10
        if old is None:
            del os.environ["HF_ENDPOINT"]
        else:
            os.environ["HF_ENDPOINT"] = old


ROUND_TWO = [
    (manifest_empty_gender_cell, DatasetError, r"1 empty cells\)(?s:.*)row 2: column "
                                               r"'gender' is empty(?s:.*)allow_empty="),
    (manifest_empty_cell_allowed, None, ""),
    (manifest_allow_empty_bare_string, TypeError, r"allow_empty must be a list.*\['gender'\]"),
    (jsonl_missing_key_and_null, DatasetError, r"row 2: column 'gender' is empty\n  row 3: "
                                               r"column 'gender' is empty"),
    (manifest_short_row, DatasetError, r"line 2: 2 fields, header has 3"),
    (manifest_repeated_column, DatasetError, r"header: column 'gender' appears at positions 2 "
                                             r"and 3"),
    (jsonl_repeated_key, DatasetError, r"line 1: key 'gender' appears twice"),
    (manifest_unterminated_quote, DatasetError, r"line 2: a quoted field runs from line 2 to "
                                                r"line 4(?s:.*)unterminated"),
    (manifest_symlink_loop_folder, DatasetError, r"1 problem \(1 listed images that cannot be "
                                                 r"reached\)(?s:.*)loop/x\.png: its folder "
                                                 r".*loop cannot be read \(Too many levels"),
    (manifest_symlink_loop_beside_images, DatasetError, r"1 problem (?s:.*)self\.png: a "
                                                        r"symbolic link that cannot be followed"),
    (manifest_skip_drops_every_row, DatasetError, r"none of the 2 listed images exists"),
    (folders_without_keys, ValueError, r"keys is empty: name the attribute of each folder"),
    (folders_repeated_key, ValueError, r"keys names 'race' twice"),
    (folders_link_loop, DatasetError, r"1 problem \(1 links that cannot be followed\)(?s:.*)"
                                      r"Black/b\.png: a symbolic link that loops"),
    (twelve_image_manifest_says_why, BiasInconclusiveError,
     r"INCONCLUSIVE: no group could be judged: only 6 female / 6 male images "
     r"\(min_per_group = 20\)"),
    (region_identical_genders, ValueError, r"genders names \['female'\] more than once"),
    (region_three_genders, ValueError, r"genders must name exactly 2"),
    (region_faces_without_gender, ValueError, r"1 of 61 faces have no 'gender' attribute "
                                              r"\(first: item 60.*filter"),
    (region_other_genders_counted_out, None, ""),
    (region_same_key_twice, ValueError, r"region_key and gender_key names \['gender'\]"),
    (repeated_labels, ValueError, r"labels names \['nurse'\] more than once"),
    (parity_by_empty, ValueError, r"by needs at least 1 entry, got 0"),
    (parity_label_among_candidates, ValueError, r"label 'criminal' is also one of the "
                                                r"candidates"),
    (parity_identical_cue_values, ValueError, r"cue_values names \['yes'\] more than once"),
    (hypodescent_endpoint_accuracy_above_one, ValueError, r"min_endpoint_accuracy must be at "
                                                          r"most 1, got 1\.5"),
    (hypodescent_minority_is_majority, ValueError, r"minority and majority are both 'White'"),
    (hypodescent_same_label_text, ValueError, r"label texts \(label_text\) names "
                                              r"\['dark'\] more than once"),
    (person_default_same_label_text, ValueError, r"group prompts \(label_text\) names "
                                                 r"\['dark person'\]"),
    (retrieval_repeated_query_and_bad_seed, TypeError, r"seed must be an integer, got str"),
    (association_identical_sets, ValueError, r"attributes_a and attributes_b are the same "
                                             r"items"),
    (association_ddof_two, ValueError, r"ddof must be 0 \(population\) or 1 \(sample\)"),
    (filter_value_typo, ValueError, r"filter\(gender=\.\.\.\) names \['mael'\], which no face "
                                    r"has; values present: \['female', 'male'\]"),
    (label_text_not_a_string, TypeError, r"label_text\['Black'\] must be a non-empty string"),
    (h_threshold_as_a_percentage, ValueError, r"threshold 20 can never be exceeded.*did you "
                                              r"mean 0\.2\?"),
    (encoder_returns_strings, TypeError, r"_Mangled\('mangled'\)\.encode_images returned <U"),
    (encoder_returns_complex, ValueError, r"_Mangled\('mangled'\)\.encode_images returned "
                                          r"complex values"),
    (encoder_returns_grad_tensor, None, ""),
    (encoder_returns_huge_and_tiny_values, None, ""),
    (encode_texts_bare_string, TypeError, r"encode_texts takes a list of texts, got the single "
                                          r"str 'abc'"),
    (demo_pretrained_none_is_random_init, None, ""),
    (offline_hub_fails_fast, ModelUnavailableError, r"the Hugging Face Hub \(127\.0\.0\.1:9\) "
                                                    r"cannot be reached"),
]


CASES = [
    # (case, expected exception or None for correct handling, message that names the culprit)
    (race_typo, DatasetError, r"m\.csv: 1 problem.*\n  row 3: column 'race': 'blak'\n.*"
                              r"Asian, Black.*extra_values"),
    (race_declared_extra, None, ""),
    (every_problem_at_once, DatasetError,
     r"3 problems \(1 unknown gender values, 1 unknown countries, 1 listed images do not "
     r"exist\)(?s:.*)row 2: column 'gender': 'robot'(?s:.*)row 3: column 'country'(?s:.*)"
     r"row 4: .*gone\.png"),
    (first_twenty_of_many, DatasetError, r"30 problems \(30 unknown gender values\); the "
                                         r"first 20:(?s:.*)row 21(?s:.*)\.\.\. and 10 more"),
    (latin1_manifest, DatasetError, r"m\.csv: line 2 is not UTF-8 .*Latin-1.*iconv"),
    (bom_manifest_and_alphas, None, ""),
    (folders_gif_and_jfif, None, ""),
    (folders_unsupported_file, DatasetError, r"files that are not supported images.*\n  "
                                             r"a/photo\.heic"),
    (folders_race_typo, DatasetError, r"blak/x\.png: column 'race': 'blak'"),
    (float_tiff_converted, None, ""),
    (float_tiff_out_of_range, ImageLoadError, r"neg\.tif: F-mode image with pixel values -3"),
    (sixteen_bit_png, None, ""),
    (decompression_bomb, ImageLoadError, r"big\.png: refused as a possible decompression bomb"),
    (report_symlink_kept, None, ""),
    (report_into_fifo, OutputError, r"pipe is a special file .*refusing to replace it"),
    (report_into_directory, OutputError, r"is a directory"),
    (temp_file_removed_on_failure, OutputError, r"cannot write output file .*out\.json.*space"),
    (baseline_missing_test, BaselineError, r"base\.json are malformed.*records\[0\]\.test"),
    (baseline_model_null, BaselineError, r"base\.json.*records\[0\]\.model .*None"),
    (baseline_records_dict, BaselineError, r"base\.json.*'records' must be a list, got dict"),
    (cache_garbage_inner_pages, None, ""),
    (cache_disk_full, None, ""),
    (checkpoint_empty, ModelUnavailableError, r"ck\.pt is empty \(0 bytes\).*not a network"),
    (checkpoint_random_bytes, ModelUnavailableError, r"ck\.pt is not a torch .*not a network"),
    (checkpoint_text, ModelUnavailableError, r"ck\.pt is not a torch or safetensors"),
    (tokenizer_package_missing, ModelUnavailableError, r"needs the Python package "
                                                      r"'transformers'"),
    (bad_demo_dir, ConfigurationError, r"CLIPBIAS_DEMO_DIR=.*file/demo.*writable folder"),
    *ROUND_TWO,
]


@pytest.mark.parametrize(("case", "error", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_case_table(tmp_path, case, error, message):
    if error is None:
        case(tmp_path)
        return
    with pytest.raises(error, match="(?s)" + message) as info:
        case(tmp_path)
    if case is not offline_hub_fails_fast:  # only a network problem may blame the network
        assert "offline" not in str(info.value)


def test_encode_images_refuses_a_bare_string(tiny_model):
    with pytest.raises(TypeError, match=r"single str 'x\.png'.*encode_images\(\[x\]\)"):
        tiny_model.encode_images("x.png")


# -- pytest options, checked at start-up -----------------------------------------------------

PASSING = "def test_ok():\n    assert True\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--clipbias-json=same.out", "--clipbias-html=same.out"], "name the same file"),
    (["--clipbias-json=."], "is a directory"),
    (["--clipbias-save=../evil"], "save name '../evil' is not allowed"),
    (["--clipbias-storage=blocker", "--clipbias-save=run"], "blocker is a file, not a folder"),
    (["--clipbias-json=blocker/r.json"], "blocker is a file, not a folder"),
])
def test_bad_output_options_are_usage_errors_at_start_up(pytester, args, message):
    pytester.makepyfile(test_a=PASSING)
    (pytester.path / "blocker").write_text("x")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    result.stdout.no_fnmatch_line("*passed*")


def test_one_failed_report_loses_neither_the_others_nor_the_summary(pytester):
    pytester.makepyfile(test_a="""
        import shutil
        from pathlib import Path

        def test_breaks_the_html_folder():
            shutil.rmtree("html")
            Path("html").write_text("now a file")
    """)
    (pytester.path / "html").mkdir()
    result = pytester.runpytest_subprocess("--clipbias-json=out/r.json",
                                           "--clipbias-html=html/r.html")
    result.stdout.fnmatch_lines([
        "*clipbias JSON report: *r.json",
        "*clipbias HTML report: FAILED: *html/r.html*is a file, not a folder*"])
    assert json.loads((pytester.path / "out" / "r.json").read_text())["records"] == []
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not list(pytester.path.rglob(".*tmp-*"))


def test_report_symlink_stays_a_symlink_end_to_end(pytester):
    pytester.makepyfile(test_a=PASSING)
    (pytester.path / "reports").mkdir()
    (pytester.path / "latest.json").symlink_to(pytester.path / "reports" / "run1.json")
    result = pytester.runpytest_subprocess("--clipbias-json=latest.json")
    assert result.ret == 0
    assert (pytester.path / "latest.json").is_symlink()
    assert json.loads((pytester.path / "reports" / "run1.json").read_text())["schema"]


def test_ini_data_root_is_relative_to_the_ini_file(pytester):
    pytester.makeini("[pytest]\nclip_data_root = data\nclip_cache_dir = ../elsewhere\n")
    (pytester.path / "data").mkdir()
    sub = pytester.mkpydir("sub")
    (sub / "test_root.py").write_text(
        "def test_root(clip_settings):\n"
        f"    assert str(clip_settings.data_root) == {str(pytester.path / 'data')!r}\n"
        f"    assert str(clip_settings.cache_dir) == "
        f"{str(pytester.path.parent / 'elsewhere')!r}\n")
    os.chdir(sub)
    result = pytester.runpytest_subprocess("test_root.py")
    assert result.ret == 0, result.stdout.str()


# -- fuzzing ------------------------------------------------------------------------------

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _image_bytes(mode: str, fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if mode in ("F", "I", "I;16"):
        dtype = {"F": np.float32, "I": np.int32, "I;16": np.uint16}[mode]
        img = Image.fromarray((rng.random((9, 7)) * 200).astype(dtype))
    else:
        img = Image.fromarray(rng.integers(0, 255, (9, 7, 3), np.uint8), "RGB").convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


MODES = {"PNG": ["1", "L", "P", "RGB", "RGBA", "LA", "I;16"],
         "TIFF": ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "F", "I", "I;16"],
         "JPEG": ["L", "RGB", "CMYK"], "GIF": ["L", "P"], "BMP": ["1", "L", "P", "RGB"],
         "WEBP": ["RGB", "RGBA"]}
IMAGE_FILES = st.one_of(
    st.binary(max_size=300).map(lambda b: ("random", b)),
    st.builds(lambda fmt, i, seed, cut: ("cut", _image_bytes(
        MODES[fmt][i % len(MODES[fmt])], fmt, seed)[:cut]),
        st.sampled_from(sorted(MODES)), st.integers(0, 9), st.integers(0, 3),
        st.integers(0, 400)),
    st.builds(lambda fmt, i, seed: ("whole", _image_bytes(MODES[fmt][i % len(MODES[fmt])],
                                                           fmt, seed)),
              st.sampled_from(sorted(MODES)), st.integers(0, 9), st.integers(0, 3)),
)


@FUZZ
@given(IMAGE_FILES)
def test_fuzzed_image_files_decode_or_name_the_file(case):
    kind, data = case
    source = "/data/faces/fuzzed.img"
    try:
        img = decode_image(data, source)
    except ImageLoadError as exc:
        assert source in str(exc)
        assert kind != "whole", f"a valid image was refused: {exc}"
        return
    assert img.mode == "RGB" and img.size[0] > 0 and img.size[1] > 0
    if kind == "whole":
        assert img.size == (7, 9)


CELLS = st.sampled_from(["a.png", "b.png", "F", "male", "blak", "Black", "India", "Atlantis",
                         "", " ", "\"", ",", "\t", "é", "\x00", "../a.png", "{", "null", "1"])
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"])


@FUZZ
@given(header=st.lists(st.sampled_from(["path", "gender", "race", "country", "region", "x"]),
                       min_size=1, max_size=4),
       rows=st.lists(st.lists(CELLS, min_size=0, max_size=5), max_size=6),
       encoding=ENCODINGS, suffix=st.sampled_from([".csv", ".tsv", ".jsonl"]),
       garbage=st.one_of(st.none(), st.binary(max_size=60)))
def test_fuzzed_manifests_load_correctly_or_name_the_file(tmp_path_factory, header, rows,
                                                          encoding, suffix, garbage):
    folder = tmp_path_factory.mktemp("m")
    _png(folder / "a.png")
    _png(folder / "b.png")
    if suffix == ".jsonl":
        text = "".join(json.dumps(dict(zip(header, r, strict=False))) + "\n" for r in rows)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        text = "".join(sep.join(r) + "\n" for r in [header, *rows])
    data = text.encode(encoding, errors="replace") + (garbage or b"")
    path = folder / f"manifest{suffix}"
    path.write_bytes(data)
    try:
        faces = load_manifest(path)
    except DatasetError as exc:
        assert str(path) in str(exc)
        return
    except ClipBiasError as exc:  # pragma: no cover - any other ClipBiasError must name it too
        assert str(path) in str(exc)
        return
    assert len(faces) > 0
    for item in faces:  # a correct result: real files and only known group values
        assert Path(item.image).is_file()
        assert item.get("gender") in (None, "female", "male", "nonbinary")
        assert item.get("race") in (None, "Black", "White")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_report_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "new"


def test_space_form_path_option_without_test_path_warns(pytester):
    project = pytester.mkdir("project")
    (project / "test_a.py").write_text(PASSING)
    faces = pytester.mkdir("faces")  # outside the folder pytest runs in
    os.chdir(project)
    result = pytester.runpytest_subprocess("--clip-data-root", str(faces))
    assert "PytestConfigWarning" in result.stdout.str()
    result.stdout.fnmatch_lines(["*PytestConfigWarning: --clip-data-root *faces: pytest took "
                                 "the path for a test path*--opt=PATH*"])
    for args in ([f"--clip-data-root={faces}"], ["--clip-data-root", str(faces), "test_a.py"]):
        pytester.runpytest_subprocess(*args).stdout.no_fnmatch_line("*PytestConfigWarning*")


# -- kill -9 inside each write ---------------------------------------------------------------
#
# A child process starts the real write and SIGKILLs itself in the middle of it: half the new
# text is on disk in the temporary file (or half the rows in the uncommitted transaction) when
# it dies. The previous report, baseline and cache must survive byte-identical.

_DIE_IN_WRITE = """
import os, signal, sys
real_fdopen = os.fdopen

class HalfThenDie:
    def __init__(self, fh):
        self.fh = fh
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def write(self, text):
        self.fh.write(text[: len(text) // 2])
        self.fh.flush()
        os.fsync(self.fh.fileno())
        os.kill(os.getpid(), signal.SIGKILL)

def die_in_rename(*args):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[2] == "write":
    os.fdopen = lambda fd, *a, **k: HalfThenDie(real_fdopen(fd, *a, **k))
else:
    os.replace = die_in_rename
"""

_WRITERS = {
    "report": "from pytest_clipbias.report.document import write_json\n"
              "write_json(sys.argv[1], DOC)",
    "html": "from pytest_clipbias._io import atomic_write_text\n"
            "atomic_write_text(sys.argv[1], '<html>' + 'x' * 200000 + '</html>', 'HTML report')",
    "baseline": "from pathlib import Path\nfrom pytest_clipbias.report.baseline import Storage\n"
                "Storage(Path(sys.argv[1]).parent).save(DOC, Path(sys.argv[1]).stem)",
}


def _run_child(script: str, *args: str) -> None:
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr  # it died by SIGKILL, as planned


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("stage", ["write", "rename"])
@pytest.mark.parametrize("target", sorted(_WRITERS))
def test_kill_inside_a_write_keeps_the_previous_file(tmp_path, target, stage):
    path = tmp_path / ("base.json" if target == "baseline" else f"out.{target}")
    previous = json.dumps({"schema": _schema(), "records": [{"old": True}]}).encode()
    path.write_bytes(previous)
    doc = f"DOC = {{'schema': {_schema()!r}, 'records': [{{'x': 'y' * 200000}}]}}\n"
    _run_child(_DIE_IN_WRITE + doc + _WRITERS[target], str(path), stage)
    assert path.read_bytes() == previous
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    if stage == "write":  # the child died with half the new text in its temporary file
        assert len(leftovers) == 1 and ".tmp-" in leftovers[0].name
        assert 0 < leftovers[0].stat().st_size < 200000
    atomic_write_text(path, "next")  # the next write is not disturbed by the leftover
    assert path.read_text() == "next"


_DIE_IN_TRANSACTION = """
import os, signal, sys
import numpy as np
from pytest_clipbias import EmbeddingCache

cache = EmbeddingCache(sys.argv[1])
conn = cache._connect()
conn.execute("PRAGMA cache_size = 8")  # spill pages into the WAL while the transaction runs
steps = []

def die_inside_the_transaction():
    steps.append(1)
    if conn.in_transaction and len(steps) > 20000:
        os.kill(os.getpid(), signal.SIGKILL)
    return 0

conn.set_progress_handler(die_inside_the_transaction, 1)
rng = np.random.default_rng(1)
cache.put_many("fp", "image", [(f"new{i}", rng.standard_normal(512).astype(np.float32))
                               for i in range(2000)])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_inside_a_cache_transaction_keeps_the_previous_entries(tmp_path):
    cache = EmbeddingCache(tmp_path)
    rng = np.random.default_rng(0)
    old = [(f"old{i}", rng.standard_normal(512).astype(np.float32)) for i in range(50)]
    cache.put_many("fp", "image", old)
    cache.close()
    db = tmp_path / "embeddings.sqlite3"
    before = db.read_bytes()
    _run_child(_DIE_IN_TRANSACTION, str(tmp_path))
    wal = tmp_path / "embeddings.sqlite3-wal"
    assert wal.stat().st_size > 4096  # the child had written pages of its transaction
    assert db.read_bytes() == before  # the main file was never touched
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    cache = EmbeddingCache(tmp_path)
    got = cache.get_many("fp", "image", [k for k, _ in old] + ["new0", "new1999"])
    assert sorted(got) == sorted(k for k, _ in old)  # nothing of the killed transaction
    assert all(got[k].tobytes() == v.tobytes() for k, v in old)
    assert cache.count() == 50

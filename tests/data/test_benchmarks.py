"""FACET and SocialCounterfactuals loaders on small fixtures written in their published layouts."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_clipbias.data.benchmarks import load_facet, load_socialcounterfactuals
from pytest_clipbias.data.manifest import DatasetWarning
from pytest_clipbias.data.problems import DatasetError
from pytest_clipbias.data.registry import DatasetUnavailable, open_dataset

# -- FACET ----------------------------------------------------------------------------------

HAIR = ("hair_color_black", "hairtype_straight", "has_cap", "lighting_well_lit")


def _facet_row(pid: int, filename: str, *, gender: str = "fem", age: str = "middle",
               tones: dict[int, int] | None = None, cls: str = "doctor",
               box: str = '{"x": 2, "y": 3, "width": 10, "height": 12}') -> dict[str, str]:
    row = {"person_id": str(pid), "filename": filename, "class1": cls, "class2": "",
           "bounding_box": box}
    for g in ("masc", "fem", "non_binary", "na"):
        row[f"gender_presentation_{g}"] = "1" if g == gender else "0"
    for a in ("young", "middle", "older", "na"):
        row[f"age_presentation_{a}"] = "1" if a == age else "0"
    tones = {2: 2} if tones is None else tones
    for i in range(1, 11):
        row[f"skin_tone_{i}"] = str(tones.get(i, 0))
    row["skin_tone_na"] = "0"
    row.update(dict.fromkeys(HAIR, "0"))
    return row


def _facet(tmp_path: Path, rows: list[dict[str, str]], images: list[str] | None = None) -> Path:
    root = tmp_path / "facet"
    (root / "annotations").mkdir(parents=True)
    with open(root / "annotations" / "annotations.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for i, name in enumerate(images if images is not None else {r["filename"] for r in rows}):
        folder = root / f"imgs_{1 + i % 3}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.full((40, 30, 3), 20 * i % 255, np.uint8)).save(folder / name)
    return root


def test_facet_reads_the_published_columns(tmp_path):
    root = _facet(tmp_path, [
        _facet_row(1, "sa_1.jpg", gender="fem", age="young", tones={2: 2, 3: 1}),
        _facet_row(2, "sa_2.jpg", gender="masc", age="older", tones={7: 1, 8: 2},
                   cls="guitarist"),
        _facet_row(3, "sa_3.jpg", gender="non_binary", age="na", tones={})])
    faces = load_facet(root)
    assert len(faces) == 3
    a, b, c = (dict(f.attributes) for f in faces)
    assert a == {"gender": "female", "age": "young", "skin_tone": "2",
                 "skin_tone_group": "lighter", "class": "doctor", "person_id": "1"}
    assert (b["gender"], b["age"], b["skin_tone"], b["skin_tone_group"], b["class"]) == (
        "male", "older", "8", "darker", "guitarist")
    assert (c["gender"], c["skin_tone"], c["skin_tone_group"]) == ("nonbinary", "na", "na")
    assert Path(faces[1].image).parent.name.startswith("imgs_")
    assert faces[0].raw["hair_color_black"] == "0"  # the other columns are kept


def test_facet_lists_every_problem_with_its_row(tmp_path):
    bad_gender = _facet_row(2, "b.jpg")
    bad_gender["gender_presentation_masc"] = "1"  # fem and masc both set
    bad_age = _facet_row(3, "c.jpg")
    bad_age["age_presentation_young"] = "yes"
    bad_tone = _facet_row(4, "d.jpg")
    bad_tone["skin_tone_5"] = "-1"
    root = _facet(tmp_path, [_facet_row(1, "a.jpg"), bad_gender, bad_age, bad_tone,
                             _facet_row(1, "e.jpg"), _facet_row(6, "missing.jpg")],
                  images=["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"])
    with pytest.raises(DatasetError) as info:
        load_facet(root)
    text = str(info.value)
    assert "annotations.csv" in text
    assert "row 3: gender_presentation_* flags set: ['masc', 'fem']" in text
    assert "row 4: column 'age_presentation_young': 'yes'" in text
    assert "row 5: column 'skin_tone_5': '-1'" in text
    assert "person_id 1 (also row 2)" in text
    assert "missing.jpg" in text


def test_facet_missing_columns_and_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"annotations\.csv not found"):
        load_facet(tmp_path)
    row = _facet_row(1, "a.jpg")
    del row["skin_tone_na"]
    with pytest.raises(DatasetError, match="lacks columns skin_tone_na"):
        load_facet(_facet(tmp_path, [row]))


def test_facet_images_with_several_persons_need_crops(tmp_path):
    rows = [_facet_row(1, "group.jpg"), _facet_row(2, "group.jpg", gender="masc"),
            _facet_row(3, "solo.jpg", box='{"x": 0, "y": 0, "width": 5, "height": 4}')]
    root = _facet(tmp_path, rows)
    with pytest.warns(DatasetWarning, match="left out 2 persons .* crop_dir"):
        faces = load_facet(root)
    assert [f["person_id"] for f in faces] == ["3"]
    crops = tmp_path / "crops"
    faces = load_facet(root, crop_dir=crops)
    assert [f["person_id"] for f in faces] == ["1", "2", "3"]
    sizes = [Image.open(f.image).size for f in faces]
    assert sizes == [(10, 12), (10, 12), (5, 4)]
    before = {p: p.stat().st_mtime_ns for p in crops.iterdir()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_facet(root, crop_dir=crops)  # reused, not rewritten
    assert {p: p.stat().st_mtime_ns for p in crops.iterdir()} == before


def test_facet_says_why_persons_were_left_out_even_when_loading_then_fails(tmp_path):
    """Two persons share a.jpg (left out without crop_dir); the only single-person image is
    missing: the error alone would hide that the shared ones need crop_dir."""
    rows = [_facet_row(1, "a.jpg"), _facet_row(2, "a.jpg", gender="masc"),
            _facet_row(3, "b.jpg")]
    root = _facet(tmp_path, rows, images=["a.jpg"])
    with pytest.warns(DatasetWarning, match="left out 2 persons .* crop_dir"), \
            pytest.raises(DatasetError, match="none of the 1 listed images exists"):
        load_facet(root, on_missing="skip")


def test_facet_bad_boxes_are_problems_when_cropping(tmp_path):
    root = _facet(tmp_path, [_facet_row(1, "a.jpg", box="{'x': 1}"),
                             _facet_row(2, "b.jpg", box='{"x": 0, "y": 0, "width": 0, '
                                                       '"height": 3}')])
    with pytest.raises(DatasetError, match=r"2 unreadable bounding boxes"):
        load_facet(root, crop_dir=tmp_path / "crops")
    assert not (tmp_path / "crops").exists() or not any((tmp_path / "crops").iterdir())


def test_facet_boxes_outside_their_image_are_problems_not_black_crops(tmp_path):
    """PIL pads a crop beyond the image with black; such a box belongs to another image or
    resolution. A box off by rounding at the edge is clipped (images are 30 x 40)."""
    rows = [_facet_row(1, "a.jpg", box='{"x": 25, "y": 3, "width": 10, "height": 12}'),
            _facet_row(2, "b.jpg", box='{"x": 100, "y": 100, "width": 10, "height": 12}'),
            _facet_row(3, "c.jpg", box='{"x": -0.6, "y": 20, "width": 30.6, "height": 20.4}')]
    with pytest.raises(DatasetError) as info:
        load_facet(_facet(tmp_path, rows), crop_dir=tmp_path / "crops")
    text = str(info.value)
    assert "2 bounding boxes outside their image" in text
    assert "row 2: box (25, 3, 35, 15) (left, top, right, bottom) on a.jpg of 30x40" in text
    assert "row 3: box (100, 100, 110, 112)" in text and "row 4" not in text
    faces = load_facet(_facet(tmp_path / "ok", rows[2:]), crop_dir=tmp_path / "crops")
    assert Image.open(faces[0].image).size == (30, 20)


# -- SocialCounterfactuals ------------------------------------------------------------------

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # the loader needs pyarrow; the FACET tests above do not
    pa = pq = None
needs_arrow = pytest.mark.skipif(pq is None, reason="needs pyarrow (the [test] extra)")


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _sc_rows(occupation: str = "plumber", set_id: str = "a_picture_of_race_gender_plumber_7"):
    rows = []
    for i, (race, gender) in enumerate([("White", "male"), ("Black", "female"),
                                        ("Latino", "male"), ("Asian", "female")]):
        article = "an" if race[0] in "AEIOU" else "a"
        rows.append({"image": {"bytes": _png(40 * i), "path": None}, "a1_type": "race",
                     "a1": race, "a2_type": "gender", "a2": gender,
                     "counterfactual_set": set_id, "a1a2": f"{race}_{gender}",
                     "caption": f"A picture of {article} {race} {gender} {occupation}",
                     "dataset_segment": "race-gender"})
    return rows


def _sc(tmp_path: Path, *shards: list[dict]) -> Path:
    root = tmp_path / "socialcounterfactuals"
    (root / "data").mkdir(parents=True)
    for i, rows in enumerate(shards):
        pq.write_table(pa.Table.from_pylist(rows),
                       root / "data" / f"train-{i:05d}-of-{len(shards):05d}-abc.parquet")
    return root


@needs_arrow
def test_socialcounterfactuals_reads_the_parquet_shards(tmp_path):
    root = _sc(tmp_path, _sc_rows(), _sc_rows("nurse", "a_picture_of_race_gender_nurse_3"))
    faces = load_socialcounterfactuals(root)
    assert len(faces) == 8
    first = dict(faces[0].attributes)
    assert first == {"race": "White", "gender": "male", "occupation": "plumber",
                     "counterfactual_set": "a_picture_of_race_gender_plumber_7",
                     "segment": "race-gender"}
    assert faces[2]["race"] == "Latino/Hispanic" and faces[2].raw["a1"] == "Latino"
    assert faces[5]["occupation"] == "nurse"
    assert Path(faces[1].image).parent == root / "images"
    assert np.asarray(Image.open(faces[1].image))[0, 0, 0] == 40
    assert set(faces.groups("counterfactual_set")) == {
        "a_picture_of_race_gender_plumber_7", "a_picture_of_race_gender_nurse_3"}


@needs_arrow
def test_socialcounterfactuals_extracts_once(tmp_path, monkeypatch):
    root = _sc(tmp_path, _sc_rows())
    out = tmp_path / "extracted"
    first = load_socialcounterfactuals(root, extract_dir=out)
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    assert len([p for p in before if not p.name.startswith(".")]) == 4

    def no_image_reads(*args, **kwargs):
        raise AssertionError("images read again")

    with monkeypatch.context() as m:
        m.setattr(pq.ParquetFile, "iter_batches", no_image_reads)
        again = load_socialcounterfactuals(root, extract_dir=out)
    assert [f.image for f in again] == [f.image for f in first]
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before


@needs_arrow
def test_socialcounterfactuals_changed_shard_is_extracted_again(tmp_path):
    root = _sc(tmp_path, _sc_rows())
    faces = load_socialcounterfactuals(root)
    rows = _sc_rows()
    rows[1]["image"] = {"bytes": _png(200), "path": None}
    pq.write_table(pa.Table.from_pylist(rows),
                   next((root / "data").glob("*.parquet")))
    again = load_socialcounterfactuals(root)
    assert again[1].image == faces[1].image
    assert np.asarray(Image.open(again[1].image))[0, 0, 0] == 200


@needs_arrow
def test_socialcounterfactuals_lists_every_problem_before_writing(tmp_path):
    rows = _sc_rows()
    rows[1]["a1"] = "Blak"  # unknown race
    rows[2]["caption"] = "A picture of a plumber"  # no a2 in the caption
    rows[3]["a2_type"] = "race"  # the same type twice
    dup = dict(_sc_rows()[0])
    root = _sc(tmp_path, [*rows, dup])
    with pytest.raises(DatasetError) as info:
        load_socialcounterfactuals(root)
    text = str(info.value)
    assert "train-00000-of-00001-abc.parquet row 1: column 'race': 'Blak'" in text
    assert "row 2: caption 'A picture of a plumber'" in text
    assert "row 3: a1_type = a2_type = 'race'" in text
    assert "row 4: set 'a_picture_of_race_gender_plumber_7' with White, male (also" in text
    assert not (root / "images").exists()


@needs_arrow
def test_socialcounterfactuals_wrong_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"no Parquet shards .* git clone https://huggingface"):
        load_socialcounterfactuals(tmp_path)
    root = _sc(tmp_path, [{"image": {"bytes": _png(1), "path": None}, "caption": "x"}])
    with pytest.raises(DatasetError, match="missing a1_type, a1, a2_type, a2"):
        load_socialcounterfactuals(root)


@needs_arrow
def test_socialcounterfactuals_bad_image_bytes(tmp_path):
    rows = _sc_rows()
    rows[2]["image"] = {"bytes": b"not an image", "path": None}
    with pytest.raises(DatasetError, match=r"row 2: bytes starting b'not an i'"):
        load_socialcounterfactuals(_sc(tmp_path, rows))


@needs_arrow
def test_registry_opens_both_by_name(tmp_path):
    _facet(tmp_path, [_facet_row(1, "a.jpg")])
    _sc(tmp_path, _sc_rows())
    assert len(open_dataset("facet", data_root=tmp_path, base_dir=tmp_path)) == 1
    assert len(open_dataset("socialcounterfactuals", data_root=tmp_path,
                            base_dir=tmp_path)) == 4
    with pytest.raises(DatasetUnavailable, match=r"facet.*annotations\.csv"):
        open_dataset("facet", data_root=tmp_path / "nowhere", base_dir=tmp_path)

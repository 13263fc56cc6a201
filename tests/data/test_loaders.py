"""Loaders: each layout, normalisation, and every bad input named in the error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pytest_clipbias.data import (
    DatasetError,
    DatasetWarning,
    FaceSet,
    load_cfd,
    load_fairface,
    load_folders,
    load_manifest,
    load_utkface,
)


def _png(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)
    return path


def _fairface(root, rows, header="file,age,gender,race,service_test"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "fairface_label_val.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    for row in rows:
        _png(root / row.split(",")[0])
    return root


def test_fairface(tmp_path):
    root = _fairface(tmp_path / "ff", [
        "val/1.jpg,20-29,Female,Latino_Hispanic,True",
        "val/2.jpg,more than 70,Male,East Asian,False",
    ])
    faces = load_fairface(root, "val")
    assert len(faces) == 2
    assert dict(faces[0].attributes) == {"gender": "female", "race": "Latino/Hispanic",
                                         "age": "20-29", "split": "val", "service_test": "true"}
    assert faces[0].raw["race"] == "Latino_Hispanic" and faces[0].raw["gender"] == "Female"


def test_fairface_unknown_values_listed(tmp_path):
    rows = [f"val/{i}.jpg,20-29,Female,White,True" for i in range(8)]
    rows[2] = "val/2.jpg,20-29,Femme,White,True"
    rows[5] = "val/5.jpg,20-29,Male,Martian,True"
    root = _fairface(tmp_path / "ff", rows)
    with pytest.raises(DatasetError, match=r"(?s)2 problems \(1 unknown gender values, 1 unknown "
                                           r"race values\).*row 4: column 'gender': 'Femme'.*"
                                           r"row 7: column 'race': 'Martian'"):
        load_fairface(root)


def test_fairface_missing_columns_and_csv(tmp_path):
    root = _fairface(tmp_path / "ff", ["val/1.jpg,Female,White"], header="file,gender,race")
    with pytest.raises(DatasetError, match="lacks columns age"):
        load_fairface(root)
    with pytest.raises(DatasetError, match=r"fairface_label_train.csv not found"):
        load_fairface(root, "train")
    with pytest.raises(DatasetError, match="does not exist"):
        load_fairface(tmp_path / "nowhere")


def _manifest(tmp_path, text, name="m.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_manifest_csv_relative_paths_and_normalisation(tmp_path):
    _png(tmp_path / "img" / "a.png")
    _png(tmp_path / "img" / "b.png")
    path = _manifest(tmp_path, "path,gender,country,race\nimg/a.png,F,IN,black\n"
                               "img/b.png,Man,Türkiye,White\n")
    faces = load_manifest(path)
    assert faces[0].image == str(tmp_path / "img" / "a.png")
    assert dict(faces[0].attributes) == {"gender": "female", "country": "India",
                                         "region": "South Asia", "race": "Black"}
    assert faces[1]["region"] == "Europe" and faces[1].raw["gender"] == "Man"
    m49 = load_manifest(path, region_scheme="m49-subregion")
    assert m49[1]["region"] == "Western Asia"


def test_manifest_jsonl_and_own_region(tmp_path):
    _png(tmp_path / "a.png")
    path = _manifest(tmp_path, json.dumps({"path": "a.png", "gender": "female",
                                           "region": "south asia"}) + "\n\n", "m.jsonl")
    faces = load_manifest(path)
    assert faces[0]["region"] == "South Asia"


@pytest.mark.parametrize(("text", "message"), [
    ("file,gender\na.png,female\n", "no column 'path' \\(columns: file, gender\\)"),
    ("path,gender\na.png,robot\n", "unknown gender values.*\n  row 2: column 'gender': 'robot'"),
    ("path,country\na.png,Atlantis\n", "unknown countries.*\n  row 2: column 'country': 'Atl"),
    ("path,gender\n,female\n", "rows without an image path"),
    ("path,gender\na.png,female,extra\n", "more fields than the header.*\n  line 2: 3 fields"),
])
def test_manifest_bad_input(tmp_path, text, message):
    _png(tmp_path / "a.png")
    with pytest.raises(DatasetError, match=message):
        load_manifest(_manifest(tmp_path, text))


def test_manifest_bad_json_line(tmp_path):
    path = _manifest(tmp_path, '{"path": "a.png"}\n{oops\n', "m.jsonl")
    with pytest.raises(DatasetError, match=r"lines that are not JSON.*\n  line 2: "):
        load_manifest(path)


def test_manifest_missing_images_error_then_skip(tmp_path):
    _png(tmp_path / "ok.png")
    rows = "path,gender\nok.png,female\n" + "".join(f"gone{i}.png,male\n" for i in range(7))
    path = _manifest(tmp_path, rows)
    with pytest.raises(DatasetError, match=r"(?s)7 listed images do not exist\).*row 3: "
                                           r".*gone0.png.*row 9: .*gone6.png.*on_missing='skip'"):
        load_manifest(path)
    with pytest.warns(DatasetWarning, match="skipped 7 of 8 rows"):
        faces = load_manifest(path, on_missing="skip")
    assert len(faces) == 1


def test_manifest_duplicates(tmp_path):
    _png(tmp_path / "a.png")
    path = _manifest(tmp_path, "path\na.png\n./a.png\n")
    with pytest.raises(DatasetError, match=r"1 duplicate image paths.*\n  row 3: .*also row 2"):
        load_manifest(path)


def test_manifest_not_found(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        FaceSet.from_manifest(tmp_path / "none.csv")


def test_cfd_names(tmp_path):
    names = ["CFD-BF-200-228-N.jpg", "CFD-WM-001-014-HC.jpg", "CFD-MF-300-002-N.jpg",
             "CFD-IF-644-306-1-N.jpg", "CFD-LM-243-075-A.jpg"]
    for n in names:
        _png(tmp_path / "cfd" / "sub" / n)
    (tmp_path / "cfd" / "codebook.xlsx").write_text("not an image")
    faces = load_cfd(tmp_path / "cfd")
    by_target = {f["target"]: f for f in faces}
    assert dict(by_target["BF-200"].attributes) == {
        "race": "Black", "gender": "female", "target": "BF-200", "expression": "neutral",
        "subset": "CFD"}
    assert by_target["MF-300"]["subset"] == "CFD-MR"
    assert by_target["MF-300"]["race"] == "Multiracial"
    assert by_target["IF-644"]["subset"] == "CFD-INDIA"
    assert by_target["WM-001"]["expression"] == "happy-closed"
    assert by_target["LM-243"]["race"] == "Latino/Hispanic"


def test_cfd_invalid_names(tmp_path):
    _png(tmp_path / "CFD-BF-200-228-N.jpg")
    _png(tmp_path / "CFD-XF-200-228-N.jpg")
    _png(tmp_path / "holiday.png")
    with pytest.raises(DatasetError, match=r"(?s)2 images with unparseable file names.*"
                                           r"CFD-XF-200-228-N.jpg: race code 'X'"):
        load_cfd(tmp_path)
    with pytest.warns(DatasetWarning, match="skipped 2 images"):
        assert len(load_cfd(tmp_path, on_invalid="skip")) == 1


def test_utkface(tmp_path):
    _png(tmp_path / "25_1_3_20170109150557335.jpg.chip.jpg")
    _png(tmp_path / "61_0_0_20170104213404473.jpg")
    faces = load_utkface(tmp_path)
    attrs = sorted(sorted(f.attributes.items()) for f in faces)
    assert [("age", "25"), ("gender", "female"), ("race", "Indian")] in attrs
    assert [("age", "61"), ("gender", "male"), ("race", "White")] in attrs
    _png(tmp_path / "39_1_20170116174525125.jpg.chip.jpg")  # a published file without race
    with pytest.raises(DatasetError, match="39_1_20170116174525125"):
        load_utkface(tmp_path)
    with pytest.warns(DatasetWarning):
        assert len(load_utkface(tmp_path, on_invalid="skip")) == 2


def test_folders(tmp_path):
    _png(tmp_path / "Black" / "F" / "1.png")
    _png(tmp_path / "White" / "male" / "2.png")
    faces = load_folders(tmp_path, ("race", "gender"))
    assert sorted(tuple(f.attributes.values()) for f in faces) == [
        ("Black", "female"), ("White", "male")]
    _png(tmp_path / "loose.png")
    with pytest.raises(DatasetError, match=r"loose.png: not inside 2 level"):
        load_folders(tmp_path, ("race", "gender"))
    with pytest.raises(DatasetError, match="does not exist"):
        load_folders(tmp_path / "nope")

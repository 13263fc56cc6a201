"""FaceItem and FaceSet behaviour."""

from __future__ import annotations

import pytest

from pytest_clipbias import FaceItem, FaceSet


@pytest.fixture
def faces() -> FaceSet:
    specs = [("a.jpg", "female", "Black"), ("b.jpg", "male", "White"),
             ("c.jpg", "female", "White"), ("d.jpg", "male", "Black"), ("e.jpg", "female", "Black")]
    return FaceSet([FaceItem(p, {"gender": g, "race": r}) for p, g, r in specs], name="t")


def test_sequence_protocol(faces):
    assert len(faces) == 5
    assert [i.image for i in faces] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert faces[1]["race"] == "White"
    assert isinstance(faces[1:3], FaceSet) and len(faces[1:3]) == 2
    assert faces.images == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]


def test_immutable(faces):
    with pytest.raises(TypeError):
        faces[0].attributes["gender"] = "male"
    with pytest.raises(AttributeError):
        faces[0].image = "x.jpg"
    with pytest.raises(TypeError):
        faces._items[0] = None  # the tuple itself cannot change


def test_filter_and_groups(faces):
    women = faces.filter(gender="female")
    assert [i.image for i in women] == ["a.jpg", "c.jpg", "e.jpg"]
    both = faces.filter(race=("Black", "White"), gender="male")
    assert [i.image for i in both] == ["b.jpg", "d.jpg"]
    groups = faces.groups("race")
    assert list(groups) == ["Black", "White"]
    assert len(groups["Black"]) == 3 and len(groups["White"]) == 2
    with pytest.raises(KeyError, match=r"no attribute 'region'.*gender, race"):
        faces.filter(region="Europe")


def test_summary_and_describe(faces):
    assert faces.summary("gender") == {("female",): 3, ("male",): 2}
    assert faces.summary("race", "gender")[("Black", "female")] == 2
    assert "race=Black, gender=female: 2" in faces.describe("race", "gender")


def test_fingerprint_tracks_content(tmp_path):
    for name in "ab":
        (tmp_path / f"{name}.jpg").write_bytes(name.encode() * 10)
    faces = FaceSet([FaceItem(str(tmp_path / f"{n}.jpg"), {"gender": g})
                     for n, g in (("a", "female"), ("b", "male"))], name="t")
    same = FaceSet(list(faces)[::-1], name="other name")
    assert same.fingerprint == faces.fingerprint
    changed = FaceSet([faces[0], FaceItem(faces[1].image, {"gender": "female"})])
    assert changed.fingerprint != faces.fingerprint


def test_raw_values_are_kept():
    item = FaceItem("x.jpg", {"gender": "female"}, raw={"gender": "F"})
    assert item["gender"] == "female" and item.raw["gender"] == "F"
    assert FaceItem("x.jpg", {"gender": "female"}).raw["gender"] == "female"


def test_missing_values_mean_attribute_absent():
    """None and NaN are "no value", never the groups "None" and "nan"."""
    import numpy as np

    item = FaceItem("a.jpg", {"race": None, "gender": float("nan"), "age": np.float64("nan"),
                              "region": "Europe", "count": 3})
    assert dict(item.attributes) == {"region": "Europe", "count": "3"}
    assert item.get("race") is None and dict(item.raw) == dict(item.attributes)
    raw = FaceItem("a.jpg", {"gender": "female"}, raw={"gender": None, "race": "B"})
    assert dict(raw.raw) == {"race": "B"}


def test_missing_values_from_a_data_frame_are_named_by_the_helpers():
    pd = pytest.importorskip("pandas")
    from pytest_clipbias import audit_person_default
    from pytest_clipbias.testing import PlantedEncoder, PlantedImage

    frame = pd.DataFrame({"race": ["Black", "White", None, "White"],
                          "gender": ["female", pd.NA, "male", float("nan")]})
    items = [FaceItem(PlantedImage({"person": 1.0}, noise_seed=i), row.to_dict())
             for i, (_, row) in enumerate(frame.iterrows())]
    assert [i.get("race") for i in items] == ["Black", "White", None, "White"]
    assert [i.get("gender") for i in items] == ["female", None, "male", None]
    with pytest.raises(ValueError, match=r"1 of 4 faces have no 'race' attribute \(first: "
                                         r"item 2"):
        audit_person_default(PlantedEncoder(["Black", "White", "person"]), FaceSet(items))


def test_only_face_items():
    with pytest.raises(TypeError, match="item 0 is a str"):
        FaceSet(["a.jpg"])


def test_data_package_has_no_import_cycle():
    """Issue 16: faceset and loaders imported each other; now the modules form a DAG."""
    import ast
    import graphlib
    from pathlib import Path

    import pytest_clipbias.data as data

    folder = Path(data.__file__).parent
    graph = {}
    for path in folder.glob("*.py"):
        if path.stem == "__init__":
            continue
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count too
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                deps.add(node.module.split(".")[0])
        graph[path.stem] = deps
    assert "loaders" not in graph["faceset"]
    list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle

"""The clip_dataset and clip_morphs fixtures through pytest."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(path)


def test_missing_dataset_skips_with_where_to_put_it(pytester):
    pytester.makepyfile("def test_ff(clip_dataset):\n    clip_dataset('fairface')\n")
    result = pytester.runpytest("-rs", "--clip-data-root", "data")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*dataset 'fairface' not found: put fairface_label_*data/fairface/*"])
    no_root = pytester.runpytest("-rs")
    no_root.stdout.fnmatch_lines(["*needs --clip-data-root*"])


def test_require_data_turns_the_skip_into_an_error(pytester):
    pytester.makepyfile("def test_ff(clip_dataset):\n    clip_dataset('cfd')\n")
    result = pytester.runpytest("--clip-require-data")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--clip-require-data is set: dataset 'cfd'*"])


def test_manifest_under_the_data_root(pytester):
    _png(pytester.path / "data" / "img" / "a.png")
    (pytester.path / "data" / "m.csv").write_text("path,gender,country\nimg/a.png,F,Kenya\n")
    pytester.makepyfile(
        "def test_m(clip_dataset):\n"
        "    faces = clip_dataset('manifest', path='m.csv')\n"
        "    assert faces[0]['region'] == 'Sub-Saharan Africa'\n"
        "    assert clip_dataset('manifest', path='m.csv') is faces\n"
    )
    pytester.runpytest("--clip-data-root", "data").assert_outcomes(passed=1)


def test_broken_data_is_an_error_not_a_skip(pytester):
    (pytester.path / "m.csv").write_text("path,gender\na.png,robot\n")
    pytester.makepyfile("def test_m(clip_dataset):\n    clip_dataset('manifest', path='m.csv')\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*DatasetError*unknown gender values*"])


def test_morphs_synthetic_and_cfd(pytester):
    cfd = pytester.path / "data" / "cfd"
    for name in ("CFD-BF-001-001-N.jpg", "CFD-BF-002-001-N.jpg", "CFD-WF-010-001-N.jpg",
                 "CFD-WF-011-001-N.jpg", "CFD-WF-011-002-HC.jpg"):
        _png(cfd / name)
    pytester.makepyfile(
        "def test_syn(clip_morphs):\n"
        "    s = clip_morphs('synthetic', pairs=[('Black', 'White')], genders=['female'],\n"
        "                    n_series=2, steps=5)\n"
        "    assert len(s) == 2 and s[0].alphas[2] == 0.5\n\n"
        "def test_cfd(clip_morphs):\n"
        "    s = clip_morphs('cfd', pairs=[('Black', 'White')], genders=['female'],\n"
        "                    n_series=10, steps=3, size=(32, 32))\n"
        "    assert len(s) == 4  # 2 Black x 2 White neutral parents\n"
        "    assert {x.attributes['parent_target'] for x in s} == {'WF-010', 'WF-011'}\n"
    )
    pytester.runpytest("--clip-data-root", "data").assert_outcomes(passed=2)
    again = pytester.runpytest("--clip-data-root", "data")  # reuses the finished build
    again.assert_outcomes(passed=2)

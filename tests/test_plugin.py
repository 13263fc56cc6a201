"""The plugin through pytest itself: options, ini keys, the clip_model fixture, the summary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SHOW_SETTINGS = """
def test_show(clip_settings):
    s = clip_settings
    print("SETTINGS", s.models, s.pretrained, s.device, s.precision, s.batch_size,
          s.seed, s.require_model, s.cache_dir)
"""

ENCODE = """
import numpy as np
from PIL import Image

def test_encode(clip_model, tmp_path_factory):
    root = tmp_path_factory.getbasetemp().parent.parent / "imgs"
    root.mkdir(exist_ok=True)
    paths = []
    for i in range(5):
        p = root / f"{i}.png"
        if not p.exists():  # the other worker may be writing it too: replace atomically
            rng = np.random.default_rng(i)
            part = root / f"{i}.{name}.part.png"
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(part)
            part.replace(p)
        paths.append(p)
    emb = clip_model.encode_images(paths)
    assert emb.shape == (5, clip_model.dim) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.save(root / "out_{name}.npy", emb)
"""


def _settings_line(result) -> str:
    line = next(line for line in result.outlines if "SETTINGS" in line)
    return line[line.index("SETTINGS") :]


def test_defaults(pytester):
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert _settings_line(result) == "SETTINGS () {} auto fp32 64 0 False None"


def test_command_line_beats_env_beats_ini(pytester, monkeypatch):
    pytester.makeini(
        """
        [pytest]
        clip_model = ViT-L-14
        clip_batch_size = 8
        clip_precision = bf16
        clip_seed = 3
        """
    )
    pytester.makepyfile(SHOW_SETTINGS)
    monkeypatch.setenv("CLIPBIAS_BATCH_SIZE", "16")
    monkeypatch.setenv("CLIPBIAS_PRECISION", "fp16")
    result = pytester.runpytest("-s", "--clip-batch-size", "32", "--clip-model", "ViT-B-32")
    result.assert_outcomes(passed=1)
    line = _settings_line(result)
    assert "('ViT-B-32',)" in line and " 32 3 " in line and " fp16 " in line


def test_ini_and_env_bool_flags(pytester, monkeypatch):
    pytester.makeini("[pytest]\nclip_no_cache = true\n")
    pytester.makepyfile(SHOW_SETTINGS)
    monkeypatch.setenv("CLIPBIAS_REQUIRE_MODEL", "yes")
    result = pytester.runpytest("-s")
    assert _settings_line(result).endswith("True None")


def test_cache_dir_default_and_relative(pytester):
    pytester.makepyfile(SHOW_SETTINGS)
    line = _settings_line(pytester.runpytest("-s"))
    assert line.endswith(".pytest_cache/d/clipbias")
    line = _settings_line(pytester.runpytest("-s", "--clip-cache-dir", "emb"))
    assert line.endswith(f"{pytester.path}/emb")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--clip-batch-size", "zero"], {}, "--clip-batch-size: expected a positive integer"),
        (["--clip-device", "tpu"], {}, "--clip-device: expected one of auto, cpu, cuda, mps"),
        ([], {"CLIPBIAS_SEED": "x"}, "environment variable CLIPBIAS_SEED: expected an integer"),
        ([], {"CLIPBIAS_NO_CACHE": "maybe"}, "CLIPBIAS_NO_CACHE: expected true/false"),
        (["--clip-model", "a,b", "--clip-pretrained", "x,y,z"], {}, "3 comma-separated values"),
    ],
)
def test_bad_values_are_usage_errors(pytester, monkeypatch, args, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_bad_ini_value_names_the_key(pytester):
    pytester.makeini("[pytest]\nclip_precision = fp64\n")
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini key clip_precision: expected one of fp32, fp16, bf16*"])


def test_help_lists_the_group(pytester):
    result = pytester.runpytest("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*CLIP bias testing (pytest-clipbias)*", "*--clip-require-model*"])
    result.stdout.fnmatch_lines(["*clip_model*default for --clip-model*"])


def test_no_model_skips_with_instructions_at_the_tests_line(pytester):
    pytester.makepyfile(test_needs="import os\n\ndef test_needs(clip_model):\n    assert False\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED ?1? test_needs.py:3: no CLIP model chosen: pass "
                                 "--clip-model*"])


def test_missing_dataset_skip_points_at_the_test(pytester):
    pytester.makepyfile(test_data="def test_d(clip_dataset):\n    clip_dataset('fairface')\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED ?1? test_data.py:1: dataset 'fairface' needs*"])
    assert "plugin.py" not in result.stdout.str()


def test_boolean_ini_keys_are_declared_bool(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*clip_no_cache (bool)*", "*clipbias_autosave (bool)*"])
    pytester.makeini("[pytest]\nclip_require_model = perhaps\n")
    bad = pytester.runpytest()
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*ini key clip_require_model: expected true/false*"])


def test_importing_the_plugin_loads_no_heavy_library():
    code = ("import sys, pytest_clipbias.plugin, pytest_clipbias.settings\n"
            "heavy = {'torch', 'open_clip', 'scipy', 'PIL', 'matplotlib'} & set(sys.modules)\n"
            "print(sorted(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


def test_arch_without_pretrained_loads_standard_weights_or_says_why(pytester, monkeypatch):
    """--clip-model ViT-B-32 alone means OpenAI's weights; offline that is a clear error."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyfile("def test_m(clip_model):\n    pass\n")
    result = pytester.runpytest_subprocess("-rN", "--clip-model", "ViT-B-32")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "cannot load CLIP model 'ViT-B-32' with pretrained tag 'openai' (its standard weights,"
        " used when --clip-pretrained is not given)*",
        "*or use --clip-pretrained none for a randomly initialised model*",
        "model ViT-B-32: unavailable: *"])
    assert "random initialisation seed" not in result.stdout.str()


def test_require_model_turns_skip_into_error(pytester):
    pytester.makepyfile("def test_needs(clip_model):\n    assert False\n")
    result = pytester.runpytest("--clip-require-model")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--clip-require-model is set but no CLIP model chosen*"])


def test_tests_without_the_fixture_are_untouched(pytester):
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    pytester.runpytest("--clip-require-model").assert_outcomes(passed=1)


def test_fixture_loads_model_and_second_run_hits_cache(pytester):
    pytester.makepyfile(ENCODE.replace("{name}", "run"))
    args = ["--clip-model", "clipbias-tiny", "--clip-pretrained", "none", "-p", "no:randomly"]
    first = pytester.runpytest_subprocess(*args)
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        [
            "*= clipbias: clipbias-tiny with RANDOM INITIALISATION (no trained weights) =*",
            "model clipbias-tiny (random initialisation seed 0) on cpu fp32, fingerprint *",
            "embedding cache */.pytest_cache/d/clipbias: images 0 hits / 5 misses, *",
        ]
    )
    import numpy as np

    cold = np.load(pytester.path.parent / "imgs" / "out_run.npy")
    second = pytester.runpytest_subprocess(*args)
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["embedding cache *: images 5 hits / 0 misses, *"])
    warm = np.load(pytester.path.parent / "imgs" / "out_run.npy")
    np.testing.assert_array_equal(cold, warm)


def test_several_models_parametrize_the_fixture(pytester):
    pytester.makepyfile("def test_m(clip_model):\n    assert clip_model.seed == 0\n")
    result = pytester.runpytest_subprocess(
        "-v", "--clip-model", "clipbias-tiny,clipbias-tiny-b", "--clip-no-cache"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_m?clipbias-tiny? PASSED*", "*test_m?clipbias-tiny-b? *"])
    # the second name is not an open_clip architecture: one clear error, named
    result.stdout.fnmatch_lines(["*unknown open_clip architecture 'clipbias-tiny-b'*"])


def test_load_error_is_clear_and_attempted_once(pytester):
    pytester.makepyfile(
        "def test_a(clip_model):\n    pass\n\n"
        "def test_b(clip_model):\n    pass\n\n"
        "def test_c(clip_model):\n    pass\n"
    )
    result = pytester.runpytest_subprocess(  # -rN: no short summary (its width differs under CI)
        "-rN", "--clip-model", "clipbias-tiny", "--clip-pretrained", "/nowhere/weights.pt"
    )
    result.assert_outcomes(errors=3)
    text = result.stdout.str()
    assert text.count("checkpoint for model 'clipbias-tiny' does not exist") == 4  # 3 + summary
    assert "Traceback" not in text
    result.stdout.fnmatch_lines(["model clipbias-tiny: unavailable: checkpoint for model*"])


def test_corrupt_cache_file_is_recovered_in_a_run(pytester):
    pytester.makepyfile(ENCODE.replace("{name}", "x"))
    cache_dir = pytester.path / "emb"
    cache_dir.mkdir()
    (cache_dir / "embeddings.sqlite3").write_bytes(b"\x00garbage" * 500)
    result = pytester.runpytest_subprocess(
        "--clip-model", "clipbias-tiny", "--clip-cache-dir", str(cache_dir)
    )
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*CacheWarning: embedding cache * was unusable*"])
    assert any(".corrupt-" in p.name for p in cache_dir.iterdir())


def test_two_xdist_workers_share_the_cache(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_one=ENCODE.replace("{name}", "one"), test_two=ENCODE.replace("{name}", "two")
    )
    args = ["-n", "2", "--clip-model", "clipbias-tiny", "--clip-cache-dir", "emb"]
    result = pytester.runpytest_subprocess(*args, "--clipbias-json", "r.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*= clipbias: clipbias-tiny with RANDOM INITIALISATION *",
                                 "model clipbias-tiny (random initialisation seed 0) *"])
    models = json.loads((pytester.path / "r.json").read_text())["run"]["models"]
    assert [(m["name"], m["random_init"]) for m in models] == [("clipbias-tiny", True)]
    # both workers encoded the same 5 images: 10 lookups, aggregated in the controller
    result.stdout.fnmatch_lines(["embedding cache *emb: images * hits / * misses, *"])
    line = next(x for x in result.outlines if x.startswith("embedding cache"))
    hits, misses = (int(w) for w in line.split("images ")[1].split(",")[0].split()[::3])
    assert hits + misses == 10 and misses >= 5
    from pytest_clipbias import EmbeddingCache

    assert EmbeddingCache(pytester.path / "emb").count() == 5
    again = pytester.runpytest_subprocess(*args)
    again.stdout.fnmatch_lines(["embedding cache *: images 10 hits / 0 misses, *"])


def _readme_option_defaults() -> dict[str, str]:
    """The default column of the README's options table, by flag."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme[readme.index("| option | ini key / environment | default | meaning |"):]
    out = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("| `--"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        out[cells[0].strip("`").split()[0]] = cells[2].replace("`", "")
    return out


def test_help_states_every_default_as_the_settings_table_does(pytester):
    """--help, the README table and the parsed defaults say the same (one field: Option.shown)."""
    from pytest_clipbias.settings import OPTIONS, REPORT_OPTIONS

    text = " ".join(pytester.runpytest("--help").stdout.str().split())
    readme = _readme_option_defaults()
    for opt in OPTIONS + REPORT_OPTIONS:
        assert f"Default: {opt.shown}." in text, opt.flag
        assert readme[opt.flag] == opt.shown, opt.flag
        if opt.is_flag:
            assert opt.default is False and opt.shown == "off"
        elif opt.default not in (None, ()):
            assert opt.shown == str(opt.default), opt.flag
    assert "random initialisation (the default)" not in text  # --clip-pretrained's old lie
    assert "standard weights" in text[text.index("--clip-pretrained"):][:600]


@pytest.mark.parametrize(("ini", "message"), [
    ("clip_batch_size = zero", "ini key clip_batch_size: expected a positive integer*"),
    ("clip_batch_size = 0", "ini key clip_batch_size: expected a positive integer*"),
    ("clipbias_compare_alpha = 0.7", "ini key clipbias_compare_alpha: expected a significance*"),
    ("clip_no_cache = perhaps", "ini key clip_no_cache: expected true/false*"),
])
def test_bad_typed_ini_values_name_the_key(pytester, ini, message):
    """pytest >= 9 converts int/float/bool keys itself; the user still learns the key."""
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])


def test_typed_ini_values_are_read(pytester):
    pytester.makeini("[pytest]\nclip_batch_size = 12\nclip_seed = -3\nclip_no_cache = yes\n")
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s")
    assert " 12 -3 " in _settings_line(result) and _settings_line(result).endswith("None")
    # a repeatable key is an "args" list: every word is parsed (the second one is wrong here)
    pytester.makeini("[pytest]\nclipbias_compare_fail = effect:+0.05 effect:oops\n")
    bad = pytester.runpytest()
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*ini key clipbias_compare_fail: *oops*"])


def test_short_summary_shows_the_bias_headline_within_80_columns(pytester, monkeypatch):
    """-rA: 'FAILED id - hypodescent FAIL h=+0.93 [..] > 0.2 Black-White, women'."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    pytester.makepyfile(test_h="""
from pytest_clipbias import assert_no_hypodescent
from pytest_clipbias.testing import PlantedEncoder, planted_morph_series

def test_h():
    enc = PlantedEncoder(["Black", "White"], image_bias={"Black": 0.3})
    series = planted_morph_series("Black", "White", n_series=150, midpoint_rate=0.8,
                                  gender="female", seed=1)
    assert_no_hypodescent(enc, series, threshold=0.2, n_resamples=200)
""")
    result = pytester.runpytest("-rA", "-p", "no:cacheprovider")
    line = next(x for x in result.outlines if x.startswith("FAILED test_h.py::test_h"))
    assert len(line) <= 80 and "pytest_clipbias" not in line
    assert re.match(r"FAILED test_h.py::test_h - hypodescent FAIL h=\+1\.\d\d "
                    r"\[1\.\d\d, 1\.\d\d\] > 0\.2 Bl", line), line
    result.stdout.fnmatch_lines(["E * hypodescent FAIL h=+*", "E * hypodescent FAILED: cohen_h*"])
    monkeypatch.setenv("CI", "1")  # pytest then prints the message whole: one short line
    line = next(x for x in pytester.runpytest("-rA", "-p", "no:cacheprovider").outlines
                if x.startswith("FAILED test_h.py::test_h"))
    assert line.endswith("> 0.2 Black-White women") and len(line) < 90


def test_ci_tests_the_declared_pytest_floor():
    """pyproject's pytest floor is the version tox and .ci/run install for the oldest leg."""
    root = Path(__file__).parent.parent
    floor = re.search(r'"pytest>=([\d.]+)"', (root / "pyproject.toml").read_text())[1]
    tox = re.search(r"pytestmin: pytest==([\d.]+)", (root / "tox.ini").read_text())[1]
    ci = re.search(r"OLDEST_PYTEST=([\d.]+)", (root / ".ci" / "run").read_text())[1]
    assert tox == ci and (tox == floor or tox.startswith(floor + "."))

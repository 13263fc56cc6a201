"""Options of the ``clipbias`` group and the Settings they resolve to.

Each option is declared once in ``OPTIONS`` and exposed three ways: a command
line flag, an ini key of the same name as its dest (``clip_model = ViT-B-32``
in pytest.ini / pyproject.toml / tox.ini) and, where CI users want one, an
environment variable. Precedence: command line, then environment, then ini,
then the built-in default.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ._constants import DEVICES, PRECISIONS
from .gate import FailRule, check_name, check_rule_measures, parse_fail_rule

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Option:
    """One setting: its flag, ini key (= dest), environment variable, parser and help."""

    flag: str
    dest: str
    env: str | None
    parse: Callable[[str, str], Any]
    default: Any
    help: str
    is_flag: bool = False
    metavar: str | None = None
    repeatable: bool = False  # --opt A --opt B; env and ini take a comma/whitespace list
    const: str | None = None  # value when the flag is given without one (nargs="?")
    shown: str = "none"  # the default as --help and the README's options table state it


def _positive_int(value: str, source: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise pytest.UsageError(f"{source}: expected a positive integer, got {value!r}")
    return number


def _int(value: str, source: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"{source}: expected an integer, got {value!r}") from None


def _bool(value: str, source: str) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise pytest.UsageError(f"{source}: expected true/false (1/0, yes/no), got {value!r}")


def _choice(*choices: str) -> Callable[[str, str], str]:
    def parse(value: str, source: str) -> str:
        text = value.strip().lower()
        if text not in choices:
            raise pytest.UsageError(
                f"{source}: expected one of {', '.join(choices)}, got {value!r}"
            )
        return text

    return parse


def _key_value(value: str, source: str) -> str:
    if "=" not in value or not value.split("=", 1)[0].strip():
        raise pytest.UsageError(f"{source}: expected KEY=VALUE, got {value!r}")
    return value


def _str(value: str, source: str) -> str:
    return value.strip()


OPTIONS: tuple[Option, ...] = (
    Option(
        "--clip-model", "clip_model", "CLIPBIAS_MODEL", _str, None,
        "open_clip architecture to test, e.g. ViT-B-32; a comma-separated list "
        "(ViT-B-32,ViT-L-14) parametrizes the clip_model fixture over the models; without "
        "one, tests that need a model skip.",
        metavar="NAME[,NAME...]", shown="none (skip)",
    ),
    Option(
        "--clip-pretrained", "clip_pretrained", "CLIPBIAS_PRETRAINED", _str, None,
        "weights: an open_clip tag (openai, laion2b_s34b_b79k), an hf-hub:org/repo id, a "
        "local checkpoint path, or 'none' for random initialisation (said in red in the "
        "summary). With several models: one value for all, or a comma-separated list, one "
        "per model.",
        metavar="TAG|PATH|hf-hub:ID|none",
        shown="the architecture's standard weights (OpenAI's where open_clip has them)",
    ),
    Option(
        "--clip-device", "clip_device", "CLIPBIAS_DEVICE", _choice(*DEVICES), "auto",
        "device for the model: auto (cuda, then mps, then cpu), cpu, cuda or mps.",
        metavar="|".join(DEVICES), shown="auto",
    ),
    Option(
        "--clip-precision", "clip_precision", "CLIPBIAS_PRECISION", _choice(*PRECISIONS),
        "fp32", "numeric precision of the model: fp32, fp16 or bf16.",
        metavar="|".join(PRECISIONS), shown="fp32",
    ),
    Option(
        "--clip-batch-size", "clip_batch_size", "CLIPBIAS_BATCH_SIZE", _positive_int, 64,
        "images or texts per forward pass.", metavar="N", shown="64",
    ),
    Option(
        "--clip-cache-dir", "clip_cache_dir", "CLIPBIAS_CACHE_DIR", _str, None,
        "directory of the persistent embedding cache (by default clipbias/ inside pytest's "
        "cache directory).", metavar="DIR", shown=".pytest_cache/d/clipbias",
    ),
    Option(
        "--clip-no-cache", "clip_no_cache", "CLIPBIAS_NO_CACHE", _bool, False,
        "do not read or write the embedding cache.", is_flag=True, shown="off",
    ),
    Option(
        "--clip-seed", "clip_seed", "CLIPBIAS_SEED", _int, 0,
        "seed of random initialisation; the statistics' resampling is seeded "
        "by each assertion's seed= argument, so verdicts never depend on this option.",
        metavar="N", shown="0",
    ),
    Option(
        "--clip-embeddings", "clip_embeddings", "CLIPBIAS_EMBEDDINGS", _str, None,
        "folder or fsspec URL (s3://, gs://, hdfs://, file://) of precomputed image "
        "embeddings in the clip-retrieval layout (img_emb/, metadata/; written by 'python -m "
        "pytest_clipbias embed' or clip-retrieval), read in blocks, never copied: the "
        "clip_model fixture then looks images up there and runs only the text tower.",
        metavar="DIR|URL",
    ),
    Option(
        "--clip-embeddings-storage-option", "clip_embeddings_storage_options",
        "CLIPBIAS_EMBEDDINGS_STORAGE_OPTIONS", _key_value, (),
        "fsspec storage option for a --clip-embeddings URL, KEY=VALUE (a dotted key nests: "
        "client_kwargs.endpoint_url=http://host:9000); repeatable. Credentials and endpoints "
        "otherwise come from the backend's standard environment (AWS_ENDPOINT_URL, "
        "AWS_PROFILE, ...).", metavar="KEY=VALUE", repeatable=True,
    ),
    Option(
        "--clip-data-root", "clip_data_root", "CLIPBIAS_DATA_ROOT", _str, None,
        "folder holding the datasets the clip_dataset and clip_morphs fixtures open "
        "(fairface/, cfd/, utkface/, facet/, socialcounterfactuals/; manifests and folders "
        "given relative to it). In an ini "
        "file a relative path is taken from the ini file's folder. Write "
        "--clip-data-root=DIR when no test path follows: pytest takes a separate DIR for "
        "a test path when it picks the rootdir.",
        metavar="DIR",
    ),
    Option(
        "--clip-require-data", "clip_require_data", "CLIPBIAS_REQUIRE_DATA", _bool, False,
        "make tests whose dataset is not on disk error instead of skip.", is_flag=True,
        shown="off",
    ),
    Option(
        "--clip-require-model", "clip_require_model", "CLIPBIAS_REQUIRE_MODEL", _bool, False,
        "make tests that need a model error, instead of skip, when no --clip-model is "
        "given, so a misconfigured CI job cannot pass by skipping.", is_flag=True,
        shown="off",
    ),
)


def _fail_rule(value: str, source: str) -> FailRule:
    try:
        return parse_fail_rule(value)
    except ValueError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None


def _save_name(value: str, source: str) -> str:
    try:
        return check_name(value.strip())
    except ValueError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None


def _alpha(value: str, source: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < 0.5:
        raise pytest.UsageError(f"{source}: expected a significance level in (0, 0.5), "
                                f"got {value!r}")
    return number


def _profile(value: str, source: str) -> str:
    from .profiles import profile_names

    name = value.strip()
    if name not in profile_names():
        raise pytest.UsageError(f"{source}: unknown profile {name!r}; registered: "
                                f"{', '.join(profile_names())} (register your own in conftest.py "
                                "with pytest_clipbias.register_profile)")
    return name


REPORT_OPTIONS: tuple[Option, ...] = (
    Option("--clipbias-json", "clipbias_json", "CLIPBIAS_JSON", _str, None,
           "write every bias result and the run metadata to this JSON file.", metavar="PATH"),
    Option("--clipbias-html", "clipbias_html", "CLIPBIAS_HTML", _str, None,
           "write a self-contained HTML report with plots (needs matplotlib: the [report] "
           "extra).", metavar="PATH"),
    Option("--clipbias-storage", "clipbias_storage", "CLIPBIAS_STORAGE", _str, ".clipbias",
           "folder of saved runs (baselines), relative to the rootdir.",
           metavar="DIR", shown=".clipbias"),
    Option("--clipbias-save", "clipbias_save", "CLIPBIAS_SAVE", _save_name, None,
           "save this run's results as NAME in the storage folder (a name, not a path).",
           metavar="NAME"),
    Option("--clipbias-autosave", "clipbias_autosave", "CLIPBIAS_AUTOSAVE", _bool, False,
           "save this run's results under a numbered, timestamped name.", is_flag=True,
           shown="off"),
    Option("--clipbias-compare", "clipbias_compare", "CLIPBIAS_COMPARE", _str, None,
           "compare with a saved run: NAME, a unique prefix, latest (when no value is "
           "given), or the path of a results JSON file.", metavar="NAME|latest|PATH",
           const="latest", shown="none (latest when bare)"),
    Option("--clipbias-compare-fail", "clipbias_compare_fail", "CLIPBIAS_COMPARE_FAIL",
           _fail_rule, (), "release gate: fail the session when, in any cell of a result, the "
           "bias against either side grew beyond the baseline's by more than a tolerance: "
           "effect:+0.05 (absolute), effect:+10%% (relative) or MEASURE:effect:+0.05; "
           "repeatable. The growth must be shown by a one-sided test (paired on the same "
           "items when possible, Holm-corrected across all cells); a baselined result "
           "missing from the run also fails. Needs --clipbias-compare.", metavar="EXPR",
           repeatable=True),
    Option("--clipbias-compare-fail-strict", "clipbias_compare_fail_strict",
           "CLIPBIAS_COMPARE_FAIL_STRICT", _bool, False,
           "also fail results whose |effect| grew beyond the tolerance without the test "
           "showing it (judged on the point estimates: noise alone can then fail the gate).",
           is_flag=True, shown="off"),
    Option("--clipbias-compare-allow-missing", "clipbias_compare_allow_missing",
           "CLIPBIAS_COMPARE_ALLOW_MISSING", _bool, False,
           "accept baselined results that are missing from this run (removed on purpose) "
           "instead of failing the gate.", is_flag=True, shown="off"),
    Option("--clipbias-compare-allow-incomparable", "clipbias_compare_allow_incomparable",
           "CLIPBIAS_COMPARE_ALLOW_INCOMPARABLE", _bool, False,
           "let the gate pass when nothing could be compared with the baseline, or a "
           "candidate cell's effect is undefined (otherwise each fails the gate).",
           is_flag=True, shown="off"),
    Option("--clipbias-compare-alpha", "clipbias_compare_alpha", "CLIPBIAS_COMPARE_ALPHA",
           _alpha, 0.05, "false-alarm rate of the release gate when nothing changed.",
           metavar="ALPHA", shown="0.05"),
    Option("--clipbias-update", "clipbias_update", "CLIPBIAS_UPDATE", _save_name, None,
           "refresh the saved run NAME snapshot-style: the results of the tests that ran "
           "(as selected by paths, -k or -m) replace theirs, every other entry is kept "
           "(NAME is created when absent); entries that no collected test produces are "
           "listed as unused.", metavar="NAME"),
    Option("--clipbias-update-drop-unused", "clipbias_update_drop_unused",
           "CLIPBIAS_UPDATE_DROP_UNUSED", _bool, False,
           "with --clipbias-update: also remove the unused entries.", is_flag=True,
           shown="off"),
    Option("--clipbias-profile", "clipbias_profile", "CLIPBIAS_PROFILE", _profile, "ci",
           "settings profile: smoke, ci, nightly, or one registered in conftest.py; "
           "sets permutations, bootstrap resamples and generated sample sizes.",
           metavar="NAME", shown="ci"),
)


_BY_DEST = {opt.dest: opt for opt in OPTIONS + REPORT_OPTIONS}


def _native_types() -> dict[Callable[[str, str], Any], tuple[str, str]]:
    """Parser -> (pytest ini type, what a value must be) where pytest has a native type.

    "bool" exists in every supported pytest; "int" and "float" since pytest 9.0
    (they also let a native ``[tool.pytest]`` TOML table hold numbers).
    """
    types: dict[Callable[[str, str], Any], tuple[str, str]] = {
        _bool: ("bool", "true/false (1/0, yes/no)")}
    if pytest.version_tuple >= (9, 0):
        types.update({_int: ("int", "an integer"), _positive_int: ("int", "a positive integer"),
                      _alpha: ("float", "a significance level in (0, 0.5)")})
    return types


def help_text(opt: Option) -> str:
    """The --help text of one option: what it does, its default, its environment variable."""
    env = f" [env {opt.env}]" if opt.env else ""
    return f"{opt.help} Default: {opt.shown}.{env}"


def add_options(parser: pytest.Parser, options: tuple[Option, ...] = OPTIONS) -> None:
    """Register flags and ini keys in the ``clipbias`` group.

    Ini keys use pytest's native types where it has one (see ``_native_types``),
    so a value reads the same in pytest.ini and in a native TOML table;
    repeatable options are "args" (a list in TOML, shell words in an ini file).
    """
    group = parser.getgroup("clipbias", "CLIP bias testing (pytest-clipbias)")
    native = _native_types()
    for opt in options:
        text = help_text(opt)
        if opt.is_flag:
            group.addoption(opt.flag, action="store_true", dest=opt.dest, default=None,
                            help=text)
        elif opt.repeatable:
            group.addoption(opt.flag, action="append", dest=opt.dest, default=None,
                            metavar=opt.metavar, help=text)
        elif opt.const is not None:
            group.addoption(opt.flag, nargs="?", const=opt.const, dest=opt.dest, default=None,
                            metavar=opt.metavar, help=text)
        else:
            group.addoption(opt.flag, dest=opt.dest, default=None, metavar=opt.metavar,
                            help=text)
        kind = "args" if opt.repeatable else native.get(opt.parse, ("string", ""))[0]
        parser.addini(opt.dest, help=f"default for {opt.flag}", type=kind,  # type: ignore[arg-type]
                      default=None if kind != "string" else "")


def _ini(config: pytest.Config, opt: Option) -> Any:
    """The ini value (None when unset).

    pytest converts natively typed keys itself, and since 9.2 reports a bad
    value as a UsageError that does not name the key ("invalid truth value
    'perhaps'"); either way the user gets the key and what it expects.
    """
    try:
        value = config.getini(opt.dest)
    except (ValueError, TypeError, pytest.UsageError) as exc:
        expected = _native_types().get(opt.parse, ("", "a valid value"))[1]
        raise pytest.UsageError(f"ini key {opt.dest}: expected {expected}: {exc}") from None
    if isinstance(value, list):
        return " ".join(value) or None
    if isinstance(value, str):
        return value if value.strip() else None
    return value


def resolve(config: pytest.Config, opt: Option) -> Any:
    """Value of one option by precedence: command line, environment, ini, default."""
    value = config.getoption(opt.dest, default=None)
    if opt.repeatable:
        if value:
            return tuple(opt.parse(str(v), opt.flag) for v in value)
        for raw, source in ((os.environ.get(opt.env or "", ""), f"environment variable {opt.env}"),
                            (_ini(config, opt) or "", f"ini key {opt.dest}")):
            items = [p for p in str(raw).replace(",", " ").split() if p]
            if items:
                return tuple(opt.parse(v, source) for v in items)
        return opt.default
    if value is not None:
        return opt.parse(str(value), opt.flag) if not opt.is_flag else bool(value)
    if opt.env and os.environ.get(opt.env, "") != "":
        return opt.parse(os.environ[opt.env], f"environment variable {opt.env}")
    ini = _ini(config, opt)
    if isinstance(ini, bool):
        return ini
    if ini is not None:  # a native int or float still gets its range checked
        return opt.parse(str(ini), f"ini key {opt.dest}")
    return opt.default


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _absolute(value: str | None, config: pytest.Config) -> Path | None:
    """A user path, relative ones taken from the directory pytest was invoked in."""
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else config.invocation_params.dir / path


def _location(value: str | None, config: pytest.Config) -> Path | str | None:
    """A local path made absolute, or a URL (``s3://...``) kept as given."""
    if value and "://" in value and not value.startswith("file://"):
        return value
    return _absolute(value.removeprefix("file://") if value else value, config)


def resolve_path(config: pytest.Config, opt: Option) -> Path | None:
    """A path option by precedence, made absolute.

    Command line and environment values are relative to the directory pytest
    was invoked in; ini values to the ini file's folder (pytest's rule for
    ``paths`` ini values), so ``clip_data_root = data`` works from any subfolder.
    """
    for raw, base in ((config.getoption(opt.dest, default=None), None),
                      (os.environ.get(opt.env or "", ""), None),
                      (config.getini(opt.dest), config.inipath)):
        if raw is not None and str(raw).strip() != "":
            path = Path(str(raw).strip()).expanduser()
            if path.is_absolute():
                return path
            folder = base.parent if base is not None else config.invocation_params.dir
            return Path(os.path.abspath(folder / path))
    return None


def warn_space_form(config: pytest.Config) -> None:
    """Warn when ``--clip-data-root DIR`` (space form, no test path) moved pytest's rootdir.

    pytest picks the rootdir before plugins register their options, so an
    existing DIR after a plugin flag counts as a test path: for a DIR outside
    the current folder the rootdir becomes a common ancestor and the project's
    ini file is dropped. ``--opt=DIR`` is safe.
    """
    args = [str(a) for a in config.invocation_params.args]
    here = config.invocation_params.dir
    flags = {opt.flag for opt in OPTIONS + REPORT_OPTIONS if not opt.is_flag}
    risky, positional, skip = [], [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in flags and i + 1 < len(args):
            skip = True
            value = Path(os.path.abspath(args[i + 1]))
            if value.exists() and not value.is_relative_to(here):  # inside: same ini search
                risky.append(f"{arg} {args[i + 1]}")
        elif not arg.startswith("-") and os.path.exists(arg):
            positional.append(arg)  # only existing paths take part in choosing the rootdir
    if risky and not positional:
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            f"{', '.join(risky)}: pytest took the path for a test path when it chose the "
            f"rootdir ({config.rootpath}{', no ini file' if config.inipath is None else ''}); "
            "write the option as --opt=PATH, or name the tests to run"), stacklevel=2)


def _check_outputs(report: dict[str, Any]) -> None:
    """Refuse unusable report and baseline paths at start-up, before any test runs."""
    from ._io import check_output_path
    from .errors import OutputError

    json_path, html_path = report["clipbias_json"], report["clipbias_html"]
    checks = [(flag, path) for flag, path in (("--clipbias-json", json_path),
                                              ("--clipbias-html", html_path)) if path]
    storage = Path(report["clipbias_storage"])
    name = report["clipbias_save"]  # its spelling is checked when the option is parsed
    if storage.exists() and not storage.is_dir():
        raise pytest.UsageError(f"--clipbias-storage: {storage} is a file, not a folder")
    if name or report["clipbias_autosave"]:
        checks.append(("--clipbias-storage", storage / f"{name or 'autosave'}.json"))
    if report["clipbias_update"]:
        checks.append(("--clipbias-update", storage / f"{report['clipbias_update']}.json"))
    elif report["clipbias_update_drop_unused"]:
        raise pytest.UsageError("--clipbias-update-drop-unused needs --clipbias-update NAME "
                                "(the saved run to refresh)")
    for flag, path in checks:
        try:
            check_output_path(path, flag)
        except OutputError as exc:
            raise pytest.UsageError(str(exc)) from None
    if json_path and html_path and os.path.realpath(json_path) == os.path.realpath(html_path):
        raise pytest.UsageError(f"--clipbias-json and --clipbias-html name the same file "
                                f"{json_path}; give them different paths")


@dataclass(frozen=True)
class GateSettings:
    """Baseline save and compare options, validated and parsed once at start-up.

    ``baseline`` is the (path, document) of the run to compare with, loaded
    at start-up when fail rules make this run a gate (so a missing or
    corrupt baseline stops the session before any test runs).
    """

    storage: Path
    save: str | None = None
    autosave: bool = False
    compare: str | None = None
    rules: tuple[FailRule, ...] = ()
    strict: bool = False
    allow_missing: bool = False
    alpha: float = 0.05
    allow_incomparable: bool = False
    baseline: tuple[Path, dict[str, Any]] | None = field(default=None, compare=False,
                                                         repr=False)

    @classmethod
    def from_report(cls, report: dict[str, Any], config: pytest.Config) -> GateSettings:
        """Check output paths, load the baseline of a gate and check the rules' measures."""
        for dest, flag in (("clipbias_json", "--clipbias-json"),
                           ("clipbias_html", "--clipbias-html")):
            if report[dest]:
                _check_output(_absolute(report[dest], config), flag, is_file=True)
        storage = Path(report["clipbias_storage"]).expanduser()
        storage = storage if storage.is_absolute() else config.rootpath / storage
        if report["clipbias_save"] or report["clipbias_autosave"]:
            _check_output(storage, "--clipbias-storage", is_file=False)
        compare = report["clipbias_compare"]
        if compare and (compare.endswith(".json") or os.sep in compare):
            compare = str(_absolute(compare, config))  # a path, not a saved name
        gate = cls(storage, report["clipbias_save"], report["clipbias_autosave"], compare,
                   tuple(report["clipbias_compare_fail"]), report["clipbias_compare_fail_strict"],
                   report["clipbias_compare_allow_missing"], report["clipbias_compare_alpha"],
                   report["clipbias_compare_allow_incomparable"])
        _check_gate_needs_baseline(report, config)
        if not (gate.compare and gate.rules):
            return gate
        from .report.baseline import BaselineError, Storage, measures_in

        try:
            baseline = Storage(storage).load(compare)
            check_rule_measures(gate.rules, measures_in(baseline[1]))
        except (BaselineError, ValueError) as exc:
            raise pytest.UsageError(f"clipbias release gate: {exc}") from None
        return replace(gate, baseline=baseline)


_GATE_FLAGS = (("clipbias_compare_fail", "--clipbias-compare-fail"),
               ("clipbias_compare_fail_strict", "--clipbias-compare-fail-strict"),
               ("clipbias_compare_allow_missing", "--clipbias-compare-allow-missing"),
               ("clipbias_compare_allow_incomparable", "--clipbias-compare-allow-incomparable"))


def _check_gate_needs_baseline(report: dict[str, Any], config: pytest.Config) -> None:
    """A gate option given for this run (command line or environment) without
    --clipbias-compare would run no gate and pass: a usage error. An ini value is a
    project default that applies whenever a run compares, so it alone is no error."""
    given = [flag for dest, flag in _GATE_FLAGS if report[dest] and (
        config.getoption(dest, default=None) or os.environ.get(_BY_DEST[dest].env or ""))]
    if given and not report["clipbias_compare"]:
        raise pytest.UsageError(
            f"{', '.join(given)} given without --clipbias-compare: no baseline, so no release "
            "gate would run; add --clipbias-compare NAME (or latest, or a results JSON path)")


def _check_output(path: Path, flag: str, *, is_file: bool) -> None:
    """Fail at start-up, not after the run, when an output cannot be written there."""
    if is_file and path.is_dir():
        raise pytest.UsageError(f"{flag}: {path} is a directory; give a file name")
    if not is_file and path.exists() and not path.is_dir():
        raise pytest.UsageError(f"{flag}: {path} exists and is not a directory")
    parent = path.parent if is_file else path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise pytest.UsageError(f"{flag}: cannot write {path}: {parent} is not a writable "
                                "directory")


@dataclass(frozen=True)
class ReportSettings:
    """Report outputs (absolute paths, checked writable at start-up) and the profile."""

    json: str | None = None
    html: str | None = None
    profile: str = "ci"
    update: str | None = None  # saved run refreshed snapshot-style (--clipbias-update)
    drop_unused: bool = False


@dataclass(frozen=True)
class Settings:
    """The resolved ``clipbias`` options of one pytest session."""

    models: tuple[str, ...]
    pretrained: dict[str, str | None]
    device: str
    precision: str
    batch_size: int
    cache_dir: Path | None
    seed: int
    require_model: bool
    data_root: Path | None = None
    require_data: bool = False
    report: ReportSettings = ReportSettings()
    gate: GateSettings | None = None
    embeddings: Path | str | None = None
    embeddings_storage_options: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: pytest.Config, default_cache_dir: Path | None) -> Settings:
        """Resolve every option; raises pytest.UsageError naming the bad option."""
        values = {opt.dest: resolve(config, opt) for opt in OPTIONS}
        warn_space_form(config)
        report = _report_settings(config)
        models = _split(values["clip_model"])
        weights = _split(values["clip_pretrained"])
        if len(weights) > 1 and len(weights) != len(models):
            raise pytest.UsageError(
                f"--clip-pretrained: got {len(weights)} comma-separated values for "
                f"{len(models)} model(s); give one value for all models or one per model"
            )
        if len(weights) <= 1:
            weights = (weights[0] if weights else None,) * len(models)
        if values["clip_no_cache"]:
            cache_dir = None
        elif values["clip_cache_dir"]:
            cache_dir = resolve_path(config, _BY_DEST["clip_cache_dir"])
        else:
            cache_dir = default_cache_dir
        return cls(
            models=models,
            pretrained=dict(zip(models, weights, strict=True)),
            device=values["clip_device"],
            precision=values["clip_precision"],
            batch_size=values["clip_batch_size"],
            cache_dir=cache_dir,
            seed=values["clip_seed"],
            require_model=values["clip_require_model"],
            data_root=resolve_path(config, _BY_DEST["clip_data_root"]),
            require_data=values["clip_require_data"],
            report=ReportSettings(report["clipbias_json"], report["clipbias_html"],
                                  report["clipbias_profile"], report["clipbias_update"],
                                  report["clipbias_update_drop_unused"]),
            gate=GateSettings.from_report(report, config),
            embeddings=_location(values["clip_embeddings"], config),
            embeddings_storage_options=values["clip_embeddings_storage_options"],
        )


def _report_settings(config: pytest.Config) -> dict[str, Any]:
    """Report options with absolute output paths, checked so they can be written."""
    report = {opt.dest: resolve(config, opt) for opt in REPORT_OPTIONS}
    for dest in ("clipbias_json", "clipbias_html"):
        path = resolve_path(config, _BY_DEST[dest])
        report[dest] = str(path) if path else None
    storage = Path(report["clipbias_storage"]).expanduser()
    if config.getini("clipbias_storage").strip() and not (
            config.getoption("clipbias_storage", default=None)
            or os.environ.get("CLIPBIAS_STORAGE")):
        storage = resolve_path(config, _BY_DEST["clipbias_storage"]) or storage
    report["clipbias_storage"] = str(config.rootpath / storage)
    _check_outputs(report)
    return report

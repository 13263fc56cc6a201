"""The pytest plugin: options, the session object, fixtures.

As in pytest's own ``stepwise`` and ``junitxml`` plugins, the state of a run
is the registered plugin object (``ClipBiasSession``): its methods are the
hooks, and ``pytest_unconfigure`` unregisters it. Importing this module loads
no torch, open_clip, scipy or PIL: models, data and reports are imported when
a fixture or a report first needs them.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import progress
from .errors import ClipBiasError
from .settings import REPORT_OPTIONS, Settings, add_options

PLUGIN_NAME = "clipbias-session"
_SKIP_NO_MODEL = (
    "no CLIP model chosen: pass --clip-model (e.g. --clip-model ViT-B-32), set the ini key "
    "clip_model, or the environment variable CLIPBIAS_MODEL"
)
_WORKER_STATS = "clipbias_cache_stats"
_WORKER_MODELS = "clipbias_models"
_WORKER_COLLECTED = "clipbias_collected"
MARKER = ("clipbias(family=None, dataset=None, owner=None, **metadata): metadata of a bias "
          "test (audit family, dataset, owner), shown in clipbias reports; select with "
          "-m clipbias")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    add_options(parser, REPORT_OPTIONS)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from .profiles import load_profile

    config.addinivalue_line("markers", MARKER)
    cache = getattr(config, "cache", None)
    default_dir = cache.mkdir("clipbias") if cache is not None else None
    settings = Settings.from_config(config, default_dir)
    load_profile(settings.report.profile)
    session = ClipBiasSession(config, settings)
    config.stash[state_key] = session
    config.pluginmanager.register(session, PLUGIN_NAME)
    progress.attach(config)


def _skip_here(reason: str) -> None:
    """Skip the requesting test, reported at the test's own line (not this plugin's)."""
    __tracebackhide__ = True
    raise pytest.skip.Exception(reason, _use_item_location=True)


def model_entry(name: str, model: Any) -> dict[str, Any]:
    """What the summary and reports say about one model (or its load error)."""
    if isinstance(model, ClipBiasError):
        return {"name": name, "error": str(model).splitlines()[0]}
    from .recording import model_info

    weights = getattr(model, "weights", None)
    return {**model_info(model), "name": name, "description": model.describe(),
            "random_init": getattr(weights, "kind", None) == "random"}


def _outcome(report: pytest.TestReport) -> str | None:
    """One word per test: passed, failed, error, skipped, xfailed or xpassed."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed" if report.when == "call" else None
    if report.skipped:
        return "skipped"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "passed" if report.when == "call" else None


def _short_message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, (tuple, list)):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None or not crash.message:
        return ""
    return re.sub(r"^(?:\w+\.)+(?=\w+: )", "", crash.message.splitlines()[0])  # drop module


def _shorten_crash_line(report: pytest.TestReport, call: pytest.CallInfo) -> None:
    """Make a bias error's short-summary text its short first line, without the module path.

    pytest's ``-r`` summary shows ``reprcrash.message`` cut to the terminal width
    (whole, every line, on CI): "hypodescent FAIL h=+1.57 [1.35, 1.57] > 0.2 ..."
    instead of "pytest_clipbias.results.BiasAssertionError: hypodescent FA...".
    """
    results = sys.modules.get(f"{__package__}.results")  # not loaded: no bias error possible
    crash = getattr(report.longrepr, "reprcrash", None)
    error = call.excinfo.value if call.excinfo is not None else None
    if results is not None and crash is not None and isinstance(
            error, (results.BiasAssertionError, results.BiasInconclusiveError)):
        crash.message = str(error).split("\n", 1)[0]


class ClipBiasSession:
    """The state of one run (models, datasets, results, test outcomes) and its hooks."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        from .cache import CacheStats

        self.config = config
        self.settings = settings
        self.models: dict[str, Any] = {}
        self.remote_models: dict[str, dict[str, Any]] = {}  # from xdist workers
        self.worker_stats = CacheStats()
        self.datasets: dict[str, Any] = {}
        self.records: list[dict[str, Any]] = []
        self.tests: dict[str, dict[str, Any]] = {}
        self.report_lines: list[str] = []
        self.gate_outcome = ""  # set by report.session: passed, failed: ..., informational
        self.collected: set[str] = set()  # node ids before -k/-m deselection (--clipbias-update)

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    # -- models, data ------------------------------------------------------------------

    def get_model(self, name: str) -> Any:
        """Load ``name`` once per session; a load error is kept and re-raised, not retried.

        The memo matters beyond pytest's own fixture cache: when the fixture is
        parametrized over several models pytest may tear it down and set it up
        again, and a slow failing download must not be retried per test.
        """
        if name not in self.models:
            from .model import ClipModel

            s = self.settings
            try:
                self.models[name] = ClipModel.load(
                    name, s.pretrained.get(name), device=s.device, precision=s.precision,
                    batch_size=s.batch_size, cache_dir=s.cache_dir, seed=s.seed,
                )
                if s.embeddings is not None:
                    from .embeddings import PrecomputedEncoder
                    from .remote import parse_storage_options

                    self.models[name] = PrecomputedEncoder(
                        self.models[name], s.embeddings,
                        storage_options=parse_storage_options(s.embeddings_storage_options))
            except ClipBiasError as exc:
                self.models[name] = exc
        result = self.models[name]
        if isinstance(result, ClipBiasError):
            pytest.fail(str(result), pytrace=False)
        return result

    def open_cached(self, key: str, opener: Callable[[], Any]) -> Any:
        """Open a dataset once per session; skip (or fail) when it is not on disk."""
        __tracebackhide__ = True
        from .data.registry import DatasetUnavailable

        if key not in self.datasets:
            try:
                self.datasets[key] = opener()
            except DatasetUnavailable as exc:
                if self.settings.require_data:
                    pytest.fail(f"--clip-require-data is set: {exc}", pytrace=False)
                _skip_here(str(exc))
        return self.datasets[key]

    def cache_stats(self) -> Any:
        """Hits and misses of this process's models plus those reported by xdist workers."""
        from .cache import CacheStats

        total = CacheStats()
        total.add(self.worker_stats)
        for model in self.models.values():
            cache = getattr(model, "cache", None)
            if cache is not None:
                total.add(cache.stats)
        return total

    def model_entries(self) -> list[dict[str, Any]]:
        """Every model of the run, loaded here or in an xdist worker, by name."""
        entries = dict(self.remote_models)
        entries.update({name: model_entry(name, m) for name, m in self.models.items()})
        return list(entries.values())

    # -- hooks -------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Remember every collected test before -k/-m deselect some (runs before them)."""
        self.collected.update(item.nodeid for item in items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """Record the results of the assertion helpers while the test body runs."""
        from .recording import recording
        from .report.document import make_record

        marker = item.get_closest_marker("clipbias")
        meta = {k: v for k, v in (marker.kwargs if marker else {}).items() if v is not None}
        found = item.stash.setdefault(records_key, [])

        def recorder(result, encoder) -> None:
            found.append(make_record(result, encoder, test=item.nodeid, marker=meta))

        try:
            with recording(recorder):
                return (yield)
        finally:
            from .report.format import junit_properties

            for rec in found:  # junitxml writes item.user_properties as <property> elements
                item.user_properties.extend(junit_properties(rec["result"]))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        """Attach the test's results to its call report: reports cross from xdist workers."""
        report = yield
        _shorten_crash_line(report, call)
        if call.when == "call" and item.stash.get(records_key, None):
            records = item.stash[records_key]
            for rec in records:
                rec["outcome"] = report.outcome
            report.clipbias_results = records
            from .report import pytest_html

            if pytest_html.wanted(item.config):
                pytest_html.attach_extras(report, records)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep every test's outcome and the results attached to its call report."""
        if self.is_worker:
            return
        records = getattr(report, "clipbias_results", None)
        if records and report.when == "call":
            self.records.extend(records)
        outcome = _outcome(report)
        entry = self.tests.setdefault(report.nodeid, {"test": report.nodeid, "outcome": None,
                                                      "message": "", "duration": 0.0})
        entry["duration"] += report.duration
        if outcome is not None and entry["outcome"] not in ("failed", "error"):
            entry["outcome"] = outcome
            entry["message"] = _short_message(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for model in self.models.values():  # checkpoint each cache's WAL into its main file
            cache = getattr(model, "cache", None)
            if cache is not None:
                cache.close()
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_WORKER_STATS] = self.cache_stats().to_dict()
            workeroutput[_WORKER_MODELS] = self.model_entries()
            workeroutput[_WORKER_COLLECTED] = sorted(self.collected)
            return
        from .report.session import finish_reports

        if finish_reports(self.config, self) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Under pytest-xdist, merge each worker's cache counters and models."""
        from .cache import CacheStats

        output = getattr(node, "workeroutput", {})
        if output.get(_WORKER_STATS) is not None:
            self.worker_stats.add(CacheStats.from_dict(output[_WORKER_STATS]))
        self.collected.update(output.get(_WORKER_COLLECTED, ()))
        for entry in output.get(_WORKER_MODELS, ()):
            self.remote_models.setdefault(entry["name"], entry)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        """pytest-html's summary: one release line per model and the check x model matrix."""
        if self.records:
            from .report.pytest_html import summary_html
            from .report.summary import sort_records

            prefix.append(summary_html(sort_records(self.records),
                                       [m["name"] for m in self.model_entries()]))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from .report.summary import SummaryInput, terminal_section

        section = terminal_section(SummaryInput(
            models=self.model_entries(), cache=self.cache_stats(),
            cache_dir=self.settings.cache_dir, records=self.records,
            report_lines=self.report_lines, verbose=self.config.get_verbosity() > 0,
            gate=self.gate_outcome))
        if section is None:
            return
        terminalreporter.write_sep("=", section.title, red=section.warn, bold=section.warn)
        for line in section.lines:
            terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        progress.detach(config)
        del config.stash[state_key]
        config.pluginmanager.unregister(self)


state_key = pytest.StashKey[ClipBiasSession]()
records_key = pytest.StashKey[list]()


@pytest.fixture
def clipbias_record(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Record the BiasResult of a custom measure against this test (reports, baselines).

    ``clipbias_record(result, model=None)`` returns the result; it does not
    raise: call ``pytest_clipbias.results.enforce(result)`` for that.
    """
    from .recording import record
    from .results import BiasResult

    def record_(result: BiasResult, model: Any = None) -> BiasResult:
        if not isinstance(result, BiasResult):
            raise TypeError(f"clipbias_record takes a BiasResult, got {type(result).__name__}")
        record(result, model)
        return result

    return record_


@pytest.fixture(scope="session")
def clipbias_profile(pytestconfig: pytest.Config) -> Any:
    """The active settings profile (--clipbias-profile): permutations, bootstrap, sizes."""
    from .profiles import get_profile

    return get_profile()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    models = metafunc.config.stash[state_key].settings.models
    if "clip_model" in metafunc.fixturenames and len(models) > 1:
        metafunc.parametrize("clip_model", models, indirect=True, ids=models, scope="session")


@pytest.fixture(scope="session")
def clip_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved ``--clip-*`` options of this session."""
    return pytestconfig.stash[state_key].settings


@pytest.fixture(scope="session")
def clip_model(request: pytest.FixtureRequest) -> Any:
    """The CLIP model under test, loaded once per session from the ``--clip-*`` options.

    Skips the test when no model is chosen (an error with --clip-require-model).
    With several models in --clip-model the fixture is parametrized over them.
    """
    session = request.config.stash[state_key]
    name = getattr(request, "param", None)
    if name is None:
        if not session.settings.models:
            if session.settings.require_model:
                pytest.fail(f"--clip-require-model is set but {_SKIP_NO_MODEL}", pytrace=False)
            _skip_here(_SKIP_NO_MODEL)
        name = session.settings.models[0]
    from .demo.train import progress_to

    with progress_to(_progress_line(request.config)):
        return session.get_model(name)


def _progress_line(config: pytest.Config) -> Callable[[object], None]:
    """Write a training progress report as a terminal line (silent under -q and in workers)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(event: object) -> None:
        if reporter is None or config.get_verbosity() < 0 or hasattr(config, "workerinput"):
            return
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(str(event))

    return write


@pytest.fixture(scope="session")
def clip_embeddings(pytestconfig: pytest.Config) -> Any:
    """The --clip-embeddings folder or URL as an EmbeddingStore (skips the test when none is given).

    ``clip_embeddings.faceset()`` takes attributes from its parquet columns;
    ``clip_embeddings.join_manifest(faces)`` checks a FaceSet is covered.
    """
    from .embeddings import EmbeddingStore
    from .remote import parse_storage_options

    session = pytestconfig.stash[state_key]
    folder = session.settings.embeddings
    if folder is None:
        _skip_here("no --clip-embeddings folder given")
    options = parse_storage_options(session.settings.embeddings_storage_options)
    return session.open_cached(f"embeddings:{folder}",
                               lambda: EmbeddingStore(folder, storage_options=options))


@pytest.fixture(scope="session")
def clip_dataset(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """Factory opening a FaceSet by name, once per session.

    ``clip_dataset("fairface", split="val")``, ``clip_dataset("cfd")``,
    ``clip_dataset("utkface")``, ``clip_dataset("facet", crop_dir="/data/facet-crops")``,
    ``clip_dataset("socialcounterfactuals")``, ``clip_dataset("manifest", path="regions.csv")``,
    ``clip_dataset("folders", path="faces", keys=("race", "gender"))``,
    ``clip_dataset("synthetic", n=400, seed=1)``. Data not on disk skips the
    test with a message saying where to put it (an error with
    --clip-require-data); broken data is an error.
    """
    from .data.registry import open_dataset

    session = pytestconfig.stash[state_key]
    settings = session.settings

    def open_(name: str, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return session.open_cached(
            f"dataset:{name}:{sorted(kwargs.items())!r}",
            lambda: open_dataset(name, data_root=settings.data_root,
                                 base_dir=pytestconfig.rootpath, **kwargs))

    return open_


@pytest.fixture(scope="session")
def clip_morphs(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
                ) -> Callable[..., Any]:
    """Factory returning morph series: ``clip_morphs("cfd", pairs=[("Black", "White")])``.

    Sources: "synthetic" (generated, always available), "folder" (ready-made
    series, ``path=...``) and "cfd" (built from Chicago Face Database parents
    under --clip-data-root and kept in pytest's cache for the next run).
    """
    from .data.registry import open_morphs

    session = pytestconfig.stash[state_key]
    settings = session.settings
    cache = getattr(pytestconfig, "cache", None)
    work = Path(cache.mkdir("clipbias-morphs")) if cache else tmp_path_factory.mktemp("morphs")

    def open_(source: str, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return session.open_cached(
            f"morphs:{source}:{sorted(kwargs.items())!r}",
            lambda: open_morphs(source, data_root=settings.data_root,
                                base_dir=pytestconfig.rootpath, work_dir=work, **kwargs))

    return open_

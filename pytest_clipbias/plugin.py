"""The pytest plugin: options, session state, fixtures and the terminal summary.

Hooks stay thin; the state of a session lives in one ``ClipBiasState`` object
on ``config.stash``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .cache import CacheStats
from .errors import ClipBiasError
from .settings import REPORT_OPTIONS, Settings, add_options

_SKIP_NO_MODEL = (
    "no CLIP model chosen: pass --clip-model (e.g. --clip-model ViT-B-32 --clip-pretrained "
    "openai), set the ini key clip_model, or the environment variable CLIPBIAS_MODEL"
)
_WORKER_KEY = "clipbias_cache_stats"


@dataclass
class ClipBiasState:
    """Per-session state: settings, loaded models (or their load errors), cache counters."""

    settings: Settings
    models: dict[str, object] = field(default_factory=dict)
    worker_stats: CacheStats = field(default_factory=CacheStats)
    datasets: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    report_lines: list[str] = field(default_factory=list)

    def cache_stats(self) -> CacheStats:
        """Hits and misses of this process's models plus those reported by xdist workers."""
        total = CacheStats()
        total.add(self.worker_stats)
        for model in self.models.values():
            cache = getattr(model, "cache", None)
            if cache is not None:
                total.add(cache.stats)
        return total

    def get_model(self, name: str):
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
                    name,
                    s.pretrained.get(name),
                    device=s.device,
                    precision=s.precision,
                    batch_size=s.batch_size,
                    cache_dir=s.cache_dir,
                    seed=s.seed,
                )
                if s.embeddings is not None:
                    from .embeddings import PrecomputedEncoder

                    self.models[name] = PrecomputedEncoder(self.models[name], s.embeddings)
            except ClipBiasError as exc:
                self.models[name] = exc
        result = self.models[name]
        if isinstance(result, ClipBiasError):
            pytest.fail(str(result), pytrace=False)
        return result


state_key = pytest.StashKey[ClipBiasState]()
records_key = pytest.StashKey[list]()
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
    load_profile(settings.report["clipbias_profile"])
    state = ClipBiasState(settings)
    config.stash[state_key] = state
    if not _is_worker(config):
        config.pluginmanager.register(_ResultCollector(state), "clipbias-results")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Collect the results recorded while the test body runs."""
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
        for rec in found:  # junitxml writes item.user_properties as <property> elements
            r = rec["result"]
            prefix = f"clipbias.{r['name']}"
            item.user_properties.extend([
                (f"{prefix}.effect", r["effect"]), (f"{prefix}.ci", r["ci"]),
                (f"{prefix}.p_value", r["p_value"]), (f"{prefix}.verdict", r["verdict"]),
            ])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Attach the test's results to its call report: reports cross from xdist workers."""
    report = yield
    if call.when == "call" and item.stash.get(records_key, None):
        records = item.stash[records_key]
        for rec in records:
            rec["outcome"] = report.outcome
        report.clipbias_results = records
    return report


class _ResultCollector:
    """Gathers the results attached to call reports (from this process or xdist workers)."""

    def __init__(self, state: ClipBiasState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        records = getattr(report, "clipbias_results", None)
        if records and report.when == "call":
            self.state.records.extend(records)


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
def clipbias_profile(pytestconfig: pytest.Config):
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
def clip_model(request: pytest.FixtureRequest):
    """The CLIP model under test, loaded once per session from the ``--clip-*`` options.

    Skips the test when no model is chosen (an error with --clip-require-model).
    With several models in --clip-model the fixture is parametrized over them.
    """
    state = request.config.stash[state_key]
    name = getattr(request, "param", None)
    if name is None:
        if not state.settings.models:
            if state.settings.require_model:
                pytest.fail(f"--clip-require-model is set but {_SKIP_NO_MODEL}", pytrace=False)
            pytest.skip(_SKIP_NO_MODEL)
        name = state.settings.models[0]
    return state.get_model(name)


@pytest.fixture(scope="session")
def clip_embeddings(pytestconfig: pytest.Config):
    """The --clip-embeddings folder as an EmbeddingStore (skips the test when none is given).

    ``clip_embeddings.faceset()`` takes attributes from its parquet columns;
    ``clip_embeddings.join_manifest(faces)`` checks a FaceSet is covered.
    """
    from .embeddings import EmbeddingStore

    folder = pytestconfig.stash[state_key].settings.embeddings
    if folder is None:
        pytest.skip("no --clip-embeddings folder given")
    return _open_cached(pytestconfig, f"embeddings:{folder}", lambda: EmbeddingStore(folder))


def _open_cached(config: pytest.Config, key: str, opener: Callable[[], Any]) -> Any:
    """Open a dataset once per session; skip (or fail) when it is not on disk."""
    from .data.registry import DatasetUnavailable

    state = config.stash[state_key]
    if key not in state.datasets:
        try:
            state.datasets[key] = opener()
        except DatasetUnavailable as exc:
            if state.settings.require_data:
                pytest.fail(f"--clip-require-data is set: {exc}", pytrace=False)
            pytest.skip(str(exc))
    return state.datasets[key]


@pytest.fixture(scope="session")
def clip_dataset(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """Factory opening a FaceSet by name, once per session.

    ``clip_dataset("fairface", split="val")``, ``clip_dataset("cfd")``,
    ``clip_dataset("utkface")``, ``clip_dataset("manifest", path="regions.csv")``,
    ``clip_dataset("folders", path="faces", keys=("race", "gender"))``,
    ``clip_dataset("synthetic", n=400, seed=1)``. Data not on disk skips the
    test with a message saying where to put it (an error with
    --clip-require-data); broken data is an error.
    """
    from .data.registry import open_dataset

    settings = pytestconfig.stash[state_key].settings

    def open_(name: str, **kwargs: Any):
        return _open_cached(pytestconfig, f"dataset:{name}:{sorted(kwargs.items())!r}",
                            lambda: open_dataset(name, data_root=settings.data_root,
                                                 base_dir=pytestconfig.rootpath, **kwargs))

    return open_


@pytest.fixture(scope="session")
def clip_morphs(pytestconfig: pytest.Config, tmp_path_factory) -> Callable[..., Any]:
    """Factory returning morph series: ``clip_morphs("cfd", pairs=[("Black", "White")])``.

    Sources: "synthetic" (generated, always available), "folder" (ready-made
    series, ``path=...``) and "cfd" (built from Chicago Face Database parents
    under --clip-data-root and kept in pytest's cache for the next run).
    """
    from .data.registry import open_morphs

    settings = pytestconfig.stash[state_key].settings
    cache = getattr(pytestconfig, "cache", None)
    work = Path(cache.mkdir("clipbias-morphs")) if cache else tmp_path_factory.mktemp("morphs")

    def open_(source: str, **kwargs: Any):
        return _open_cached(pytestconfig, f"morphs:{source}:{sorted(kwargs.items())!r}",
                            lambda: open_morphs(source, data_root=settings.data_root,
                                                base_dir=pytestconfig.rootpath, work_dir=work,
                                                **kwargs))

    return open_


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[state_key]
    for model in state.models.values():  # checkpoint each cache's WAL into its main file
        cache = getattr(model, "cache", None)
        if cache is not None:
            cache.close()
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_KEY] = state.cache_stats().to_dict()
    else:
        from .report.session import finish_reports

        if finish_reports(config, state) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """Under pytest-xdist, add each worker's cache counters to the controller's."""
    data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if data is not None:
        node.config.stash[state_key].worker_stats.add(CacheStats.from_dict(data))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is None:
        return
    stats = state.cache_stats()
    lookups = sum(stats.hits.values()) + sum(stats.misses.values())
    if not state.models and not lookups and not state.records and not state.report_lines:
        return
    tr = terminalreporter
    tr.write_sep("=", "clipbias")
    for name, model in state.models.items():
        if isinstance(model, ClipBiasError):
            tr.write_line(f"model {name}: unavailable: {str(model).splitlines()[0]}")
        else:
            tr.write_line(f"model {model.describe()}")
    where = state.settings.cache_dir or "disabled (--clip-no-cache)"
    parts = ", ".join(
        f"{kind}s {stats.hits.get(kind, 0)} hits / {stats.misses.get(kind, 0)} misses"
        for kind in ("image", "text")
    )
    dropped = f", {stats.dropped} damaged entries recomputed" if stats.dropped else ""
    tr.write_line(f"embedding cache {where}: {parts}{dropped}")
    from .report.summary import result_lines

    if state.records:
        tr.write_line("")
        for line in result_lines(state.records, verbose=config.get_verbosity() > 0):
            tr.write_line(line)
    for line in state.report_lines:
        tr.write_line(line)

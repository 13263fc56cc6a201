"""The runnable Examples in the docstrings of the assertion helpers and the stats engine.

Run with :func:`doctest.testmod` per module rather than ``--doctest-modules``,
so collection of the package (and its lazy imports) is left alone.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import pytest_clipbias.assertions
import pytest_clipbias.stats

MODULES = sorted(
    info.name
    for package in (pytest_clipbias.assertions, pytest_clipbias.stats)
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
)


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
    if any(attr.startswith("audit_") for attr in vars(module)):
        assert result.attempted > 0, f"{name} defines a check without a runnable Example"


def test_every_audit_helper_has_a_runnable_example() -> None:
    finder = doctest.DocTestFinder()
    for name in pytest_clipbias.assertions.__all__:
        if name.startswith("audit_"):
            helper = getattr(pytest_clipbias.assertions, name)
            tests = finder.find(helper, name, globs={name: helper})
            assert sum(len(t.examples) for t in tests) > 0, f"{name} has no Example"
            assert {"Parameters", "Returns", "Examples"} <= set(helper.__doc__.split()), name


STATS_MODULES = [name for name in MODULES if name.startswith("pytest_clipbias.stats.")]
STATS_FUNCTIONS = sorted(
    name for name in pytest_clipbias.stats.__all__
    if inspect.isfunction(getattr(pytest_clipbias.stats, name))
)


@pytest.mark.parametrize("name", STATS_FUNCTIONS)
def test_every_public_stats_function_has_a_numpydoc_example(name: str) -> None:
    func = getattr(pytest_clipbias.stats, name)
    tests = doctest.DocTestFinder().find(func, name, globs={name: func})
    assert sum(len(t.examples) for t in tests) > 0, f"stats.{name} has no runnable Example"
    sections = {line.strip() for line in inspect.getdoc(func).splitlines()}
    assert {"Parameters", "Returns", "Examples"} <= sections, f"stats.{name} lacks a section"


def test_stats_modules_run_their_examples() -> None:
    attempted = 0
    for name in STATS_MODULES:
        result = doctest.testmod(
            importlib.import_module(name),
            optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        )
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted > 0, "no stats example was run"

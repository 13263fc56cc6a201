"""The runnable Examples in the docstrings of the assertion helpers and the stats engine.

Run with :func:`doctest.testmod` per module rather than ``--doctest-modules``,
so collection of the package (and its lazy imports) is left alone.
"""

from __future__ import annotations

import doctest
import importlib
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

"""How each measure is shown: its table columns and plots, registered by measure name.

The summary and the HTML report look a measure up here instead of branching
on its name, so a new check (or a user's custom measure recorded with
``clipbias_record``) adds its own view with ``register_view``:

    register_view("my_measure", columns=("rate",), plots=(my_plot,))

A plot function takes the result dict (``BiasResult.to_dict()``) and returns
a matplotlib figure, or None when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The fields every table row has (see BiasResult): never a group column.
ROW_FIELDS = ("effect", "ci_low", "ci_high", "ci_basis", "p_value", "n", "verdict", "passed",
              "reason")

Plot = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class MeasureView:
    """Extra columns (row keys, shown after the groups) and plots of one measure."""

    columns: tuple[str, ...] = ()
    plots: tuple[Plot, ...] = ()
    hidden: tuple[str, ...] = ()  # string-valued row keys that are not groups


_VIEWS: dict[str, MeasureView] = {}
_DEFAULT = MeasureView()


def register_view(measure: str, *, columns: Sequence[str] = (), plots: Sequence[Plot] = (),
                  hidden: Sequence[str] = ()) -> None:
    """Declare the table columns and plots of ``measure`` (a BiasResult name)."""
    _VIEWS[measure] = MeasureView(tuple(columns), tuple(plots), tuple(hidden))


def view_for(measure: str) -> MeasureView:
    """The registered view, or one showing only groups and the standard fields."""
    from . import plots  # noqa: F401  (registers the built-in measures' views)

    return _VIEWS.get(measure, _DEFAULT)


def group_keys(rows: Sequence[Mapping[str, Any]], view: MeasureView) -> list[str]:
    """Every string-valued key that names a group, over all rows, in first-seen order.

    Rows of one table may carry different groups (a cue row has region and
    gender, a marginal row only the region): the union keeps every column.
    """
    skip = {*ROW_FIELDS, *view.columns, *view.hidden}
    keys: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if key not in skip and isinstance(value, str):
                keys.setdefault(key, None)
    return list(keys)


def group_name(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    """"region=South Asia, gender=male" for one row (only the keys it has)."""
    return ", ".join(f"{k}={row[k]}" for k in keys if row.get(k) not in (None, ""))

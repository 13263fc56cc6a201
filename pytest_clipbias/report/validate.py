"""Structural checks of a saved results document (a baseline), before anything reads it.

Baselines are JSON files that people edit, merge and copy between CI jobs; a
record without ``test``, ``"model": null`` or ``records`` written as an object
must give an error naming the file and the record, not a traceback halfway
through a comparison.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ClipBiasError

LIMIT = 20


class ResultsFileError(ClipBiasError, ValueError):
    """A saved results file is malformed; the message names the file and the records."""


def _number_or_none(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def _record_problems(i: int, rec: Any) -> list[str]:
    where = f"records[{i}]"
    if not isinstance(rec, Mapping):
        return [f"{where} is a {type(rec).__name__}, not an object"]
    out = []
    if not isinstance(rec.get("test"), str):
        out.append(f"{where}.test is missing or not a string")
    if not isinstance(rec.get("model"), Mapping):
        out.append(f"{where}.model is missing or not an object (got {rec.get('model')!r})")
    result = rec.get("result")
    if not isinstance(result, Mapping):
        return [*out, f"{where}.result is missing or not an object"]
    if not isinstance(result.get("name"), str):
        out.append(f"{where}.result.name is missing or not a string")
    if not _number_or_none(result.get("effect")):
        out.append(f"{where}.result.effect is not a number (got {result.get('effect')!r})")
    ci = result.get("ci")
    if not (isinstance(ci, list) and len(ci) == 2 and all(map(_number_or_none, ci))):
        out.append(f"{where}.result.ci is not a pair of numbers (got {ci!r})")
    return out


def check_results_document(data: Mapping[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """Return ``data`` when every record has what a comparison reads; else ResultsFileError.

    Lists the first 20 problems and their count, and says how to recover.
    """
    records = data.get("records")
    if not isinstance(records, list):
        problems = [f"'records' must be a list, got {type(records).__name__}"]
    else:
        problems = [p for i, rec in enumerate(records) for p in _record_problems(i, rec)]
    if problems:
        shown = "\n  ".join(problems[:LIMIT])
        more = f"\n  ... and {len(problems) - LIMIT} more" if len(problems) > LIMIT else ""
        raise ResultsFileError(
            f"saved results {os.fspath(path)} are malformed ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n  {shown}{more}\n"
            "Restore the file from version control or save a new baseline with "
            "--clipbias-save NAME.")
    return dict(data)

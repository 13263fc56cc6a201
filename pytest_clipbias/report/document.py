"""The JSON document of a run: metadata plus one record per recorded result.

Schema (``SCHEMA`` below, also docs/results.schema.json):

    {"schema": "pytest-clipbias/results/2", "created": ISO time,
     "run": {"models": [{name, description, random_init, fingerprint, ...}], "seed",
             "profile", "versions": {...}, "git_commit", "pytest_args": [...]},
     "tests": [{"test": node id, "outcome": passed|failed|error|skipped|xfailed|xpassed,
                "message": skip reason or first error line, "duration": seconds}],
     "records": [{"test": node id, "outcome": passed|failed|skipped,
                  "marker": {family, dataset, owner, ...}, "model": {name, fingerprint, ...},
                  "templates_hash", "data_fingerprint", "result": BiasResult.to_dict()}],
     "gate": {"baseline", "verdict": passed|failed|informational, "reasons": [...],
              "rules", "alpha", "family", "regressed": [cells], "results": [...]}}

Version 2 adds, per result, ``details["gate"]``: every cell with its interval,
the interval's level and kind, and per-item outcomes keyed by content (see
:mod:`pytest_clipbias.outcomes`), and the ``gate`` section (present when the
run compared with a baseline). Version 1 documents (saved before) still load;
the gate compares them per table row, unpaired.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..recording import model_info, stable_hash
from ..results import BiasResult, json_safe

SCHEMA_ID = "pytest-clipbias/results/2"
#: Every schema this version reads (older baselines stay usable).
READABLE = ("pytest-clipbias/results/1", SCHEMA_ID)
_PACKAGES = ("pytest-clipbias", "pytest", "numpy", "scipy", "torch", "open_clip_torch",
             "pillow")


def make_record(result: BiasResult, encoder: Any, *, test: str = "",
                marker: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One JSON-safe record of a result (built when the result is recorded)."""
    return json_safe({
        "test": test, "outcome": None, "marker": dict(marker or {}),
        "model": model_info(encoder),
        "templates_hash": stable_hash(list(result.prompts)),
        "data_fingerprint": result.data_fingerprint,
        "result": result.to_dict(),
    })


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(directory: Path) -> str | None:
    """HEAD commit of the repository containing ``directory``, if any."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def build_document(records: Sequence[Mapping[str, Any]], run: Mapping[str, Any],
                   tests: Sequence[Mapping[str, Any]] = ()) -> dict:
    """The full JSON document; ``tests`` has every test's outcome, skips and errors included."""
    return json_safe({
        "schema": SCHEMA_ID,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run": dict(run), "records": list(records), "tests": list(tests),
    })


def write_json(path: str | os.PathLike, document: Mapping[str, Any]) -> Path:
    """Write atomically (temp file then rename): a crash never leaves half a report."""
    return atomic_write_text(path, json.dumps(document, indent=1, allow_nan=False))


def load_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results document, checking its schema id."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read clipbias results {p}: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") not in READABLE:
        found = data.get("schema") if isinstance(data, dict) else None
        raise ValueError(f"{p} is not a pytest-clipbias results file this version reads "
                         f"(schema {found!r}; readable: {', '.join(READABLE)})")
    return data


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "type": "object",
    "required": ["schema", "created", "run", "records"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "created": {"type": "string"},
        "run": {
            "type": "object",
            "required": ["models", "versions"],
            "properties": {
                "models": {"type": "array", "items": {"type": "object"}},
                "seed": {"type": ["integer", "null"]},
                "profile": {"type": ["string", "null"]},
                "versions": {"type": "object", "additionalProperties": {"type": "string"}},
                "git_commit": {"type": ["string", "null"]},
                "pytest_args": {"type": "array", "items": {"type": "string"}},
            },
        },
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["test", "outcome"],
                "properties": {
                    "test": {"type": "string"},
                    "outcome": {"enum": ["passed", "failed", "error", "skipped", "xfailed",
                                         "xpassed", None]},
                    "message": {"type": "string"},
                    "duration": {"type": "number"},
                },
            },
        },
        "gate": {
            "type": "object",
            "required": ["baseline", "verdict", "reasons", "regressed", "results"],
            "properties": {
                "baseline": {"type": "string"},
                "verdict": {"enum": ["passed", "failed", "informational"]},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "rules": {"type": "array", "items": {"type": "string"}},
                "alpha": {"type": "number"},
                "family": {"type": "string"},
                "warnings": {"type": "array", "items": {"type": "string"}},
                "regressed": {"type": "array", "items": {"type": "object"}},
                "results": {"type": "array", "items": {"type": "object"}},
            },
        },
        "records": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["test", "outcome", "model", "templates_hash", "data_fingerprint",
                             "result"],
                "properties": {
                    "test": {"type": "string"},
                    "outcome": {"type": ["string", "null"]},
                    "marker": {"type": "object"},
                    "model": {"type": "object"},
                    "templates_hash": {"type": "string"},
                    "data_fingerprint": {"type": "string"},
                    "result": {
                        "type": "object",
                        "required": ["name", "effect", "effect_name", "ci", "p_value", "n",
                                     "threshold", "passed", "verdict", "table"],
                        "properties": {
                            "name": {"type": "string"},
                            "effect": {"type": ["number", "null"]},
                            "effect_name": {"type": "string"},
                            "ci": {"type": "array", "items": {"type": ["number", "null"]},
                                   "minItems": 2, "maxItems": 2},
                            "p_value": {"type": ["number", "null"]},
                            "n": {"type": "integer"},
                            "threshold": {"type": ["number", "null"]},
                            "passed": {"type": "boolean"},
                            "verdict": {"enum": ["pass", "fail", "inconclusive"]},
                            "table": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                },
            },
        },
    },
}

"""Where assertion helpers send their results: the running test, if there is one.

The plugin installs a recorder around each test call; outside pytest (or
outside a test) recording is a no-op, so the helpers work in notebooks too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from .results import BiasResult

Recorder = Callable[[BiasResult, Any], None]
_current: ContextVar[Recorder | None] = ContextVar("clipbias_recorder", default=None)


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Send results recorded inside the block to ``recorder``."""
    token = _current.set(recorder)
    try:
        yield
    finally:
        _current.reset(token)


def record(result: BiasResult, encoder: Any = None) -> None:
    """Record a result (and the encoder that produced it) against the running test."""
    recorder = _current.get()
    if recorder is not None:
        recorder(result, encoder)


def model_info(encoder: Any) -> dict[str, Any]:
    """What identifies the encoder in reports: name, weights, fingerprint when known."""
    if encoder is None:
        return {}
    info = {"type": type(encoder).__name__}
    for attr in ("name", "fingerprint", "device", "precision"):
        value = getattr(encoder, attr, None)
        if isinstance(value, (str, int, float)):
            info[attr] = value
    weights = getattr(encoder, "weights", None)
    if weights is not None and hasattr(weights, "describe"):
        info["weights"] = weights.describe()
    return info


def stable_hash(value: Any) -> str:
    """Short SHA-256 of a JSON-able value (templates, labels), for comparability checks."""
    blob = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]

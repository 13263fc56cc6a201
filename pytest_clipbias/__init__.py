"""pytest-clipbias: bias and fairness regression tests for CLIP-style models.

The public names below are the stable API (README.md; docs/ for the demo
models); modules not re-exported here are internal. They are imported on
first use (PEP 562), so that loading the pytest plugin, which imports this
package in every pytest run, does not pull in torch, scipy or PIL.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "assert_accuracy_parity": "assertions",
    "assert_association_below": "assertions",
    "assert_label_rate_parity": "assertions",
    "assert_max_skew_below": "assertions",
    "assert_no_denigration": "assertions",
    "assert_no_hypodescent": "assertions",
    "assert_person_default_unmarked": "assertions",
    "assert_region_gender_skew_below": "assertions",
    "audit_accuracy_parity": "assertions",
    "audit_association": "assertions",
    "audit_denigration": "assertions",
    "audit_hypodescent": "assertions",
    "audit_label_rate_parity": "assertions",
    "audit_max_skew": "assertions",
    "audit_person_default": "assertions",
    "audit_region_gender_skew": "assertions",
    "CacheStats": "cache",
    "CacheWarning": "cache",
    "EmbeddingCache": "cache",
    "DatasetError": "data",
    "FaceItem": "data",
    "FaceSet": "data",
    "MorphSeries": "data",
    "ClipBiasError": "errors",
    "ConfigurationError": "errors",
    "ImageLoadError": "errors",
    "ModelUnavailableError": "errors",
    "ClipModel": "model",
    "Encoder": "model",
    "encode_labels": "model",
    "Profile": "profiles",
    "assert_prompt_robust": "prompts",
    "get_profile": "profiles",
    "register_profile": "profiles",
    "BiasAssertionError": "results",
    "BiasInconclusiveError": "results",
    "BiasResult": "results",
    "enforce": "results",
}

__all__ = sorted(_EXPORTS, key=str.lower)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

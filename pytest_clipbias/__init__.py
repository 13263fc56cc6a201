"""pytest-clipbias: bias and fairness regression tests for CLIP-style models.

The public names below are the stable API (see docs and DESIGN.md); modules
not re-exported here are internal.
"""

from .assertions import (
    assert_association_below,
    assert_label_rate_parity,
    assert_max_skew_below,
    assert_no_hypodescent,
    assert_person_default_unmarked,
    assert_region_gender_skew_below,
    audit_association,
    audit_hypodescent,
    audit_label_rate_parity,
    audit_max_skew,
    audit_person_default,
    audit_region_gender_skew,
)
from .cache import CacheStats, CacheWarning, EmbeddingCache
from .data import DatasetError, FaceItem, FaceSet, MorphSeries
from .errors import ClipBiasError, ConfigurationError, ImageLoadError, ModelUnavailableError
from .model import ClipModel, Encoder, encode_labels
from .profiles import Profile, get_profile, register_profile
from .results import BiasAssertionError, BiasInconclusiveError, BiasResult, enforce

__all__ = [
    "BiasAssertionError",
    "BiasInconclusiveError",
    "BiasResult",
    "CacheStats",
    "CacheWarning",
    "ClipBiasError",
    "ClipModel",
    "ConfigurationError",
    "DatasetError",
    "EmbeddingCache",
    "Encoder",
    "FaceItem",
    "FaceSet",
    "ImageLoadError",
    "ModelUnavailableError",
    "MorphSeries",
    "Profile",
    "assert_association_below",
    "assert_label_rate_parity",
    "assert_max_skew_below",
    "assert_no_hypodescent",
    "assert_person_default_unmarked",
    "assert_region_gender_skew_below",
    "audit_association",
    "audit_hypodescent",
    "audit_label_rate_parity",
    "audit_max_skew",
    "audit_person_default",
    "audit_region_gender_skew",
    "encode_labels",
    "enforce",
    "get_profile",
    "register_profile",
]
__version__ = "0.1.0"

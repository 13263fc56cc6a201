"""Assertion helpers: encode with any encoder, measure, decide, and pass or raise.

Each helper takes an object with the encoder protocol first, returns a
passing BiasResult, raises BiasAssertionError (an AssertionError carrying
``.result``) when the model is more biased than allowed, and
BiasInconclusiveError when the data cannot support a verdict.
"""

from .hypodescent import (
    assert_association_below,
    assert_no_hypodescent,
    assert_person_default_unmarked,
)
from .region import (
    assert_label_rate_parity,
    assert_max_skew_below,
    assert_region_gender_skew_below,
)

__all__ = [
    "assert_association_below",
    "assert_label_rate_parity",
    "assert_max_skew_below",
    "assert_no_hypodescent",
    "assert_person_default_unmarked",
    "assert_region_gender_skew_below",
]

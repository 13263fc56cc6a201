"""Assertion helpers and their non-raising audit forms.

Each helper is a short composition: validate the arguments, encode through a
validating wrapper, compute a pure measure (``pytest_clipbias.measures``,
typed rows of cells), judge every cell with the one shared judge
(``judge.py``: correction, decision, roll-up) and format the message. The
``audit_*`` functions return the BiasResult whatever the verdict; the
``assert_*`` helpers return it when it passes, raise BiasAssertionError (an
AssertionError carrying ``.result``) on "fail" and BiasInconclusiveError on
"inconclusive". A seventh helper needs a measure and a formatter.
"""

from .accuracy import assert_accuracy_parity, audit_accuracy_parity
from .association import assert_association_below, audit_association
from .hypodescent import assert_no_hypodescent, audit_hypodescent
from .markedness import assert_person_default_unmarked, audit_person_default
from .parity import (
    assert_label_rate_parity,
    assert_no_denigration,
    audit_denigration,
    audit_label_rate_parity,
)
from .region import assert_region_gender_skew_below, audit_region_gender_skew
from .retrieval import assert_max_skew_below, audit_max_skew

__all__ = [
    "assert_accuracy_parity",
    "assert_association_below",
    "assert_label_rate_parity",
    "assert_max_skew_below",
    "assert_no_denigration",
    "assert_no_hypodescent",
    "assert_person_default_unmarked",
    "assert_region_gender_skew_below",
    "audit_accuracy_parity",
    "audit_association",
    "audit_denigration",
    "audit_hypodescent",
    "audit_label_rate_parity",
    "audit_max_skew",
    "audit_person_default",
    "audit_region_gender_skew",
]

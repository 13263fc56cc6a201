"""Statistics engine of pytest-clipbias: pure numpy/scipy, no torch, no pytest.

Every public function documents its formula and reference. Seeds: functions
that resample take ``seed`` (an int or a numpy Generator); None means seed 0,
so results are reproducible by default.
"""

from .cluster import (
    ClusteredProportion,
    cluster_h_ci,
    cluster_h_test,
    cluster_proportion_ci,
    clustered_proportion,
)
from .corrections import adjust_pvalues
from .correlation import CorrelationResult, correlation
from .decision import Decision, decide
from .effects import (
    association,
    cohens_d,
    cohens_d_ci,
    cohens_h,
    cohens_h_ci,
    cosine,
    cramers_v,
    hedges_correction,
    hedges_g,
    log_ratio_skew,
    pooled_sd,
    proportion_difference,
    proportion_ratio,
    sc_eat_d,
    weat_d,
)
from .exact import binomial_test, fisher_exact, two_proportion_test
from .intervals import (
    bootstrap_ci,
    clopper_pearson,
    cluster_bootstrap_ci,
    newcombe,
    proportion_ci,
    wilson,
)
from .mineffect import (
    ALTERNATIVES,
    d_ci,
    d_test,
    eat_d_ci,
    eat_d_test,
    h_one_sample_ci,
    h_one_sample_test,
    h_two_sample_ci,
    h_two_sample_test,
    min_effect_p,
)
from .permutation import (
    EatResult,
    PermutationResult,
    cohens_d_test,
    permutation_test,
    permutation_test_columns,
    sc_eat_test,
    subset_sum_test,
    weat_test,
)
from .power import min_effect_power, required_n
from .studentized import StudentizedD, studentized_d

__all__ = [
    "ALTERNATIVES",
    "ClusteredProportion",
    "CorrelationResult",
    "Decision",
    "EatResult",
    "PermutationResult",
    "StudentizedD",
    "adjust_pvalues",
    "association",
    "binomial_test",
    "bootstrap_ci",
    "clopper_pearson",
    "cluster_bootstrap_ci",
    "cluster_h_ci",
    "cluster_h_test",
    "cluster_proportion_ci",
    "clustered_proportion",
    "cohens_d",
    "cohens_d_ci",
    "cohens_d_test",
    "cohens_h",
    "cohens_h_ci",
    "correlation",
    "cosine",
    "cramers_v",
    "d_ci",
    "d_test",
    "decide",
    "eat_d_ci",
    "eat_d_test",
    "fisher_exact",
    "h_one_sample_ci",
    "h_one_sample_test",
    "h_two_sample_ci",
    "h_two_sample_test",
    "hedges_correction",
    "hedges_g",
    "log_ratio_skew",
    "min_effect_p",
    "min_effect_power",
    "newcombe",
    "permutation_test",
    "permutation_test_columns",
    "pooled_sd",
    "proportion_ci",
    "proportion_difference",
    "proportion_ratio",
    "required_n",
    "sc_eat_d",
    "sc_eat_test",
    "studentized_d",
    "subset_sum_test",
    "two_proportion_test",
    "weat_d",
    "weat_test",
    "wilson",
]

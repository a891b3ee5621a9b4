"""Reading a sweep: which settings to choose and what the theory says about them.

* :mod:`taskfair.analysis.selection` — Pareto fronts and the λ selector (validation
  rows only; the choice is reported on test).
* :mod:`taskfair.analysis.bound` — Proposition 1's DPD bound (its shape), an empirical
  lower estimate of the Lipschitz constant, and the task vectors' Gram matrix.

Both take tidy sweep frames, logits and task vectors, and draw nothing (figures are in
:mod:`taskfair.plots`).
"""

from __future__ import annotations

from taskfair.analysis.bound import (
    ASSUMPTION,
    EOD_NOTE,
    ESTIMATOR_NOTE,
    LipschitzEstimate,
    dpd_bound,
    dpd_bound_curve,
    estimate_lipschitz,
    gram_matrix,
    param_distance,
)
from taskfair.analysis.selection import Selection, pareto_front, report_on_test, select_lambda

__all__ = [
    "ASSUMPTION",
    "EOD_NOTE",
    "ESTIMATOR_NOTE",
    "LipschitzEstimate",
    "Selection",
    "dpd_bound",
    "dpd_bound_curve",
    "estimate_lipschitz",
    "gram_matrix",
    "param_distance",
    "pareto_front",
    "report_on_test",
    "select_lambda",
]

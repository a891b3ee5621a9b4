"""The steering assistant: search per-vector coefficients for the fairest model under an
accuracy floor, certified by bootstrap intervals, and describe the result in a merge card.

Modules, one concept each: :mod:`~taskfair.steer.problem` (objective, constraints, the
question), :mod:`~taskfair.steer.certify` (metrics from count tables, the paired row
bootstrap, degeneracy), :mod:`~taskfair.steer.score` (the number a search minimises, and
acceptance), :mod:`~taskfair.steer.surrogate` (previews of mixes), :mod:`~taskfair.steer.search`
(strategies), :mod:`~taskfair.steer.state` (the resumable state on disk),
:mod:`~taskfair.steer.driver` (the loop, :func:`steer`), :mod:`~taskfair.steer.bounds` (what a
search is refused), :mod:`~taskfair.steer.result` (what it found), :mod:`~taskfair.steer.resume`
(a resumed state checked), :mod:`~taskfair.steer.influence`
(which vector moves which group), :mod:`~taskfair.steer.card` (the merge card and the
rebuild script) and :mod:`~taskfair.steer.command` (the ``steer`` CLI command).
"""

from taskfair.steer.certify import (
    DEGENERATE_HIGH,
    DEGENERATE_LOW,
    CountMetrics,
    Interval,
    RowBootstrap,
    degeneracy,
)
from taskfair.steer.driver import SteerResult, steer
from taskfair.steer.influence import RATES, influence_at, influence_matrix, soft_rates
from taskfair.steer.problem import (
    DEFAULT_BUDGET,
    DEFAULT_MARGIN,
    OBJECTIVES,
    Constraints,
    Objective,
    Problem,
)
from taskfair.steer.search import STRATEGIES
from taskfair.steer.surrogate import Surrogate

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_MARGIN",
    "DEGENERATE_HIGH",
    "DEGENERATE_LOW",
    "OBJECTIVES",
    "RATES",
    "STRATEGIES",
    "Constraints",
    "CountMetrics",
    "Interval",
    "Objective",
    "Problem",
    "RowBootstrap",
    "SteerResult",
    "Surrogate",
    "degeneracy",
    "influence_at",
    "influence_matrix",
    "soft_rates",
    "steer",
]

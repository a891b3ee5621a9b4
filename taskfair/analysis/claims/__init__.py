"""The paper's claims C1–C5, judged on a bundle's sweeps: estimates with 95% CIs, verdicts.

Two steps, so that the verdict rules can be checked on hand-made numbers:

* :func:`estimates` (:mod:`.estimates`) turns the tidy sweep rows and the points' cached
  logits into an *estimates frame* (:data:`ESTIMATE_COLUMNS`): one row per measured
  quantity with its seed mean, standard error across seeds and 95% interval from one
  stratified row bootstrap (:mod:`.resample`) shared by every point.
* :func:`judge` (:mod:`.rules`) reads an estimates frame and returns one
  :class:`ClaimResult` per claim, with two readings: ``direction`` (point estimates) and
  ``verdict`` (intervals); :func:`delta_table` repeats the δ-dependent verdicts at each
  margin of :data:`DELTAS`.

Verdicts: ``holds``, ``does not hold``, ``inconclusive``; :data:`RULES` states each rule.
"""

from taskfair.analysis.claims.base import (
    DEFAULT_DELTA,
    DELTAS,
    ESTIMATE_COLUMNS,
    HOLDS,
    INCONCLUSIVE,
    NOT_HOLDS,
    ClaimResult,
)
from taskfair.analysis.claims.estimates import C4_LAM, EARLY, FIT_LAMS, estimates, group_names
from taskfair.analysis.claims.resample import (
    GROUP_METRICS,
    POINT_METRICS,
    replicates,
    stratified_weights,
    weighted_scores,
)
from taskfair.analysis.claims.rules import C1_FROM, CLAIMS, RULES, delta_table, judge

__all__ = [
    "C1_FROM",
    "C4_LAM",
    "CLAIMS",
    "DEFAULT_DELTA",
    "DELTAS",
    "EARLY",
    "ESTIMATE_COLUMNS",
    "FIT_LAMS",
    "GROUP_METRICS",
    "HOLDS",
    "INCONCLUSIVE",
    "NOT_HOLDS",
    "POINT_METRICS",
    "RULES",
    "ClaimResult",
    "delta_table",
    "estimates",
    "group_names",
    "judge",
    "replicates",
    "stratified_weights",
    "weighted_scores",
]

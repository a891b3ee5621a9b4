"""The one number a search minimises, for previews and exact points alike, and acceptance.

``score = objective`` for a candidate that meets the constraints; a candidate that does
not pays ``1 + objective + 10 · violation`` (violation: how far the lower end of its
accuracy interval, or of a floored group's, falls below the floor), a degenerate one
``2 +`` more, an undefined objective :data:`UNDEFINED`. Every feasible candidate thus
scores below every infeasible one, and among infeasible ones the nearer is the better.

Exact points use their bootstrap intervals (:class:`taskfair.steer.certify.RowBootstrap`);
previews, which have none, use the normal approximation ``acc − z·sqrt(acc(1 − acc)/n)``
of the same lower end. :func:`acceptance` is the rule a recommendation must pass: the
objective's upper interval end ≤ the target (if any), the accuracy's lower end ≥ the
floor (and each floored group's), and no degeneracy (unless the problem allows it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from taskfair.steer.certify import DEGENERATE_HIGH, DEGENERATE_LOW
from taskfair.steer.problem import Problem

__all__ = ["UNDEFINED", "acceptance", "combine", "exact_score", "preview_scores"]

#: The score of a point whose objective is undefined (NaN), e.g. EOD with a group lacking
#: positives.
UNDEFINED = 10.0


def combine(value, violation, degenerate) -> np.ndarray:
    """Scores from objective values, constraint violations (≥ 0) and degeneracy flags."""
    value = np.asarray(value, dtype=np.float64)
    violation = np.asarray(violation, dtype=np.float64)
    out = np.where(violation > 0, 1.0 + value + 10.0 * violation, value)
    out = np.where(np.asarray(degenerate, dtype=bool), out + 2.0, out)
    return np.where(np.isnan(value), UNDEFINED, out)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def preview_scores(
    metrics: Mapping[str, np.ndarray], problem: Problem, floor: float, names: Sequence[str]
) -> np.ndarray:
    """Scores ``(p,)`` of previewed metrics (:meth:`CountMetrics.of_predictions`)."""
    z = _z(problem.confidence)
    value = problem.objective.value({m: metrics[m] for m in problem.objective.weights})
    value = np.asarray(value, dtype=np.float64) * np.ones_like(metrics["accuracy"])
    acc, n = metrics["accuracy"], np.maximum(metrics["n_rows"], 1)
    violation = np.maximum(0.0, floor - (acc - z * np.sqrt(np.clip(acc * (1 - acc), 0, None) / n)))
    for g, gf in problem.constraints.group_floors.items():
        if g not in names:
            continue
        i = list(names).index(g)
        ga, gn = metrics["group_accuracy"][:, i], np.maximum(metrics["n"][:, i], 1)
        lo = ga - z * np.sqrt(np.clip(ga * (1 - ga), 0, None) / gn)
        violation = violation + np.maximum(0.0, gf - np.nan_to_num(lo, nan=0.0))
    sel = metrics["overall_selection_rate"]
    with np.errstate(invalid="ignore"):  # the metrics' rule: a constant predictor, not group
        degenerate = (sel <= DEGENERATE_LOW) | (sel >= DEGENERATE_HIGH)
    return combine(value, violation, degenerate & (not problem.allow_degenerate))


def acceptance(summary: Mapping, problem: Problem, floor: float, degenerate: Sequence[str]):
    """``(accepted, reasons)`` of an exact point's summary (see the module docstring);
    ``reasons`` says in words what failed."""
    reasons = []
    acc_lo = summary["accuracy"].lo
    if math.isnan(acc_lo) or acc_lo < floor:
        reasons.append(f"accuracy's lower bound {acc_lo:.3f} is below the floor {floor:.3f}")
    for g, gf in problem.constraints.group_floors.items():
        got = summary["groups"].get(g, {}).get("accuracy")
        if got is None or math.isnan(got.lo) or got.lo < gf:
            lo = math.nan if got is None else got.lo
            reasons.append(f"{g}'s accuracy lower bound {lo:.3f} is below its floor {gf:.3f}")
    target = problem.objective.target
    hi = summary["objective"].hi
    if math.isnan(summary["objective"].value):
        reasons.append(f"{problem.objective.label} is undefined")
    elif target is not None and (math.isnan(hi) or hi > target):
        reasons.append(
            f"{problem.objective.label}'s upper bound {hi:.3f} misses the target {target:g}"
        )
    if not problem.allow_degenerate:
        reasons += [f"degenerate: {d}" for d in degenerate]
    return not reasons, reasons


def exact_score(summary: Mapping, problem: Problem, floor: float, degenerate: Sequence[str]):
    """The score of an exact point from its bootstrap summary (see the module docstring)."""
    violation = max(0.0, floor - _nan0(summary["accuracy"].lo))
    for g, gf in problem.constraints.group_floors.items():
        got = summary["groups"].get(g, {}).get("accuracy")
        violation += max(0.0, gf - (_nan0(got.lo) if got is not None else 0.0))
    flagged = bool(degenerate) and not problem.allow_degenerate
    return float(combine(summary["objective"].value, violation, flagged))


def _nan0(x: float) -> float:
    return 0.0 if math.isnan(x) else float(x)

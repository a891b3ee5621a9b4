"""Certifying a candidate: its metrics, their intervals, and whether it is degenerate.

A thin caller of :mod:`taskfair.metrics`: previewed populations are scored from the one
count table (:class:`CountMetrics`, fast enough for a thousand surrogate predictions),
and an exact candidate's intervals are the ones every page shows for the same rows
(:func:`taskfair.metrics.fairness_intervals` and, for two candidates on the same rows,
:func:`taskfair.metrics.paired_intervals`), at the problem's confidence and seed. The
degeneracy rule is the metrics' one: only a (nearly) constant *predictor* is degenerate;
a (nearly) constant group counts in its disparity instead of hiding it.

Labels are 0/1 (1 = positive); groups are names with missing = no group (such rows count
in overall accuracy only), as everywhere in :mod:`taskfair.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from taskfair.metrics import (
    DEGENERATE_HIGH,
    DEGENERATE_LOW,
    CountTable,
    fairness_intervals,
    paired_intervals,
    sidak_level,
    table_metrics,
)
from taskfair.metrics import degeneracy as _rule

__all__ = [
    "DEGENERATE_HIGH",
    "DEGENERATE_LOW",
    "CountMetrics",
    "Interval",
    "RowBootstrap",
    "degeneracy",
    "interval_record",
]


class CountMetrics:
    """Metrics of many prediction vectors (or row weightings) over fixed labels and groups.

    ``labels`` ``(n,)`` 0/1, ``groups`` ``(n,)`` names (missing = no group).
    :meth:`of_predictions` scores predictions ``(p, n)``; :meth:`of_weights` scores one
    prediction vector under row multiplicities ``(b, n)``. Both return a dict of arrays
    over the leading axis: ``accuracy``, ``dpd``, ``eod``, ``worst_group_error`` and per
    group (``(p, k)``) ``group_accuracy``, ``selection_rate``, ``tpr``, ``fpr``, ``n``;
    plus ``overall_selection_rate`` and ``n_rows`` (the rows, or their total weight).
    """

    def __init__(self, labels, groups):
        self.table = CountTable(labels, groups)
        self.y, self.names, self.k = self.table.y, self.table.names, self.table.k

    @property
    def n(self) -> int:
        return self.table.n

    def of_predictions(self, preds: np.ndarray) -> dict[str, np.ndarray]:
        return _metrics(self.table.of(np.atleast_2d(np.asarray(preds, dtype=np.int64))))

    def of_weights(self, preds: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        cell = self.table.stratum * 2 + np.asarray(preds, dtype=np.int64)
        onehot = np.zeros((self.n, 4 * (self.k + 1)))
        onehot[np.arange(self.n), cell] = 1.0
        return _metrics((weights @ onehot).reshape(-1, self.k + 1, 2, 2))


def _metrics(t: np.ndarray) -> dict[str, np.ndarray]:
    m = table_metrics(t)
    rows = t[:, :-1].sum(axis=(2, 3))
    return {
        "accuracy": m["accuracy"],
        "dpd": m["dpd"],
        "eod": m["eod"],
        "worst_group_error": 1.0 - m["worst_group_accuracy"],
        "group_accuracy": m["group.accuracy"],
        "selection_rate": m["group.selection_rate"],
        "tpr": m["group.tpr"],
        "fpr": m["group.fpr"],
        "n": rows,
        "n_rows": t.sum(axis=(1, 2, 3)),
        "overall_selection_rate": m["selection_rate"],
    }


@dataclass(frozen=True)
class Interval:
    """A point estimate and its interval (NaN when undefined), as the assistant records
    it; ``method`` names the interval rule."""

    value: float
    lo: float
    hi: float
    method: str = ""

    def record(self) -> dict:
        return {"value": _f(self.value), "lo": _f(self.lo), "hi": _f(self.hi),
                "method": self.method}  # fmt: skip


def _f(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _of(iv) -> Interval:
    return Interval(iv.estimate, iv.lo, iv.hi, iv.method)


def _error(iv) -> Interval:
    """1 − an accuracy interval (worst-group error from worst-group accuracy)."""
    return Interval(1.0 - iv.estimate, 1.0 - iv.hi, 1.0 - iv.lo, iv.method)


class RowBootstrap:
    """The intervals of one split's candidates, at ``confidence`` with seed ``seed``.

    ``n_boot`` resamples (stratified by group × label) back the paired differences; the
    levels' intervals are the metrics' closed-form ones, the same as on the pages.
    """

    def __init__(self, labels, groups, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0):
        self.scorer = CountMetrics(labels, groups)
        self.labels, self.groups = labels, groups
        self.n_boot, self.confidence, self.seed = int(n_boot), float(confidence), int(seed)

    @property
    def names(self) -> list[str]:
        return self.scorer.names

    def _intervals(self, preds, level: float) -> dict:
        return fairness_intervals(self.labels, preds, sensitive_features=self.groups,
                                  level=level, random_state=self.seed, n_boot=0)  # fmt: skip

    def summary(self, preds: np.ndarray, objective=None) -> dict:
        """Point estimates and intervals of one prediction vector ``(n,)`` 0/1.

        Returns ``{"accuracy", "dpd", "eod", "worst_group_error"[, "objective"]: Interval,
        "groups": {name: {"n", "accuracy", "selection_rate", "tpr", "fpr": Interval}},
        "selection_rate": overall float}``. ``objective`` (an
        :class:`~taskfair.steer.problem.Objective`) adds its value and interval: the
        metric's own for one metric, the weighted sum of the metrics' intervals (each at
        the Šidák level of the metrics mixed) for a mix.
        """
        preds = np.asarray(preds, dtype=np.int64)
        r = self._intervals(preds, self.confidence)
        out = {m: _of(r[m]) for m in ("accuracy", "dpd", "eod")}
        out["worst_group_error"] = _error(r["worst_group_accuracy"])
        if objective is not None:
            out["objective"] = self._objective(preds, objective, out)
        groups = {}
        for name, g in r["groups"].items():
            groups[name] = {"n": r["info"][name].n}
            groups[name].update({m: _of(g[m]) for m in ("accuracy", "selection_rate", "tpr",
                                                        "fpr")})  # fmt: skip
        out["groups"] = groups
        out["selection_rate"] = float(r["selection_rate"].estimate)
        return out

    def _objective(self, preds, objective, out: Mapping) -> Interval:
        used = {m: w for m, w in objective.weights.items() if w}
        value = objective.value({m: out[m].value for m in objective.weights})
        if len(used) == 1:
            (m,) = used
            iv = out[m]
            return Interval(value, used[m] * iv.lo, used[m] * iv.hi, iv.method)
        r = self._intervals(preds, sidak_level(self.confidence, len(used)))
        parts = {m: (_error(r["worst_group_accuracy"]) if m == "worst_group_error" else _of(r[m]))
                 for m in used}  # fmt: skip
        lo = sum(w * parts[m].lo for m, w in used.items())
        hi = sum(w * parts[m].hi for m, w in used.items())
        return Interval(value, lo, hi, f"weighted sum, Šidák over {len(used)} metrics")

    def difference(self, preds_a: np.ndarray, preds_b: np.ndarray, metric: str) -> Interval:
        """``metric(a) − metric(b)`` and its paired interval (the same rows)."""
        r = paired_intervals(self.labels, preds_a, preds_b, sensitive_features=self.groups,
                             level=self.confidence, random_state=self.seed,
                             n_boot=self.n_boot)  # fmt: skip
        if metric == "worst_group_error":
            iv = r["worst_group_accuracy"]
            return Interval(-iv.estimate, -iv.hi, -iv.lo, iv.method)
        return _of(r[metric])


def degeneracy(preds: np.ndarray, groups, labels=None) -> list[str]:
    """Why a prediction vector ``(n,)`` 0/1 is degenerate, in words; empty if it is not.

    The metrics' one rule (:func:`taskfair.metrics.degeneracy`): degenerate only when the
    whole predictor's selection rate is ≤ :data:`DEGENERATE_LOW` or ≥
    :data:`DEGENERATE_HIGH`; a (nearly) constant group is not hidden (its disparity
    counts against the candidate).
    """
    preds = np.asarray(preds, dtype=np.int64)
    y = np.zeros(len(preds), dtype=np.int64) if labels is None else labels
    table = CountTable(y, groups)
    t = table.of(preds)
    rows = t[:-1].sum(axis=(1, 2))
    sel = t[:-1, :, 1].sum(axis=1)
    rates = {name: (float(sel[j] / rows[j]) if rows[j] else math.nan, int(rows[j]))
             for j, name in enumerate(table.names)}  # fmt: skip
    d = _rule(float(preds.mean()) if len(preds) else math.nan, rates)
    return [d.note] if d.degenerate else []


def interval_record(summary: Mapping) -> dict:
    """A summary from :meth:`RowBootstrap.summary` as JSON-able dicts."""
    out = {}
    for k, v in summary.items():
        if isinstance(v, Interval):
            out[k] = v.record()
        elif k == "groups":
            out[k] = {
                g: {m: (x.record() if isinstance(x, Interval) else x) for m, x in d.items()}
                for g, d in v.items()
            }
        else:
            out[k] = v
    return out

"""Certifying a candidate: its metrics, their bootstrap intervals, and whether it is degenerate.

Everything is computed from ``(group, label, prediction)`` count tables, the way
:class:`taskfair.metrics.PreviewScorer` does (and by its NaN rules), so that a thousand
resamples of a split, or a population of surrogate predictions, cost milliseconds: a
bootstrap resample is a vector of row multiplicities, and its count table is one
``bincount``. Tests check every resample's numbers against fairlearn's
``demographic_parity_difference`` / ``equalized_odds_difference`` on the resampled rows.

The resamples of a split are drawn once per (split, seed) and shared by every candidate,
so two candidates' intervals are *paired*: :meth:`RowBootstrap.difference` is the
interval of a difference of two points on the same resampled rows.

Labels are 0/1 (1 = positive); groups are names with missing = no group (such rows count
in overall accuracy only), as everywhere in :mod:`taskfair.metrics`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from taskfair.metrics._inputs import as_groups, as_labels

__all__ = [
    "DEGENERATE_HIGH",
    "DEGENERATE_LOW",
    "CountMetrics",
    "Interval",
    "RowBootstrap",
    "degeneracy",
    "interval_record",
]

#: A selection rate at or below this, or at or above :data:`DEGENERATE_HIGH`, overall or in
#: any group, makes a point degenerate: a (nearly) constant predictor, fair by DPD and EOD
#: by construction.
DEGENERATE_LOW = 0.02
DEGENERATE_HIGH = 0.98


class CountMetrics:
    """Metrics of many prediction vectors (or row weightings) over fixed labels and groups.

    ``labels`` ``(n,)`` 0/1, ``groups`` ``(n,)`` names (missing = no group).
    :meth:`of_predictions` scores predictions ``(p, n)``; :meth:`of_weights` scores one
    prediction vector under row multiplicities ``(b, n)`` (bootstrap resamples). Both
    return a dict of arrays over the leading axis: ``accuracy``, ``dpd``, ``eod``,
    ``worst_group_error`` and per group (``(p, k)``) ``group_accuracy``,
    ``selection_rate``, ``tpr``, ``fpr``, ``n``; plus ``overall_selection_rate`` and
    ``n_rows`` (the rows, or their total weight).
    """

    def __init__(self, labels, groups):
        self.y = as_labels(labels, "labels").astype(np.int64)
        codes, names = as_groups(groups, len(self.y))
        self.codes, self.names = codes, [str(n) for n in names]
        self.k = len(self.names)
        self.grouped = codes >= 0
        # cell of a grouped row without its prediction: (group, y) -> 4·g + 2·y
        self._cell = np.where(self.grouped, (codes * 2 + self.y) * 2, -1)

    @property
    def n(self) -> int:
        return len(self.y)

    def of_predictions(self, preds: np.ndarray) -> dict[str, np.ndarray]:
        preds = np.atleast_2d(np.asarray(preds, dtype=np.int64))
        p = preds.shape[0]
        cells = self._cell[self.grouped][None, :] + preds[:, self.grouped]
        offset = (np.arange(p) * 4 * self.k)[:, None]
        counts = np.bincount((cells + offset).ravel(), minlength=p * 4 * self.k)
        counts = counts.reshape(p, self.k, 2, 2).astype(np.float64)
        correct = (preds == self.y[None, :]).sum(axis=1).astype(np.float64)
        positive = preds.sum(axis=1).astype(np.float64)
        return _metrics(counts, correct, positive, np.full(p, float(self.n)))

    def of_weights(self, preds: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
        preds = np.asarray(preds, dtype=np.int64)
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        cell = np.where(self.grouped, self._cell + preds, 0)
        onehot = np.zeros((self.n, 4 * self.k))
        onehot[np.flatnonzero(self.grouped), cell[self.grouped]] = 1.0
        counts = (weights @ onehot).reshape(-1, self.k, 2, 2)
        correct = weights @ (preds == self.y).astype(np.float64)
        positive = weights @ preds.astype(np.float64)
        return _metrics(counts, correct, positive, weights.sum(axis=1))


def _metrics(counts, correct, positive, total) -> dict[str, np.ndarray]:
    """Metrics from count tables ``(p, k, 2, 2)`` = [candidate, group, y, y_pred]."""
    rows = counts.sum(axis=(2, 3))
    pos, neg = counts[:, :, 1].sum(axis=2), counts[:, :, 0].sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = (counts[:, :, 0, 0] + counts[:, :, 1, 1]) / rows
        sel = (counts[:, :, 0, 1] + counts[:, :, 1, 1]) / rows
        tpr = np.where(pos > 0, counts[:, :, 1, 1] / pos, np.nan)
        fpr = np.where(neg > 0, counts[:, :, 0, 1] / neg, np.nan)
    present = rows > 0
    n_present = present.sum(axis=1)
    sel_p = np.where(present, sel, np.nan)
    with np.errstate(invalid="ignore"), _quiet_nan():
        dpd = np.where(n_present >= 2, np.nanmax(sel_p, axis=1) - np.nanmin(sel_p, axis=1), np.nan)
        # EOD needs positives and negatives in every present group (metrics' rule).
        ok = (n_present >= 2) & ~np.any(present & ((pos == 0) | (neg == 0)), axis=1)
        tpr_p, fpr_p = np.where(present, tpr, np.nan), np.where(present, fpr, np.nan)
        gaps = np.maximum(
            np.nanmax(tpr_p, axis=1) - np.nanmin(tpr_p, axis=1),
            np.nanmax(fpr_p, axis=1) - np.nanmin(fpr_p, axis=1),
        )
        eod = np.where(ok, gaps, np.nan)
        acc_p = np.where(present, acc, np.nan)
        wge = np.where(n_present >= 1, 1.0 - np.nanmin(acc_p, axis=1), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(total > 0, correct / total, np.nan)
        overall_sel = np.where(total > 0, positive / total, np.nan)
    return {
        "accuracy": accuracy,
        "dpd": dpd,
        "eod": eod,
        "worst_group_error": wge,
        "group_accuracy": np.where(present, acc, np.nan),
        "selection_rate": np.where(present, sel, np.nan),
        "tpr": np.where(present, tpr, np.nan),
        "fpr": np.where(present, fpr, np.nan),
        "n": rows,
        "n_rows": total,
        "overall_selection_rate": overall_sel,
    }


@contextlib.contextmanager
def _quiet_nan():
    """numpy's "All-NaN slice" warnings silenced locally (an all-NaN row is NaN, as meant)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile interval (NaN when undefined)."""

    value: float
    lo: float
    hi: float

    def record(self) -> dict:
        return {"value": _f(self.value), "lo": _f(self.lo), "hi": _f(self.hi)}


def _f(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


class RowBootstrap:
    """Paired percentile bootstrap over the rows of one split.

    ``n_boot`` resamples of the ``n`` rows (with replacement, drawn once from ``seed``)
    are kept as multiplicities ``(n_boot, n)``; every candidate is scored on the same
    resamples. ``confidence`` is the central coverage (0.95: 2.5% and 97.5% quantiles).
    A resample where a metric is undefined (a group lost, or without positives or
    negatives, for EOD) is left out of that metric's interval.
    """

    def __init__(self, labels, groups, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0):
        self.scorer = CountMetrics(labels, groups)
        self.n_boot, self.confidence, self.seed = int(n_boot), float(confidence), int(seed)
        rng = np.random.default_rng(seed)
        n = self.scorer.n
        idx = rng.integers(0, n, size=(self.n_boot, n))
        self.weights = np.zeros((self.n_boot, n))
        np.add.at(self.weights, (np.repeat(np.arange(self.n_boot), n), idx.ravel()), 1.0)
        self._q = ((1 - self.confidence) / 2, 1 - (1 - self.confidence) / 2)

    @property
    def names(self) -> list[str]:
        return self.scorer.names

    def resamples(self, preds: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric of ``preds`` ``(n,)`` on every resample (arrays over resamples)."""
        return self.scorer.of_weights(preds, self.weights)

    def _interval(self, point: float, draws: np.ndarray) -> Interval:
        draws = draws[~np.isnan(draws)]
        if math.isnan(point) or len(draws) == 0:
            return Interval(point, math.nan, math.nan)
        lo, hi = np.quantile(draws, self._q)
        return Interval(float(point), float(lo), float(hi))

    def summary(self, preds: np.ndarray, objective=None) -> dict:
        """Point estimates and intervals of one prediction vector ``(n,)`` 0/1.

        Returns ``{"accuracy", "dpd", "eod", "worst_group_error"[, "objective"]: Interval,
        "groups": {name: {"n", "accuracy", "selection_rate", "tpr", "fpr": Interval}},
        "selection_rate": overall float}``. ``objective`` (an
        :class:`~taskfair.steer.problem.Objective`) adds its value and interval.
        """
        preds = np.asarray(preds, dtype=np.int64)
        point = {k: v[0] for k, v in self.scorer.of_predictions(preds[None, :]).items()}
        draws = self.resamples(preds)
        out = {m: self._interval(point[m], draws[m]) for m in ("accuracy", "dpd", "eod",
                                                              "worst_group_error")}  # fmt: skip
        if objective is not None:
            value = objective.value({m: point[m] for m in objective.weights})
            series = sum(w * draws[m] for m, w in objective.weights.items() if w)
            out["objective"] = self._interval(value, np.asarray(series, dtype=np.float64))
        groups = {}
        for i, name in enumerate(self.names):
            groups[name] = {"n": int(point["n"][i])}
            for m, col in (("accuracy", "group_accuracy"), ("selection_rate", "selection_rate"),
                           ("tpr", "tpr"), ("fpr", "fpr")):  # fmt: skip
                groups[name][m] = self._interval(point[col][i], draws[col][:, i])
        out["groups"] = groups
        out["selection_rate"] = float(point["overall_selection_rate"])
        return out

    def difference(self, preds_a: np.ndarray, preds_b: np.ndarray, metric: str) -> Interval:
        """``metric(a) − metric(b)`` and its paired interval (the same resampled rows)."""
        pa = self.scorer.of_predictions(np.asarray(preds_a, dtype=np.int64)[None, :])[metric][0]
        pb = self.scorer.of_predictions(np.asarray(preds_b, dtype=np.int64)[None, :])[metric][0]
        da, db = self.resamples(preds_a)[metric], self.resamples(preds_b)[metric]
        return self._interval(pa - pb, da - db)


def degeneracy(preds: np.ndarray, groups, labels=None) -> list[str]:
    """Why a prediction vector ``(n,)`` 0/1 is degenerate, in words; empty if it is not.

    Degenerate: the selection rate is ≤ :data:`DEGENERATE_LOW` or ≥ :data:`DEGENERATE_HIGH`
    overall or in any group (a group predicted all one class is the extreme case). Such a
    point has DPD and EOD near 0 by construction, not by fairness.
    """
    preds = np.asarray(preds, dtype=np.int64)
    scorer = CountMetrics(np.zeros(len(preds), dtype=np.int64) if labels is None else labels,
                          groups)  # fmt: skip
    m = scorer.of_predictions(preds[None, :])
    notes = []
    overall = float(m["overall_selection_rate"][0])
    if overall <= DEGENERATE_LOW or overall >= DEGENERATE_HIGH:
        # Every group is then (nearly) constant too: one note says it all.
        return [
            f"predicts the positive class for {overall:.1%} of rows: a (nearly) constant "
            "predictor, whose DPD and EOD of about 0 are not fairness"
        ]
    for i, name in enumerate(scorer.names):
        rate = float(m["selection_rate"][0][i])
        if math.isnan(rate):
            continue
        if rate in (0.0, 1.0):
            notes.append(f"group {name!r} is predicted all {'positive' if rate else 'negative'}")
        elif rate <= DEGENERATE_LOW or rate >= DEGENERATE_HIGH:
            notes.append(f"group {name!r} has a selection rate of {rate:.1%}")
    return notes


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

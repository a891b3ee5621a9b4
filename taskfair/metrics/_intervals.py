"""The public face of the fairness-inference core: intervals of every reading.

:func:`fairness_intervals` reads one predictor (one vector, or ``(seeds, rows)``),
:func:`paired_intervals` the difference ``a − b`` of two predictors on the same rows.
Each quantity is an :class:`Interval`: the plug-in ``estimate`` (fairlearn's number; the
seed mean with several seeds), ``lo`` / ``hi`` at ``level``, a bias-corrected estimate
where the method gives one, and the ``method`` in a few words. The rules, chosen by the
simulation study in docs/STATISTICS.md:

* rates and accuracy: Wilson score intervals (inside [0, 1]);
* DPD, EOD and their paired differences: simultaneous intervals of every group gap
  projected onto the max − min (:mod:`taskfair.metrics._projection`); the bias-corrected
  estimate beside them comes from the stratified bootstrap (plug-in minus the bootstrap's
  bias, clipped to [0, 1]); the plug-in is what the pages draw;
* paired differences of accuracy and of group rates: percentile intervals of the
  stratified paired bootstrap (:func:`taskfair.metrics.bootstrap_replicates`).

Several seeds: the interval is for the mean over *these* seeds (trained models) of the
population value; it covers the evaluation rows' noise, not the spread of new training
runs (the seeds' spread is reported beside it). ``looks > 1`` makes the intervals of a
family of ``looks`` readings (e.g. eleven λ) hold together (Šidák), and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from taskfair.metrics._binomial import sidak_level, wilson, z_of
from taskfair.metrics._counts import CountTable, as_prediction_matrix, joint_of, table_metrics
from taskfair.metrics._degenerate import degeneracy
from taskfair.metrics._groups import group_info, noise_floor
from taskfair.metrics._projection import paired_spread_bounds, spread_bounds
from taskfair.metrics._resampler import bootstrap_replicates

__all__ = [
    "GROUP_RATES",
    "LEVEL_METRICS",
    "Interval",
    "fairness_intervals",
    "paired_intervals",
    "vs_rest_intervals",
]

#: Point-level readings of :func:`fairness_intervals` (and of :func:`paired_intervals`).
LEVEL_METRICS = ("accuracy", "macro_accuracy", "worst_group_accuracy", "selection_rate",
                 "dpd", "eod")  # fmt: skip
#: Per-group readings (``result["groups"][name][rate]``).
GROUP_RATES = ("selection_rate", "tpr", "fpr", "accuracy")
_SPREAD = "simultaneous Newcombe gaps (Šidák), max − min"


@dataclass(frozen=True)
class Interval:
    """An estimate and its interval. ``estimate``: the plug-in (fairlearn's number);
    ``corrected``: a bias-corrected estimate or None; ``method``: the interval rule;
    ``level``: its (family-wise, where stated in ``method``) coverage. NaN: undefined."""

    estimate: float
    lo: float
    hi: float
    corrected: float | None = None
    method: str = ""
    level: float = 0.95

    @property
    def defined(self) -> bool:
        return not (math.isnan(self.lo) or math.isnan(self.hi))

    def excludes(self, value: float = 0.0) -> bool:
        """True when the interval is defined and ``value`` lies outside it (a finding)."""
        return self.defined and not (self.lo <= value <= self.hi)

    def record(self) -> dict:
        """JSON-able (None for NaN)."""
        f = _json
        c = None if self.corrected is None else f(self.corrected)
        return {"estimate": f(self.estimate), "lo": f(self.lo), "hi": f(self.hi),
                "corrected": c, "method": self.method, "level": float(self.level)}  # fmt: skip


def _json(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _mk(est, lo, hi, method, level, corrected=None) -> Interval:
    est, lo, hi = float(est), float(lo), float(hi)
    if math.isnan(est):
        return Interval(est, math.nan, math.nan, None, method, level)
    if not (math.isnan(lo) or math.isnan(hi)):  # the interval always holds its estimate
        lo, hi = min(lo, est, hi), max(hi, est, lo)
    c = None if corrected is None or math.isnan(float(corrected)) else float(corrected)
    return Interval(est, lo, hi, c, method, level)


def _looks_label(method: str, looks: int) -> str:
    return method if looks <= 1 else f"{method}; Šidák over {looks} looks"


def _wilson_mean(k, n, z):
    """Mean over seeds (last axis) of Wilson bounds."""
    lo, hi = wilson(k, n, z)
    return lo.mean(axis=-1), hi.mean(axis=-1)


def _level_intervals(t: np.ndarray, level: float, corrected: Mapping, looks: int) -> dict:
    """Every point-level and group interval of tables ``(S, K + 1, 2, 2)``."""
    s, k = t.shape[0], t.shape[1] - 1
    z = z_of(sidak_level(level, s))
    m = table_metrics(t)
    est = {key: np.nanmean(v, axis=0) if s > 1 else v[0] for key, v in m.items()}
    n = t.sum(axis=(-3, -2, -1))
    correct = (t[..., 0, 0] + t[..., 1, 1]).sum(-1)
    selected = (t[..., 0, 1] + t[..., 1, 1]).sum(-1)
    wl = _looks_label("Wilson", looks)
    out = {
        "accuracy": _mk(est["accuracy"], *_wilson_mean(correct, n, z), wl, level),
        "selection_rate": _mk(est["selection_rate"], *_wilson_mean(selected, n, z), wl, level),
    }
    g = t[..., :-1, :, :]
    gn = g.sum(axis=(-2, -1))  # (S, K)
    gc = g[..., 0, 0] + g[..., 1, 1]
    present = gn[0] > 0
    # macro accuracy: Wilson at the effective size of the mean of the group accuracies
    p_adj = (gc + 1) / (gn + 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(present, p_adj * (1 - p_adj) / np.where(gn > 0, gn, 1), 0).sum(-1)
        var = var / max(int(present.sum()), 1) ** 2
        macro = m["macro_accuracy"]
        n_eff = np.where(
            var > 0, np.clip(macro, 0.01, 0.99) * (1 - np.clip(macro, 0.01, 0.99)) / var, 0
        )
    out["macro_accuracy"] = _mk(est["macro_accuracy"], *_wilson_mean(macro * n_eff, n_eff, z),
                                _looks_label("Wilson at the effective size", looks), level)  # fmt: skip
    zk = z_of(sidak_level(level, s * max(int(present.sum()), 1)))
    glo, ghi = wilson(gc, gn, zk)
    worst = (np.where(present, glo, np.inf).min(-1), np.where(present, ghi, np.inf).min(-1))
    worst = tuple(np.where(np.isfinite(w), w, np.nan).mean() for w in worst)
    out["worst_group_accuracy"] = _mk(est["worst_group_accuracy"], *worst,
                                      _looks_label("simultaneous Wilson, min", looks), level)  # fmt: skip
    for metric in ("dpd", "eod"):
        lo, hi = spread_bounds(t, metric, level)
        out[metric] = _mk(est[metric], lo, hi, _looks_label(_SPREAD, looks), level,
                          corrected.get(metric))  # fmt: skip
    counts = {"selection_rate": (g[..., 0, 1] + g[..., 1, 1], gn),
              "tpr": (g[..., 1, 1], g[..., 1, :].sum(-1)),
              "fpr": (g[..., 0, 1], g[..., 0, :].sum(-1)), "accuracy": (gc, gn)}  # fmt: skip
    groups = {}
    for rate, (num, base) in counts.items():
        lo, hi = wilson(num, base, z)
        lo, hi = lo.mean(axis=0), hi.mean(axis=0)
        for j in range(k):
            groups.setdefault(j, {})[rate] = _mk(est[f"group.{rate}"][j], lo[j], hi[j], wl, level)
    out["groups"] = groups
    return out


def _bias_corrected(y_true, preds: Mapping, groups, n_boot: int, seed: int) -> dict:
    """Plug-in minus the stratified bootstrap's bias, for DPD and EOD, per predictor."""
    if n_boot < 1:
        return {}
    reps = bootstrap_replicates(y_true, preds, sensitive_features=groups, n_boot=n_boot,
                                random_state=seed)  # fmt: skip
    out = {}
    for metric in ("dpd", "eod"):
        est = reps.estimate[metric]
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(np.isnan(reps.draws[metric]), np.nan, reps.draws[metric]), 0)
        out[metric] = np.clip(2 * est - mean, 0.0, 1.0) if reps.draws[metric].size else est
    return out


def fairness_intervals(
    y_true,
    y_pred,
    *,
    sensitive_features,
    level: float = 0.95,
    random_state: int = 0,
    n_boot: int = 400,
    looks: int = 1,
    positive_label: str | None = None,
) -> dict:
    """Intervals of one predictor's readings (``y_pred``: ``(n,)`` or ``(seeds, n)``).

    Returns a dict: ``accuracy``, ``macro_accuracy``, ``worst_group_accuracy``,
    ``selection_rate``, ``dpd``, ``eod`` → :class:`Interval`; ``groups`` →
    ``{name: {"selection_rate", "tpr", "fpr", "accuracy": Interval}}``; ``info`` →
    ``{name: GroupInfo}`` (rows, positives, negatives, MDD, "too small for a finding");
    ``noise_floor`` → ``{"dpd", "eod": NoiseFloor}``; ``degeneracy`` → the one rule's
    :class:`Degeneracy`; ``seeds``. ``n_boot`` resamples give the bias-corrected DPD/EOD
    (0: none). ``looks``: the number of readings that must hold together (Šidák).
    """
    table = CountTable(y_true, sensitive_features)
    mat = as_prediction_matrix(y_pred, table.n)
    t = table.of(mat)
    per_look = sidak_level(level, looks)
    corr = _bias_corrected(y_true, {"p": mat}, sensitive_features, n_boot, random_state)
    out = _level_intervals(t, per_look, {m: v[0] for m, v in corr.items()}, looks)
    out = {key: _relevel(v, level) for key, v in out.items()}
    out["groups"] = {table.names[j]: v for j, v in out["groups"].items()}
    out["info"] = group_info(t, table.names)
    out["noise_floor"] = noise_floor(t, level, random_state=random_state)
    sel = t[..., :-1, :, 1].sum(-1).mean(0) / np.maximum(t[..., :-1, :, :].sum((-2, -1)).mean(0), 1)
    rates = {name: (float(sel[j]), int(t[0, j].sum())) for j, name in enumerate(table.names)}
    overall = float(mat.mean()) if table.n else math.nan
    out["degeneracy"] = degeneracy(overall, rates, positive_label)
    out["seeds"] = int(mat.shape[0])
    return out


def _relevel(v, level: float):
    """Intervals computed at the per-look level carry the family's level."""
    if isinstance(v, Interval):
        return Interval(v.estimate, v.lo, v.hi, v.corrected, v.method, float(level))
    if isinstance(v, dict):
        return {key: _relevel(x, level) for key, x in v.items()}
    return v


def _percentile(est: float, draws: np.ndarray, level: float, method: str) -> Interval:
    d = draws[~np.isnan(draws)]
    if math.isnan(est) or not len(d):
        return Interval(float(est), math.nan, math.nan, None, method, level)
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return _mk(est, lo, hi, method, level, float(np.clip(2 * est - d.mean(), -1, 1)))


def paired_intervals(
    y_true,
    y_pred_a,
    y_pred_b,
    *,
    sensitive_features,
    level: float = 0.95,
    random_state: int = 0,
    n_boot: int = 1000,
    looks: int = 1,
) -> dict:
    """Intervals of ``a − b`` for the readings of :func:`fairness_intervals` (same keys:
    the point-level ones and ``groups``), both predictors on the same rows; seeds of
    ``a`` and ``b`` are paired by index when they have as many."""
    table = CountTable(y_true, sensitive_features)
    pa, pb = (as_prediction_matrix(p, table.n, nm) for p, nm in ((y_pred_a, "y_pred_a"),
                                                                  (y_pred_b, "y_pred_b")))  # fmt: skip
    per_look = sidak_level(level, looks)
    reps = bootstrap_replicates(y_true, {"a": pa, "b": pb}, sensitive_features=sensitive_features,
                                n_boot=n_boot, random_state=random_state)  # fmt: skip
    boot = _looks_label("paired stratified bootstrap, percentile", looks)
    out = {}
    for m in LEVEL_METRICS:
        est = reps.estimate[m][0] - reps.estimate[m][1]
        out[m] = _percentile(est, reps.draws[m][:, 0] - reps.draws[m][:, 1], per_look, boot)
    for m in ("dpd", "eod"):
        if pa.shape[0] == pb.shape[0]:
            lo, hi = paired_spread_bounds(joint_of(table, pa, pb), m, per_look)
            how = "paired " + _SPREAD
        else:
            wa, wb = (spread_bounds(table.of(p), m, sidak_level(per_look, 2)) for p in (pa, pb))
            lo, hi = wa[0] - wb[1], wa[1] - wb[0]
            how = "unpaired " + _SPREAD
        out[m] = _mk(out[m].estimate, lo, hi, _looks_label(how, looks), per_look, out[m].corrected)
    groups = {}
    for j, name in enumerate(table.names):
        groups[name] = {}
        for rate in GROUP_RATES:
            e, d = reps.estimate[f"group.{rate}"], reps.draws[f"group.{rate}"]
            groups[name][rate] = _percentile(
                e[0, j] - e[1, j], d[:, 0, j] - d[:, 1, j], per_look, boot
            )
    out["groups"] = groups
    out = {key: _relevel(v, level) for key, v in out.items()}
    out["seeds"] = (int(pa.shape[0]), int(pb.shape[0]))
    return out


def vs_rest_intervals(y_true, y_pred, *, sensitive_features, level: float = 0.95) -> dict:
    """Each group against every other grouped row: ``{group: {"dpd", "eod": Interval}}``,
    the same rule as :func:`fairness_intervals`' DPD and EOD on two groups (group, rest)."""
    table = CountTable(y_true, sensitive_features)
    mat = as_prediction_matrix(y_pred, table.n)
    out = {}
    for j, name in enumerate(table.names):
        rest = np.where(table.group < table.k, "rest", None)
        side = CountTable(table.y, np.where(table.group == j, "group", rest).astype(object))
        t = side.of(mat)
        m = table_metrics(t)
        out[name] = {}
        for metric in ("dpd", "eod"):
            lo, hi = spread_bounds(t, metric, level)
            est = float(np.nanmean(m[metric])) if not np.isnan(m[metric]).all() else math.nan
            out[name][metric] = _mk(est, lo, hi, _SPREAD, level)
    return out

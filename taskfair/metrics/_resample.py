"""Bootstrap over rows with count tables: bands for every point of a curve, paired
differences between two points, and the seed mean's band.

fairlearn's ``MetricFrame`` costs ~90 ms per call, so 200 resamples of 22 points through
it would take minutes. Here every resample of a prediction vector is one row of a
``(n_boot, groups, y, y_pred)`` count table, built with one ``bincount``, and every rate
and gap is read off it by the rules of :class:`~taskfair.metrics.PreviewScorer` (which
tests check against fairlearn; tests check this module against fairlearn resample by
resample, on the same indices).

Resampling is over the rows of a split (all rows: ungrouped ones count in the overall
accuracy and selection rate), ``n`` draws with replacement per resample, from
``numpy.random.default_rng(random_state)``. The indices depend only on ``(n, n_boot,
random_state)``, so two prediction vectors over the same rows share them: that makes a
*paired* bootstrap of their difference (:func:`paired_difference`). Intervals are
percentile intervals over the resamples in which the metric is defined (a resample that
loses every positive of a group has no EOD); ``defined`` counts them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "BAND_METRICS",
    "GROUP_BAND_METRICS",
    "N_BOOT",
    "SCHEME",
    "bootstrap_bands",
    "paired_difference",
    "resample_indices",
    "resampled_scores",
    "seed_mean_bands",
]

#: Resamples behind every band (and every paired difference) unless asked otherwise.
N_BOOT = 200
#: Point-level metrics that get a band (``<metric>_lo`` / ``<metric>_hi``).
BAND_METRICS: tuple[str, ...] = (
    "accuracy",
    "macro_accuracy",
    "worst_group_accuracy",
    "dpd",
    "eod",
    "selection_rate",
)
#: Per-group metrics that get a band (the heatmap cells' tooltips, the group table).
GROUP_BAND_METRICS: tuple[str, ...] = (
    "accuracy",
    "selection_rate",
    "tpr",
    "fpr",
    "vs_rest_dpd",
    "vs_rest_eod",
)
#: How the bands are computed, in words (recorded with each band and shown on the pages).
SCHEME = "percentile bootstrap over rows (count-table scorer, equal to fairlearn per resample)"


def resample_indices(n: int, n_boot: int = N_BOOT, random_state: int = 0) -> np.ndarray:
    """Row indices of ``n_boot`` resamples with replacement: int64 ``(n_boot, n)``."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot!r}")
    return np.random.default_rng(random_state).integers(0, max(n, 1), size=(n_boot, n))


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """max - min over the last axis where ``mask`` (NaN where fewer than 2 are masked)."""
    hi = np.where(mask, values, -np.inf).max(axis=-1)
    lo = np.where(mask, values, np.inf).min(axis=-1)
    return np.where(mask.sum(axis=-1) >= 2, hi - lo, np.nan)


def resampled_scores(scorer, preds: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of ``preds`` on each resample ``idx`` (``(n_boot, n)`` row indices).

    ``scorer``: a :class:`~taskfair.metrics.PreviewScorer` over the split's labels and
    groups; ``preds``: ``(n,)`` 0/1. Returns ``{metric: (n_boot,)}`` for
    :data:`BAND_METRICS` and ``{"group.<metric>": (n_boot, groups)}`` for
    :data:`GROUP_BAND_METRICS` (groups in ``scorer.names`` order); NaN where a metric is
    undefined on a resample, by :class:`~taskfair.metrics.PreviewScorer`'s rules.
    """
    preds = np.asarray(preds, dtype=np.int64)
    y, codes, k = scorer.y, scorer.codes, len(scorer.names)
    idx = np.asarray(idx, dtype=np.int64)
    b = idx.shape[0]
    width = 4 * k + 1  # 4 cells per group, then one bin for rows in no group
    cell = np.where(codes >= 0, (codes * 2 + y) * 2 + preds, 4 * k)
    ids = cell[idx] + (np.arange(b, dtype=np.int64) * width)[:, None]
    c = np.bincount(ids.ravel(), minlength=b * width).reshape(b, width)[:, : 4 * k]
    c = c.reshape(b, k, 2, 2).astype(np.float64)  # [resample, group, y, y_pred]
    rows, pos, neg = c.sum(axis=(2, 3)), c[:, :, 1].sum(axis=-1), c[:, :, 0].sum(axis=-1)
    acc = _div(c[..., 0, 0] + c[..., 1, 1], rows)
    sel = _div(c[..., 0, 1] + c[..., 1, 1], rows)
    tpr, fpr = _div(c[..., 1, 1], pos), _div(c[..., 0, 1], neg)
    present = rows > 0
    n_present = present.sum(axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        macro = np.where(n_present > 0, np.nanmean(np.where(present, acc, np.nan), axis=-1), np.nan)
        worst = np.where(n_present > 0, np.nanmin(np.where(present, acc, np.nan), axis=-1), np.nan)
    dpd = _spread(sel, present)
    one_class = (present & ((pos == 0) | (neg == 0))).any(axis=-1)
    eod = np.maximum(_spread(tpr, present), _spread(fpr, present))
    eod = np.where(one_class | (n_present < 2), np.nan, eod)

    tot = c.sum(axis=1)  # [resample, y, y_pred]
    rest = tot[:, None] - c
    r_rows, r_pos, r_neg = rest.sum(axis=(2, 3)), rest[:, :, 1].sum(-1), rest[:, :, 0].sum(-1)
    r_sel = _div(rest[..., 0, 1] + rest[..., 1, 1], r_rows)
    r_tpr, r_fpr = _div(rest[..., 1, 1], r_pos), _div(rest[..., 0, 1], r_neg)
    both = present & (r_rows > 0)
    vs_dpd = np.where(both, np.abs(sel - r_sel), np.nan)
    classes = (pos > 0) & (neg > 0) & (r_pos > 0) & (r_neg > 0)
    vs_eod = np.where(both & classes, np.maximum(np.abs(tpr - r_tpr), np.abs(fpr - r_fpr)), np.nan)
    n = idx.shape[1]
    overall_acc = (preds == y)[idx].mean(axis=1) if n else np.full(b, np.nan)
    overall_sel = preds[idx].mean(axis=1) if n else np.full(b, np.nan)
    return {
        "accuracy": overall_acc,
        "macro_accuracy": macro,
        "worst_group_accuracy": worst,
        "dpd": dpd,
        "eod": eod,
        "selection_rate": overall_sel,
        "group.accuracy": acc,
        "group.selection_rate": sel,
        "group.tpr": np.where(present, tpr, np.nan),
        "group.fpr": np.where(present, fpr, np.nan),
        "group.vs_rest_dpd": vs_dpd,
        "group.vs_rest_eod": vs_eod,
    }


def _interval(values: np.ndarray, ci: float) -> tuple[float, float, int]:
    """Percentile interval over the defined values (axis 0) and how many there were."""
    v = values[~np.isnan(values)]
    if not len(v):
        return math.nan, math.nan, 0
    lo, hi = np.quantile(v, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(lo), float(hi), int(len(v))


def _record(scores: Mapping[str, np.ndarray], names: Sequence, ci: float) -> dict:
    overall, defined = {}, {}
    for m in BAND_METRICS:
        lo, hi, d = _interval(scores[m], ci)
        overall[m], defined[m] = [lo, hi], d
    groups = {}
    for j, g in enumerate(names):
        groups[str(g)] = {}
        for m in GROUP_BAND_METRICS:
            lo, hi, _ = _interval(scores[f"group.{m}"][:, j], ci)
            groups[str(g)][m] = [lo, hi]
    return {"overall": overall, "groups": groups, "defined": defined}


def bootstrap_bands(
    scorer, preds, n_boot: int = N_BOOT, ci: float = 0.95, random_state: int = 0
) -> dict:
    """Percentile bands of one point's metrics, JSON-able (NaN where undefined).

    Returns ``{"overall": {metric: [lo, hi]}, "groups": {group: {metric: [lo, hi]}},
    "defined": {metric: resamples with a value}, "n_boot", "ci", "random_state",
    "scheme"}`` for :data:`BAND_METRICS` and :data:`GROUP_BAND_METRICS`.
    """
    idx = resample_indices(len(scorer.y), n_boot, random_state)
    out = _record(resampled_scores(scorer, preds, idx), scorer.names, ci)
    out.update(n_boot=int(n_boot), ci=float(ci), random_state=int(random_state), scheme=SCHEME)
    return out


def seed_mean_bands(
    scorer, preds_by_seed: Sequence, n_boot: int = N_BOOT, ci: float = 0.95, random_state: int = 0
) -> dict:
    """The band of the *seed mean* of a point: each resample of rows is scored for every
    seed's predictions (the same rows: the seeds share the split) and the seeds'
    values averaged, so the band is the row noise of the mean that is drawn; the seeds'
    spread is the standard error shown beside it. Same record as :func:`bootstrap_bands`."""
    idx = resample_indices(len(scorer.y), n_boot, random_state)
    per_seed = [resampled_scores(scorer, p, idx) for p in preds_by_seed]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = {m: np.mean(np.stack([s[m] for s in per_seed]), axis=0) for m in per_seed[0]}
    out = _record(mean, scorer.names, ci)
    out.update(
        n_boot=int(n_boot),
        ci=float(ci),
        random_state=int(random_state),
        scheme=SCHEME + f"; mean of {len(per_seed)} seeds per resample",
        seeds=len(per_seed),
    )
    return out


def paired_difference(
    scorer,
    preds_a,
    preds_b,
    metrics: Sequence[str] = ("accuracy", "dpd", "eod"),
    n_boot: int = N_BOOT,
    ci: float = 0.95,
    random_state: int = 0,
) -> dict:
    """``a − b`` for each metric, with a paired percentile interval: both prediction
    vectors are scored on the same resampled rows and the interval is over the
    resamples' differences. ``{metric: {"a", "b", "diff", "lo", "hi", "defined",
    "finding"}}``; ``finding`` is False when the interval contains 0 (the difference is
    within the rows' noise) or is undefined."""
    idx = resample_indices(len(scorer.y), n_boot, random_state)
    sa, sb = resampled_scores(scorer, preds_a, idx), resampled_scores(scorer, preds_b, idx)
    whole = np.arange(len(scorer.y))[None, :]
    pa, pb = resampled_scores(scorer, preds_a, whole), resampled_scores(scorer, preds_b, whole)
    out = {}
    for m in metrics:
        a, b = float(pa[m][0]), float(pb[m][0])
        lo, hi, d = _interval(sa[m] - sb[m], ci)
        finding = bool(d) and not (lo <= 0.0 <= hi)
        out[m] = {"a": a, "b": b, "diff": a - b, "lo": lo, "hi": hi, "defined": d,
                  "finding": finding}  # fmt: skip
    out["n_boot"], out["ci"] = int(n_boot), float(ci)
    return out

"""One count table of (group × label × prediction), and every metric read off it.

A table ``c`` has shape ``(..., K + 1, 2, 2)``: leading axes are free (resamples, seeds,
predictors), then the ``K`` named groups and one last stratum for rows in no group, then
the true label ``y`` and the prediction ``ŷ``. Rows in no group count in the overall
accuracy and selection rate only. NaN rules (the same as fairlearn's numbers, guarded):
a group's rate is NaN without rows (TPR without positives, FPR without negatives); DPD
needs two groups with rows; EOD also needs positives and negatives in every group with
rows.
"""

from __future__ import annotations

import warnings

import numpy as np

from taskfair.metrics._inputs import as_groups, as_labels

__all__ = ["CountTable", "as_prediction_matrix", "joint_of", "rates", "table_metrics"]


def as_prediction_matrix(y_pred, n: int, name: str = "y_pred") -> np.ndarray:
    """``y_pred`` as an int64 ``(seeds, n)`` 0/1 array (one vector is one seed)."""
    arr = np.asarray(y_pred)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n or arr.shape[0] < 1:
        raise ValueError(
            f"{name} must be one vector of {n} predictions or a (seeds × {n}) array, "
            f"got shape {np.shape(y_pred)}"
        )
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold 0/1 predictions only")
    return arr.astype(np.int64)


class CountTable:
    """Labels and groups of one split, coded once: ``stratum = 2·group + y`` per row.

    ``labels`` ``(n,)`` 0/1; ``groups`` ``(n,)`` names (missing = no group; names sorted,
    a Categorical keeps its order). :meth:`of` turns predictions into count tables.
    """

    def __init__(self, labels, groups):
        self.y = as_labels(labels, "y_true").astype(np.int64)
        codes, names = as_groups(groups, len(self.y))
        self.codes, self.names, self.names_raw = codes, [str(n) for n in names], list(names)
        self.k = len(self.names)
        self.group = np.where(codes >= 0, codes, self.k)
        self.stratum = self.group * 2 + self.y
        self.sizes = np.bincount(self.stratum, minlength=2 * (self.k + 1)).reshape(-1, 2)

    @property
    def n(self) -> int:
        return len(self.y)

    def of(self, preds: np.ndarray) -> np.ndarray:
        """Count tables of predictions ``(..., n)`` 0/1: shape ``(..., K + 1, 2, 2)``."""
        preds = np.asarray(preds, dtype=np.int64)
        lead = preds.shape[:-1]
        flat = preds.reshape(-1, self.n)
        width = 4 * (self.k + 1)
        cell = self.stratum[None, :] * 2 + flat
        cell = cell + (np.arange(flat.shape[0]) * width)[:, None]
        c = np.bincount(cell.ravel(), minlength=flat.shape[0] * width)
        return c.reshape(*lead, self.k + 1, 2, 2).astype(np.float64)


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def rates(c: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group counts and rates of tables ``(..., K + 1, 2, 2)`` (named groups only)."""
    g = c[..., :-1, :, :]
    pos, neg = g[..., 1, :].sum(-1), g[..., 0, :].sum(-1)
    rows = pos + neg
    return {
        "n": rows,
        "positives": pos,
        "negatives": neg,
        "selected": g[..., 0, 1] + g[..., 1, 1],
        "tp": g[..., 1, 1],
        "fp": g[..., 0, 1],
        "correct": g[..., 0, 0] + g[..., 1, 1],
        "selection_rate": _div(g[..., 0, 1] + g[..., 1, 1], rows),
        "tpr": _div(g[..., 1, 1], pos),
        "fpr": _div(g[..., 0, 1], neg),
        "accuracy": _div(g[..., 0, 0] + g[..., 1, 1], rows),
    }


def _spread(values, mask):
    hi = np.where(mask, values, -np.inf).max(axis=-1)
    lo = np.where(mask, values, np.inf).min(axis=-1)
    return np.where(mask.sum(axis=-1) >= 2, hi - lo, np.nan)


def table_metrics(c: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of tables ``(..., K + 1, 2, 2)``: point-level arrays ``(...)`` and,
    under ``group.<rate>``, per-group arrays ``(..., K)``."""
    r = rates(c)
    present = r["n"] > 0
    n_present = present.sum(axis=-1)
    total = c.sum(axis=(-3, -2, -1))
    correct = (c[..., 0, 0] + c[..., 1, 1]).sum(axis=-1)
    selected = (c[..., 0, 1] + c[..., 1, 1]).sum(axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        acc_p = np.where(present, r["accuracy"], np.nan)
        macro = np.where(n_present > 0, np.nanmean(acc_p, axis=-1), np.nan)
        worst = np.where(n_present > 0, np.nanmin(acc_p, axis=-1), np.nan)
    one_class = (present & ((r["positives"] == 0) | (r["negatives"] == 0))).any(axis=-1)
    eod = np.maximum(_spread(r["tpr"], present), _spread(r["fpr"], present))
    return {
        "accuracy": _div(correct, total),
        "selection_rate": _div(selected, total),
        "macro_accuracy": macro,
        "worst_group_accuracy": worst,
        "dpd": _spread(r["selection_rate"], present),
        "eod": np.where(one_class | (n_present < 2), np.nan, eod),
        **{f"group.{m}": r[m] for m in ("selection_rate", "tpr", "fpr", "accuracy")},
    }


def joint_of(table: CountTable, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Joint tables of two predictors on the same rows, seeds paired by index:
    ``(S, K + 1, 2, 2, 2)`` = [seed, group, y, ŷ_a, ŷ_b] from ``(S, n)`` arrays."""
    s = pa.shape[0]
    width = 8 * (table.k + 1)
    cell = (table.stratum[None, :] * 2 + pa) * 2 + pb + (np.arange(s) * width)[:, None]
    c = np.bincount(cell.ravel(), minlength=s * width)
    return c.reshape(s, table.k + 1, 2, 2, 2).astype(np.float64)

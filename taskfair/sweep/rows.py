"""Tidy rows of a point: one row per (setting, split, seed, group), the sweep's columns.

:func:`tidy_rows` is the one place a point's logits become rows, for exact points
(fairlearn, :func:`taskfair.metrics.fairness_report`) and previews (the same numbers
from :class:`taskfair.metrics.PreviewScorer`, fast enough for every redraw).

Columns: :data:`COLUMNS`. As in :meth:`taskfair.metrics.FairnessReport.to_frame`, the
point-level numbers (``macro_accuracy``, ``worst_group_accuracy``, ``dpd``, ``eod``) are
repeated on every row of a point; ``accuracy``, ``n``, ``selection_rate``, ``tpr`` and
``fpr`` are the row's own (the overall row's rates are over all rows of the split,
grouped or not); ``vs_rest_*`` are NaN on the overall row (``group == OVERALL``).
``lam`` is NaN for per-vector mixes and reference points (their coefficients are in
``coeffs``).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskfair.metrics import (
    OVERALL,
    FairnessReport,
    FairnessWarning,
    PreviewScorer,
    fairness_report,
    overall_rows,
)
from taskfair.sweep.keys import CACHE_VERSION
from taskfair.sweep.settings import Setting

__all__ = [
    "COLUMNS",
    "OVERALL",
    "concat_rows",
    "empty_frame",
    "injected_rows",
    "overall",
    "overall_rows",
    "point_meta",
    "tidy_rows",
]

COLUMNS: tuple[str, ...] = (
    "method",
    "lam",
    "normalize",
    "coeffs",
    "split",
    "seed",
    "group",
    "accuracy",
    "macro_accuracy",
    "worst_group_accuracy",
    "dpd",
    "eod",
    "n",
    "selection_rate",
    "tpr",
    "fpr",
    "vs_rest_dpd",
    "vs_rest_eod",
    "exact",
)


def tidy_rows(
    setting: Setting,
    split: str,
    seed: int | None,
    logits: np.ndarray,
    labels: np.ndarray,
    groups,
    exact: bool = True,
    scorer: PreviewScorer | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one point from its logits ``(n, 2)``, and the metrics' warnings.

    Without ``scorer`` the numbers come from fairlearn (exact points); with one, from its
    count table over the same ``labels`` and ``groups`` (previews).
    """
    preds = np.asarray(logits).argmax(axis=1)
    if scorer is None:
        with warnings.catch_warnings():
            # One sweep would repeat the same warning per point; they are kept in the sidecar.
            warnings.simplefilter("ignore", FairnessWarning)
            rep = fairness_report(labels, preds, sensitive_features=groups)
    else:
        rep = scorer.report_preds(preds)
    return _frame(rep, setting, split, seed, preds, np.asarray(labels), exact), list(rep.warnings)


def _frame(rep: FairnessReport, setting, split, seed, preds, labels, exact) -> pd.DataFrame:
    frame = rep.to_frame(overall=True)
    top = frame["group"] == OVERALL
    pos, neg = labels == 1, labels == 0
    frame.loc[top, "selection_rate"] = preds.mean() if len(preds) else math.nan
    frame.loc[top, "tpr"] = preds[pos].mean() if pos.any() else math.nan
    frame.loc[top, "fpr"] = preds[neg].mean() if neg.any() else math.nan
    frame["method"] = setting.method
    frame["lam"] = math.nan if setting.lam is None else float(setting.lam)
    frame["normalize"] = setting.normalize
    frame["coeffs"] = setting.coeffs_json
    frame["split"] = split
    frame["seed"] = pd.array([seed] * len(frame), dtype="Int64")
    frame["exact"] = bool(exact)
    return frame[list(COLUMNS)].astype({"n": "int64", "lam": "float64"})


def point_meta(setting: Setting, split: str, keys, warnings: Sequence[str], source: str) -> dict:
    """The sidecar of an exact point: what it is, what it was computed from, its notes."""
    return {
        "setting": setting.record(),
        "split": split,
        "seed": keys.seed,
        "base_fingerprint": keys.base_fingerprint,
        "vectors": {n: keys.vector_fingerprint(n) for n, _ in setting.coeffs},
        "data_fingerprint": keys.split_fingerprints[split],
        "warnings": list(warnings),
        "source": source,
        "cache_version": CACHE_VERSION,
    }


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def concat_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Rows of several points as one frame (an empty frame with the columns for none)."""
    frames = [f for f in frames if f is not None]
    return pd.concat(frames, ignore_index=True) if frames else empty_frame()


def overall(rows: pd.DataFrame | None) -> dict:
    """The overall row of one point as a dict (``lam``, metrics, ``exact``); NaN → None."""
    if rows is None or rows.empty:
        return {}
    r = overall_rows(rows).iloc[0].to_dict()
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}


def injected_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Injection points' rows of the injected group itself (and the overall rows): a cell
    then reads "inject τ_g at λ: what happens to g". The injected group is the one vector
    a point names besides the FFT anchor."""
    if rows.empty:
        return rows
    injected = rows["coeffs"].map(lambda c: next((g for g in json.loads(c) if g != "fft"), None))
    return rows[(rows["group"] == injected) | (rows["group"] == OVERALL)]

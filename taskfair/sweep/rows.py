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
``coeffs``). ``degenerate`` / ``degenerate_note`` (point-level, on every row) flag a
(nearly) constant predictor (:func:`taskfair.metrics.degeneracy`); rows cached before
these columns existed get them when read (:func:`with_degeneracy`), so old caches stay
valid. The threshold-free and calibration columns (:data:`RANKING_COLUMNS`: subgroup,
BPSN and BNSP AUC, ECE, Brier; :mod:`taskfair.metrics._ranking`) are per group, NaN on
the overall row, computed from the point's scores; rows cached before them get all of
them derived from the cached logits when read (:func:`with_ranking`), never some.

:func:`reference_rows` gives the same columns for the reference *predictors* of a split
(constant all-positive / all-negative, and the label oracle), whose ``method`` is one of
:data:`taskfair.metrics.REFERENCE_PREDICTORS`.
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
    group_ranking,
    mark_degenerate,
    overall_rows,
    positive_scores,
    reference_predictions,
)
from taskfair.metrics import RANKING_METRICS as RANKING_COLUMNS
from taskfair.sweep.keys import CACHE_VERSION
from taskfair.sweep.settings import Setting

__all__ = [
    "CHECKED_COLUMNS",
    "COLUMNS",
    "DERIVED_COLUMNS",
    "OVERALL",
    "POINT_KEYS",
    "RANKING_COLUMNS",
    "concat_rows",
    "empty_frame",
    "injected_rows",
    "overall",
    "overall_rows",
    "point_meta",
    "reference_rows",
    "rows_mismatch",
    "tidy_rows",
    "rederive_degeneracy",
    "with_degeneracy",
    "with_ranking",
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
    "degenerate",
    "degenerate_note",
    *RANKING_COLUMNS,
)
#: Columns a reader derives when a cache written before them lacks them
#: (:func:`with_degeneracy`, :func:`with_ranking`): a cached frame may omit exactly these.
DERIVED_COLUMNS: tuple[str, ...] = ("degenerate", "degenerate_note", *RANKING_COLUMNS)
#: The columns that identify one point of a tidy frame.
POINT_KEYS: tuple[str, ...] = ("method", "lam", "normalize", "coeffs", "split", "seed")


def tidy_rows(
    setting: Setting,
    split: str,
    seed: int | None,
    logits: np.ndarray,
    labels: np.ndarray,
    groups,
    exact: bool = True,
    scorer: PreviewScorer | None = None,
    positive_label: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one point from its logits ``(n, 2)``, and the metrics' warnings.

    Without ``scorer`` the numbers come from fairlearn (exact points); with one, from its
    count table over the same ``labels`` and ``groups`` (previews). ``positive_label``
    names class 1 in ``degenerate_note`` (a scorer carries its own).
    """
    preds = np.asarray(logits).argmax(axis=1)
    if scorer is None:
        with warnings.catch_warnings():
            # One sweep would repeat the same warning per point; they are kept in the sidecar.
            warnings.simplefilter("ignore", FairnessWarning)
            rep = fairness_report(
                labels, preds, sensitive_features=groups, positive_label=positive_label
            )
    else:
        rep = scorer.report_preds(preds)
    frame = _frame(rep, setting, split, seed, preds, np.asarray(labels), exact)
    if groups is None and scorer is not None:  # the scorer's groups (e.g. intersections)
        names = np.asarray([str(n) for n in scorer.names] + [None], dtype=object)
        groups = names[np.where(scorer.codes >= 0, scorer.codes, len(scorer.names))]
    return _ranked(frame, positive_scores(logits), labels, groups), list(rep.warnings)


def _ranked(frame: pd.DataFrame, scores, labels, groups) -> pd.DataFrame:
    """``frame`` with :data:`RANKING_COLUMNS` filled on its group rows from ``scores``."""
    table = group_ranking(labels, scores, groups).set_index("group")
    out = frame.copy()
    for c in RANKING_COLUMNS:
        out[c] = [table[c].get(str(g), math.nan) if g != OVERALL else math.nan
                  for g in out["group"]]  # fmt: skip
    return out


def with_ranking(rows: pd.DataFrame | None, logits, labels, groups) -> pd.DataFrame | None:
    """``rows`` with :data:`RANKING_COLUMNS` derived from the point's cached ``logits``
    where they are absent (rows cached before them); rows that carry them are returned as
    is. All of them are derived together, so a frame never mixes the two."""
    if rows is None or logits is None or all(c in rows.columns for c in RANKING_COLUMNS):
        return rows
    return _ranked(rows.drop(columns=[c for c in RANKING_COLUMNS if c in rows.columns]),
                   positive_scores(logits), labels, groups)  # fmt: skip


#: The numbers of a point's rows that its logits determine: every one is recomputed from
#: the logits when a cached point is read (:func:`rows_mismatch`).
CHECKED_COLUMNS: tuple[str, ...] = (
    "n",
    "accuracy",
    "macro_accuracy",
    "worst_group_accuracy",
    "dpd",
    "eod",
    "selection_rate",
    "tpr",
    "fpr",
    "vs_rest_dpd",
    "vs_rest_eod",
)


def _first_difference(cached: pd.DataFrame, fresh: pd.DataFrame, tol: float) -> str | None:
    a, b = cached.set_index("group"), fresh.set_index("group")
    if a.index.has_duplicates or set(a.index) != set(b.index):
        return "its groups are not those of the split"
    b = b.loc[a.index]
    for col in CHECKED_COLUMNS:
        x = pd.to_numeric(a[col], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(b[col], errors="coerce").to_numpy(dtype=float)
        same = (np.abs(x - y) <= tol) | (np.isnan(x) & np.isnan(y))
        if not same.all():
            group = str(a.index[int(np.argmin(same))])[:40]
            return f"its {col} of group {group!r} is not that of its logits"
    for col in DERIVED_COLUMNS:  # rows cached before these columns derive them on read
        present = col in a.columns and not a[col].isna().any()
        if present and list(a[col].astype(b[col].dtype)) != list(b[col]):
            return f"its {col} is not that of its logits"
    return None


def rows_mismatch(
    rows: pd.DataFrame,
    logits: np.ndarray,
    labels: np.ndarray,
    groups,
    scorer: PreviewScorer | None = None,
    positive_label: str | None = None,
    tol: float = 1e-9,
) -> str | None:
    """Why cached ``rows`` are not the rows of ``logits`` on these labels and groups
    (every number of :data:`CHECKED_COLUMNS`, per group, and the degeneracy flags), or
    None. The count-table ``scorer`` answers first (fast); a difference is confirmed
    with fairlearn, which made the rows, before it is reported."""
    labels = np.asarray(labels)
    preds = np.asarray(logits).argmax(axis=1)
    if scorer is not None:
        rep = scorer.report_preds(preds)
        fresh = _rows(rep, "", None, "sum", "", "", None, preds, labels, True)
        if _first_difference(rows, fresh, tol) is None:
            return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)
        rep = fairness_report(
            labels, preds, sensitive_features=groups, positive_label=positive_label
        )
    fresh = _rows(rep, "", None, "sum", "", "", None, preds, labels, True)
    return _first_difference(rows, fresh, tol)


def with_degeneracy(rows: pd.DataFrame | None, positive_label: str | None = None):
    """``rows`` with the ``degenerate`` columns, derived from the selection rates where
    absent (rows cached before they existed); rows that carry them are returned as is."""
    if rows is None or ("degenerate" in rows.columns and not rows["degenerate"].isna().any()):
        return rows
    return mark_degenerate(rows, [k for k in POINT_KEYS if k in rows.columns], positive_label)


def rederive_degeneracy(rows: pd.DataFrame, positive_label: str | None = None) -> pd.DataFrame:
    """``rows`` with their degeneracy columns derived afresh from their selection rates by
    today's rule, whatever they carried (cached under an earlier rule, or edited)."""
    stale = [c for c in ("degenerate", "degenerate_kind", "degenerate_note") if c in rows]
    out = with_degeneracy(rows.drop(columns=stale), positive_label)
    if "degenerate" in rows.columns:  # the columns it had, in their order (a fresh point's)
        out = out[list(rows.columns)]
    return out


def reference_rows(
    split: str, labels: np.ndarray, groups, positive_label: str | None = None
) -> pd.DataFrame:
    """Tidy rows of the reference predictors of a split, scored by fairlearn: constant
    all-positive and all-negative (DPD = EOD = 0 by construction; accuracy = the base rate
    and its complement) and the label oracle (ŷ = y: accuracy 1, EOD 0, DPD = the gap
    between the groups' base rates). ``method`` is the predictor's name, ``lam`` NaN,
    ``coeffs`` ``"{}"``, ``seed`` missing (no model is involved)."""
    labels = np.asarray(labels)
    frames = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)  # constant predictions: on purpose
        for name, preds in reference_predictions(labels).items():
            rep = fairness_report(
                labels, preds, sensitive_features=groups, positive_label=positive_label
            )
            rows = _rows(rep, name, None, "sum", "{}", split, None, preds, labels, exact=True)
            frames.append(_ranked(rows, preds.astype(np.float64), labels, groups))
    return concat_rows(frames)


def _frame(rep: FairnessReport, setting, split, seed, preds, labels, exact) -> pd.DataFrame:
    return _rows(
        rep, setting.method, setting.lam, setting.normalize, setting.coeffs_json, split, seed,
        preds, labels, exact,
    )  # fmt: skip


def _rows(rep, method, lam, normalize, coeffs, split, seed, preds, labels, exact) -> pd.DataFrame:
    frame = rep.to_frame(overall=True)
    top = frame["group"] == OVERALL
    pos, neg = labels == 1, labels == 0
    frame.loc[top, "selection_rate"] = preds.mean() if len(preds) else math.nan
    frame.loc[top, "tpr"] = preds[pos].mean() if pos.any() else math.nan
    frame.loc[top, "fpr"] = preds[neg].mean() if neg.any() else math.nan
    frame["method"] = method
    frame["lam"] = math.nan if lam is None else float(lam)
    frame["normalize"] = normalize
    frame["coeffs"] = coeffs
    frame["split"] = split
    frame["seed"] = pd.array([seed] * len(frame), dtype="Int64")
    frame["exact"] = bool(exact)
    frame["degenerate"] = bool(rep.degenerate)
    frame["degenerate_note"] = rep.degenerate_note
    for c in RANKING_COLUMNS:  # filled by _ranked, from the point's scores
        frame[c] = math.nan
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

"""Choosing λ on validation, reporting the choice on test.

* :func:`pareto_front` — the non-dominated points of a sweep (lower disparity, higher
  accuracy) on the *validation* split.
* :func:`select_lambda` — "the setting with the smallest DPD (or EOD) whose validation
  accuracy is within ``within`` of FFT's validation accuracy". It accepts validation rows
  only and refuses any frame that holds another split, so a test number can never
  influence the choice.
* :func:`report_on_test` — the chosen setting's rows on the test split.

Inputs are tidy sweep frames (:data:`taskfair.sweep.COLUMNS`); only the overall rows
(``group == "__overall__"``) enter a choice. With several seeds, a setting's metrics are
averaged over seeds first.

Degenerate settings (a (nearly) constant predictor overall or in a group, see
:func:`taskfair.metrics.degeneracy`: their DPD and EOD near 0 are no evidence of
fairness) are left out of the front and of the choice by default; a setting is
degenerate when it is in any seed. ``include_degenerate=True`` puts them back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from taskfair.metrics import OVERALL, mark_degenerate

__all__ = ["Selection", "pareto_front", "pareto_indices", "select_lambda", "report_on_test"]


_KEY = ["method", "lam", "normalize", "coeffs"]
_METRICS = ["accuracy", "macro_accuracy", "worst_group_accuracy", "dpd", "eod"]
_CANDIDATE_METHODS = ("task_addition", "injection", "per_vector")


@dataclass(frozen=True)
class Selection:
    """A setting chosen on validation.

    ``lam`` is NaN for per-vector mixes (see ``coeffs``). ``val_metrics`` holds the
    chosen setting's validation accuracy, macro and worst-group accuracy, DPD and EOD
    (seed means). ``feasible`` is False when no setting met the accuracy constraint; the
    most accurate setting is then returned, and ``reason`` says so.
    """

    lam: float
    method: str
    normalize: str
    coeffs: str
    metric: str
    within: float
    reference_accuracy: float
    val_metrics: dict
    feasible: bool = True
    reason: str = ""
    n_candidates: int = 0
    seeds: list = field(default_factory=list)
    excluded_degenerate: int = 0


def _only_split(df: pd.DataFrame, split: str, who: str) -> None:
    if "split" not in df.columns:
        raise ValueError(f"{who} needs the tidy sweep frame's 'split' column.")
    other = sorted(set(df["split"].dropna().astype(str)) - {split})
    if other:
        raise ValueError(
            f"{who} takes {split!r} rows only, got split(s) {other}: filter with "
            f"df[df.split == {split!r}] first (λ is chosen on validation, never on test)."
        )


def _flagged(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its ``degenerate`` flag, derived from the selection rates where absent."""
    if "degenerate" in df.columns and not df["degenerate"].isna().any():
        return df
    keys = [k for k in (*_KEY, "split", "seed") if k in df.columns]
    if "selection_rate" not in df.columns:  # nothing to derive it from: not flagged
        return df.assign(degenerate=df.get("degenerate", pd.Series(False, df.index)).fillna(False))
    return mark_degenerate(df, keys)


def _overall_means(df: pd.DataFrame) -> pd.DataFrame:
    """One row per setting: overall metrics averaged over seeds; ``degenerate`` when the
    setting is degenerate in any seed."""
    rows = _flagged(df)
    rows = rows[rows["group"] == OVERALL].copy()
    rows["lam_key"] = rows["lam"].fillna(-math.inf)  # NaN keys would drop rows in groupby
    keys = ["method", "lam_key", "normalize", "coeffs"]
    agg = rows.groupby(keys, sort=False, dropna=False)
    out = agg[_METRICS].mean().reset_index()
    out["n_seeds"] = agg.size().to_numpy()
    out["degenerate"] = agg["degenerate"].agg(lambda v: bool(v.astype(bool).any())).to_numpy()
    out["lam"] = out["lam_key"].where(out["lam_key"] != -math.inf)
    return out.drop(columns="lam_key")


def pareto_indices(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points ``(x, y)`` not dominated in (lower ``x``, higher ``y``), in
    order of ``x`` (ties: higher ``y`` first, then input order). A point is kept when its
    ``y`` is strictly higher than that of every point before it in that order."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def pareto_front(
    df: pd.DataFrame,
    x: str = "dpd",
    y: str = "accuracy",
    split: str | None = "val",
    include_degenerate: bool = False,
) -> pd.DataFrame:
    """Settings not dominated in (lower ``x``, higher ``y``), sorted by ``x``.

    ``df``: a tidy sweep frame; with ``split`` (default ``"val"``) it must hold that
    split only. Rows with NaN in ``x`` or ``y`` are left out, and so are degenerate
    settings unless ``include_degenerate``. Returns one row per setting (seed means)
    with ``method, lam, normalize, coeffs``, the metrics and ``degenerate``.
    """
    if split is not None:
        _only_split(df, split, "pareto_front")
    pts = _overall_means(df).dropna(subset=[x, y])
    if not include_degenerate:
        pts = pts[~pts["degenerate"]]
    front = pareto_indices(list(zip(pts[x].tolist(), pts[y].tolist(), strict=True)))
    return pts.iloc[front].reset_index(drop=True)


def select_lambda(
    val_df: pd.DataFrame,
    metric: str = "dpd",
    within: float = 0.02,
    reference_accuracy: float | None = None,
    methods: tuple[str, ...] = _CANDIDATE_METHODS,
    include_degenerate: bool = False,
) -> Selection:
    """The setting with the smallest ``metric`` whose accuracy ≥ reference − ``within``.

    ``val_df``: validation rows only (any other split is refused). The reference is
    FFT's validation accuracy (the ``method == "fft"`` overall row) unless
    ``reference_accuracy`` is given. Candidates are the rows of ``methods``, without
    the degenerate settings unless ``include_degenerate`` (a ``ValueError`` says so
    when every candidate is degenerate). Ties go to the higher accuracy, then the
    smaller λ.
    """
    if metric not in ("dpd", "eod"):
        raise ValueError(f"metric must be 'dpd' or 'eod', not {metric!r}.")
    if not within >= 0:
        raise ValueError(f"within must be a non-negative accuracy margin, not {within!r}.")
    _only_split(val_df, "val", "select_lambda")
    means = _overall_means(val_df)
    if reference_accuracy is None:
        fft = means[means["method"] == "fft"]
        if fft.empty:
            raise ValueError(
                "No FFT validation row to take the reference accuracy from: include the "
                "reference points (sweep_bundle(..., references=True)) or pass reference_accuracy."
            )
        reference_accuracy = float(fft["accuracy"].iloc[0])
    cands = means[means["method"].isin(methods)].dropna(subset=["accuracy"])
    if cands.empty:
        raise ValueError(f"No candidate rows of methods {methods} in the validation frame.")
    excluded = 0
    if not include_degenerate:
        excluded = int(cands["degenerate"].sum())
        cands = cands[~cands["degenerate"]]
        if cands.empty:
            raise ValueError(
                f"Every candidate setting ({excluded}) is degenerate (a (nearly) constant "
                "predictor): its DPD/EOD say nothing about fairness. Include them "
                "explicitly (include_degenerate=True) to choose among them anyway."
            )
    ok = cands[(cands["accuracy"] >= reference_accuracy - within) & cands[metric].notna()]
    feasible = not ok.empty
    if feasible:
        chosen = (
            ok.assign(_lam=ok["lam"].fillna(math.inf))
            .sort_values([metric, "accuracy", "_lam"], ascending=[True, False, True], kind="stable")
            .iloc[0]
        )
        reason = (
            f"smallest validation {metric.upper()} among {len(ok)} settings within "
            f"{within:g} of the reference accuracy {reference_accuracy:.4f}"
        )
    else:
        chosen = cands.sort_values("accuracy", ascending=False, kind="stable").iloc[0]
        reason = (
            f"no setting reaches accuracy {reference_accuracy - within:.4f}; "
            "returning the most accurate one"
        )
    if excluded:
        reason += f"; {excluded} degenerate setting(s) left out"
    seeds = sorted(val_df["seed"].dropna().unique().tolist()) if "seed" in val_df else []
    return Selection(
        lam=float(chosen["lam"]) if pd.notna(chosen["lam"]) else math.nan,
        method=str(chosen["method"]),
        normalize=str(chosen["normalize"]),
        coeffs=str(chosen["coeffs"]),
        metric=metric,
        within=float(within),
        reference_accuracy=float(reference_accuracy),
        val_metrics={m: float(chosen[m]) for m in _METRICS},
        feasible=feasible,
        reason=reason,
        n_candidates=len(cands),
        seeds=[int(s) for s in seeds],
        excluded_degenerate=excluded,
    )


def report_on_test(selection: Selection, test_df: pd.DataFrame) -> pd.DataFrame:
    """The chosen setting's test rows (all groups; seed means when several seeds).

    ``test_df``: a tidy frame; only its test rows are used. Raises if the setting was
    not evaluated on test.
    """
    rows = test_df[
        (test_df["split"] == "test")
        & (test_df["method"] == selection.method)
        & (test_df["normalize"] == selection.normalize)
    ]
    want = json.loads(selection.coeffs)
    rows = rows[[json.loads(c) == want for c in rows["coeffs"]]]
    if rows.empty:
        raise ValueError(
            f"The chosen setting ({selection.method}, {selection.coeffs}) has no "
            "test rows: sweep it on the test split too."
        )
    numeric = [
        c
        for c in rows.columns
        if c not in ("method", "normalize", "coeffs", "split", "group", "seed", "exact")
    ]
    out = rows.groupby("group", sort=False)[numeric].mean().reset_index()
    out.insert(0, "method", selection.method)
    out["normalize"], out["coeffs"], out["split"] = selection.normalize, selection.coeffs, "test"
    out["n_seeds"] = rows.groupby("group", sort=False).size().to_numpy()
    return out

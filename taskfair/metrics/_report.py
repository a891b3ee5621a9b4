"""Group fairness metrics for binary classifiers, as thin wrappers over fairlearn.

Every rate comes from fairlearn's :class:`~fairlearn.metrics.MetricFrame` (with
fairlearn's ``selection_rate`` and scikit-learn's ``accuracy_score``) and every disparity
from ``MetricFrame.difference()`` -- the same computation as fairlearn's
``demographic_parity_difference`` and ``equalized_odds_difference(agg="worst_case")``.
Nothing here builds a confusion matrix by hand. What this module adds is honesty about
degenerate groups: fairlearn reports TPR = 0 for a group without positives (and then a
real-looking EOD), and ``difference()`` silently skips groups whose rate is NaN. Here a
rate that is undefined is NaN, a disparity that involves it is NaN, and a warning says
which group and why.

Label encoding: ``y_true`` and ``y_pred`` hold 0/1 (or bool), 1 = positive (e.g. toxic).
Groups: ``sensitive_features`` holds one group name per row; a missing value (None, NaN,
``pd.NA``) means the row belongs to no group: it counts in overall accuracy and nowhere
else. All inputs are aligned by position, never by pandas index.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import accuracy_score

from taskfair.metrics._degenerate import degeneracy
from taskfair.metrics._inputs import as_groups, as_labels, cond_rate, label_counts, quiet
from taskfair.metrics._intervals import fairness_intervals
from taskfair.metrics._report_type import (
    CI_METRICS,
    OVERALL,
    REPORT_COLUMNS,
    FairnessReport,
    FairnessWarning,
    overall_rows,
)
from taskfair.metrics._vs_rest import group_vs_rest

__all__ = [
    "CI_METRICS",
    "OVERALL",
    "REPORT_COLUMNS",
    "FairnessReport",
    "FairnessWarning",
    "degenerate_of",
    "fairness_report",
    "group_vs_rest",
    "overall_rows",
]

# Codes of the stacked layout built by _cells(): block _ALL compares all groups with
# each other; block k >= 0 compares group k with every other grouped row (member _REST).
_ALL = -1
_REST = -1


def fairness_report(
    y_true,
    y_pred,
    *,
    sensitive_features,
    n_boot: int = 0,
    ci: float = 0.95,
    random_state: int | None = 0,
    min_group_size: int = 1,
    positive_label: str | None = None,
) -> FairnessReport:
    """Accuracy and group fairness of binary predictions, via fairlearn.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        0/1 labels (bool accepted); list, numpy array or pandas Series.
    sensitive_features : array-like of shape (n,)
        Group name per row; None / NaN / ``pd.NA`` = no group (counted in ``accuracy``
        only). A pandas Categorical keeps its declared categories: one without rows is
        listed with ``n == 0`` and left out of every comparison, with a warning.
    n_boot : int
        Bootstrap resamples for confidence intervals; 0 (default) computes none.
    ci : float in (0, 1)
        Central coverage of the percentile intervals.
    random_state : int or None
        Seed of the resampling; the same seed gives the same intervals.
    min_group_size : int
        Groups with fewer rows are named in the warnings (their rates are noise).
    positive_label : str or None
        The name of class 1 (e.g. ``"toxic"``), used in ``degenerate_note`` only.

    Returns
    -------
    FairnessReport

    Notes
    -----
    Point estimates: two MetricFrames over a stacked layout (see :func:`_cells`) give the
    per-group rates, the all-groups DPD/EOD and every group-vs-rest DPD/EOD at once. Rows
    are first deduplicated into distinct ``(group, y, y_pred)`` rows weighted by their
    multiplicity (MetricFrame's ``sample_params``): every metric here is a mean, so the
    weighted rows give the same numbers as the raw ones, and the stacked layout stays a
    few dozen rows instead of (groups + 1) copies of the data. Cost: about 90 ms for
    2,000 rows and 5 groups (2-core machine), nearly all of it MetricFrame's fixed
    per-cell and per-frame overhead (one MetricFrame costs >= ~13 ms even on 20 rows).

    Confidence intervals (``n_boot > 0``) come from the one inference core,
    :func:`taskfair.metrics.fairness_intervals` at level ``ci``: Wilson intervals of the
    accuracy and of every group's rates, simultaneous gaps projected onto max − min for
    DPD and EOD (valid at a disparity of 0; see docs/STATISTICS.md); ``n_boot``
    is passed on (it backs the core's bias-corrected estimates, not these intervals).

    Warnings are also emitted as :class:`FairnessWarning`; fairlearn's and scikit-learn's
    own zero-division warnings are silenced inside this call only.
    """
    y, yhat, codes, names = _checked(y_true, y_pred, sensitive_features, n_boot, ci)
    by_group, dpd, eod, accuracy, intervals = _estimates(
        y, yhat, codes, names, sensitive_features, n_boot, ci, random_state
    )
    notes = _degeneracy_notes(by_group, len(y), min_group_size)
    constant = degenerate_of(by_group, float(yhat.mean()) if len(y) else math.nan, positive_label)
    for note in notes:
        warnings.warn(note, FairnessWarning, stacklevel=2)
    return FairnessReport(
        accuracy=accuracy,
        dpd=dpd,
        eod=eod,
        by_group=by_group,
        warnings=tuple(notes),
        ci=intervals,
        n_boot=int(n_boot),
        ci_level=float(ci),
        degenerate=constant.degenerate,
        degenerate_note=constant.note,
        **_group_accuracy(by_group),
        **_row_counts(y, codes),
    )


def _checked(y_true, y_pred, sensitive_features, n_boot, ci):
    """``(y, yhat, codes, names)`` of :func:`fairness_report`'s inputs, or a ValueError."""
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if not 0.0 < float(ci) < 1.0:
        raise ValueError(f"ci must lie strictly between 0 and 1, got {ci!r}")
    y, yhat = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    if len(y) != len(yhat):
        raise ValueError(f"y_true has {len(y)} rows but y_pred has {len(yhat)}")
    codes, names = as_groups(sensitive_features, len(y))
    return y, yhat, codes, names


def _estimates(y, yhat, codes, names, groups, n_boot, ci, random_state):
    """The per-group table, DPD, EOD, accuracy and intervals; library warnings silenced."""
    with quiet():
        by_group, dpd, eod = _point_estimates(y, yhat, codes, names)
        accuracy = float(accuracy_score(y, yhat)) if len(y) else math.nan
        intervals: dict[str, tuple[float, float]] = {}
        if n_boot:
            intervals = _fill_intervals(
                y, yhat, groups, by_group, int(n_boot), float(ci), random_state
            )
    return by_group, dpd, eod, accuracy, intervals


def _group_accuracy(by_group: pd.DataFrame) -> dict[str, float]:
    """Mean and minimum of the accuracies of the groups with rows (NaN without any)."""
    grouped = by_group[by_group["n"] > 0]
    return {
        "macro_accuracy": float(grouped["accuracy"].mean()) if len(grouped) else math.nan,
        "worst_group_accuracy": float(grouped["accuracy"].min()) if len(grouped) else math.nan,
    }


def _row_counts(y: np.ndarray, codes: np.ndarray) -> dict[str, int]:
    """``n``, ``n_grouped``, ``n_pos`` and ``n_neg`` of a report."""
    return {
        "n": len(y),
        "n_grouped": int((codes >= 0).sum()),
        "n_pos": int(y.sum()),
        "n_neg": int(len(y) - y.sum()),
    }


def degenerate_of(by_group: pd.DataFrame, overall_rate: float, positive_label: str | None):
    """:func:`~taskfair.metrics.degeneracy` of a per-group table and the overall rate."""
    rates = {
        g: (float(r), int(n))
        for g, r, n in zip(by_group.index, by_group["selection_rate"], by_group["n"], strict=True)
    }
    return degeneracy(overall_rate, rates, positive_label)


# --------------------------------------------------------------- point estimates


def _cells(codes: np.ndarray, y: np.ndarray, yhat: np.ndarray, n_groups: int) -> pd.DataFrame:
    """Stacked, deduplicated rows for one MetricFrame call per metric family.

    ``codes`` (shape (m,), values 0..n_groups-1), ``y`` and ``yhat`` are the grouped rows.
    Returns columns ``block, member, y, y_pred, w``: each distinct ``(group, y, y_pred)``
    row once per block, ``w`` its multiplicity. Block ``_ALL`` keeps the group code as
    ``member`` (all groups against each other); block ``k`` maps every other group to
    ``_REST`` (the binary g / not-g feature of group k). With ``block`` as a control
    feature, MetricFrame's per-block ``difference()`` is then the all-groups DPD for block
    ``_ALL`` and group k's DPD vs rest for block ``k``.
    """
    key = (codes * 2 + y) * 2 + yhat
    distinct, weight = np.unique(key, return_counts=True)
    member, label = np.divmod(distinct, 4)
    y_d, yhat_d = np.divmod(label, 2)
    blocks = [_ALL, *range(n_groups)]
    members = [member if b == _ALL else np.where(member == b, b, _REST) for b in blocks]
    size = len(distinct)
    return pd.DataFrame(
        {
            "block": np.repeat(blocks, size),
            "member": np.concatenate(members),
            "y": np.tile(y_d, len(blocks)),
            "y_pred": np.tile(yhat_d, len(blocks)),
            "w": np.tile(weight, len(blocks)).astype(float),
        }
    )


def _point_estimates(
    y: np.ndarray, yhat: np.ndarray, codes: np.ndarray, names: list
) -> tuple[pd.DataFrame, float, float]:
    """The per-group table (without CIs), the DPD and the EOD."""
    n_groups = len(names)
    rows = codes >= 0
    table = pd.DataFrame(
        np.nan, index=pd.Index(names, name="group", dtype=object), columns=REPORT_COLUMNS
    )
    counts = label_counts(codes[rows], y[rows], n_groups)
    table["n"], table["n_pos"], table["n_neg"] = counts.T
    if not rows.any():
        return table.astype({"n": "int64", "n_pos": "int64", "n_neg": "int64"}), math.nan, math.nan

    cells = _cells(codes[rows], y[rows], yhat[rows], n_groups)
    weights = cells["w"].to_numpy()
    common = {
        "y_true": cells["y"].to_numpy(),
        "y_pred": cells["y_pred"].to_numpy(),
        "sensitive_features": cells["member"].rename("member"),
    }
    # Unconditional rates per (block, member): accuracy and selection rate.
    unconditional = MetricFrame(
        metrics={"accuracy": accuracy_score, "selection_rate": selection_rate},
        control_features=cells["block"].rename("block"),
        sample_params={
            "accuracy": {"sample_weight": weights},
            "selection_rate": {"sample_weight": weights},
        },
        **common,
    )
    # The selection rate among y == 1 is the TPR, among y == 0 the FPR: conditioning on the
    # label as a control feature leaves a group without positives with no (block, 1, g)
    # cell, hence NaN, where fairlearn's true_positive_rate would report 0.
    conditional = MetricFrame(
        metrics={"rate": selection_rate},
        control_features=cells[["block", "y"]],
        sample_params={"rate": {"sample_weight": weights}},
        **common,
    )

    own = unconditional.by_group.xs(_ALL, level="block").reindex(range(n_groups))
    rate = conditional.by_group["rate"]
    table["accuracy"] = own["accuracy"].to_numpy()
    table["selection_rate"] = own["selection_rate"].to_numpy()
    table["tpr"] = cond_rate(rate, (_ALL, 1), ("block", "y"), n_groups)
    table["fpr"] = cond_rate(rate, (_ALL, 0), ("block", "y"), n_groups)

    sr_gap = unconditional.difference()["selection_rate"]
    rate_gap = conditional.difference()["rate"]
    block_counts = {_ALL: counts}
    for k in range(n_groups):
        rest = counts.sum(axis=0) - counts[k]
        block_counts[k] = np.vstack([counts[k], rest])
    dpd, eod = _guarded(_ALL, block_counts[_ALL], sr_gap, rate_gap)
    vs_rest = [_guarded(k, block_counts[k], sr_gap, rate_gap) for k in range(n_groups)]
    table[["vs_rest_dpd", "vs_rest_eod"]] = np.array(vs_rest, dtype=float).reshape(-1, 2)

    # Belt and braces: a rate with no rows under it is NaN whatever the frame said.
    table.loc[table["n"] == 0, ["accuracy", "selection_rate"]] = math.nan
    table.loc[table["n_pos"] == 0, "tpr"] = math.nan
    table.loc[table["n_neg"] == 0, "fpr"] = math.nan
    table = table.astype({"n": "int64", "n_pos": "int64", "n_neg": "int64"})
    return table, dpd, eod


def _guarded(
    block: int, counts: np.ndarray, sr_gap: pd.Series, rate_gap: pd.Series
) -> tuple[float, float]:
    """(DPD, EOD) of one block, NaN where the comparison is undefined.

    ``counts`` has one row (n, n_pos, n_neg) per side of the comparison. MetricFrame's
    difference() skips NaN groups and is 0 for a single group; both would pass an
    undefined comparison off as a number, so the counts decide first.
    """
    present = counts[counts[:, 0] > 0]
    if len(present) < 2:
        return math.nan, math.nan
    dpd = float(sr_gap.loc[block])
    if (present[:, 1] == 0).any() or (present[:, 2] == 0).any():
        return dpd, math.nan
    return dpd, float(max(rate_gap.loc[(block, 0)], rate_gap.loc[(block, 1)]))


def _degeneracy_notes(by_group: pd.DataFrame, n: int, min_group_size: int) -> list[str]:
    """Human-readable reasons for NaN or fragile numbers, in a stable order."""
    notes: list[str] = []
    present = by_group[by_group["n"] > 0]
    if n == 0:
        notes.append("no rows: every metric is NaN")
    for name in by_group.index[by_group["n"] == 0]:
        notes.append(f"group {name!r} has no rows: it is left out of every comparison")
    if n and len(present) < 2:
        listed = ", ".join(repr(g) for g in present.index) or "none"
        notes.append(
            f"only {len(present)} group(s) with rows ({listed}): DPD and EOD need at "
            "least 2 and are NaN"
        )
    for name, row in present.iterrows():
        if row["n_pos"] == 0:
            notes.append(
                f"group {name!r} has no positives (y_true == 1): its TPR is undefined, so "
                "EOD (over all groups and vs rest) is NaN rather than computed over the "
                "other groups"
            )
        if row["n_neg"] == 0:
            notes.append(
                f"group {name!r} has no negatives (y_true == 0): its FPR is undefined, so "
                "EOD (over all groups and vs rest) is NaN rather than computed over the "
                "other groups"
            )
        if row["n"] < min_group_size:
            notes.append(
                f"group {name!r} has {int(row['n'])} rows, fewer than "
                f"min_group_size={min_group_size}: its rates are unreliable"
            )
    return notes


def _fill_intervals(y, yhat, groups, by_group, n_boot, level, random_state) -> dict:
    """Fill by_group's ``<m>_lo/_hi`` columns in place; return the ``ci`` dict."""
    r = fairness_intervals(y, yhat, sensitive_features=groups, level=level,
                           random_state=0 if random_state is None else int(random_state),
                           n_boot=n_boot)  # fmt: skip
    for metric in CI_METRICS:
        for side in ("lo", "hi"):
            by_group[f"{metric}_{side}"] = [
                getattr(r["groups"][str(g)][metric], side) if str(g) in r["groups"] else math.nan
                for g in by_group.index
            ]
    return {m: (r[m].lo, r[m].hi) for m in ("accuracy", "dpd", "eod")}

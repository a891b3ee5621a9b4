"""Bootstrap confidence intervals of a fairness report: percentile intervals over rows.

Per-group rates, the DPD and the overall accuracy come from fairlearn's own
``MetricFrame(n_boot=..., ci_quantiles=..., random_state=...)``; the EOD, which fairlearn
cannot bootstrap as a maximum of two gaps, is resampled here and each resample scored
with fairlearn's ``equalized_odds_difference``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, equalized_odds_difference, selection_rate
from sklearn.metrics import accuracy_score

from taskfair.metrics._inputs import cond_rate, label_counts

__all__ = ["CI_METRICS", "bootstrap", "bootstrap_eod"]

#: Per-group metrics that get ``<metric>_lo`` / ``<metric>_hi`` columns when bootstrapped.
CI_METRICS: tuple[str, ...] = ("accuracy", "selection_rate", "tpr", "fpr")


def bootstrap(
    y: np.ndarray,
    yhat: np.ndarray,
    codes: np.ndarray,
    by_group: pd.DataFrame,
    dpd: float,
    eod: float,
    n_boot: int,
    ci: float,
    random_state: int | None,
) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Fill by_group's ``<m>_lo/_hi`` columns in place; return the ``ci`` dict and notes."""
    if random_state is None:
        # One drawn seed shared by every resampler below keeps them mutually consistent.
        random_state = int(np.random.default_rng().integers(2**31))
    quantiles = [(1.0 - ci) / 2.0, 1.0 - (1.0 - ci) / 2.0]
    boot = {"n_boot": n_boot, "ci_quantiles": quantiles, "random_state": random_state}
    nan_pair = (math.nan, math.nan)
    intervals: dict[str, tuple[float, float]] = {"accuracy": nan_pair, "dpd": nan_pair}
    notes: list[str] = []
    for metric in CI_METRICS:
        by_group[f"{metric}_lo"] = math.nan
        by_group[f"{metric}_hi"] = math.nan

    if len(y):
        whole = MetricFrame(
            metrics={"accuracy": accuracy_score},
            y_true=y,
            y_pred=yhat,
            sensitive_features=pd.Series(np.zeros(len(y), dtype=np.int8), name="all"),
            **boot,
        )
        lo, hi = (float(q["accuracy"]) for q in whole.overall_ci)
        intervals["accuracy"] = (lo, hi)

    rows = codes >= 0
    if not rows.any():
        intervals["eod"] = nan_pair
        return intervals, notes
    y_g, yhat_g, codes_g = y[rows], yhat[rows], codes[rows]
    member = pd.Series(codes_g, name="member")
    n_groups = len(by_group)

    unconditional = MetricFrame(
        metrics={"accuracy": accuracy_score, "selection_rate": selection_rate},
        y_true=y_g,
        y_pred=yhat_g,
        sensitive_features=member,
        **boot,
    )
    for metric in ("accuracy", "selection_rate"):
        for side, q in zip(("lo", "hi"), unconditional.by_group_ci, strict=True):
            by_group[f"{metric}_{side}"] = q[metric].reindex(range(n_groups)).to_numpy()
    if not math.isnan(dpd):
        gaps = unconditional.difference_ci()
        intervals["dpd"] = (float(gaps[0]["selection_rate"]), float(gaps[1]["selection_rate"]))

    conditional = MetricFrame(
        metrics={"rate": selection_rate},
        y_true=y_g,
        y_pred=yhat_g,
        sensitive_features=member,
        control_features=pd.Series(y_g, name="y"),
        **boot,
    )
    for metric, label in (("tpr", 1), ("fpr", 0)):
        for side, q in zip(("lo", "hi"), conditional.by_group_ci, strict=True):
            by_group[f"{metric}_{side}"] = cond_rate(q["rate"], (label,), ("y",), n_groups)
    # An undefined rate has no interval, whatever nanquantile made of the resamples.
    for metric, count in (("accuracy", "n"), ("selection_rate", "n"), ("tpr", "n_pos"),
                          ("fpr", "n_neg")):  # fmt: skip
        by_group.loc[by_group[count] == 0, [f"{metric}_lo", f"{metric}_hi"]] = math.nan

    intervals["eod"] = nan_pair
    if not math.isnan(eod):
        values = bootstrap_eod(y_g, yhat_g, codes_g, n_boot, random_state)
        defined = values[~np.isnan(values)]
        if len(defined):
            lo, hi = np.quantile(defined, quantiles)
            intervals["eod"] = (float(lo), float(hi))
        if len(defined) < n_boot:
            notes.append(
                f"EOD interval from {len(defined)} of {n_boot} resamples: in the others "
                "some group had no positives or no negatives"
            )
    return intervals, notes


def bootstrap_eod(
    y: np.ndarray, yhat: np.ndarray, codes: np.ndarray, n_boot: int, random_state: int
) -> np.ndarray:
    """EOD of ``n_boot`` row resamples (shape (n_boot,)), NaN where it is undefined.

    Each resample is scored by fairlearn's ``equalized_odds_difference`` on deduplicated
    rows weighted by multiplicity (same value as on the raw rows, a fraction of the cost).
    """
    rng = np.random.default_rng(random_state)
    groups = np.unique(codes)
    values = np.full(n_boot, np.nan)
    for i in range(n_boot):
        idx = rng.integers(0, len(y), size=len(y))
        c, t, p = codes[idx], y[idx], yhat[idx]
        counts = label_counts(c, t, int(groups.max()) + 1)[groups]
        # A group lost from the resample, or one without a class, leaves EOD undefined.
        if (counts[:, 1] == 0).any() or (counts[:, 2] == 0).any():
            continue
        key = (c.astype(np.int64) * 2 + t) * 2 + p
        distinct, weight = np.unique(key, return_counts=True)
        member, label = np.divmod(distinct, 4)
        values[i] = equalized_odds_difference(
            label // 2,
            label % 2,
            sensitive_features=member,
            sample_weight=weight.astype(float),
        )
    return values

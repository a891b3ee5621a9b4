"""The JSON view of :func:`~taskfair.metrics.fairness_intervals` for one point, as the
sweep cache stores it beside the point and the pages read it.

``interval_bands(scorer, preds)`` → ``{"overall": {metric: [lo, hi]}, "estimate",
"corrected", "method", "level", "groups": {group: {rate: [lo, hi], "vs_rest_dpd",
"vs_rest_eod"}}, "info": {group: GroupInfo fields}, "noise_floor": {"dpd", "eod":
NoiseFloor fields}, "degeneracy": Degeneracy fields, "n_boot", "seeds"}``.
``bootstrap_bands`` is the same function under its earlier name.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from taskfair.metrics._intervals import fairness_intervals, vs_rest_intervals

__all__ = ["BAND_METRICS", "GROUP_BAND_METRICS", "N_BOOT", "bootstrap_bands", "interval_bands"]

#: Resamples behind the bias-corrected estimates unless asked otherwise.
N_BOOT = 400
#: Point-level metrics that get a band (``<metric>_lo`` / ``<metric>_hi``).
BAND_METRICS: tuple[str, ...] = ("accuracy", "macro_accuracy", "worst_group_accuracy", "dpd",
                                 "eod", "selection_rate")  # fmt: skip
#: Per-group metrics that get a band (the heatmap cells' tooltips, the group table).
GROUP_BAND_METRICS: tuple[str, ...] = ("accuracy", "selection_rate", "tpr", "fpr",
                                       "vs_rest_dpd", "vs_rest_eod")  # fmt: skip


def _groups(scorer) -> pd.Categorical:
    return pd.Categorical.from_codes(scorer.codes, categories=list(scorer.names))


def _pair(iv) -> list:
    return [iv.lo, iv.hi]


def interval_bands(
    scorer, preds, n_boot: int = N_BOOT, ci: float = 0.95, random_state: int = 0
) -> dict:
    """The record of predictions ``(n,)`` or ``(seeds, n)`` over ``scorer``'s labels and
    groups (a :class:`~taskfair.metrics.PreviewScorer`), at level ``ci``."""
    groups = _groups(scorer)
    preds = np.asarray(preds)
    r = fairness_intervals(scorer.y, preds, sensitive_features=groups, level=ci,
                           random_state=random_state, n_boot=n_boot,
                           positive_label=scorer.positive_label)  # fmt: skip
    rest = vs_rest_intervals(scorer.y, preds, sensitive_features=groups, level=ci)
    rates = [m for m in GROUP_BAND_METRICS if not m.startswith("vs_rest")]
    return {
        "overall": {m: _pair(r[m]) for m in BAND_METRICS},
        "estimate": {m: r[m].estimate for m in BAND_METRICS},
        "corrected": {m: r[m].corrected for m in ("dpd", "eod")},
        "method": {m: r[m].method for m in BAND_METRICS},
        "level": float(ci),
        "groups": {
            name: {
                **{m: _pair(g[m]) for m in rates},
                "vs_rest_dpd": _pair(rest[name]["dpd"]),
                "vs_rest_eod": _pair(rest[name]["eod"]),
            }
            for name, g in r["groups"].items()
        },  # fmt: skip
        "info": {name: asdict(i) for name, i in r["info"].items()},
        "noise_floor": {m: asdict(f) for m, f in r["noise_floor"].items()},
        "degeneracy": asdict(r["degeneracy"]),
        "n_boot": int(n_boot),
        "seeds": r["seeds"],
        "random_state": int(random_state),
    }


bootstrap_bands = interval_bands

"""Uncertainty beside the points: bootstrap bands and paired differences, as records and
as plain columns of tidy rows.

A point's band record (:func:`band_record`) is computed from its cached per-example logits
(no model time) with the count-table bootstrap of :mod:`taskfair.metrics` and stored
beside the point in the sweep cache (a JSON record named after the point's key, see
:meth:`taskfair.sweep.PointStore.bands`), so a redraw reads it instead of resampling.
Points cached before bands existed stay valid: their record is made on first use.

:func:`with_bands` turns a record into columns of the point's tidy rows:
``<metric>_lo`` / ``<metric>_hi`` for ``accuracy``, ``selection_rate``, ``tpr``, ``fpr``
(the row's own: the group's, or the whole split's on the overall row), ``vs_rest_dpd`` /
``vs_rest_eod`` (group rows) and the point-level ``macro_accuracy``,
``worst_group_accuracy``, ``dpd``, ``eod`` (repeated on every row, as their values are).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from taskfair.metrics import (
    GROUP_BAND_METRICS,
    N_BOOT,
    OVERALL,
    PreviewScorer,
    bootstrap_bands,
    paired_difference,
    seed_mean_bands,
)

__all__ = [
    "BAND_COLUMNS",
    "BANDS_VERSION",
    "band_name",
    "band_record",
    "difference_text",
    "pair_name",
    "pair_record",
    "seed_band_record",
    "with_bands",
]

#: Bump when a band record changes meaning: older records are then recomputed.
BANDS_VERSION = 1
_POINT_LEVEL = ("macro_accuracy", "worst_group_accuracy", "dpd", "eod")
_OWN = ("accuracy", "selection_rate", "tpr", "fpr", "vs_rest_dpd", "vs_rest_eod")
#: The band columns :func:`with_bands` adds, in order.
BAND_COLUMNS: tuple[str, ...] = tuple(
    f"{m}_{side}" for m in (*_OWN, *_POINT_LEVEL) for side in ("lo", "hi")
)


def band_name(key: str) -> str:
    """The cache record name of a point's band (its key plus a suffix: still alphanumeric)."""
    return f"{key}bands{BANDS_VERSION}"


def pair_name(key_a: str, key_b: str) -> str:
    """The cache record name of a paired difference between two points (on one split)."""
    return f"{key_a[:32]}{key_b[:32]}pair{BANDS_VERSION}"


def band_record(scorer: PreviewScorer, logits: np.ndarray, n_boot: int = N_BOOT) -> dict:
    """The JSON-able band record of one point's logits ``(n, 2)`` (see
    :func:`taskfair.metrics.bootstrap_bands`), tagged with :data:`BANDS_VERSION`."""
    rec = bootstrap_bands(scorer, np.asarray(logits).argmax(axis=1), n_boot=n_boot)
    return _jsonable({**rec, "v": BANDS_VERSION})


def seed_band_record(scorer: PreviewScorer, logits_by_seed, n_boot: int = N_BOOT) -> dict:
    """The band record of the seed mean of one point (see
    :func:`taskfair.metrics.seed_mean_bands`), from each seed's logits ``(n, 2)``."""
    preds = [np.asarray(lg).argmax(axis=1) for lg in logits_by_seed]
    return _jsonable({**seed_mean_bands(scorer, preds, n_boot=n_boot), "v": BANDS_VERSION})


def pair_record(
    scorer: PreviewScorer, logits_a: np.ndarray, logits_b: np.ndarray, n_boot: int = N_BOOT
) -> dict:
    """The paired bootstrap of ``a − b`` (accuracy, DPD, EOD) on the same resampled rows."""
    rec = paired_difference(
        scorer, np.asarray(logits_a).argmax(axis=1), np.asarray(logits_b).argmax(axis=1),
        n_boot=n_boot,
    )  # fmt: skip
    return _jsonable({**rec, "v": BANDS_VERSION})


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if math.isnan(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _f(v) -> float:
    return math.nan if v is None else float(v)


def with_bands(rows: pd.DataFrame, record: Mapping | None) -> pd.DataFrame:
    """``rows`` (one point) with the :data:`BAND_COLUMNS` filled from ``record`` (NaN
    where the record has no value, or for every column when ``record`` is None)."""
    out = rows.copy()
    for col in BAND_COLUMNS:
        out[col] = math.nan
    if record is None or out.empty:
        return out
    overall, groups = record.get("overall", {}), record.get("groups", {})
    top = out["group"] == OVERALL
    for m in _POINT_LEVEL:
        lo, hi = overall.get(m, (None, None))
        out[f"{m}_lo"], out[f"{m}_hi"] = _f(lo), _f(hi)
    for m in ("accuracy", "selection_rate"):
        lo, hi = overall.get(m, (None, None))
        out.loc[top, f"{m}_lo"], out.loc[top, f"{m}_hi"] = _f(lo), _f(hi)
    for i in out.index[~top]:
        cell = groups.get(str(out.at[i, "group"]), {})
        for m in GROUP_BAND_METRICS:
            lo, hi = cell.get(m, (None, None))
            out.at[i, f"{m}_lo"], out.at[i, f"{m}_hi"] = _f(lo), _f(hi)
    return out


_NAMES = {"accuracy": "Accuracy", "dpd": "DPD", "eod": "EOD"}


def _num(x: float) -> str:
    return f"{round(x, 3) + 0.0:.3f}"  # + 0.0: never "-0.000"


def difference_text(metric: str, entry: Mapping, other: str = "FFT's") -> str:
    """One sentence of a paired difference ``a − b``, e.g. "EOD lower than FFT's by 0.120
    [0.050, 0.190]." (the interval in the sentence's direction), or "...: not a finding
    (the interval contains 0)." when it does."""
    name = _NAMES.get(metric, metric)
    diff, lo, hi = entry.get("diff"), entry.get("lo"), entry.get("hi")
    if diff is None or lo is None or hi is None:
        return f"{name}: no paired interval (undefined on these rows)."
    if diff < 0:  # "lower by d [lo, hi]" reads the interval of b − a
        lo, hi = -hi, -lo
    way = "higher than" if diff > 0 else "lower than" if diff < 0 else "equal to"
    text = f"{name} {way} {other}"
    text += f" by {abs(diff):.3f}" if diff else ""
    text += f" [{_num(lo)}, {_num(hi)}]"
    if not entry.get("finding"):
        return text + ": not a finding (the interval contains 0)."
    return text + "."

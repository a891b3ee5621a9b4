"""Uncertainty beside the points: interval records and paired differences, as records and
as plain columns of tidy rows.

A point's band record (:func:`band_record`) is computed from its cached per-example logits
(no model time) by :func:`taskfair.metrics.fairness_intervals` (the one inference core:
Wilson intervals of rates, simultaneous gaps projected onto max − min for DPD and EOD, the
bias-corrected estimate beside the plug-in, each group's size and minimum detectable
difference, the noise floor) and stored beside the point in the sweep cache (a JSON record
named after the point's key, see :meth:`taskfair.sweep.PointStore.bands`), so a redraw
reads it instead of recomputing. Every record carries :data:`BANDS_VERSION` and a
checksum of its content; :func:`intact` is False for an older version or an edited record,
which is then recomputed (never mixed with current ones).

:func:`with_bands` turns a record into columns of the point's tidy rows:
``<metric>_lo`` / ``<metric>_hi`` for ``accuracy``, ``selection_rate``, ``tpr``, ``fpr``
(the row's own: the group's, or the whole split's on the overall row), ``vs_rest_dpd`` /
``vs_rest_eod`` (group rows) and the point-level ``macro_accuracy``,
``worst_group_accuracy``, ``dpd``, ``eod`` (repeated on every row, as their values are);
and the :data:`READING_COLUMNS`: bias-corrected DPD / EOD, their noise floor (typical
value and band), and per group its minimum detectable differences and whether it is too
small for a finding.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from taskfair.metrics import (
    GROUP_BAND_METRICS,
    N_BOOT,
    OVERALL,
    PreviewScorer,
    fairness_intervals,
    interval_bands,
    paired_intervals,
)

__all__ = [
    "BAND_COLUMNS",
    "BANDS_VERSION",
    "N_BOOT",
    "READING_COLUMNS",
    "band_name",
    "band_record",
    "difference_text",
    "intact",
    "pair_name",
    "pair_record",
    "seed_band_record",
    "with_bands",
]

#: Bump when a band record changes meaning: older records are then recomputed.
BANDS_VERSION = 2
_POINT_LEVEL = ("macro_accuracy", "worst_group_accuracy", "dpd", "eod")
_OWN = GROUP_BAND_METRICS
#: The band columns :func:`with_bands` adds, in order.
BAND_COLUMNS: tuple[str, ...] = tuple(
    f"{m}_{side}" for m in (*_OWN, *_POINT_LEVEL) for side in ("lo", "hi")
)
#: Further readings :func:`with_bands` adds: bias-corrected DPD / EOD, their noise floor,
#: and per group (NaN / False on the overall row) its MDDs and "too small".
READING_COLUMNS: tuple[str, ...] = (
    "dpd_corrected", "eod_corrected",
    "dpd_floor", "dpd_floor_lo", "dpd_floor_hi", "eod_floor", "eod_floor_lo", "eod_floor_hi",
    "mdd_selection_rate", "mdd_tpr", "mdd_fpr", "too_small",
)  # fmt: skip


def band_name(key: str) -> str:
    """The cache record name of a point's band (its key plus a suffix: still alphanumeric)."""
    return f"{key}bands{BANDS_VERSION}"


def pair_name(key_a: str, key_b: str) -> str:
    """The cache record name of a paired difference between two points (on one split)."""
    return f"{key_a[:32]}{key_b[:32]}pair{BANDS_VERSION}"


def _checksum(record: Mapping) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _seal(record: dict) -> dict:
    out = _jsonable({**record, "v": BANDS_VERSION})
    out["checksum"] = _checksum(out)
    return out


def intact(record) -> bool:
    """True for a record of the current :data:`BANDS_VERSION` whose checksum matches its
    content; an older or hand-edited record is a miss (recomputed)."""
    if not isinstance(record, Mapping) or record.get("v") != BANDS_VERSION:
        return False
    try:
        return record.get("checksum") == _checksum(record)
    except (TypeError, ValueError):
        return False


def band_record(scorer: PreviewScorer, logits: np.ndarray, n_boot: int = N_BOOT) -> dict:
    """The JSON-able interval record of one point's logits ``(n, 2)``, sealed."""
    return _seal(interval_bands(scorer, np.asarray(logits).argmax(axis=1), n_boot))


def seed_band_record(scorer: PreviewScorer, logits_by_seed, n_boot: int = N_BOOT) -> dict:
    """The record of the seed mean of one point, from each seed's logits ``(n, 2)`` on the
    same rows (seeds and rows both resampled for the bias correction)."""
    preds = np.stack([np.asarray(lg).argmax(axis=1) for lg in logits_by_seed])
    return _seal(interval_bands(scorer, preds, n_boot))


def pair_record(
    scorer: PreviewScorer,
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    n_boot: int = N_BOOT,
    looks: int = 1,
) -> dict:
    """``a − b`` (accuracy, DPD, EOD) on the same rows, by
    :func:`taskfair.metrics.paired_intervals`; ``looks`` readings held together."""
    pa, pb = (np.asarray(lg).argmax(axis=1) for lg in (logits_a, logits_b))
    groups = pd.Categorical.from_codes(scorer.codes, categories=list(scorer.names))
    r = paired_intervals(scorer.y, pa, pb, sensitive_features=groups, n_boot=n_boot,
                         looks=looks)  # fmt: skip
    whole = {
        side: fairness_intervals(scorer.y, p, sensitive_features=groups, n_boot=0)
        for side, p in (("a", pa), ("b", pb))
    }
    out = {}
    for m in ("accuracy", "dpd", "eod"):
        iv = r[m]
        out[m] = {"a": whole["a"][m].estimate, "b": whole["b"][m].estimate, "diff": iv.estimate,
                  "lo": iv.lo, "hi": iv.hi, "corrected": iv.corrected, "method": iv.method,
                  "defined": iv.defined, "finding": iv.excludes(0.0)}  # fmt: skip
    out["n_boot"], out["ci"], out["looks"] = int(n_boot), float(r["dpd"].level), int(looks)
    return _seal(out)


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
    """``rows`` (one point) with the :data:`BAND_COLUMNS` and :data:`READING_COLUMNS`
    filled from ``record`` (NaN where the record has no value, or for every column when
    ``record`` is None)."""
    out = rows.copy()
    for col in (*BAND_COLUMNS, *READING_COLUMNS):
        out[col] = False if col == "too_small" else math.nan
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
    for m in ("dpd", "eod"):
        out[f"{m}_corrected"] = _f(record.get("corrected", {}).get(m))
        floor = record.get("noise_floor", {}).get(m, {})
        out[f"{m}_floor"] = _f(floor.get("typical"))
        out[f"{m}_floor_lo"], out[f"{m}_floor_hi"] = _f(floor.get("lo")), _f(floor.get("hi"))
    info = record.get("info", {})
    for i in out.index[~top]:
        name = str(out.at[i, "group"])
        cell = groups.get(name, {})
        for m in _OWN:
            lo, hi = cell.get(m, (None, None))
            out.at[i, f"{m}_lo"], out.at[i, f"{m}_hi"] = _f(lo), _f(hi)
        got = info.get(name, {})
        for m in ("mdd_selection_rate", "mdd_tpr", "mdd_fpr"):
            out.at[i, m] = _f(got.get(m))
        out.at[i, "too_small"] = bool(got.get("too_small", False))
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

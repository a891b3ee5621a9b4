"""Degenerate predictors: (nearly) constant predictions, overall or inside a group.

A classifier that predicts one class for (almost) every row has a DPD and an EOD near 0
by construction: its "fairness" says nothing. The rule, with the thresholds named here:

* the overall selection rate P(ŷ = 1) is at most :data:`DEGENERATE_LOW` or at least
  :data:`DEGENERATE_HIGH`, or
* some group's selection rate is (a group whose predictions are all one class has a
  rate of exactly 0 or 1, so it is caught by the same test).

The bounds are inclusive: 2 positive predictions out of 100 rows (2.0%) is degenerate,
3 out of 100 is not. The rule reads only selection rates and group sizes, so it can be
applied to a :class:`~taskfair.metrics.FairnessReport` and, identically, to tidy rows
cached before the rule existed (:func:`mark_degenerate`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "DEGENERATE_HIGH",
    "DEGENERATE_LOW",
    "Degeneracy",
    "degeneracy",
    "mark_degenerate",
]

#: A selection rate at or below this (overall or in a group) marks a degenerate predictor.
DEGENERATE_LOW = 0.02
#: A selection rate at or above this (overall or in a group) marks a degenerate predictor.
DEGENERATE_HIGH = 0.98
# Rates are ratios of counts: 2/100 must compare equal to 0.02 whatever the rounding.
_EPS = 1e-12
_OVERALL = "__overall__"  # metrics.OVERALL (imported by _report, which imports us)


@dataclass(frozen=True)
class Degeneracy:
    """Whether a predictor is degenerate, and why in words (empty when it is not)."""

    degenerate: bool
    note: str = ""


def _extreme(rate) -> bool:
    if rate is None or (isinstance(rate, float) and math.isnan(rate)) or pd.isna(rate):
        return False
    return rate <= DEGENERATE_LOW + _EPS or rate >= DEGENERATE_HIGH - _EPS


def _pct(rate: float) -> str:
    text = f"{100 * rate:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _label(positive_label: str | None) -> str:
    return f"{positive_label!r}" if positive_label else "the positive class"


def degeneracy(
    overall_rate: float,
    group_rates: Mapping[object, tuple[float, int]],
    positive_label: str | None = None,
) -> Degeneracy:
    """The rule above, on the overall selection rate and ``{group: (rate, n)}``.

    ``positive_label`` names class 1 in the note (e.g. ``"toxic"``). Groups without rows
    (rate NaN) are skipped. Returns a :class:`Degeneracy` whose ``note`` reads, e.g.,
    "predicts 'toxic' for 100% of rows: a DPD or EOD of 0 here is not fairness".
    """
    label = _label(positive_label)
    groups = [
        f"{_pct(float(rate))} of the {int(n)} {name!r} rows"
        for name, (rate, n) in group_rates.items()
        if n and _extreme(rate)
    ]
    if _extreme(overall_rate):
        note = f"predicts {label} for {_pct(float(overall_rate))} of rows"
        if groups:
            note += f" ({'; '.join(groups)})"
        return Degeneracy(True, note + ": a DPD or EOD of 0 here is not fairness")
    if groups:
        return Degeneracy(
            True,
            f"predicts {label} for {'; '.join(groups)}: "
            + ("that group's" if len(groups) == 1 else "those groups'")
            + " rates are a constant predictor's",
        )
    return Degeneracy(False, "")


def mark_degenerate(
    frame: pd.DataFrame, keys: Sequence[str], positive_label: str | None = None
) -> pd.DataFrame:
    """``frame`` with ``degenerate`` (bool) and ``degenerate_note`` (str) filled in.

    ``frame``: tidy rows (columns ``group``, ``selection_rate``, ``n`` and ``keys``, the
    columns that identify a point, e.g. method, lam, normalize, coeffs, split, seed), one
    overall row (``group == "__overall__"``) per point. Rows that already carry a flag
    keep it; points without one (rows cached before the rule existed) get the rule
    applied to their selection rates. A point without an overall row is not flagged.
    Returns a new frame; the input is not modified.
    """
    out = frame.copy()
    if out.empty:
        out["degenerate"] = pd.Series(dtype=bool)
        out["degenerate_note"] = pd.Series(dtype=object)
        return out
    blank = pd.Series(None, index=out.index, dtype=object)
    flag = out["degenerate"].astype(object) if "degenerate" in out.columns else blank.copy()
    note = out["degenerate_note"].astype(object) if "degenerate_note" in out.columns else blank
    note = note.copy()
    todo = flag.isna()
    if todo.any():
        part = out[todo]
        # one point per distinct key (as text: NaN λ and missing seeds group too)
        keyed = part[list(keys)].apply(lambda col: col.map(str)).agg("\x1f".join, axis=1)
        for _, rows in part.groupby(keyed, sort=False):
            top = rows[rows["group"] == _OVERALL]
            if top.empty:
                flag.loc[rows.index], note.loc[rows.index] = False, ""
                continue
            grp = rows[rows["group"] != _OVERALL]
            d = degeneracy(
                float(top["selection_rate"].iloc[0]),
                {
                    g: (float(r), int(n))
                    for g, r, n in zip(grp["group"], grp["selection_rate"], grp["n"], strict=True)
                },
                positive_label,
            )
            flag.loc[rows.index], note.loc[rows.index] = d.degenerate, d.note
    out["degenerate"] = flag.astype(bool)
    out["degenerate_note"] = note.fillna("").astype(str)
    return out

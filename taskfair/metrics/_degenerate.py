"""The one degeneracy rule: a (nearly) constant predictor, or a (nearly) constant group.

Two cases, flagged separately because they mean opposite things:

* **the whole predictor** (``kind == "predictor"``): the overall selection rate P(ŷ = 1)
  is at most :data:`DEGENERATE_LOW` or at least :data:`DEGENERATE_HIGH`. Its DPD and EOD
  are near 0 by construction, so its "fairness" says nothing: ``degenerate`` is True and
  no claim or search counts its disparities.
* **one group** (``kind == "group"``): the predictor is not constant, but some group's
  selection rate is that extreme (all one class is the limit). That is often the least
  fair case, so it is *not* hidden: ``degenerate`` stays False, the disparity counts as
  evidence, and the note names the group.

The bounds are inclusive: 2 positive predictions out of 100 rows (2.0%) is extreme, 3 out
of 100 is not. The rule reads only selection rates and group sizes, so it applies to a
:class:`~taskfair.metrics.FairnessReport`, to count tables and, identically, to tidy rows
cached before it existed (:func:`mark_degenerate`).
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
    """Whether the whole predictor is degenerate (``degenerate``), which case holds
    (``kind``: "predictor", "group" or "" for neither), the extreme groups, and why in
    words (empty when neither)."""

    degenerate: bool
    note: str = ""
    kind: str = ""
    groups: tuple[str, ...] = ()


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
    extreme = [
        (str(name), float(rate), int(n))
        for name, (rate, n) in group_rates.items()
        if n and _extreme(rate)
    ]
    names = tuple(name for name, _, _ in extreme)
    groups = [f"{_pct(rate)} of the {n} {name!r} rows" for name, rate, n in extreme]
    if _extreme(overall_rate):
        note = f"predicts {label} for {_pct(float(overall_rate))} of rows"
        if groups:
            note += f" ({'; '.join(groups)})"
        return Degeneracy(
            True, note + ": a DPD or EOD of 0 here is not fairness", "predictor", names
        )
    if groups:
        return Degeneracy(
            False,
            f"predicts {label} for {'; '.join(groups)}: "
            + ("that group is" if len(groups) == 1 else "those groups are")
            + " treated by a constant rule; the disparity counts as evidence of unfairness",
            "group",
            names,
        )
    return Degeneracy(False, "")


def mark_degenerate(
    frame: pd.DataFrame, keys: Sequence[str], positive_label: str | None = None
) -> pd.DataFrame:
    """``frame`` with ``degenerate`` (bool), ``degenerate_kind`` and ``degenerate_note``
    (str) filled in by the rule above.

    ``frame``: tidy rows (columns ``group``, ``selection_rate``, ``n`` and ``keys``, the
    columns that identify a point, e.g. method, lam, normalize, coeffs, split, seed), one
    overall row (``group == "__overall__"``) per point. The rule is applied to every
    point from its selection rates (flags cached under an older rule are replaced, never
    mixed). A point without an overall row is not flagged. Returns a new frame.
    """
    out = frame.copy()
    flag = pd.Series(False, index=out.index, dtype=bool)
    kind = pd.Series("", index=out.index, dtype=object)
    note = pd.Series("", index=out.index, dtype=object)
    if not out.empty:
        # one point per distinct key (as text: NaN λ and missing seeds group too)
        keyed = out[list(keys)].apply(lambda col: col.map(str)).agg("\x1f".join, axis=1)
        for _, rows in out.groupby(keyed, sort=False):
            top = rows[rows["group"] == _OVERALL]
            if top.empty:
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
            flag.loc[rows.index], kind.loc[rows.index] = d.degenerate, d.kind
            note.loc[rows.index] = d.note
    out["degenerate"] = flag.astype(bool)
    out["degenerate_kind"] = kind.astype(str)
    out["degenerate_note"] = note.astype(str)
    return out

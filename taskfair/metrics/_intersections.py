"""Intersectional groups: two sensitive attributes read as one (e.g. gender × race).

A row's intersection is the pair of its groups, named ``"female × asian"``; a row that
belongs to no group of either attribute belongs to no intersection (it counts in overall
accuracy only, as everywhere in :mod:`taskfair.metrics`). Every metric over intersections
is the ordinary metric with the intersection as the sensitive feature, which is what
fairlearn's ``MetricFrame`` computes with both attributes as ``sensitive_features``
(tests check it). Intersections are small: a cell with fewer than
:data:`SMALL_CELL_ROWS` rows is reported, marked, and never named the worst.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

__all__ = ["SEPARATOR", "SMALL_CELL_ROWS", "intersection_labels", "worst_cell"]

#: Cells with fewer rows are "small": shown with their n, not coloured, never the worst.
SMALL_CELL_ROWS = 30
#: Between the attributes' group names in an intersection's name.
SEPARATOR = " × "


def intersection_labels(frame: pd.DataFrame, attributes: Sequence[str]) -> pd.Series:
    """One intersection name per row of ``frame`` (its ``attributes`` columns' groups
    joined by :data:`SEPARATOR`), missing (``pd.NA``) where any of them is missing.
    Returns a ``string`` Series aligned with ``frame``'s index."""
    if len(attributes) < 2:
        raise ValueError(f"An intersection needs two attributes or more, got {list(attributes)}.")
    missing = [a for a in attributes if a not in frame.columns]
    if missing:
        raise ValueError(
            f"No column {missing} in the evaluation rows: this bundle was built before they "
            "were kept; rebuild it to read intersections."
        )
    parts = [frame[a].astype("string") for a in attributes]
    out = parts[0]
    for p in parts[1:]:
        out = out + SEPARATOR + p  # NA in any part gives NA
    return out.astype("string")


def worst_cell(
    table: pd.DataFrame, metric: str = "accuracy", min_rows: int = SMALL_CELL_ROWS
) -> tuple[str, float, int] | None:
    """The worst group of a per-group table (index = group, columns ``n`` and ``metric``)
    among those with at least ``min_rows`` rows: the lowest ``metric`` for an accuracy
    or a rate, the highest for a disparity (``vs_rest_*``). ``(name, value, n)``, or None
    when no group is large enough (or every value is undefined)."""
    big = table[(table["n"] >= min_rows) & table[metric].notna()]
    if big.empty:
        return None
    higher_is_worse = metric.startswith("vs_rest") or metric in ("dpd", "eod")
    name = big[metric].idxmax() if higher_is_worse else big[metric].idxmin()
    value = float(big.at[name, metric])
    return (str(name), value, int(big.at[name, "n"])) if not math.isnan(value) else None

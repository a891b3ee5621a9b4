"""What a view ships to the browser so that its slider moves without the server.

When every point a slider can reach is exact and cached, a page sends them all at once:
for each slider position the point's tidy rows (every column, overall and per group),
the text above it, its notes, and every figure drawn at that position by the ordinary
figure functions (packed by :func:`taskfair.plots.steps.figure_steps`). The browser then
redraws the current marker, the metric cards, the per-group table and any highlighted
heatmap column from what it holds; moving the slider costs the server nothing.

Nothing here chooses what a page shows: the page gives the positions and draws the
figures; new columns of the rows and new traces of the figures are carried unchanged.
The numbers are the cached exact points themselves (no interpolation, no rounding
beyond JSON's).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from taskfair.metrics import OVERALL
from taskfair.plots.steps import figure_steps

__all__ = [
    "CARDS",
    "GROUP_COLUMNS",
    "Column",
    "Position",
    "position_index",
    "ship_view",
    "view_json",
]


@dataclass(frozen=True)
class Column:
    """A number shown for a point: its row column, label, printf format and tooltip."""

    key: str
    label: str
    format: str = "%.3f"
    help: str | None = None


#: The current point's metric cards, in reading order (the overall row's columns).
CARDS: tuple[Column, ...] = (
    Column("accuracy", "Accuracy"),
    Column("macro_accuracy", "Macro accuracy"),
    Column("dpd", "DPD", help="Demographic parity difference: lower is fairer"),
    Column("eod", "EOD", help="Equalized odds difference: lower is fairer"),
)

#: The per-group table's columns (the group rows' columns).
GROUP_COLUMNS: tuple[Column, ...] = (
    Column("n", "n", "%d"),
    Column("accuracy", "accuracy"),
    Column("selection_rate", "selection rate"),
    Column("tpr", "TPR"),
    Column("fpr", "FPR"),
    Column("vs_rest_dpd", "DPD vs rest", help="lower is fairer"),
    Column("vs_rest_eod", "EOD vs rest", help="lower is fairer"),
    Column("subgroup_auc", "subgroup AUC", help="ROC AUC on the group's rows (threshold-free)"),
    Column("bpsn_auc", "BPSN AUC", help="group negatives vs other positives (Borkan 2019)"),
    Column("bnsp_auc", "BNSP AUC", help="group positives vs other negatives (Borkan 2019)"),
    Column("ece", "ECE", help="expected calibration error in the group (10 bins)"),
    Column("brier", "Brier", help="mean squared error of P(positive) in the group"),
)


@dataclass(frozen=True)
class Position:
    """One slider position: its value, the exact rows of the point there (tidy rows, as
    :func:`taskfair.sweep.rows.tidy_rows` makes them), the line of text naming it and the
    notes on it (e.g. the metrics' warnings)."""

    value: float
    rows: pd.DataFrame
    title: str
    notes: Sequence[str] = field(default_factory=tuple)


def position_index(values: Sequence[float], x: float, tol: float = 1e-9) -> int | None:
    """The index of ``x`` among the slider's ``values``, or None when it is not one of them
    (a value off the shipped grid is drawn by the server instead)."""
    for i, v in enumerate(values):
        if abs(float(v) - float(x)) <= tol:
            return i
    return None


def _records(rows: pd.DataFrame) -> list[dict]:
    # pandas' JSON writer turns NaN into null and numpy scalars into plain numbers.
    return json.loads(rows.to_json(orient="records", double_precision=15))


def _columns(cols: Iterable[Column]) -> list[dict]:
    return [{"key": c.key, "label": c.label, "format": c.format, "help": c.help} for c in cols]


def ship_view(
    positions: Sequence[Position],
    figures: Sequence[Sequence[go.Figure]],
    *,
    param: str,
    label: str,
    default: float,
    blocks: Sequence[Sequence[tuple[float, Sequence[str]]]],
    cards: Sequence[Column] = CARDS,
    columns: Sequence[Column] = GROUP_COLUMNS,
    decimals: int = 1,
) -> dict:
    """Everything the browser needs to move one slider over ``positions``.

    ``figures[i]`` are the figures drawn at position ``i`` (the same figures, in the same
    order, at every position). ``param`` is the URL parameter that records the value
    (dropped from the URL at ``default``, as the dashboard's widgets do); ``label`` names
    the slider; ``decimals`` how the value prints. The position shown first is not part of
    the view (every session shares one view whatever its value; see :func:`position_index`).
    ``blocks`` arranges the view: rows of ``(relative width, [block, ...])`` columns,
    blocks being ``"slider"``, ``"title"``, ``"cards"``, ``"table"``, ``"notes"``,
    ``"figure:J"``, ``"heading:TEXT"`` and ``"text:TEXT"`` (texts are shown as plain
    text, never markup). Every column of every row is shipped: ``cards`` and
    ``columns`` say which are shown and how.
    """
    if not positions:
        raise ValueError("A shipped view needs at least one position.")
    if len(figures) != len(positions):
        raise ValueError("ship_view needs one list of figures per position.")
    n_figs = {len(f) for f in figures}
    if len(n_figs) != 1:
        raise ValueError("Every position must draw the same number of figures.")
    steps = []
    for p in positions:
        rows = p.rows.reset_index(drop=True)
        top = rows[rows["group"] == OVERALL]
        steps.append(
            {
                "value": float(p.value),
                "title": p.title,
                "notes": [str(n) for n in p.notes],
                "exact": bool(rows["exact"].all()) if "exact" in rows.columns else True,
                "overall": _records(top)[0] if len(top) else {},
                "groups": _records(rows[rows["group"] != OVERALL]),
            }
        )
    packed = [figure_steps([figs[j] for figs in figures]) for j in range(n_figs.pop())]
    return {
        "param": param,
        "label": label,
        "default": float(default),
        "decimals": int(decimals),
        "values": [float(p.value) for p in positions],
        "steps": steps,
        "cards": _columns(cards),
        "columns": _columns(columns),
        "figures": packed,
        "blocks": [[[float(w), list(b)] for w, b in row] for row in blocks],
    }


def view_json(view: dict) -> str:
    """The shipped view as one JSON string with its content hash as ``"view"`` (the
    browser keeps its slider where it is while the view it holds stays the same)."""
    body = json.dumps(view, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_num)
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return json.dumps({**json.loads(body), "view": digest}, separators=(",", ":"), allow_nan=False)


def _num(obj):
    # numpy scalars that slipped through (a page's own numbers): plain floats.
    try:
        x = float(obj)
    except (TypeError, ValueError):
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable") from None
    return None if math.isnan(x) else x

"""What the heatmaps view shows at a λ column: written once, drawn by the server and shipped.

:class:`HeatmapsModel` holds the view's choices (task addition or injection, split,
normalisation, intersections) and says what it shows: the settings, the rows, each
metric's heatmap (its arguments written here only) and, per λ column, the title and
notes of the highlighted column. The dashboard's page draws it with Streamlit;
:meth:`HeatmapsModel.ship` packs every column for the browser (:mod:`taskfair.views.ship`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import pandas as pd
import plotly.graph_objects as go

from taskfair import grid, plots
from taskfair.metrics import OVERALL, SMALL_CELL_ROWS
from taskfair.sweep import (
    PointStore,
    Setting,
    concat_rows,
    curve_plan,
    injected_rows,
    injection_settings,
    task_addition_settings,
)
from taskfair.views import notes
from taskfair.views.ship import Position, ship_view
from taskfair.views.slider import lam_slider

__all__ = ["METRICS", "HeatmapsModel"]

METRICS = ("accuracy", "vs_rest_dpd", "vs_rest_eod")


@dataclass(frozen=True, eq=False)
class HeatmapsModel:
    """The heatmaps of one method (``"task_addition"`` or ``"injection"``)."""

    TITLE: ClassVar[str] = "Per-group heatmaps"
    CAPTION: ClassVar[str] = (
        "Each cell is one subgroup at one λ: its accuracy, and its DPD / EOD against the rest "
        "of the grouped rows (g vs not-g). Colour scales are fixed, so colours compare across "
        "views. Blank cells (n/a) are groups too small or one-class there: never shown as 0. "
        "Hover a cell for its 95% bootstrap band and n; ⚠ above a column marks a degenerate "
        "(nearly constant) predictor, whose zero disparities are not fairness."
    )

    store: PointStore
    split: str
    normalize: str
    method: str = "task_addition"
    #: the attributes whose intersections are read (task addition only), or None
    crossed: tuple[str, ...] | None = None

    @property
    def addition(self) -> bool:
        return self.method == "task_addition"

    @cached_property
    def lams(self) -> tuple[float, ...]:
        return tuple(grid.LAMBDA_GRID if self.addition else grid.INJECTION_GRID)

    @cached_property
    def settings(self) -> list[Setting]:
        if self.addition:
            return task_addition_settings(self.store.groups, self.lams, self.normalize)
        return injection_settings(self.store.groups, self.lams)

    @property
    def norm_label(self) -> str:
        return self.normalize if self.addition else "none (injection)"

    def key(self) -> tuple:
        """The view's choices besides seed, split and normalisation."""
        return ("heatmaps", self.method)

    def plan(self) -> list:
        # Injection's grid is small: its points in order (group by group), the curve coarse first.
        return curve_plan(self.settings, self.split, coarse=self.addition)

    def frame(self) -> pd.DataFrame:
        store, split = self.store, self.split
        if self.crossed:
            return concat_rows(
                [store.intersection_rows(s, split, self.crossed) for s in self.settings]
            )
        rows = concat_rows([store.with_bands(s, split) for s in self.settings])
        return rows if self.addition else injected_rows(rows)

    def heatmap(
        self, df, metric, highlight: float | None = None, cells: Sequence[str] | None = None
    ) -> go.Figure:
        """One metric's heatmap; ``cells`` are the intersections' rows when reading them."""
        return plots.group_heatmap(
            df,
            metric,
            split=self.split,
            normalize=self.norm_label,
            groups=cells if self.crossed else self.store.groups,
            x_label="λ" if self.addition else "λ (injected)",
            highlight=highlight,
            min_n=SMALL_CELL_ROWS if self.crossed else None,
            y_label=" × ".join(self.crossed) if self.crossed else "group",
        )

    def evaluated_caption(self) -> str:
        done = sum(self.store.has(s, self.split) for s in self.settings)
        return f"{done} of {len(self.settings)} settings evaluated exactly on {self.split}."

    def column(self, x: float) -> Position:
        """The highlighted column at ``x``: its rows, title and notes (exact points)."""
        at = [s for s in self.settings if s.lam == x]
        rows = concat_rows([self.store.rows(s, self.split) for s in at])
        if self.addition:
            title = f"λ = {x:g} ({self.normalize}, {self.split}): every group's numbers"
        else:  # each group's row is its own injection: no overall point to show
            rows = injected_rows(rows)
            rows = rows[rows["group"] != OVERALL]
            title = f"λ = {x:g} injected ({self.split}): each group's own injection"
        warns = [n for s in at for n in self.store.warnings(s, self.split)]
        return Position(x, rows, title, notes.warning_notes(warns))

    def ship(self) -> dict:
        """Every column of the heatmaps for the browser: a λ slider outlines one column and
        shows its per-group numbers. Every point must be exact and cached."""
        if self.crossed:
            raise ValueError("Heatmaps over intersections are drawn by the server only.")
        df = self.frame()
        positions = [self.column(x) for x in self.lams]
        figures = [[self.heatmap(df, m, highlight=x) for m in METRICS] for x in self.lams]
        side = ["title", "cards"] if self.addition else ["title"]
        return ship_view(
            positions,
            figures,
            **lam_slider(label="λ (highlighted column)"),
            blocks=[
                [(3, ["slider"]), (2, [])],
                [(2, side), (3, ["table", "notes"])],
                *[[(1, [f"figure:{j}"])] for j in range(len(METRICS))],
            ],
        )

"""What the Compare view shows at a λ: written once, drawn by the server and shipped.

:class:`CompareModel` holds the view's choices (the seeds' stores, the seed in view,
split, normalisation) and says what it shows at task addition's λ: the methods' rows
over seeds, the figures (overall bars and one per-group chart per metric, their
arguments written here only), the paired differences against FFT and the degenerate
caption. The dashboard's page draws it with Streamlit; :meth:`CompareModel.ship` packs
every grid λ for the browser (:mod:`taskfair.views.ship`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
import plotly.graph_objects as go

from taskfair import grid, plots
from taskfair.sweep import PointStore, Setting, compare_plan, reference_settings
from taskfair.sweep import task_addition_settings as _addition
from taskfair.views import notes
from taskfair.views.ship import Position, ship_view
from taskfair.views.slider import lam_slider

__all__ = ["GROUP_METRICS", "CompareModel"]

GROUP_METRICS = ("accuracy", "vs_rest_dpd", "vs_rest_eod")


#: The FFT baselines a method is paired against: the ordinary and the matched one.
_FFTS = ("fft", "fft_balanced")


@dataclass(frozen=True, eq=False)
class CompareModel:
    """FFT and LoRA against task addition, over the bundle's seeds."""

    TITLE: ClassVar[str] = "Compare methods"
    CAPTION: ClassVar[str] = (
        "FFT and LoRA against task addition at the chosen λ, per group and overall. With "
        "several seeds, bars are seed means and error bars one standard error across seeds. "
        "Cross-hatched bars are degenerate (nearly constant) predictors. The paired bootstrap "
        "below compares each method with FFT on the same resampled rows."
    )

    stores: Mapping[int, PointStore]
    seed: int
    split: str
    normalize: str
    lams: tuple[float, ...] = tuple(grid.LAMBDA_GRID)

    @property
    def own(self) -> PointStore:
        return self.stores[self.seed]

    def settings(self, lam: float) -> dict[int, list[Setting]]:
        """Per seed: the reference methods, then task addition at ``lam`` (last)."""
        return {
            s: [
                *[r for r in reference_settings(st_.names) if r.method != "base"],
                *_addition(st_.groups, [lam], self.normalize),
            ]
            for s, st_ in self.stores.items()
        }

    def plan(self, lam: float) -> list:
        return compare_plan(self.settings(lam), self.split)

    def frame(self, lam: float) -> tuple[pd.DataFrame, int, int]:
        """The known rows of every method × seed at ``lam``, how many points were known
        and how many the view reads."""
        settings = self.settings(lam)
        parts = [
            r
            for s, xs in settings.items()
            for x in xs
            if (r := self.stores[s].rows(x, self.split)) is not None
        ]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return df, len(parts), sum(len(x) for x in settings.values())

    def counted(self, known: int, total: int) -> str:
        seeds = list(self.stores)
        return (
            f"{known} of {total} method × seed points evaluated on {self.split} "
            f"({len(seeds)} seed{'s' if len(seeds) > 1 else ''}: {', '.join(map(str, seeds))})."
        )

    def overall_figure(self, df: pd.DataFrame) -> go.Figure:
        return plots.compare_overall_figure(df, split=self.split, normalize=self.normalize)

    def group_figure(self, df: pd.DataFrame, metric: str) -> go.Figure:
        return plots.compare_groups_figure(
            df, metric, split=self.split, normalize=self.normalize, groups=self.own.groups
        )

    def degenerate_caption(self, df: pd.DataFrame, escape: notes.Escape = str) -> str | None:
        return notes.degenerate_caption(df, mark="cross-hatched bars", escape=escape)

    def paired(self, lam: float) -> list[str]:
        """Each method against FFT on the same rows (seed in view), Markdown: against the
        ordinary FFT and, in a variant's bundle, the matched one (``fft_balanced``)."""
        mine = self.settings(lam)[self.seed]
        ffts = [x for x in mine if x.method in _FFTS]
        out = []
        for fft in ffts:
            for x in mine:
                if x.method in _FFTS:
                    continue
                line = notes.paired_sentence(self.own.paired(x, fft, self.split))
                label = f"task addition λ = {lam:g}" if x.method == "task_addition" else x.method
                if line:
                    out.append(f"*{label}* against *{fft.method}* (seed {self.seed}) — {line}")
        return out

    def ship(self) -> dict:
        """Every grid λ of the comparison for the browser. Every point must be exact."""
        positions, figures = [], []
        for x in self.lams:
            df, _, _ = self.frame(x)
            addition = self.settings(x)[self.seed][-1]
            rows = self.own.rows(addition, self.split)
            title = (
                f"Task addition λ = {x:g} ({self.normalize}, {self.split}, seed {self.seed}) "
                "against FFT and LoRA — exact"
            )
            said = [self.degenerate_caption(df), *self.paired(x)]
            positions.append(Position(x, rows, title, [notes.plain(t) for t in said if t]))
            figures.append(
                [self.overall_figure(df), *[self.group_figure(df, m) for m in GROUP_METRICS]]
            )
        return ship_view(
            positions,
            figures,
            **lam_slider(),
            blocks=[
                [(3, ["slider"]), (2, [])],
                [(3, ["figure:0"]), (2, ["title", "cards", "notes"])],
                [(1, ["figure:1"]), (1, ["figure:2"]), (1, ["figure:3"])],
                [(1, ["table"])],
            ],
        )

"""What the injection view shows at a mix: written once, drawn by the server and shipped.

:class:`InjectionModel` holds the view's choices (anchor, normalisation, the toggled
groups' λ and the group the curve varies) and says what the view shows at a mix: its
title, its figure (the curve along ``λ_along``, its arguments written here only) and its
notes. The dashboard's page draws it with Streamlit; :meth:`InjectionModel.ship` packs the
curve's grid for the browser (:mod:`taskfair.views.ship`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import pandas as pd
import plotly.graph_objects as go

from taskfair import grid, plots
from taskfair.sweep import PointStore, Setting, injection_plan, mix_setting, overall
from taskfair.sweep import reference_settings as _reference_settings
from taskfair.views import notes
from taskfair.views.ship import Position, ship_view
from taskfair.views.slider import lam_slider

__all__ = ["LAM_DEFAULT", "InjectionModel"]

#: Each toggled group's λ when the link gives none.
LAM_DEFAULT = 0.4


def _same(text: str) -> str:
    return text


@dataclass(frozen=True, eq=False)
class InjectionModel:
    """The injection view at one mix (``lams``: the toggled groups' λ)."""

    TITLE: ClassVar[str] = "Subgroup injection"
    CAPTION: ClassVar[str] = (
        "θ = anchor + Σ_g λ_g τ_g over the toggled subgroups. Anchored on FFT this is the "
        "paper's injection (θ_FFT + λ τ_g, no normalisation); anchored on the base it is task "
        "addition with one coefficient per vector. The curve varies one group's λ_g with the "
        "others fixed."
    )

    store: PointStore
    split: str
    anchor: str
    normalize: str
    lams: Mapping[str, float]
    along: str | None
    positive_label: str | None = None
    #: how a group name is made safe for Markdown (identity for plain text)
    escape: Callable[[str], str] = field(default=_same)

    @cached_property
    def refs(self) -> list[Setting]:
        return _reference_settings(self.store.names)

    @property
    def others(self) -> dict[str, float]:
        return {g: x for g, x in self.lams.items() if g != self.along} if self.lams else {}

    @cached_property
    def current(self) -> Setting:
        if self.lams:
            return mix_setting(self.store.groups, self.lams, self.anchor, self.normalize)
        by_method = {s.method: s for s in self.refs}  # nothing toggled: the anchor itself
        return by_method["fft" if self.anchor == "fft" else "base"]

    @cached_property
    def points(self) -> list[tuple[float, Setting]]:
        if not self.lams:
            return []
        return [
            (
                x,
                mix_setting(
                    self.store.groups, {**self.others, self.along: x}, self.anchor, self.normalize
                ),
            )
            for x in grid.INJECTION_GRID
        ]

    def key(self) -> tuple:
        """The view's choices besides seed, split and the sidebar's normalisation (never
        λ_along, which the slider moves)."""
        others = tuple(sorted(self.others.items()))
        return ("injection", self.anchor, self.normalize, self.along, others)

    def plan(self) -> list:
        curve = [s for _, s in self.points]
        return injection_plan(self.current, curve, self.refs, self.split)

    # ------------------------------------------------------------------ rows

    def rows_at(self, x: float, setting: Setting) -> pd.DataFrame | None:
        store, split = self.store, self.split
        rows = store.curve_point(self.points, split, x, setting) if self.points else None
        rows = store.rows(setting, split) if rows is None else rows
        if rows is not None and rows["exact"].all():  # bands at exact points (cached records)
            rows = store.with_bands(setting, split)
        return None if rows is None else rows.assign(lam=x)

    def frame(self) -> pd.DataFrame:
        parts = [r for x, s in self.points if (r := self.rows_at(x, s)) is not None]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def baselines(self) -> pd.DataFrame:
        return self.store.known_rows(self.refs, self.split)

    # ------------------------------------------------------------------ texts and figures

    def title(self, lams: Mapping[str, float], label: str, markdown: bool = True) -> str:
        """The mix in words (group names through ``escape`` when ``markdown``)."""
        mix_text = " + ".join(f"{x:g}·τ_{g}" for g, x in lams.items()) or "nothing"
        mix_text = self.escape(mix_text) if markdown else mix_text
        anchor = "θ_FFT" if self.anchor == "fft" else "θ₀"
        label = f"*{label}*" if markdown else label
        return (
            f"{'**Current mix**' if markdown else 'Current mix'}: {anchor} + {mix_text} — {label}"
        )

    def degenerate_caption(self, frame: pd.DataFrame, escape: notes.Escape = str) -> str | None:
        return notes.degenerate_caption(frame, what=f"λ_{self.along}", escape=escape)

    def figure(self, frame, cur, base, x_now) -> go.Figure:
        others = self.others
        return plots.tradeoff_figure(
            frame,
            split=self.split,
            normalize=self.normalize if self.anchor == "base" else "none (injection)",
            current={**cur, "lam": x_now} if cur else None,
            baselines=base,
            method_label=f"vary λ_{self.along}",
            x_label=f"λ_{self.along}",
            title=f"Accuracy and fairness versus λ_{self.along}"
            + (
                f" (others fixed: {', '.join(f'λ_{g}={x:g}' for g, x in others.items())})"
                if others
                else ""
            ),
            references=self.store.reference_rows(self.split),
            positive_label=self.positive_label,
        )

    def notes_at(self, setting: Setting, cur: dict) -> list[str]:
        """The notes of an exact point, as a shipped view prints them."""
        said = notes.degenerate_point(cur)
        warns = notes.warning_notes(self.store.warnings(setting, self.split))
        return ([f"⚠ {notes.plain(said)}"] if said else []) + warns

    # ------------------------------------------------------------------ shipped

    def ship(self) -> dict:
        """The curve along ``λ_along`` for the browser: every grid point's rows and figure.
        Every point must be exact and cached."""
        frame = self.frame()
        base = self.baselines()
        positions, figures = [], []
        for x, s in self.points:
            rows = self.store.rows(s, self.split)
            cur = overall(rows)
            title = self.title({**self.lams, self.along: x}, "exact", markdown=False)
            positions.append(Position(x, rows, title, self.notes_at(s, cur)))
            figures.append([self.figure(frame, cur, base, x)])
        under = [notes.plain(t) for t in [self.degenerate_caption(frame)] if t]
        return ship_view(
            positions,
            figures,
            **lam_slider(f"lam_{self.along}", f"λ_{self.along}", LAM_DEFAULT),
            blocks=[
                [(1, ["slider"]), (1, [])],
                [(1, ["title", "cards"])],
                [(1, ["figure:0", *[f"text:{t}" for t in under]])],
                [(1, ["table", "notes"])],
            ],
        )

"""What the Trade-off view shows at a λ: written once, drawn by the server and shipped.

:class:`TradeoffModel` holds the view's choices (store, split, normalisation, merge
method, Pareto axis, whether degenerate points count, the seeds) and says, for any λ,
what the view shows: the figures (the curves and the Pareto view, with their figure
arguments written here only), the title, the notes (degenerate point, paired difference
against FFT, the metrics' warnings) and the recommendation. The dashboard's page draws
it with Streamlit; :meth:`TradeoffModel.ship` packs every grid point for the browser
(:mod:`taskfair.views.ship`), the same readings in plain text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import pandas as pd
import plotly.graph_objects as go

from taskfair import grid, plots
from taskfair.merge import get_method
from taskfair.sweep import (
    PointStore,
    Setting,
    curve_settings,
    lam_points,
    method_setting,
    overall,
    reference_settings,
)
from taskfair.sweep.settings import drawn_baselines, matched_variant
from taskfair.views import notes
from taskfair.views.readings import front, recommend, seed_curve_frame
from taskfair.views.ship import Position, ship_view
from taskfair.views.slider import lam_slider

__all__ = ["Readings", "TradeoffModel"]


@dataclass(frozen=True)
class Readings:
    """What the view says about its current point, in Markdown (see :func:`notes.plain`)."""

    title: str
    degenerate: str | None = None
    paired: str | None = None
    warnings: Sequence[str] = field(default_factory=tuple)

    def plain_notes(self) -> list[str]:
        """The notes as a shipped view prints them, in the server's order."""
        found = [
            f"⚠ {notes.plain(self.degenerate)}" if self.degenerate else None,
            notes.plain(self.paired),
            *self.warnings,
        ]
        return [n for n in found if n]


@dataclass(frozen=True, eq=False)
class TradeoffModel:
    """The Trade-off view at one set of choices (everything but λ)."""

    TITLE: ClassVar[str] = "Trade-off: accuracy and fairness versus λ"
    CAPTION: ClassVar[str] = (
        "θ(λ) = θ₀ + λ·Σ_g τ_g (or λ/G with mean normalisation), merged in memory on the "
        "bundle's real model. FFT and LoRA are dashed baselines; hollow markers are previews, "
        "solid ones exact; crossed-out dark markers are degenerate (nearly constant) "
        "predictors; thin grey lines are the reference predictors (constant and label "
        "oracle); the shaded band is each exact point's 95% interval."
    )

    store: PointStore
    split: str
    normalize: str
    method: str = "task_addition"
    params: Mapping = field(default_factory=dict)
    metric: str = "dpd"
    with_degenerate: bool = False
    positive_label: str | None = None
    #: the stores of every seed when curves are seed means (``All seeds``), else empty
    seed_stores: Sequence[PointStore] = ()
    seed: int = 0
    n_seeds: int = 1
    #: which baselines a variant's bundle draws (``BASELINE_CHOICES``); None: the ordinary
    drawn: str | None = None

    # ------------------------------------------------------------------ settings

    @cached_property
    def curve(self) -> list[Setting]:
        return curve_settings(
            self.method, self.store.groups, grid.LAMBDA_GRID, self.normalize, self.params
        )

    @cached_property
    def points(self) -> list[tuple[float, Setting]]:
        return lam_points(self.curve)

    @cached_property
    def refs(self) -> list[Setting]:
        refs = [r for r in reference_settings(self.store.names) if r.method != "base"]
        if self.drawn is not None and matched_variant(self.store.names) is not None:
            refs = drawn_baselines(refs, self.drawn)
        return refs

    @property
    def fft(self) -> Setting | None:
        return next((r for r in self.refs if r.method in ("fft", "fft_balanced")), None)

    def key(self) -> tuple:
        """The view's choices besides seed, split and normalisation (what its shipped
        payload depends on; never λ)."""
        params = tuple(sorted(self.params.items()))
        return ("tradeoff", self.method, params, self.metric, self.with_degenerate,
                bool(self.seed_stores), self.drawn)  # fmt: skip

    def setting(self, lam: float) -> Setting:
        """The merge at ``lam`` (any λ: a link may ask for one off the grid)."""
        params = {**self.params, "lam": lam, "normalize": self.normalize}
        return method_setting(self.method, self.store.groups, params)

    # ------------------------------------------------------------------ rows

    def frame(self) -> pd.DataFrame:
        """The curve's rows (with bands), or the seeds' means with their errors."""
        if self.seed_stores:
            return seed_curve_frame(list(self.seed_stores), self.points, self.split)
        return self.store.curve_frame(self.points, self.split, bands=True)

    def baselines(self) -> pd.DataFrame:
        return self.store.known_rows(self.refs, self.split)

    def references(self) -> pd.DataFrame:
        return self.store.reference_rows(self.split)

    # ------------------------------------------------------------------ figures

    def curves_figure(self, frame, cur, base, references) -> go.Figure:
        return plots.tradeoff_figure(
            frame,
            split=self.split,
            normalize=self.normalize,
            current=cur or None,
            baselines=base,
            method_label=get_method(self.method).title.lower(),
            references=references,
            positive_label=self.positive_label,
        )

    def pareto_figure(self, frame, cur, base, shown, references) -> go.Figure:
        return plots.pareto_figure(
            frame,
            x=self.metric,
            y="accuracy",
            split=self.split,
            normalize=self.normalize,
            front=front(frame, self.metric, include_degenerate=self.with_degenerate),
            recommended=shown,
            current=cur or None,
            baselines=base,
            references=references,
            positive_label=self.positive_label,
        )

    # ------------------------------------------------------------------ texts

    def title(self, lam: float, label: str) -> str:
        return f"**Current point** λ = {lam:g} ({self.normalize}, {self.split}) — *{label}*"

    def readings(
        self, lam: float, setting: Setting, cur: dict, escape: notes.Escape = str
    ) -> Readings:
        """The title and notes of the point at ``lam`` (``cur``: its overall row); text
        read from a bundle's files goes through ``escape`` (the server's Markdown)."""
        exact = bool(cur.get("exact"))
        label = "exact" if exact else "preview"
        fft = self.fft
        paired = None
        if exact and fft is not None:
            # every λ of the grid reads its difference: held together (Šidák), and said so
            looks = len(self.points)
            paired = notes.paired_sentence(self.store.paired(setting, fft, self.split, looks=looks))
        warns = self.store.warnings(setting, self.split) if exact else []
        return Readings(
            self.title(lam, label),
            notes.degenerate_point(cur, escape),
            paired,
            notes.warning_notes(warns),
        )

    def band_caption(self) -> str:
        if self.seed_stores:
            what = (
                f"Curves: mean of {self.n_seeds} seeds, error bars one standard error across "
                "seeds; band: 95% interval of that mean"
            )
        else:
            more = self.n_seeds > 1
            what = (
                f"Curves: seed {self.seed}"
                + (f" of {self.n_seeds} (tick *All seeds* for mean ± 1 SE)" if more else "")
                + "; band: 95% interval"
            )
        return (
            f"{what} of each exact point on the {self.split} rows (Wilson for accuracy; "
            "simultaneous group gaps projected onto max − min for DPD and EOD, which hold at a "
            "true 0; see docs/STATISTICS.md), from the cached logits; previews have none."
        )

    def recommendation(self) -> tuple[dict | None, dict | None]:
        """The recommended λ (chosen on validation) and its point on the split in view."""
        rec = recommend(
            self.store, self.curve, self.refs, self.metric, include_degenerate=self.with_degenerate
        )
        shown = None
        if rec is not None and rec["lam"] is not None:
            shown = overall(self.store.rows(self.setting(rec["lam"]), self.split))
            shown = {**shown, "lam": rec["lam"]} if shown else None
        return rec, shown

    def recommendation_text(self, rec: dict | None, shown: dict | None) -> str:
        if rec is None:
            return notes.NO_RECOMMENDATION_YET
        if rec["lam"] is None:
            return f"No recommendation: {rec['text']}"
        return (
            f"**Recommended λ = {rec['lam']:g}** — {rec['text']}  \n"
            f"Shown on **{self.split}**: accuracy {_fmt(shown, 'accuracy')}, "
            f"{self.metric.upper()} {_fmt(shown, self.metric)}."
        )

    def degenerate_rule(self) -> str:
        return notes.degenerate_rule(self.with_degenerate)

    # ------------------------------------------------------------------ shipped

    def ship(self) -> dict:
        """Every grid point of the view, for the browser: rows, figures and texts per λ
        (the readings the server draws too). Every point must be exact and cached."""
        frame = self.frame()
        base, references = self.baselines(), self.references()
        rec, shown = self.recommendation()
        positions, figures = [], []
        for x, s in self.points:
            rows = self.store.rows(s, self.split)
            cur = overall(rows)
            said = self.readings(x, s, cur)
            positions.append(Position(x, rows, notes.plain(said.title), said.plain_notes()))
            figures.append(
                [
                    self.curves_figure(frame, cur, base, references),
                    self.pareto_figure(frame, cur, base, shown, references),
                ]
            )
        under = [notes.degenerate_caption(frame), self.band_caption()]
        aside = [notes.plain(self.recommendation_text(rec, shown)), self.degenerate_rule()]
        return ship_view(
            positions,
            figures,
            **lam_slider(),
            blocks=[
                [(3, ["slider"]), (2, [])],
                [(3, ["figure:0", *_texts(under)]), (2, ["title", "cards", "table", "notes"])],
                [(1, ["heading:Pareto view"])],
                [(3, ["figure:1"]), (2, _texts(aside))],
            ],
        )


def _texts(sentences: Sequence[str | None]) -> list[str]:
    return [f"text:{notes.plain(s)}" for s in sentences if s]


def _fmt(point: dict | None, key: str) -> str:
    v = None if point is None else point.get(key)
    return "–" if v is None or v != v else f"{v:.3f}"

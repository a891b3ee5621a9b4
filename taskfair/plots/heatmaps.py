"""Heatmaps on fixed colour scales: a per-group metric over λ, and the task vectors'
pairwise cosines.

A scale never follows the data (:data:`~taskfair.plots.style.HEATMAP_RANGES`), so two
heatmaps can be compared by colour; disparity scales say "lower is fairer".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from taskfair.plots.style import (
    COLORS,
    HEATMAP_RANGES,
    LOWER_IS_FAIRER,
    METRIC_LABELS,
    OVERALL,
    figure_title,
)

__all__ = ["group_heatmap", "cosine_figure"]


def group_heatmap(
    df: pd.DataFrame,
    value: str = "accuracy",
    *,
    split: str,
    normalize: str,
    groups: Sequence[str] | None = None,
    x_label: str = "λ",
    title: str | None = None,
    highlight: float | None = None,
) -> go.Figure:
    """Groups × λ heatmap of a per-group metric (the paper's Figure 3 cells).

    ``df``: tidy rows of one method/normalisation/split (per-group rows are used; a
    cell is the mean over seeds). Colour ranges are fixed by :data:`HEATMAP_RANGES`.
    Missing cells (group absent or too small) stay blank and print "n/a", never 0.
    ``highlight``: a λ whose column is outlined (the current point), if it is a column.
    """
    d = df[df["group"] != OVERALL] if df is not None and not df.empty else pd.DataFrame()
    lams = sorted(float(v) for v in d["lam"].unique()) if not d.empty else []
    if groups is None:
        groups = sorted(d["group"].unique().tolist()) if not d.empty else []
    z = np.full((len(groups), len(lams)), np.nan)
    if not d.empty and value in d.columns:
        piv = (
            d.assign(_v=pd.to_numeric(d[value], errors="coerce"))
            .groupby(["group", "lam"])["_v"]
            .mean()
        )
        for i, g in enumerate(groups):
            for j, lam in enumerate(lams):
                z[i, j] = piv.get((g, lam), np.nan)
    zmin, zmax = HEATMAP_RANGES.get(value, (0.0, 1.0))
    lower = value in LOWER_IS_FAIRER
    text = [["n/a" if np.isnan(v) else f"{v:.2f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=[[None if np.isnan(v) else float(v) for v in row] for row in z],
            x=[f"{v:g}" for v in lams],
            y=list(groups),
            zmin=zmin,
            zmax=zmax,
            zauto=False,
            colorscale="Reds" if lower else "Viridis",
            text=text,
            texttemplate="%{text}",
            colorbar=_colorbar(zmin, zmax, lower),
            hovertemplate=f"group=%{{y}}<br>{x_label}=%{{x}}<br>{METRIC_LABELS.get(value, value)}=%{{text}}<extra></extra>",
            meta={"role": "heatmap", "metric": value},
        )
    )
    fig.update_layout(
        title=figure_title(
            title
            or f"{METRIC_LABELS.get(value, value)} per group"
            + (" — lower is fairer" if lower else ""),
            normalize,
            split,
        ),
        xaxis_title=x_label,
        yaxis_title="group",
        height=max(240, 40 * len(groups) + 130),
        margin={"t": 80, "b": 40, "l": 90, "r": 20},
        meta={"normalize": normalize, "split": split},
    )
    col = next(
        (j for j, lam in enumerate(lams) if highlight is not None and abs(lam - highlight) < 1e-9),
        None,
    )
    if col is not None:
        # Category axes place column j at j: the outline spans its cell edges.
        fig.add_shape(
            type="rect",
            x0=col - 0.5,
            x1=col + 0.5,
            y0=-0.5,
            y1=len(groups) - 0.5,
            xref="x",
            yref="y",
            line={"color": COLORS["current"], "width": 3},
            name="current",
        )
    return fig


def _colorbar(zmin: float, zmax: float, lower: bool) -> dict:
    """A colour bar that says which way is better; a capped top tick reads "≥ max"."""
    ticks = np.linspace(zmin, zmax, 6).round(3).tolist()
    text = [f"{t:g}" for t in ticks]
    if lower:
        text[-1] = f"≥{ticks[-1]:g}"
    return {
        "title": {"text": "lower is fairer" if lower else "higher is better", "side": "right"},
        "tickvals": ticks,
        "ticktext": text,
        "len": 1.0,
        "thickness": 14,
    }


def cosine_figure(names: Sequence[str], matrix, *, seed: int | None = None) -> go.Figure:
    """Pairwise cosine similarity of task vectors on a fixed [-1, 1] scale."""
    m = np.asarray(matrix, dtype=float)
    zmin, zmax = HEATMAP_RANGES["cosine"]
    fig = go.Figure(
        go.Heatmap(
            z=m.tolist(),
            x=list(names),
            y=list(names),
            zmin=zmin,
            zmax=zmax,
            zauto=False,
            colorscale="RdBu",
            text=[[f"{v:.2f}" for v in row] for row in m],
            texttemplate="%{text}",
            colorbar={"title": {"text": "cosine"}},
            meta={"role": "cosine"},
        )
    )
    sub = "weights only: independent of split and normalisation" + (
        f" · seed {seed}" if seed is not None else ""
    )
    fig.update_layout(
        title={"text": f"Pairwise cosine similarity of task vectors<br><sup>{sub}</sup>"},
        height=max(300, 40 * len(names) + 150),
        margin={"t": 80, "b": 40, "l": 90, "r": 20},
    )
    return fig

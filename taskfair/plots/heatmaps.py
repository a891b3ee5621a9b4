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
    degenerate_flags,
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
    min_n: int | None = None,
    y_label: str = "group",
    highlight: float | None = None,
) -> go.Figure:
    """Groups × λ heatmap of a per-group metric (the paper's Figure 3 cells).

    ``df``: tidy rows of one method/normalisation/split (per-group rows are used; a
    cell is the mean over seeds). Colour ranges are fixed by :data:`HEATMAP_RANGES`.
    Missing cells (group absent or too small) stay blank and print "n/a", never 0.
    With ``min_n``, a cell of fewer rows (e.g. a small intersection) is blank too and
    prints its ``n`` instead of a colour. The tooltip gives the value, its 95% bootstrap
    band where the rows carry ``<value>_lo`` / ``_hi``, the cell's n and, for a λ whose
    point is degenerate, its note; such columns are also marked "⚠" above the map.
    ``highlight``: a λ whose column is outlined (the current point), if it is a column.
    """
    d = df[df["group"] != OVERALL] if df is not None and not df.empty else pd.DataFrame()
    lams = sorted(float(v) for v in d["lam"].unique()) if not d.empty else []
    if groups is None:
        groups = sorted(d["group"].unique().tolist()) if not d.empty else []
    z, n, lo, hi, notes = _cells(d, value, list(groups), lams)
    small = (n < min_n) if min_n is not None else np.zeros(z.shape, dtype=bool)
    zmin, zmax = HEATMAP_RANGES.get(value, (0.0, 1.0))
    lower = value in LOWER_IS_FAIRER
    text, custom = _cell_texts(z, n, lo, hi, small, notes, min_n)
    fig = go.Figure(
        go.Heatmap(
            z=[
                [None if (np.isnan(v) or small[i, j]) else float(v) for j, v in enumerate(row)]
                for i, row in enumerate(z)
            ],  # fmt: skip
            x=[f"{v:g}" for v in lams],
            y=list(groups),
            zmin=zmin,
            zmax=zmax,
            zauto=False,
            colorscale="Reds" if lower else "Viridis",
            text=text,
            texttemplate="%{text}",
            customdata=custom,
            colorbar=_colorbar(zmin, zmax, lower),
            hovertemplate=f"{y_label}=%{{y}}<br>{x_label}=%{{x}}<br>"
            f"{METRIC_LABELS.get(value, value)}=%{{text}}%{{customdata[0]}}<br>"
            "%{customdata[1]}<br>%{customdata[2]}<extra></extra>",
            meta=_trace_meta(value, notes, small, n, lo, hi),
        )
    )
    fig.update_layout(
        title=figure_title(
            title
            or f"{METRIC_LABELS.get(value, value)} per {y_label}"
            + (" — lower is fairer" if lower else ""),
            normalize,
            split,
        ),
        xaxis_title=x_label,
        # λ labels look like numbers: without this plotly draws a linear axis, the cells
        # squeezed to their λ values and the outline of the current column misplaced.
        xaxis_type="category",
        yaxis_title=y_label,
        height=max(240, 40 * len(groups) + 130),
        margin={"t": 80, "b": 40, "l": 90 if y_label == "group" else 150, "r": 20},
        meta={"normalize": normalize, "split": split},
    )
    _mark_columns(fig, lams, notes, highlight, len(groups))
    return fig


def _trace_meta(value: str, notes, small, n, lo, hi) -> dict:
    """The trace's ``meta``: each column's degenerate flag, each cell's n, band and whether
    it is too small to colour, for a reader of the figure that does not parse its text."""
    return {
        "role": "heatmap",
        "metric": value,
        "degenerate": [bool(x) for x in notes],
        "small": small.tolist(),
        "n": [[None if np.isnan(k) else int(k) for k in row] for row in n],
        "lo": [[None if np.isnan(k) else float(k) for k in row] for row in lo],
        "hi": [[None if np.isnan(k) else float(k) for k in row] for row in hi],
    }


def _cells(d: pd.DataFrame, value: str, groups: list[str], lams: list[float]):
    """``(z, n, lo, hi)`` arrays (groups × λ; NaN where a cell is missing) of ``value``'s
    seed means, and per λ the degenerate note of its point ("" where not degenerate)."""
    shape = (len(groups), len(lams))
    z, n, lo, hi = (np.full(shape, np.nan) for _ in range(4))
    notes = [""] * len(lams)
    if d.empty or value not in d.columns:
        return z, n, lo, hi, notes
    cols = {"_v": value, "_n": "n", "_lo": f"{value}_lo", "_hi": f"{value}_hi"}
    num = d.assign(**{k: pd.to_numeric(d[c], errors="coerce") if c in d else np.nan
                      for k, c in cols.items()})  # fmt: skip
    piv = num.groupby(["group", "lam"])[list(cols)].mean()
    for i, g in enumerate(groups):
        for j, lam in enumerate(lams):
            if (g, lam) in piv.index:
                z[i, j], n[i, j], lo[i, j], hi[i, j] = piv.loc[(g, lam)].to_numpy(float)
    deg = degenerate_flags(d)
    for j, lam in enumerate(lams):
        at = d[(d["lam"] == lam) & deg]
        if not at.empty:
            notes[j] = (
                str(at["degenerate_note"].iloc[0]) if "degenerate_note" in at else "degenerate"
            )
    return z, n, lo, hi, notes


def _cell_texts(z, n, lo, hi, small, notes: list[str], min_n: int | None):
    """Each cell's printed text (its value, "n/a", or its n when too small to colour) and
    hover data (band, n, the column's degenerate note)."""

    def cell_text(v, k, is_small):
        if is_small and not np.isnan(k):
            return f"n={int(k)}"
        return "n/a" if np.isnan(v) else f"{v:.2f}"

    def band(i, j):
        if np.isnan(lo[i, j]) or np.isnan(hi[i, j]):
            return ""
        return f" [{lo[i, j]:.2f}, {hi[i, j]:.2f}]"

    def size(i, j):
        if np.isnan(n[i, j]):
            return ""
        tag = f" (fewer than {min_n} rows: not coloured)" if small[i, j] else ""
        return f"n={int(n[i, j])}{tag}"

    rows, cols = z.shape
    text = [[cell_text(z[i, j], n[i, j], small[i, j]) for j in range(cols)] for i in range(rows)]
    custom = [[[band(i, j), size(i, j), notes[j]] for j in range(cols)] for i in range(rows)]
    return text, custom


def _mark_columns(fig, lams, notes, highlight: float | None, n_groups: int) -> None:
    """A "⚠" above each degenerate column; the ``highlight`` column outlined."""
    for j, note in enumerate(notes):
        if note:
            fig.add_annotation(
                x=f"{lams[j]:g}", y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                text="⚠", hovertext=note, font={"size": 13, "color": "#b35900"},
            )  # fmt: skip
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
            y1=n_groups - 0.5,
            xref="x",
            yref="y",
            line={"color": COLORS["current"], "width": 3},
            name="current",
        )


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

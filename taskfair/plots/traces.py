"""The traces the curve figures share: a curve's points, its bootstrap band, its
degenerate points, the reference predictors' and the baselines' values, the current
point's marker.

Each builder takes a :func:`~taskfair.plots.style.curve_summary` frame (columns ``lam``,
``mean``, ``sem``, ``n_seeds``, ``exact``, ``degenerate``, ``note``, ``lo``, ``hi``) or a
tidy frame's overall rows, and returns one ``go.Scatter`` (or None where there is
nothing to draw), so the trade-off panels, the Pareto view and the bound figure draw a
curve one way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from taskfair.plots.style import (
    COLORS,
    DEGENERATE_MARKER,
    REFERENCE_STYLE,
    overall_rows,
    point_symbols,
    reference_name,
)

__all__ = [
    "FLOOR_NAME",
    "noise_floor_trace",
    "BAND_FILL",
    "BAND_NAME",
    "DEGENERATE_NAME",
    "band_trace",
    "baseline_values",
    "curve_trace",
    "current_marker",
    "degenerate_trace",
    "reference_line",
    "reference_values",
]

BAND_FILL = "rgba(31, 119, 180, 0.16)"
BAND_NAME = "95% interval of each exact point"
#: What equal group rates alone would score at these group sizes (DPD / EOD panels).
FLOOR_NAME = "noise floor (groups with equal rates, 95%)"
FLOOR_LINE = {"color": "rgba(90, 90, 90, 0.8)", "width": 1, "dash": "dot"}
DEGENERATE_NAME = "degenerate: (nearly) constant predictor"


def reference_values(references: pd.DataFrame | None, metric: str) -> dict[str, float]:
    """``{predictor: value}`` of ``metric`` for the reference predictors' overall rows."""
    if references is None or references.empty or metric not in references.columns:
        return {}
    top = overall_rows(references)
    out = {}
    for method, g in top.groupby("method", sort=False):
        vals = pd.to_numeric(g[metric], errors="coerce").dropna()
        if len(vals) and str(method) in REFERENCE_STYLE:
            out[str(method)] = float(vals.mean())
    return out


def baseline_values(baselines: pd.DataFrame | None, metric: str) -> dict[str, tuple[float, float]]:
    """``{method: (mean, sem)}`` of ``metric`` for the fft/lora/base overall rows."""
    out: dict[str, tuple[float, float]] = {}
    if baselines is None or baselines.empty or metric not in baselines.columns:
        return out
    b = overall_rows(baselines)
    for method, g in b.groupby("method", sort=False):
        vals = pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy(float)
        if len(vals):
            sem = float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0
            out[str(method)] = (float(vals.mean()), sem)
    return out


def curve_trace(
    s: pd.DataFrame,
    *,
    name: str,
    mode: str,
    meta: dict,
    x: Sequence[float] | None = None,
    y: Sequence[float] | None = None,
    size: int = 8,
    **extra,
) -> go.Scatter:
    """A curve's points from the summary ``s``: exact points solid, previews hollow,
    degenerate ones dark; ``meta`` gains the per-point ``degenerate`` flags. ``x`` / ``y``
    default to ``s``'s λ and mean; ``extra`` goes to ``go.Scatter`` (line, error bars,
    hover)."""
    color = COLORS["task_addition"]
    return go.Scatter(
        x=s["lam"].tolist() if x is None else list(x),
        y=s["mean"].tolist() if y is None else list(y),
        mode=mode,
        name=name,
        marker={
            "symbol": point_symbols(s["exact"].tolist()),
            "size": size,
            "color": [DEGENERATE_MARKER["color"] if d else color for d in s["degenerate"]],
        },
        meta={**meta, "degenerate": [bool(d) for d in s["degenerate"]]},
        **extra,
    )


def band_trace(s: pd.DataFrame, metric: str, showlegend: bool) -> go.Scatter | None:
    """A shaded band through the points whose ``lo`` and ``hi`` are defined, or None."""
    b = s.dropna(subset=["lo", "hi"])
    if b.empty:
        return None
    lams, lo, hi = b["lam"].tolist(), b["lo"].tolist(), b["hi"].tolist()
    return go.Scatter(
        x=lams + lams[::-1],
        y=hi + lo[::-1],
        fill="toself",
        fillcolor=BAND_FILL,
        line={"width": 0},
        mode="lines",
        hoverinfo="skip",
        name=BAND_NAME,
        legendgroup="band",
        showlegend=showlegend,
        meta={"metric": metric, "role": "band", "lam": lams, "lo": lo, "hi": hi},
    )


def degenerate_trace(
    s: pd.DataFrame, metric: str, showlegend: bool, x_label: str
) -> go.Scatter | None:
    """The degenerate points of ``s`` crossed out, their notes on hover, or None."""
    d = s[s["degenerate"]]
    if d.empty:
        return None
    return go.Scatter(
        x=d["lam"].tolist(),
        y=d["mean"].tolist(),
        mode="markers",
        name=DEGENERATE_NAME,
        legendgroup="degenerate",
        showlegend=showlegend,
        marker={**DEGENERATE_MARKER, "size": 12, "line": {"width": 1}},
        customdata=np.stack([d["note"].to_numpy(dtype=object)], axis=-1),
        hovertemplate=f"{x_label}=%{{x}} · %{{y:.4f}}<br>%{{customdata[0]}}<extra>degenerate</extra>",
        meta={
            "metric": metric,
            "role": "degenerate",
            "lam": d["lam"].tolist(),
            "note": d["note"].tolist(),
        },
    )


def reference_line(
    method: str,
    value: float,
    span: Sequence[float],
    metric: str,
    positive_label: str | None,
    **extra,
) -> go.Scatter:
    """A reference predictor's ``metric`` as a thin grey line over ``span`` (``extra``:
    legend grouping and hover)."""
    style = REFERENCE_STYLE[method]
    return go.Scatter(
        x=list(span),
        y=[value, value],
        mode="lines",
        name=reference_name(method, positive_label),
        line={"color": style["color"], "dash": style["dash"], "width": 1},
        meta={"metric": metric, "role": "reference", "method": method},
        **extra,
    )


def current_marker(exact: bool, **extra) -> dict:
    """The current point's marker: a diamond, hollow when the point is a preview."""
    return {
        "symbol": "diamond" if exact else "diamond-open",
        "size": 14,
        "color": COLORS["current"],
        **extra,
    }


def noise_floor_trace(ov: pd.DataFrame, metric: str, showlegend: bool) -> go.Scatter | None:
    """The noise floor of ``metric`` (``dpd`` / ``eod``) over the exact points of a curve's
    overall rows ``ov``: the 95% band of what a predictor whose groups truly share the same
    rates would score at these group sizes (:func:`taskfair.metrics.noise_floor`), drawn as
    a dotted outline, so a reader sees whether a disparity stands above what the group
    sizes alone produce. None where the rows carry no floor (previews, older caches)."""
    lo_col, hi_col = f"{metric}_floor_lo", f"{metric}_floor_hi"
    if lo_col not in ov.columns or hi_col not in ov.columns:
        return None
    b = ov.dropna(subset=["lam", lo_col, hi_col]).groupby("lam", sort=True)[[lo_col, hi_col]].mean()
    if b.empty:
        return None
    lams, lo, hi = b.index.tolist(), b[lo_col].tolist(), b[hi_col].tolist()
    return go.Scatter(
        x=lams + lams[::-1],
        y=hi + lo[::-1],
        fill="toself",
        fillcolor="rgba(0, 0, 0, 0)",
        line=FLOOR_LINE,
        mode="lines",
        hoverinfo="skip",
        name=FLOOR_NAME,
        legendgroup="floor",
        showlegend=showlegend,
        meta={"metric": metric, "role": "noise_floor", "lam": lams, "lo": lo, "hi": hi},
    )

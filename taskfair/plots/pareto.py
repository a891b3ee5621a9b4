"""The Pareto view: accuracy versus a disparity, one point per λ.

Exact points are solid markers, previews hollow; degenerate points are dark and crossed
out (left out of the front); 95% bootstrap bands are error bars; the reference
predictors are hollow markers, the baselines squares, the recommended λ a star and the
current λ a diamond. :func:`view_pareto_figure` is the figure as the dashboard's pages
draw it for one view (its split, normalisation and positive class).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from taskfair.plots.style import (
    COLORS,
    DEGENERATE_MARKER,
    METHOD_LABELS,
    METRIC_LABELS,
    REFERENCE_STYLE,
    axis_label,
    curve_summary,
    figure_title,
    overall_rows,
    reference_name,
)
from taskfair.plots.traces import DEGENERATE_NAME, current_marker, curve_trace, reference_values

__all__ = ["ViewLike", "pareto_figure", "view_pareto_figure"]


def _bars(s: pd.DataFrame) -> dict:
    """Asymmetric error bars from a summary's ``lo`` / ``hi`` (hidden when absent)."""
    up, down = (s["hi"] - s["mean"]).clip(lower=0), (s["mean"] - s["lo"]).clip(lower=0)
    return {
        "type": "data",
        "symmetric": False,
        "array": [None if pd.isna(v) else float(v) for v in up],
        "arrayminus": [None if pd.isna(v) else float(v) for v in down],
        "visible": bool(s["lo"].notna().any()),
        "thickness": 1,
        "width": 2,
    }


def _points(sx: pd.DataFrame, sy: pd.DataFrame, x: str, y: str) -> list[go.Scatter]:
    """The λ points (labelled, with error bars) and, where any, the degenerate ones."""
    traces = [
        curve_trace(
            sx,
            x=sx["mean"].tolist(),
            y=sy["mean"].tolist(),
            mode="markers+text",
            name="λ points",
            size=9,
            text=[f"{v:g}" for v in sx["lam"]],
            textposition="top center",
            error_x=_bars(sx),
            error_y=_bars(sy),
            customdata=np.stack([sx["note"].to_numpy(dtype=object)], axis=-1) if len(sx) else None,
            hovertemplate="λ=%{text}<br>"
            + f"{METRIC_LABELS.get(x, x)}=%{{x:.4f}}<br>{METRIC_LABELS.get(y, y)}=%{{y:.4f}}"
            "<br>%{customdata[0]}<extra></extra>",
            meta={
                "role": "points",
                "x": x,
                "y": y,
                "x_band": [sx["lo"].tolist(), sx["hi"].tolist()],
                "y_band": [sy["lo"].tolist(), sy["hi"].tolist()],
            },
        )
    ]
    deg = sx["degenerate"].to_numpy(bool)
    if deg.any():
        traces.append(
            go.Scatter(
                x=sx["mean"][deg].tolist(),
                y=sy["mean"][deg].tolist(),
                mode="markers",
                name=DEGENERATE_NAME + " (left out of the front)",
                marker={**DEGENERATE_MARKER, "size": 12},
                customdata=np.stack([sx["note"][deg].to_numpy(dtype=object)], axis=-1),
                hovertemplate="%{customdata[0]}<extra>degenerate</extra>",
                meta={
                    "role": "degenerate",
                    "x": x,
                    "y": y,
                    "lam": sx["lam"][deg].tolist(),
                    "note": sx["note"][deg].tolist(),
                },
            )
        )
    return traces


def _references(references, x: str, y: str, positive_label: str | None) -> list[go.Scatter]:
    rx, ry = reference_values(references, x), reference_values(references, y)
    out = []
    for method in [m for m in rx if m in ry]:
        style = REFERENCE_STYLE[method]
        out.append(
            go.Scatter(
                x=[rx[method]],
                y=[ry[method]],
                mode="markers",
                name=reference_name(method, positive_label),
                marker={"symbol": style["symbol"], "size": 12, "color": style["color"]},
                hovertemplate=f"{reference_name(method, positive_label)}<br>"
                f"{METRIC_LABELS.get(x, x)}=%{{x:.4f}}<br>{METRIC_LABELS.get(y, y)}=%{{y:.4f}}"
                "<extra>reference predictor</extra>",
                meta={"role": "reference", "method": method, "x": x, "y": y},
            )
        )
    return out


def _front_and_baselines(front, baselines, x: str, y: str) -> list[go.Scatter]:
    out = []
    if front is not None and not front.empty:
        f = overall_rows(front).sort_values(x)
        out.append(
            go.Scatter(
                x=f[x].astype(float).tolist(),
                y=f[y].astype(float).tolist(),
                mode="lines",
                name="Pareto front",
                line={"color": COLORS["task_addition"], "width": 1},
                meta={"role": "front", "x": x, "y": y},
            )
        )
    b = overall_rows(baselines) if baselines is not None else pd.DataFrame()
    for method, g in b.groupby("method", sort=False) if not b.empty else []:
        out.append(
            go.Scatter(
                x=[float(g[x].mean())],
                y=[float(g[y].mean())],
                mode="markers",
                name=METHOD_LABELS.get(method, method),
                marker={"symbol": "square", "size": 11, "color": COLORS.get(method, "#444")},
                meta={"role": "baseline", "method": method, "x": x, "y": y},
            )
        )
    return out


def _marks(recommended: Mapping | None, current: Mapping | None, x: str, y: str) -> list:
    """The recommended λ's star and the current λ's diamond, where given."""
    out = []
    if recommended is not None and recommended.get(x) is not None:
        out.append(
            go.Scatter(
                x=[float(recommended[x])],
                y=[float(recommended[y])],
                mode="markers",
                name=f"recommended λ={recommended['lam']:g} (chosen on validation)",
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": "#e6b800",
                    "line": {"width": 1, "color": "#333"},
                },
                meta={"role": "recommended", "lam": float(recommended["lam"]), "x": x, "y": y},
            )
        )
    if current is not None and current.get(x) is not None:
        exact = bool(current.get("exact", True))
        out.append(
            go.Scatter(
                x=[float(current[x])],
                y=[float(current[y])],
                mode="markers",
                name=f"current λ={float(current['lam']):g} ({'exact' if exact else 'preview'})",
                marker=current_marker(exact),
                meta={"role": "current", "x": x, "y": y, "exact": exact},
            )
        )
    return out


def pareto_figure(
    points: pd.DataFrame,
    *,
    x: str = "dpd",
    y: str = "accuracy",
    split: str,
    normalize: str,
    front: pd.DataFrame | None = None,
    recommended: Mapping | None = None,
    current: Mapping | None = None,
    baselines: pd.DataFrame | None = None,
    references: pd.DataFrame | None = None,
    positive_label: str | None = None,
) -> go.Figure:
    """Accuracy versus a disparity, one point per λ (labelled), the Pareto front as a line,
    the recommended λ as a star and the baselines as squares.

    ``points``/``front``: tidy rows (overall rows are used; degenerate points are
    dark, crossed out by a ``role="degenerate"`` trace; band columns give error bars).
    ``recommended``: ``{"lam", x, y}`` (chosen on validation, shown on this split).
    ``references``: the reference predictors' rows, drawn as hollow markers
    (``role="reference"``).
    """
    ov = overall_rows(points)
    sx, sy = curve_summary(ov, x), curve_summary(ov, y)
    fig = go.Figure()
    for trace in (
        *_points(sx, sy, x, y),
        *_references(references, x, y, positive_label),
        *_front_and_baselines(front, baselines, x, y),
        *_marks(recommended, current, x, y),
    ):
        fig.add_trace(trace)
    fig.update_layout(
        title=figure_title(
            f"{METRIC_LABELS.get(y, y)} vs {METRIC_LABELS.get(x, x)} (up and left is better)",
            normalize,
            split,
        ),
        xaxis_title=axis_label(x),
        yaxis_title=METRIC_LABELS.get(y, y),
        height=420,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": -0.2},
        meta={"normalize": normalize, "split": split},
    )
    return fig


class ViewLike(Protocol):
    """What :func:`view_pareto_figure` reads of a view: its split, its normalisation and
    the name of the positive class."""

    split: str
    normalize: str
    positive_label: str | None


def view_pareto_figure(
    frame: pd.DataFrame,
    metric: str,
    view: ViewLike,
    front: pd.DataFrame | None,
    recommended: Mapping | None,
    current: Mapping | None,
    baselines: pd.DataFrame | None,
    references: pd.DataFrame | None,
) -> go.Figure:
    """Accuracy versus ``metric`` for one view of the dashboard: :func:`pareto_figure` on
    the view's split and normalisation, the reference predictors named by its positive
    class (an empty ``current`` draws no current point)."""
    return pareto_figure(
        frame,
        x=metric,
        y="accuracy",
        split=view.split,
        normalize=view.normalize,
        front=front,
        recommended=recommended,
        current=current or None,
        baselines=baselines,
        references=references,
        positive_label=view.positive_label,
    )

"""Curves over λ: the trade-off panels, the Pareto view, the bound beside the measured
curve, and training loss.

Exact points are solid markers, previews hollow; FFT/LoRA/base are dashed or dotted lines (on
the trade-off panels) or squares (on the Pareto view). Degenerate points (a (nearly)
constant predictor) are dark markers crossed out, with their note on hover; the reference predictors
(constant all-positive / all-negative, label oracle) are thin grey lines or hollow
markers; 95% bootstrap bands over rows are a shaded band (trade-off) or error bars
(Pareto) wherever the rows carry ``<metric>_lo`` / ``_hi`` columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from taskfair.plots.style import (
    BASELINE_DASH,
    COLORS,
    DEGENERATE_MARKER,
    METHOD_LABELS,
    METRIC_LABELS,
    REFERENCE_STYLE,
    axis_label,
    curve_summary,
    figure_title,
    overall_rows,
    point_symbols,
    reference_name,
)

__all__ = ["TRADEOFF_METRICS", "tradeoff_figure", "pareto_figure", "bound_figure", "loss_figure"]

# The trade-off figure's default panels, in reading order.
TRADEOFF_METRICS = ("accuracy", "macro_accuracy", "dpd", "eod")
BAND_FILL = "rgba(31, 119, 180, 0.16)"
BAND_NAME = "95% bootstrap band (rows)"
DEGENERATE_NAME = "degenerate: (nearly) constant predictor"


def _reference_values(references: pd.DataFrame | None, metric: str) -> dict[str, float]:
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


def _curve_colors(s: pd.DataFrame, color: str) -> list[str]:
    return [DEGENERATE_MARKER["color"] if d else color for d in s["degenerate"]]


def _band_trace(s: pd.DataFrame, metric: str, showlegend: bool) -> go.Scatter | None:
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


def _degenerate_trace(s: pd.DataFrame, metric: str, showlegend: bool, x_label: str):
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


def _baseline_values(baselines: pd.DataFrame | None, metric: str) -> dict[str, tuple[float, float]]:
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


def tradeoff_figure(
    curve: pd.DataFrame,
    *,
    split: str,
    normalize: str,
    current: Mapping | None = None,
    baselines: pd.DataFrame | None = None,
    metrics: Sequence[str] = TRADEOFF_METRICS,
    method_label: str = "task addition",
    x_label: str = "λ",
    title: str = "Accuracy and fairness versus λ",
    references: pd.DataFrame | None = None,
    positive_label: str | None = None,
) -> go.Figure:
    """One panel per metric versus λ: the curve, dashed baselines, the current point.

    ``curve``: tidy rows of one method/normalisation/split (overall rows are used;
    ``exact`` False rows are previews, drawn hollow; ``degenerate`` rows are dark and crossed out,
    with a ``role="degenerate"`` trace carrying their notes; ``<metric>_lo`` / ``_hi``
    columns give a ``role="band"`` trace). ``current``: ``{"lam": float, "exact": bool,
    metric: value, ...}`` drawn as a diamond (hollow when previewed). ``baselines``: tidy
    rows whose ``method`` is fft/lora/base, drawn dashed. ``references``: the reference
    predictors' rows (:func:`taskfair.sweep.rows.reference_rows`), drawn as thin grey
    ``role="reference"`` lines; ``positive_label`` names class 1 in their legend.
    """
    metrics = list(metrics)
    cols = 2 if len(metrics) > 1 else 1
    rows = int(np.ceil(len(metrics) / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[axis_label(m) for m in metrics],
        horizontal_spacing=0.08,
        vertical_spacing=0.16,
    )
    ov = overall_rows(curve)
    lams = (
        pd.to_numeric(ov["lam"], errors="coerce").dropna()
        if not ov.empty
        else pd.Series([0.0, 1.0])
    )
    x_span = [float(min(lams.min(), 0.0)), float(max(lams.max(), 1.0))] if len(lams) else [0.0, 1.0]
    shown: set[str] = set()  # legend groups already in the legend

    def once(group: str) -> bool:
        new = group not in shown
        shown.add(group)
        return new

    for i, metric in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        first = i == 0
        s = curve_summary(ov, metric)
        band = _band_trace(s, metric, showlegend=False)
        if band is not None:
            band.showlegend = once("band")
            fig.add_trace(band, row=r, col=c)
        fig.add_trace(
            go.Scatter(
                x=s["lam"].tolist(),
                y=s["mean"].tolist(),
                mode="lines+markers",
                name=method_label,
                legendgroup="curve",
                showlegend=first,
                line={"color": COLORS["task_addition"]},
                marker={
                    "symbol": point_symbols(s["exact"].tolist()),
                    "size": 8,
                    "color": _curve_colors(s, COLORS["task_addition"]),
                },
                error_y={
                    "type": "data",
                    "array": s["sem"].tolist(),
                    "visible": bool((s["n_seeds"] > 1).any()),
                },
                customdata=np.stack(
                    [
                        s["exact"].map({True: "exact", False: "preview"}).to_numpy(),
                        s["lo"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}").to_numpy(),
                        s["hi"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}").to_numpy(),
                        s["note"].to_numpy(dtype=object),
                    ],
                    axis=-1,
                )
                if len(s)
                else None,
                hovertemplate=f"{x_label}=%{{x}}<br>{METRIC_LABELS.get(metric, metric)}=%{{y:.4f}}"
                " [%{customdata[1]}, %{customdata[2]}]<br>%{customdata[0]}<br>%{customdata[3]}"
                "<extra></extra>",
                meta={
                    "metric": metric,
                    "role": "curve",
                    "method": "task_addition",
                    "degenerate": [bool(d) for d in s["degenerate"]],
                    "seed_error": "one standard error across seeds"
                    if bool((s["n_seeds"] > 1).any())
                    else None,
                },
            ),
            row=r,
            col=c,
        )
        deg = _degenerate_trace(s, metric, showlegend=False, x_label=x_label)
        if deg is not None:
            deg.showlegend = once("degenerate")
            fig.add_trace(deg, row=r, col=c)
        for method, val in _reference_values(references, metric).items():
            style = REFERENCE_STYLE[method]
            fig.add_trace(
                go.Scatter(
                    x=x_span,
                    y=[val, val],
                    mode="lines",
                    name=reference_name(method, positive_label),
                    legendgroup=f"ref-{method}",
                    showlegend=once(f"ref-{method}"),
                    line={"color": style["color"], "dash": style["dash"], "width": 1},
                    hovertemplate=f"{reference_name(method, positive_label)}: %{{y:.4f}}"
                    "<extra>reference predictor</extra>",
                    meta={"metric": metric, "role": "reference", "method": method},
                ),
                row=r,
                col=c,
            )
        for method, (val, _sem) in _baseline_values(baselines, metric).items():
            fig.add_trace(
                go.Scatter(
                    x=x_span,
                    y=[val, val],
                    mode="lines",
                    name=METHOD_LABELS.get(method, method),
                    legendgroup=method,
                    showlegend=first,
                    line={
                        "color": COLORS.get(method, "#444"),
                        "dash": BASELINE_DASH.get(method, "dash"),
                    },
                    hovertemplate=f"{METHOD_LABELS.get(method, method)}: %{{y:.4f}}<extra></extra>",
                    meta={"metric": metric, "role": "baseline", "method": method},
                ),
                row=r,
                col=c,
            )
        if current is not None and metric in current and current[metric] is not None:
            exact = bool(current.get("exact", True))
            fig.add_trace(
                go.Scatter(
                    x=[float(current["lam"])],
                    y=[float(current[metric])],
                    mode="markers",
                    name=f"current {x_label} ({'exact' if exact else 'preview'})",
                    legendgroup="current",
                    showlegend=first,
                    marker={
                        "symbol": "diamond" if exact else "diamond-open",
                        "size": 14,
                        "color": COLORS["current"],
                        "line": {"width": 2, "color": COLORS["current"]},
                    },
                    hovertemplate=f"current {x_label}=%{{x}}<br>%{{y:.4f}} ({'exact' if exact else 'preview'})<extra></extra>",
                    meta={"metric": metric, "role": "current", "method": "current", "exact": exact},
                ),
                row=r,
                col=c,
            )
        # A fixed λ axis: an empty (still loading) curve must not autorange to [-1, 6].
        pad = 0.03 * (x_span[1] - x_span[0] or 1.0)
        fig.update_xaxes(title_text=x_label, range=[x_span[0] - pad, x_span[1] + pad], row=r, col=c)
    fig.update_layout(
        title=figure_title(title, normalize, split),
        height=330 * rows + 60,
        margin={"t": 90, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": -0.12},
        meta={"normalize": normalize, "split": split},
    )
    return fig


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

    def bars(s: pd.DataFrame) -> dict:
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

    fig.add_trace(
        go.Scatter(
            x=sx["mean"].tolist(),
            y=sy["mean"].tolist(),
            mode="markers+text",
            text=[f"{v:g}" for v in sx["lam"]],
            textposition="top center",
            name="λ points",
            marker={
                "symbol": point_symbols(sx["exact"].tolist()),
                "size": 9,
                "color": _curve_colors(sx, COLORS["task_addition"]),
            },
            error_x=bars(sx),
            error_y=bars(sy),
            customdata=np.stack([sx["note"].to_numpy(dtype=object)], axis=-1) if len(sx) else None,
            hovertemplate="λ=%{text}<br>"
            + f"{METRIC_LABELS.get(x, x)}=%{{x:.4f}}<br>{METRIC_LABELS.get(y, y)}=%{{y:.4f}}"
            "<br>%{customdata[0]}<extra></extra>",
            meta={
                "role": "points",
                "x": x,
                "y": y,
                "degenerate": [bool(d) for d in sx["degenerate"]],
                "x_band": [sx["lo"].tolist(), sx["hi"].tolist()],
                "y_band": [sy["lo"].tolist(), sy["hi"].tolist()],
            },
        )
    )
    deg = sx["degenerate"].to_numpy(bool)
    if deg.any():
        fig.add_trace(
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
                },  # fmt: skip
            )
        )
    rx, ry = _reference_values(references, x), _reference_values(references, y)
    for method in [m for m in rx if m in ry]:
        style = REFERENCE_STYLE[method]
        fig.add_trace(
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
    if front is not None and not front.empty:
        f = overall_rows(front).sort_values(x)
        fig.add_trace(
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
        fig.add_trace(
            go.Scatter(
                x=[float(g[x].mean())],
                y=[float(g[y].mean())],
                mode="markers",
                name=METHOD_LABELS.get(method, method),
                marker={"symbol": "square", "size": 11, "color": COLORS.get(method, "#444")},
                meta={"role": "baseline", "method": method, "x": x, "y": y},
            )
        )
    if recommended is not None and recommended.get(x) is not None:
        fig.add_trace(
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
        fig.add_trace(
            go.Scatter(
                x=[float(current[x])],
                y=[float(current[y])],
                mode="markers",
                name=f"current λ={float(current['lam']):g} ({'exact' if exact else 'preview'})",
                marker={
                    "symbol": "diamond" if exact else "diamond-open",
                    "size": 14,
                    "color": COLORS["current"],
                },
                meta={"role": "current", "x": x, "y": y, "exact": exact},
            )
        )
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


def bound_figure(
    lams: Sequence[float],
    bound: Sequence[float],
    measured: pd.DataFrame | None,
    *,
    metric: str = "dpd",
    split: str,
    normalize: str,
    lipschitz: float | None = None,
    references: pd.DataFrame | None = None,
    positive_label: str | None = None,
) -> go.Figure:
    """The theoretical upper bound on ``metric`` beside the measured curve (its bootstrap
    band where the rows carry band columns, degenerate points crossed out, the reference predictors' ``metric`` as thin grey lines)."""
    fig = go.Figure()
    lname = f" (L≈{lipschitz:.3g})" if lipschitz is not None else ""
    fig.add_trace(
        go.Scatter(
            x=[float(v) for v in lams],
            y=[float(v) for v in bound],
            mode="lines",
            name=f"bound{lname}",
            line={"color": COLORS["bound"], "dash": "dash"},
            meta={"role": "bound", "metric": metric},
        )
    )
    s = (
        curve_summary(overall_rows(measured), metric)
        if measured is not None
        else curve_summary(None, metric)
    )
    fig.add_trace(
        go.Scatter(
            x=s["lam"].tolist(),
            y=s["mean"].tolist(),
            mode="lines+markers",
            name=f"measured {METRIC_LABELS.get(metric, metric)}",
            line={"color": COLORS["task_addition"]},
            marker={
                "symbol": point_symbols(s["exact"].tolist()),
                "size": 8,
                "color": _curve_colors(s, COLORS["task_addition"]),
            },
            meta={
                "role": "measured",
                "metric": metric,
                "degenerate": [bool(d) for d in s["degenerate"]],
            },
        )
    )
    band = _band_trace(s, metric, showlegend=True)
    if band is not None:
        fig.add_trace(band)
    deg = _degenerate_trace(s, metric, showlegend=True, x_label="λ")
    if deg is not None:
        fig.add_trace(deg)
    span = [min([0.0, *map(float, lams)]), max([1.0, *map(float, lams)])]
    for method, val in _reference_values(references, metric).items():
        style = REFERENCE_STYLE[method]
        fig.add_trace(
            go.Scatter(
                x=span,
                y=[val, val],
                mode="lines",
                name=reference_name(method, positive_label),
                line={"color": style["color"], "dash": style["dash"], "width": 1},
                meta={"role": "reference", "method": method, "metric": metric},
            )
        )
    fig.update_layout(
        title=figure_title(
            f"Upper bound on {METRIC_LABELS.get(metric, metric)} vs measured", normalize, split
        ),
        xaxis_title="λ",
        yaxis_title=axis_label(metric),
        height=420,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": -0.2},
        meta={"normalize": normalize, "split": split},
    )
    # DPD and EOD never exceed 1: above that a bound says nothing. Keep the axis on the
    # metric's range (a log axis would hide the zeros the measured curve often has).
    if len(bound) and max(bound) > 1.0:
        fig.update_yaxes(range=[0.0, 1.05])
        fig.add_hline(y=1.0, line={"dash": "dot", "color": "#999", "width": 1})
        fig.add_annotation(
            x=0.5, y=1.0, xref="paper", yref="y", yanchor="bottom", showarrow=False,
            text=f"the bound leaves the plot where it exceeds 1 (vacuous); max {max(bound):.3g}",
            font={"size": 11, "color": "#666"},
        )  # fmt: skip
    return fig


def loss_figure(curves: pd.DataFrame) -> go.Figure:
    """Training loss per vector: ``curves`` has columns ``vector``, ``step``, ``loss``
    (and optionally ``seed``)."""
    fig = go.Figure()
    if curves is not None and not curves.empty:
        keys = ["vector", "seed"] if "seed" in curves.columns else ["vector"]
        for key, g in curves.groupby(keys, sort=False):
            key = key if isinstance(key, tuple) else (key,)
            name = (
                key[0]
                if len(key) == 1 or curves["seed"].nunique() == 1
                else f"{key[0]} (seed {key[1]})"
            )
            fig.add_trace(
                go.Scatter(
                    x=g["step"].tolist(),
                    y=g["loss"].astype(float).tolist(),
                    mode="lines",
                    name=str(name),
                    line={"color": COLORS.get(str(key[0]))},
                    meta={"role": "loss", "vector": str(key[0])},
                )
            )
    fig.update_layout(
        title={
            "text": "Training loss<br><sup>split: train · no merging, so no normalisation</sup>"
        },
        xaxis_title="step",
        yaxis_title="loss",
        height=380,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
    )
    return fig

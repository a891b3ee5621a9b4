"""Curves over λ: the trade-off panels, the bound beside the measured curve, and training
loss (the Pareto view is :mod:`taskfair.plots.pareto`; the traces they share,
:mod:`taskfair.plots.traces`).

Exact points are solid markers, previews hollow; FFT/LoRA/base are dashed or dotted lines.
Degenerate points (a (nearly) constant predictor) are dark markers crossed out, with their
note on hover; the reference predictors (constant all-positive / all-negative, label
oracle) are thin grey lines; 95% bootstrap bands over rows are a shaded band wherever the
rows carry ``<metric>_lo`` / ``_hi`` columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from taskfair.plots.pareto import pareto_figure
from taskfair.plots.style import (
    BASELINE_DASH,
    COLORS,
    METHOD_LABELS,
    METRIC_LABELS,
    axis_label,
    curve_summary,
    figure_title,
    overall_rows,
    reference_name,
)
from taskfair.plots.traces import (
    band_trace,
    baseline_values,
    current_marker,
    curve_trace,
    degenerate_trace,
    noise_floor_trace,
    reference_line,
    reference_values,
)

__all__ = ["TRADEOFF_METRICS", "tradeoff_figure", "pareto_figure", "bound_figure", "loss_figure"]

# The trade-off figure's default panels, in reading order.
TRADEOFF_METRICS = ("accuracy", "macro_accuracy", "dpd", "eod")


def _x_span(ov: pd.DataFrame) -> list[float]:
    """The λ axis: the curve's λ range, widened to take in 0 and 1."""
    lams = (
        pd.to_numeric(ov["lam"], errors="coerce").dropna()
        if not ov.empty
        else pd.Series([0.0, 1.0])
    )
    return [float(min(lams.min(), 0.0)), float(max(lams.max(), 1.0))] if len(lams) else [0.0, 1.0]


def _tradeoff_curve(s: pd.DataFrame, metric: str, first: bool, label: str, x_label: str):
    """One panel's curve: seed error bars where several seeds, the interval on hover."""
    several = bool((s["n_seeds"] > 1).any())
    customdata = None
    if len(s):
        customdata = np.stack(
            [
                s["exact"].map({True: "exact", False: "preview"}).to_numpy(),
                s["lo"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}").to_numpy(),
                s["hi"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}").to_numpy(),
                s["note"].to_numpy(dtype=object),
            ],
            axis=-1,
        )
    return curve_trace(
        s,
        mode="lines+markers",
        name=label,
        legendgroup="curve",
        showlegend=first,
        line={"color": COLORS["task_addition"]},
        error_y={"type": "data", "array": s["sem"].tolist(), "visible": several},
        customdata=customdata,
        hovertemplate=f"{x_label}=%{{x}}<br>{METRIC_LABELS.get(metric, metric)}=%{{y:.4f}}"
        " [%{customdata[1]}, %{customdata[2]}]<br>%{customdata[0]}<br>%{customdata[3]}"
        "<extra></extra>",
        meta={
            "metric": metric,
            "role": "curve",
            "method": "task_addition",
            "seed_error": "one standard error across seeds" if several else None,
        },
    )


def _baseline_line(method: str, val: float, x_span, metric: str, first: bool) -> go.Scatter:
    return go.Scatter(
        x=x_span,
        y=[val, val],
        mode="lines",
        name=METHOD_LABELS.get(method, method),
        legendgroup=method,
        showlegend=first,
        line={"color": COLORS.get(method, "#444"), "dash": BASELINE_DASH.get(method, "dash")},
        hovertemplate=f"{METHOD_LABELS.get(method, method)}: %{{y:.4f}}<extra></extra>",
        meta={"metric": metric, "role": "baseline", "method": method},
    )


def _current_point(current: Mapping, metric: str, first: bool, x_label: str) -> go.Scatter:
    exact = bool(current.get("exact", True))
    kind = "exact" if exact else "preview"
    return go.Scatter(
        x=[float(current["lam"])],
        y=[float(current[metric])],
        mode="markers",
        name=f"current {x_label} ({kind})",
        legendgroup="current",
        showlegend=first,
        marker=current_marker(exact, line={"width": 2, "color": COLORS["current"]}),
        hovertemplate=f"current {x_label}=%{{x}}<br>%{{y:.4f}} ({kind})<extra></extra>",
        meta={"metric": metric, "role": "current", "method": "current", "exact": exact},
    )


def _panel_traces(
    ov: pd.DataFrame,
    metric: str,
    first: bool,
    once: Callable[[str], bool],
    x_span: list[float],
    opts: dict,
) -> list[go.Scatter]:
    """One trade-off panel's traces, in drawing order: band, curve, degenerate points,
    reference predictors, baselines, the current point."""
    x_label = opts["x_label"]
    s = curve_summary(ov, metric)
    out = []
    band = band_trace(s, metric, showlegend=False)
    if band is not None:
        band.showlegend = once("band")
        out.append(band)
    if metric in ("dpd", "eod"):
        floor = noise_floor_trace(ov, metric, showlegend=False)
        if floor is not None:
            floor.showlegend = once("floor")
            out.append(floor)
    out.append(_tradeoff_curve(s, metric, first, opts["method_label"], x_label))
    deg = degenerate_trace(s, metric, showlegend=False, x_label=x_label)
    if deg is not None:
        deg.showlegend = once("degenerate")
        out.append(deg)
    positive_label = opts["positive_label"]
    for method, val in reference_values(opts["references"], metric).items():
        out.append(
            reference_line(
                method,
                val,
                x_span,
                metric,
                positive_label,
                legendgroup=f"ref-{method}",
                showlegend=once(f"ref-{method}"),
                hovertemplate=f"{reference_name(method, positive_label)}: %{{y:.4f}}"
                "<extra>reference predictor</extra>",
            )
        )
    for method, (val, _sem) in baseline_values(opts["baselines"], metric).items():
        out.append(_baseline_line(method, val, x_span, metric, first))
    current = opts["current"]
    if current is not None and metric in current and current[metric] is not None:
        out.append(_current_point(current, metric, first, x_label))
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
    x_span = _x_span(ov)
    shown: set[str] = set()  # legend groups already in the legend

    def once(group: str) -> bool:
        new = group not in shown
        shown.add(group)
        return new

    opts = {
        "x_label": x_label,
        "method_label": method_label,
        "references": references,
        "positive_label": positive_label,
        "baselines": baselines,
        "current": current,
    }
    for i, metric in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        for trace in _panel_traces(ov, metric, i == 0, once, x_span, opts):
            fig.add_trace(trace, row=r, col=c)
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
        curve_trace(
            s,
            mode="lines+markers",
            name=f"measured {METRIC_LABELS.get(metric, metric)}",
            line={"color": COLORS["task_addition"]},
            meta={"role": "measured", "metric": metric},
        )
    )
    band = band_trace(s, metric, showlegend=True)
    if band is not None:
        fig.add_trace(band)
    deg = degenerate_trace(s, metric, showlegend=True, x_label="λ")
    if deg is not None:
        fig.add_trace(deg)
    span = [min([0.0, *map(float, lams)]), max([1.0, *map(float, lams)])]
    for method, val in reference_values(references, metric).items():
        fig.add_trace(reference_line(method, val, span, metric, positive_label))
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

"""Side-by-side bars: methods per group and overall, task-vector norms, group sizes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from taskfair.plots.style import (
    COLORS,
    HEATMAP_RANGES,
    METHOD_LABELS,
    METRIC_LABELS,
    OVERALL,
    axis_label,
    degenerate_flags,
    figure_title,
    overall_rows,
)

#: A degenerate method point's bars are cross-hatched and named so.
DEGENERATE_PATTERN = {"shape": "x", "solidity": 0.35}


def _marked(name: str, rows: pd.DataFrame) -> tuple[str, dict]:
    """The bar name and pattern of a method's rows: hatched when degenerate."""
    if degenerate_flags(rows).any():
        return f"{name} (degenerate)", DEGENERATE_PATTERN
    return name, {}


__all__ = ["compare_groups_figure", "compare_overall_figure", "norms_figure", "group_sizes_figure"]


def _method_name(row_method: str, lam) -> str:
    label = METHOD_LABELS.get(row_method, row_method)
    return (
        f"{label} λ={float(lam):g}"
        if row_method in ("task_addition", "injection") and pd.notna(lam)
        else label
    )


def compare_groups_figure(
    df: pd.DataFrame,
    metric: str,
    *,
    split: str,
    normalize: str,
    groups: Sequence[str] | None = None,
) -> go.Figure:
    """Per-group bars of ``metric``, one bar colour per method, error bars = standard
    error across seeds (shown when there is more than one seed).

    ``df``: tidy rows of the methods to compare (each method at one λ), per-group rows.
    """
    d = df[df["group"] != OVERALL]
    if groups is None:
        groups = sorted(d["group"].unique().tolist())
    fig = go.Figure()
    for (method, lam), g in d.groupby(["method", "lam"], sort=False, dropna=False):
        stats = (
            g.assign(_v=pd.to_numeric(g[metric], errors="coerce"))
            .groupby("group")["_v"]
            .agg(["mean", "std", "count"])
        )
        stats = stats.reindex(groups)
        sem = (stats["std"] / np.sqrt(stats["count"])).fillna(0.0)
        name, pattern = _marked(_method_name(method, lam), g)
        fig.add_trace(
            go.Bar(
                x=list(groups),
                y=[None if pd.isna(v) else float(v) for v in stats["mean"]],
                name=name,
                marker_color=COLORS.get(method, "#444"),
                marker_pattern=pattern,
                error_y={
                    "type": "data",
                    "array": sem.tolist(),
                    "visible": bool((stats["count"] > 1).any()),
                },
                meta={
                    "role": "bars",
                    "metric": metric,
                    "method": method,
                    "degenerate": bool(pattern),
                },  # fmt: skip
            )
        )
    fig.update_layout(
        barmode="group",
        title=figure_title(f"{METRIC_LABELS.get(metric, metric)} per group", normalize, split),
        yaxis_title=axis_label(metric),
        height=380,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": -0.2},
        meta={"normalize": normalize, "split": split},
    )
    if metric in HEATMAP_RANGES and metric != "cosine":
        fig.update_yaxes(
            range=[0, max(HEATMAP_RANGES[metric][1], float(np.nanmax(d[metric])) if len(d) else 0)]
        )
    return fig


def compare_overall_figure(
    df: pd.DataFrame,
    *,
    split: str,
    normalize: str,
    metrics: Sequence[str] = ("accuracy", "macro_accuracy", "dpd", "eod"),
) -> go.Figure:
    """Overall metrics side by side per method; error bars = standard error across seeds."""
    ov = overall_rows(df)
    fig = go.Figure()
    for (method, lam), g in ov.groupby(["method", "lam"], sort=False, dropna=False):
        means, sems = [], []
        for m in metrics:
            vals = pd.to_numeric(g[m], errors="coerce").dropna().to_numpy(float)
            means.append(float(vals.mean()) if len(vals) else None)
            sems.append(float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0)
        name, pattern = _marked(_method_name(method, lam), g)
        fig.add_trace(
            go.Bar(
                x=[axis_label(m) for m in metrics],
                y=means,
                name=name,
                marker_color=COLORS.get(method, "#444"),
                marker_pattern=pattern,
                error_y={
                    "type": "data",
                    "array": sems,
                    "visible": g["seed"].nunique() > 1 if "seed" in g else False,
                },
                meta={
                    "role": "bars",
                    "method": method,
                    "metrics": list(metrics),
                    "degenerate": bool(pattern),
                },  # fmt: skip
            )
        )
    fig.update_layout(
        barmode="group",
        title=figure_title("Overall metrics by method", normalize, split),
        height=380,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": -0.2},
        meta={"normalize": normalize, "split": split},
    )
    return fig


def norms_figure(norms: Mapping[str, float], *, seed: int | None = None) -> go.Figure:
    """L2 norm of each task vector (weights only: no split, no normalisation)."""
    names = list(norms)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[float(norms[n]) for n in names],
            marker_color=[COLORS.get(n, COLORS["task_addition"]) for n in names],
            meta={"role": "norms"},
        )
    )
    sub = "weights only: independent of split and normalisation" + (
        f" · seed {seed}" if seed is not None else ""
    )
    fig.update_layout(
        title={"text": f"Task-vector norms ‖τ‖₂<br><sup>{sub}</sup>"},
        yaxis_title="‖τ‖₂",
        height=340,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
    )
    return fig


def group_sizes_figure(sizes: pd.DataFrame) -> go.Figure:
    """Group sizes per split: ``sizes`` has columns ``split``, ``group``, ``n`` (and
    optionally ``base_rate``, shown on hover)."""
    fig = go.Figure()
    for split, g in sizes.groupby("split", sort=False):
        custom = g["base_rate"].tolist() if "base_rate" in g.columns else [None] * len(g)
        fig.add_trace(
            go.Bar(
                x=g["group"].astype(str).tolist(),
                y=g["n"].astype(int).tolist(),
                name=str(split),
                customdata=custom,
                hovertemplate="%{x}: n=%{y}<br>base rate=%{customdata:.3f}<extra>"
                + str(split)
                + "</extra>",
                meta={"role": "sizes", "split": str(split)},
            )
        )
    fig.update_layout(
        barmode="group",
        title={
            "text": "Group sizes per split<br><sup>data only: no merging, so no normalisation</sup>"
        },
        yaxis_title="rows",
        height=340,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
    )
    return fig

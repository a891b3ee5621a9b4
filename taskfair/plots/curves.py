"""Plotly figures from tidy sweep frames and reports; no streamlit here.

Every function takes plain frames/dicts and returns a ``plotly.graph_objects.Figure``,
so the dashboard, the HTML export and the tests share one drawing code path. Tests
inspect ``fig.data`` (and each trace's ``meta``), never pixels.

Conventions kept by every figure:

* the title names the normalisation in use ("sum" or "mean") and the split, because a
  curve means nothing without them (the paper's theory averages, its code sums);
* exactly evaluated points are solid markers, previewed (approximate) ones hollow;
* FFT and LoRA baselines are dashed horizontal lines;
* disparity colour scales are fixed (never auto-ranged per view, so two heatmaps can be
  compared by colour) and say "lower is fairer".

Each trace carries ``meta = {"metric": ..., "role": ..., "method": ...}`` so callers
and tests can find a trace without relying on its position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "OVERALL",
    "METRIC_LABELS",
    "LOWER_IS_FAIRER",
    "HEATMAP_RANGES",
    "METHOD_LABELS",
    "overall_rows",
    "curve_summary",
    "tradeoff_figure",
    "pareto_figure",
    "group_heatmap",
    "compare_groups_figure",
    "compare_overall_figure",
    "norms_figure",
    "cosine_figure",
    "bound_figure",
    "loss_figure",
    "group_sizes_figure",
    "html_report",
]

OVERALL = "__overall__"

METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy",
    "macro_accuracy": "Macro accuracy",
    "worst_group_accuracy": "Worst-group accuracy",
    "dpd": "DPD",
    "eod": "EOD",
    "selection_rate": "Selection rate",
    "tpr": "TPR",
    "fpr": "FPR",
    "vs_rest_dpd": "DPD (group vs rest)",
    "vs_rest_eod": "EOD (group vs rest)",
}
LOWER_IS_FAIRER = frozenset({"dpd", "eod", "vs_rest_dpd", "vs_rest_eod"})

# Fixed colour ranges: a colour means the same number on every heatmap and every λ.
# Disparities are capped at 0.5 for contrast (cells print their exact value).
HEATMAP_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "selection_rate": (0.0, 1.0),
    "tpr": (0.0, 1.0),
    "fpr": (0.0, 1.0),
    "vs_rest_dpd": (0.0, 0.5),
    "vs_rest_eod": (0.0, 0.5),
    "cosine": (-1.0, 1.0),
}

METHOD_LABELS: dict[str, str] = {
    "task_addition": "task addition",
    "injection": "injection",
    "per_vector": "per-vector λ",
    "fft": "FFT",
    "lora": "LoRA",
    "base": "base",
}
_COLORS = {
    "task_addition": "#1f77b4",
    "injection": "#9467bd",
    "per_vector": "#17becf",
    "fft": "#ff7f0e",
    "lora": "#2ca02c",
    "base": "#7f7f7f",
    "current": "#d62728",
    "bound": "#8c564b",
}
_BASELINE_DASH = {"fft": "dash", "lora": "dashdot", "base": "dot"}


def _suffix(normalize: str | None, split: str | None) -> str:
    parts = []
    if normalize:
        parts.append(f"normalisation: {normalize}")
    if split:
        parts.append(f"split: {split}")
    return " · ".join(parts)


def _title(text: str, normalize: str | None, split: str | None) -> dict:
    sub = _suffix(normalize, split)
    return {"text": f"{text}<br><sup>{sub}</sup>" if sub else text}


def _label(metric: str) -> str:
    label = METRIC_LABELS.get(metric, metric)
    return f"{label} (lower is fairer)" if metric in LOWER_IS_FAIRER else label


def overall_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The overall rows (``group == "__overall__"``) of a tidy frame."""
    if df is None or df.empty:
        return pd.DataFrame(columns=[] if df is None else df.columns)
    return df[df["group"] == OVERALL]


def curve_summary(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per-λ mean, standard error across seeds, seed count and exactness of ``metric``.

    ``df`` holds the rows of one curve (one method, normalisation, split, group). A λ
    is exact when any exact row exists for it; preview rows are used only where no
    exact one does, so a point never mixes the two.
    """
    cols = ["lam", "mean", "sem", "n_seeds", "exact"]
    if df is None or df.empty or metric not in df.columns:
        return pd.DataFrame(columns=cols)
    d = df.copy()
    d["exact"] = d["exact"].astype(bool) if "exact" in d.columns else True
    has_exact = d.groupby("lam")["exact"].transform("any")
    d = d[d["exact"] | ~has_exact]
    rows = []
    for lam, g in d.groupby("lam", sort=True):
        vals = pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy(float)
        n = len(vals)
        mean = float(vals.mean()) if n else float("nan")
        sem = float(vals.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        rows.append((float(lam), mean, sem, n, bool(g["exact"].all())))
    return pd.DataFrame(rows, columns=cols)


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


def _symbols(exact: Sequence[bool], solid: str = "circle") -> list[str]:
    return [solid if e else f"{solid}-open" for e in exact]


TRADEOFF_METRICS = ("accuracy", "macro_accuracy", "dpd", "eod")


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
) -> go.Figure:
    """One panel per metric versus λ: the curve, dashed baselines, the current point.

    ``curve``: tidy rows of one method/normalisation/split (overall rows are used;
    ``exact`` False rows are previews, drawn hollow). ``current``: ``{"lam": float,
    "exact": bool, metric: value, ...}`` drawn as a diamond (hollow when previewed).
    ``baselines``: tidy rows whose ``method`` is fft/lora/base, drawn dashed.
    """
    metrics = list(metrics)
    cols = 2 if len(metrics) > 1 else 1
    rows = int(np.ceil(len(metrics) / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_label(m) for m in metrics],
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
    for i, metric in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        first = i == 0
        s = curve_summary(ov, metric)
        fig.add_trace(
            go.Scatter(
                x=s["lam"].tolist(),
                y=s["mean"].tolist(),
                mode="lines+markers",
                name=method_label,
                legendgroup="curve",
                showlegend=first,
                line={"color": _COLORS["task_addition"]},
                marker={"symbol": _symbols(s["exact"].tolist()), "size": 8},
                error_y={
                    "type": "data",
                    "array": s["sem"].tolist(),
                    "visible": bool((s["n_seeds"] > 1).any()),
                },
                customdata=np.stack(
                    [s["exact"].map({True: "exact", False: "preview"}).to_numpy()], axis=-1
                )
                if len(s)
                else None,
                hovertemplate=f"{x_label}=%{{x}}<br>{METRIC_LABELS.get(metric, metric)}=%{{y:.4f}}"
                "<br>%{customdata[0]}<extra></extra>",
                meta={"metric": metric, "role": "curve", "method": "task_addition"},
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
                        "color": _COLORS.get(method, "#444"),
                        "dash": _BASELINE_DASH.get(method, "dash"),
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
                        "color": _COLORS["current"],
                        "line": {"width": 2, "color": _COLORS["current"]},
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
        title=_title(title, normalize, split),
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
) -> go.Figure:
    """Accuracy versus a disparity, one point per λ (labelled), the Pareto front as a line,
    the recommended λ as a star and the baselines as squares.

    ``points``/``front``: tidy rows (overall rows are used). ``recommended``: ``{"lam",
    x, y}`` (chosen on validation, shown on this split).
    """
    ov = overall_rows(points)
    sx, sy = curve_summary(ov, x), curve_summary(ov, y)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=sx["mean"].tolist(),
            y=sy["mean"].tolist(),
            mode="markers+text",
            text=[f"{v:g}" for v in sx["lam"]],
            textposition="top center",
            name="λ points",
            marker={
                "symbol": _symbols(sx["exact"].tolist()),
                "size": 9,
                "color": _COLORS["task_addition"],
            },
            hovertemplate="λ=%{text}<br>"
            + f"{METRIC_LABELS.get(x, x)}=%{{x:.4f}}<br>{METRIC_LABELS.get(y, y)}=%{{y:.4f}}<extra></extra>",
            meta={"role": "points", "x": x, "y": y},
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
                line={"color": _COLORS["task_addition"], "width": 1},
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
                marker={"symbol": "square", "size": 11, "color": _COLORS.get(method, "#444")},
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
                    "color": _COLORS["current"],
                },
                meta={"role": "current", "x": x, "y": y, "exact": exact},
            )
        )
    fig.update_layout(
        title=_title(
            f"{METRIC_LABELS.get(y, y)} vs {METRIC_LABELS.get(x, x)} (up and left is better)",
            normalize,
            split,
        ),
        xaxis_title=_label(x),
        yaxis_title=METRIC_LABELS.get(y, y),
        height=420,
        margin={"t": 80, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": -0.2},
        meta={"normalize": normalize, "split": split},
    )
    return fig


def group_heatmap(
    df: pd.DataFrame,
    value: str = "accuracy",
    *,
    split: str,
    normalize: str,
    groups: Sequence[str] | None = None,
    x_label: str = "λ",
    title: str | None = None,
) -> go.Figure:
    """Groups × λ heatmap of a per-group metric (the paper's Figure 3 cells).

    ``df``: tidy rows of one method/normalisation/split (per-group rows are used; a
    cell is the mean over seeds). Colour ranges are fixed by :data:`HEATMAP_RANGES`.
    Missing cells (group absent or too small) stay blank and print "n/a", never 0.
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
        title=_title(
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
        fig.add_trace(
            go.Bar(
                x=list(groups),
                y=[None if pd.isna(v) else float(v) for v in stats["mean"]],
                name=_method_name(method, lam),
                marker_color=_COLORS.get(method, "#444"),
                error_y={
                    "type": "data",
                    "array": sem.tolist(),
                    "visible": bool((stats["count"] > 1).any()),
                },
                meta={"role": "bars", "metric": metric, "method": method},
            )
        )
    fig.update_layout(
        barmode="group",
        title=_title(f"{METRIC_LABELS.get(metric, metric)} per group", normalize, split),
        yaxis_title=_label(metric),
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
        fig.add_trace(
            go.Bar(
                x=[_label(m) for m in metrics],
                y=means,
                name=_method_name(method, lam),
                marker_color=_COLORS.get(method, "#444"),
                error_y={
                    "type": "data",
                    "array": sems,
                    "visible": g["seed"].nunique() > 1 if "seed" in g else False,
                },
                meta={"role": "bars", "method": method, "metrics": list(metrics)},
            )
        )
    fig.update_layout(
        barmode="group",
        title=_title("Overall metrics by method", normalize, split),
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
            marker_color=[_COLORS.get(n, _COLORS["task_addition"]) for n in names],
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


def bound_figure(
    lams: Sequence[float],
    bound: Sequence[float],
    measured: pd.DataFrame | None,
    *,
    metric: str = "dpd",
    split: str,
    normalize: str,
    lipschitz: float | None = None,
) -> go.Figure:
    """The theoretical upper bound on ``metric`` beside the measured curve."""
    fig = go.Figure()
    lname = f" (L≈{lipschitz:.3g})" if lipschitz is not None else ""
    fig.add_trace(
        go.Scatter(
            x=[float(v) for v in lams],
            y=[float(v) for v in bound],
            mode="lines",
            name=f"bound{lname}",
            line={"color": _COLORS["bound"], "dash": "dash"},
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
            line={"color": _COLORS["task_addition"]},
            marker={"symbol": _symbols(s["exact"].tolist()), "size": 8},
            meta={"role": "measured", "metric": metric},
        )
    )
    fig.update_layout(
        title=_title(
            f"Upper bound on {METRIC_LABELS.get(metric, metric)} vs measured", normalize, split
        ),
        xaxis_title="λ",
        yaxis_title=_label(metric),
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
                    line={"color": _COLORS.get(str(key[0]))},
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


def html_report(
    figures: Sequence[tuple[str, go.Figure]], *, title: str, notes: Sequence[str] = ()
) -> str:
    """A standalone HTML page with the figures (plotly.js inlined once, so it opens
    offline) and a few lines of context."""
    import html as _html

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{_html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "h2{margin-top:2em}</style></head><body>",
        f"<h1>{_html.escape(title)}</h1>",
    ]
    parts += [f"<p>{_html.escape(n)}</p>" for n in notes]
    for i, (heading, fig) in enumerate(figures):
        parts.append(f"<h2>{_html.escape(heading)}</h2>")
        parts.append(
            fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
        )
    parts.append("</body></html>")
    return "\n".join(parts)

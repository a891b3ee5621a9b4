"""Plotly figures from tidy sweep frames and reports; no streamlit here.

Every function takes plain frames/dicts and returns a ``plotly.graph_objects.Figure``,
so the dashboard, the HTML export and the tests share one drawing code path. Tests
inspect ``fig.data`` (and each trace's ``meta``), never pixels.

Conventions kept by every figure (their names live in :mod:`taskfair.plots.style`):

* the title names the normalisation in use ("sum" or "mean") and the split, because a
  curve means nothing without them (the paper's theory averages, its code sums);
* exactly evaluated points are solid markers, previewed (approximate) ones hollow;
* FFT and LoRA baselines are dashed horizontal lines;
* disparity colour scales are fixed (never auto-ranged per view, so two heatmaps can be
  compared by colour) and say "lower is fairer".

Each trace carries ``meta = {"metric": ..., "role": ..., "method": ...}`` so callers
and tests can find a trace without relying on its position.

Modules: :mod:`~taskfair.plots.style` (labels, colours, symbols, titles, frame
helpers), :mod:`~taskfair.plots.curves` (trade-off, bound, loss),
:mod:`~taskfair.plots.pareto` (the Pareto view), :mod:`~taskfair.plots.traces` (the
traces the curves share),
:mod:`~taskfair.plots.heatmaps` (per-group heatmap, cosine matrix),
:mod:`~taskfair.plots.compare` (method bars, norms, group sizes),
:mod:`~taskfair.plots.steer` (the steering assistant's influence heatmap and Pareto view)
and :mod:`~taskfair.plots.report` (the standalone HTML report).
"""

from __future__ import annotations

from taskfair.plots.compare import (
    compare_groups_figure,
    compare_overall_figure,
    group_sizes_figure,
    norms_figure,
)
from taskfair.plots.curves import (
    TRADEOFF_METRICS,
    bound_figure,
    loss_figure,
    pareto_figure,
    tradeoff_figure,
)
from taskfair.plots.heatmaps import cosine_figure, group_heatmap
from taskfair.plots.pareto import view_pareto_figure
from taskfair.plots.report import html_report
from taskfair.plots.steer import influence_figure, steer_pareto_figure
from taskfair.plots.style import (
    HEATMAP_RANGES,
    LOWER_IS_FAIRER,
    METHOD_LABELS,
    METRIC_LABELS,
    OVERALL,
    curve_summary,
    overall_rows,
)

__all__ = [
    "OVERALL",
    "METRIC_LABELS",
    "LOWER_IS_FAIRER",
    "HEATMAP_RANGES",
    "METHOD_LABELS",
    "TRADEOFF_METRICS",
    "overall_rows",
    "curve_summary",
    "tradeoff_figure",
    "pareto_figure",
    "view_pareto_figure",
    "group_heatmap",
    "compare_groups_figure",
    "compare_overall_figure",
    "norms_figure",
    "cosine_figure",
    "bound_figure",
    "loss_figure",
    "group_sizes_figure",
    "html_report",
    "influence_figure",
    "steer_pareto_figure",
]

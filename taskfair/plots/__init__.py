"""Plotly figures from tidy sweep frames and reports; no streamlit here."""

from __future__ import annotations

from taskfair.plots.curves import (
    HEATMAP_RANGES,
    LOWER_IS_FAIRER,
    METHOD_LABELS,
    METRIC_LABELS,
    OVERALL,
    bound_figure,
    compare_groups_figure,
    compare_overall_figure,
    cosine_figure,
    curve_summary,
    group_heatmap,
    group_sizes_figure,
    html_report,
    loss_figure,
    norms_figure,
    overall_rows,
    pareto_figure,
    tradeoff_figure,
)

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

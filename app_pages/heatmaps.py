"""Per-group heatmaps: groups × λ for accuracy and group-vs-rest DPD / EOD (Figure 3)."""

import pandas as pd
import streamlit as st

import app_view as v
from taskfair import grid, plots
from taskfair.sweep import curve_plan, injected_rows, injection_settings, task_addition_settings

view = v.setup(
    "heatmaps",
    "Per-group heatmaps",
    "Each cell is one subgroup at one λ: its accuracy, and its DPD / EOD against the rest of "
    "the grouped rows (g vs not-g). Colour scales are fixed, so colours compare across views. "
    "Blank cells (n/a) are groups too small or one-class there: never shown as 0.",
)
store = view.store
# Plain option names: a bound widget writes the shown option into the URL (method=injection).
options = {"addition": "task addition: θ₀ + λ Σ τ_g (every group's cells)"}
if "fft" in store.names:
    options["injection"] = "injection: θ_FFT + λ τ_g (the injected group's own cells)"
chosen = st.radio(
    "Method",
    list(options),
    captions=list(options.values()),
    key="method",
    bind="query-params",
    horizontal=True,
)
method = "task_addition" if chosen == "addition" else "injection"

if method == "task_addition":
    settings = task_addition_settings(store.groups, grid.LAMBDA_GRID, view.normalize)
    norm_label = view.normalize
else:
    settings = injection_settings(store.groups, grid.INJECTION_GRID)
    norm_label = "none (injection)"
# Injection's grid is small: its points in order (group by group), the curve coarse first.
plan = curve_plan(settings, view.split, coarse=method == "task_addition")


def frame() -> pd.DataFrame:
    rows = store.known_rows(settings, view.split)
    return rows if method == "task_addition" else injected_rows(rows)


def render(k):
    df = frame()
    n_done = sum(store.has(s, view.split) for s in settings)
    st.caption(f"{n_done} of {len(settings)} settings evaluated exactly on {view.split}.")
    # Stacked full width, like the paper's Figure 3: every cell stays wide enough to print.
    for metric in ("accuracy", "vs_rest_dpd", "vs_rest_eod"):
        fig = plots.group_heatmap(
            df,
            metric,
            split=view.split,
            normalize=norm_label,
            groups=store.groups,
            x_label="λ" if method == "task_addition" else "λ (injected)",
        )
        st.plotly_chart(fig, width="stretch", key=f"heat-{metric}-{k}")


v.live(render, plan, view)

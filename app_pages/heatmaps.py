"""Per-group heatmaps: groups × λ for accuracy and group-vs-rest DPD / EOD (Figure 3)."""

import pandas as pd
import streamlit as st

import app_view as v
from taskfair import grid, plots
from taskfair.metrics import OVERALL
from taskfair.sweep import (
    concat_rows,
    curve_plan,
    injected_rows,
    injection_settings,
    task_addition_settings,
)
from taskfair.sweep.ship import Position, ship_view, view_json

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
    lams = grid.LAMBDA_GRID
    settings = task_addition_settings(store.groups, lams, view.normalize)
    norm_label = view.normalize
else:
    lams = grid.INJECTION_GRID
    settings = injection_settings(store.groups, lams)
    norm_label = "none (injection)"
# Injection's grid is small: its points in order (group by group), the curve coarse first.
plan = curve_plan(settings, view.split, coarse=method == "task_addition")


def frame() -> pd.DataFrame:
    rows = store.known_rows(settings, view.split)
    return rows if method == "task_addition" else injected_rows(rows)


METRICS = ("accuracy", "vs_rest_dpd", "vs_rest_eod")


def heatmap(df, metric, highlight=None):
    return plots.group_heatmap(
        df,
        metric,
        split=view.split,
        normalize=norm_label,
        groups=store.groups,
        x_label="λ" if method == "task_addition" else "λ (injected)",
        highlight=highlight,
    )


def render(k):
    df = frame()
    n_done = sum(store.has(s, view.split) for s in settings)
    st.caption(f"{n_done} of {len(settings)} settings evaluated exactly on {view.split}.")
    # Stacked full width, like the paper's Figure 3: every cell stays wide enough to print.
    for metric in METRICS:
        st.plotly_chart(heatmap(df, metric), width="stretch", key=f"heat-{metric}-{k}")


def shipped() -> str:
    """Every column of the heatmaps for the browser: a λ slider outlines one column and
    shows its per-group numbers."""
    df = frame()
    positions, figures = [], []
    for x in lams:
        at = [s for s in settings if s.lam == x]
        rows = concat_rows([store.rows(s, view.split) for s in at])
        if method == "task_addition":
            title = f"λ = {x:g} ({view.normalize}, {view.split}): every group's numbers"
        else:  # each group's row is its own injection: no overall point to show
            rows = injected_rows(rows)
            rows = rows[rows["group"] != OVERALL]
            title = f"λ = {x:g} injected ({view.split}): each group's own injection"
        notes = [n for s in at for n in store.warnings(s, view.split)][:3]
        positions.append(Position(x, rows, title, notes))
        figures.append([heatmap(df, m, highlight=x) for m in METRICS])
    side = ["title", "cards"] if method == "task_addition" else ["title"]
    return view_json(
        ship_view(
            positions,
            figures,
            param="lam",
            label="λ (highlighted column)",
            default=v.DEFAULT_LAM,
            decimals=v.LAM_DECIMALS,
            blocks=[
                [(3, ["slider"]), (2, [])],
                [(2, side), (3, ["table", "notes"])],
                *[[(1, [f"figure:{j}"])] for j in range(len(METRICS))],
            ],
        )
    )


if v.scrub_ready(view, plan):
    # The column shown first: the link's λ, or the nearest column of this grid.
    want = v.url_value("lam", v.DEFAULT_LAM)
    index = min(range(len(lams)), key=lambda j: abs(lams[j] - want))
    st.caption(f"{len(settings)} of {len(settings)} settings evaluated exactly on {view.split}.")
    v.ship(view, ("heatmaps", method), shipped, index)
else:
    v.live(render, plan, view)

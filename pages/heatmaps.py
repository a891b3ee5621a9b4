"""Per-group heatmaps: groups × λ for accuracy and group-vs-rest DPD / EOD (Figure 3)."""

import pandas as pd
import streamlit as st

from pages import _view as v
from taskfair import grid, plots
from taskfair.metrics import SMALL_CELL_ROWS, worst_cell
from taskfair.sweep import (
    concat_rows,
    curve_plan,
    injected_rows,
    injection_settings,
    task_addition_settings,
)

view = v.setup(
    "heatmaps",
    "Per-group heatmaps",
    "Each cell is one subgroup at one λ: its accuracy, and its DPD / EOD against the rest of "
    "the grouped rows (g vs not-g). Colour scales are fixed, so colours compare across views. "
    "Blank cells (n/a) are groups too small or one-class there: never shown as 0. Hover a cell "
    "for its 95% bootstrap band and n; ⚠ above a column marks a degenerate (nearly constant) "
    "predictor, whose zero disparities are not fairness.",
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


# Intersections (two attributes in the eval rows) are read for task addition: an injected
# group's own cells have no intersection counterpart.
crossed = view.over if method == "task_addition" else None
if view.over and not crossed:
    st.caption("Intersections are shown for task addition; injection reads its injected group.")


def frame() -> pd.DataFrame:
    if crossed:
        return concat_rows([store.intersection_rows(s, view.split, crossed) for s in settings])
    rows = concat_rows([store.with_bands(s, view.split) for s in settings])
    return rows if method == "task_addition" else injected_rows(rows)


def render(k):
    df = frame()
    n_done = sum(store.has(s, view.split) for s in settings)
    st.caption(f"{n_done} of {len(settings)} settings evaluated exactly on {view.split}.")
    cells = None
    if crossed and not df.empty:
        cells = sorted(g for g in df["group"].unique() if g != "__overall__")
    # Stacked full width, like the paper's Figure 3: every cell stays wide enough to print.
    for metric in ("accuracy", "vs_rest_dpd", "vs_rest_eod"):
        fig = plots.group_heatmap(
            df,
            metric,
            split=view.split,
            normalize=norm_label,
            groups=cells if crossed else store.groups,
            x_label="λ" if method == "task_addition" else "λ (injected)",
            min_n=SMALL_CELL_ROWS if crossed else None,
            y_label=" × ".join(crossed) if crossed else "group",
        )
        st.plotly_chart(fig, width="stretch", key=f"heat-{metric}-{k}")
    if crossed and not df.empty:
        st.markdown(
            f"**Worst intersection per λ** (among cells of at least {SMALL_CELL_ROWS} rows; "
            "smaller cells are marked with their n above, never named)"
        )
        st.dataframe(worst_table(df), hide_index=True, width="stretch", key=f"worst-{k}")


def worst_table(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for lam, part in df[df["group"] != "__overall__"].groupby("lam"):
        table = part.set_index("group")
        row = {"λ": f"{lam:g}"}
        for metric, label in (
            ("accuracy", "lowest accuracy"),
            ("vs_rest_dpd", "largest DPD vs rest"),
        ):
            w = worst_cell(table, metric, SMALL_CELL_ROWS)
            row[label] = f"{w[0]} ({w[1]:.3f}, n = {w[2]})" if w else "none large enough"
        out.append(row)
    return pd.DataFrame(out)


v.live(render, plan, view)

"""Per-group heatmaps: groups × λ for accuracy and group-vs-rest DPD / EOD (Figure 3)."""

import pandas as pd
import streamlit as st

from dashboard import view as v
from taskfair import grid, plots
from taskfair.metrics import OVERALL, SMALL_CELL_ROWS, worst_cell
from taskfair.sweep import (
    concat_rows,
    curve_plan,
    injected_rows,
    injection_settings,
    task_addition_settings,
)
from taskfair.views.ship import Position, ship_view, view_json

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
    lams = grid.LAMBDA_GRID
    settings = task_addition_settings(store.groups, lams, view.normalize)
    norm_label = view.normalize
else:
    lams = grid.INJECTION_GRID
    settings = injection_settings(store.groups, lams)
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


METRICS = ("accuracy", "vs_rest_dpd", "vs_rest_eod")


def heatmap(df, metric, highlight=None, cells=None):
    """One metric's heatmap; ``cells`` are the intersections' rows when reading them."""
    return plots.group_heatmap(
        df,
        metric,
        split=view.split,
        normalize=norm_label,
        groups=cells if crossed else store.groups,
        x_label="λ" if method == "task_addition" else "λ (injected)",
        highlight=highlight,
        min_n=SMALL_CELL_ROWS if crossed else None,
        y_label=" × ".join(crossed) if crossed else "group",
    )


def render(k):
    df = frame()
    n_done = sum(store.has(s, view.split) for s in settings)
    st.caption(f"{n_done} of {len(settings)} settings evaluated exactly on {view.split}.")
    cells = None
    if crossed and not df.empty:
        cells = sorted(g for g in df["group"].unique() if g != OVERALL)
    # Stacked full width, like the paper's Figure 3: every cell stays wide enough to print.
    for metric in METRICS:
        st.plotly_chart(heatmap(df, metric, cells=cells), width="stretch", key=f"heat-{metric}-{k}")
    if crossed and not df.empty:
        st.markdown(
            f"**Worst intersection per λ** (among cells of at least {SMALL_CELL_ROWS} rows; "
            "smaller cells are marked with their n above, never named)"
        )
        st.dataframe(worst_table(df), hide_index=True, width="stretch", key=f"worst-{k}")


def worst_table(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for lam, part in df[df["group"] != OVERALL].groupby("lam"):
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


# Intersections are drawn by the server: the shipped table reads the trained attribute's
# groups, and a table of other rows than the heatmaps' would misread.
if not crossed and v.scrub_ready(view, plan):
    # The column shown first: the link's λ, or the nearest column of this grid.
    want = v.url_value("lam", v.DEFAULT_LAM)
    index = min(range(len(lams)), key=lambda j: abs(lams[j] - want))
    st.caption(f"{len(settings)} of {len(settings)} settings evaluated exactly on {view.split}.")
    v.ship(view, ("heatmaps", method), shipped, index)
else:
    v.live(render, plan, view)

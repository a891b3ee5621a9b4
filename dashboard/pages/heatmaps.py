"""Per-group heatmaps: groups × λ for accuracy and group-vs-rest DPD / EOD (Figure 3)."""

import pandas as pd
import streamlit as st

from dashboard import view as v
from taskfair.metrics import OVERALL, SMALL_CELL_ROWS, worst_cell
from taskfair.views.heatmaps import METRICS, HeatmapsModel
from taskfair.views.ship import view_json

view = v.setup("heatmaps", HeatmapsModel.TITLE, HeatmapsModel.CAPTION)
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

# Intersections (two attributes in the eval rows) are read for task addition: an injected
# group's own cells have no intersection counterpart.
crossed = view.over if method == "task_addition" else None
if view.over and not crossed:
    st.caption("Intersections are shown for task addition; injection reads its injected group.")
model = HeatmapsModel(store, view.split, view.normalize, method, crossed)
lams, settings, plan = model.lams, model.settings, model.plan()


def render(k):
    df = model.frame()
    st.caption(model.evaluated_caption())
    cells = None
    if crossed and not df.empty:
        cells = sorted(g for g in df["group"].unique() if g != OVERALL)
    # Stacked full width, like the paper's Figure 3: every cell stays wide enough to print.
    for metric in METRICS:
        st.plotly_chart(
            model.heatmap(df, metric, cells=cells), width="stretch", key=f"heat-{metric}-{k}"
        )
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


# Intersections are drawn by the server: the shipped table reads the trained attribute's
# groups, and a table of other rows than the heatmaps' would misread.
if not crossed and v.scrub_ready(view, plan):
    # The column shown first: the link's λ, or the nearest column of this grid.
    want = v.url_value("lam", v.DEFAULT_LAM)
    index = min(range(len(lams)), key=lambda j: abs(lams[j] - want))
    st.caption(model.evaluated_caption())
    v.ship(view, model.key(), lambda: view_json(model.ship()), index)
else:
    v.live(render, plan, view)

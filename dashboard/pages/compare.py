"""Compare methods: FFT vs LoRA vs task addition at the chosen λ, across seeds; vector geometry."""

import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair import plots
from taskfair.errors import USER_ERRORS
from taskfair.views.compare import GROUP_METRICS, CompareModel

view = v.setup("compare", CompareModel.TITLE, CompareModel.CAPTION)
seeds = view.bundle.seeds
lam = v.lam_slider(help="Task addition's λ for the comparison (shared with the Trade-off page).")
v.off_grid_note({"λ": lam})
stores = {s: ac.store(view.path, s) for s in seeds}
model = CompareModel(stores, view.seed, view.split, view.normalize)
settings = model.settings(lam)
plan = model.plan(lam)


def render(k):
    df, known, total = model.frame(lam)
    st.caption(model.counted(known, total))
    if df.empty:
        st.info("Evaluating the first points…")
        return
    st.plotly_chart(model.overall_figure(df), width="stretch", key=f"overall-{k}")
    caption = model.degenerate_caption(df, escape=v.say)
    if caption:
        st.caption(caption)
    for line in model.paired(lam):
        st.markdown(line)
    cols = st.columns(len(GROUP_METRICS))
    for col, metric in zip(cols, GROUP_METRICS, strict=True):
        with col:
            fig = model.group_figure(df, metric)
            st.plotly_chart(fig, width="stretch", key=f"groups-{metric}-{k}")


v.live(
    render,
    plan,
    view,
    current=[(settings[view.seed][-1], view.split, view.seed)],
    explicit=v.off_grid(lam),
)

st.subheader("Task-vector geometry")
if not view.bundle.has_weights:
    st.info("Vector norms and cosines need the bundle's weights, which this copy does not ship.")
else:
    try:
        geo = ac.geometry(view.path, view.seed)
    except USER_ERRORS as exc:
        v.error(exc)
    else:
        g1, g2 = st.columns(2)
        with g1:
            st.plotly_chart(plots.norms_figure(geo["norms"], seed=view.seed), width="stretch")
        with g2:
            st.plotly_chart(
                plots.cosine_figure(geo["names"], geo["cosine"], seed=view.seed), width="stretch"
            )
        st.caption(
            "Cosine similarity of flattened weight differences. Subgroup vectors that point the "
            "same way add up under task addition; near-orthogonal ones barely interact."
        )

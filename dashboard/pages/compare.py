"""Compare methods: FFT vs LoRA vs task addition at the chosen λ, across seeds; vector geometry."""

import pandas as pd
import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair import plots
from taskfair.errors import USER_ERRORS
from taskfair.sweep import compare_plan, reference_settings, task_addition_settings

view = v.setup(
    "compare",
    "Compare methods",
    "FFT and LoRA against task addition at the chosen λ, per group and overall. With several "
    "seeds, bars are seed means and error bars one standard error across seeds. Cross-hatched "
    "bars are degenerate (nearly constant) predictors. The paired bootstrap below compares "
    "each method with FFT on the same resampled rows.",
)
seeds = view.bundle.seeds
lam = v.lam_slider(help="Task addition's λ for the comparison (shared with the Trade-off page).")
v.off_grid_note({"λ": lam})
stores = {s: ac.store(view.path, s) for s in seeds}
settings = {
    s: [
        *[r for r in reference_settings(st_.names) if r.method != "base"],
        *task_addition_settings(st_.groups, [lam], view.normalize),
    ]
    for s, st_ in stores.items()
}
plan = compare_plan(settings, view.split)


def render(k):
    parts = [
        r for s in seeds for x in settings[s] if (r := stores[s].rows(x, view.split)) is not None
    ]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    n_total = sum(len(x) for x in settings.values())
    st.caption(
        f"{len(parts)} of {n_total} method × seed points evaluated on {view.split} "
        f"({len(seeds)} seed{'s' if len(seeds) > 1 else ''}: {', '.join(map(str, seeds))})."
    )
    if df.empty:
        st.info("Evaluating the first points…")
        return
    st.plotly_chart(
        plots.compare_overall_figure(df, split=view.split, normalize=view.normalize),
        width="stretch",
        key=f"overall-{k}",
    )
    v.degenerate_caption(df, mark="cross-hatched bars")
    own = stores[view.seed]
    # Against the ordinary FFT and, in a variant's bundle, the matched one (fft_balanced).
    for fft in [x for x in settings[view.seed] if x.method in ("fft", "fft_balanced")]:
        for x in settings[view.seed]:
            if x.method in ("fft", "fft_balanced"):
                continue
            line = v.paired_lines(own.paired(x, fft, view.split))
            label = f"task addition λ = {lam:g}" if x.method == "task_addition" else x.method
            if line:
                st.markdown(f"*{label}* against *{fft.method}* (seed {view.seed}) — {line}")
    cols = st.columns(3)
    for i, metric in enumerate(("accuracy", "vs_rest_dpd", "vs_rest_eod")):
        with cols[i]:
            fig = plots.compare_groups_figure(
                df,
                metric,
                split=view.split,
                normalize=view.normalize,
                groups=stores[view.seed].groups,
            )
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

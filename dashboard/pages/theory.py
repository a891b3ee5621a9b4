"""Theory: Proposition 1's DPD bound (shape, with an estimated L) beside the measured curve."""

import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair import grid, plots
from taskfair.analysis import bound
from taskfair.sweep import concat_rows, curve_plan, overall, task_addition_settings
from taskfair.views.readings import lipschitz

view = v.setup(
    "theory",
    "Theory: the fairness bound",
    "DPD(θ(λ)) ≤ 2L Σ_g |λ_g − 1| ‖τ_g‖, measured from the fully merged point θ(1).",
)
store = view.store
c1, c2 = st.columns([1, 1])
with c1:
    offset_form = st.toggle(
        "Triangle-inequality form (add DPD(θ(1)))",
        key="offset",
        bind="query-params",
        help="The stated bound treats θ(1) as parity; this form adds its measured DPD.",
    )
with c2:
    estimator = st.radio(
        "L estimated from",
        ["per_example", "group_mean"],
        captions=["largest change of any row's score", "largest change of a group's mean score"],
        key="estimator",
        bind="query-params",
        horizontal=True,
    )
curve = task_addition_settings(store.groups, grid.LAMBDA_GRID, view.normalize)
plan = curve_plan(curve, view.split)


def render(k):
    measured = concat_rows([store.with_bands(s, view.split) for s in curve])
    est = None
    if view.bundle.has_weights:
        with st.spinner("Estimating L from the exact points…"):
            est = lipschitz(store, curve, view.split, ac.geometry(view.path, view.seed), estimator)
    if est is None:
        st.info("The bound needs the vector norms and at least two exact points (and the weights).")
        st.plotly_chart(
            plots.bound_figure([], [], measured, split=view.split, normalize=view.normalize),
            width="stretch",
            key=f"bound-{k}",
        )
        return
    top = overall(store.rows(curve[-1], view.split)) if offset_form else {}
    offset = float(top.get("dpd") or 0.0) if offset_form else 0.0
    with st.spinner("Computing the vectors' norms (once)…"):
        geo = ac.geometry(view.path, view.seed)
    norms = {g: geo["norms"][g] for g in store.groups}
    b = bound.dpd_bound_curve(grid.LAMBDA_GRID, norms, est.L, view.normalize, offset=offset)
    fig = plots.bound_figure(
        b["lam"].tolist(),
        b["bound"].tolist(),
        measured,
        split=view.split,
        normalize=view.normalize,
        lipschitz=est.L,
        references=store.reference_rows(view.split),
        positive_label=view.positive_label,
    )
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(fig, width="stretch", key=f"bound-{k}")
        v.degenerate_caption(measured)
    with right:
        st.markdown(
            f"**L̂ = {est.L:.4g}** from {est.n_pairs} pairs of adjacent exact λ ({estimator.replace('_', ' ')}); "
            f"Σ_g ‖τ_g‖ = {sum(norms.values()):.4g} over {len(norms)} subgroup vectors"
            + (f"; offset DPD(θ(1)) = {offset:.4f}" if offset_form else "")
            + "."
        )
        st.markdown("**Assumption.** " + bound.ASSUMPTION)
        with st.expander("How L is estimated"):
            st.write(est.note)
        with st.expander("Why no EOD bound"):
            st.write(bound.EOD_NOTE)


v.live(render, plan, view)

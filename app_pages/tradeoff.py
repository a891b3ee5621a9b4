"""Trade-off: steer the global λ of task addition and watch accuracy and fairness move."""

import streamlit as st

import app_cache as ac
import app_view as v
from taskfair import grid, plots
from taskfair.sweep import (
    curve_settings,
    lam_points,
    method_setting,
    overall,
    reference_settings,
    tradeoff_plan,
)
from taskfair.sweep.views import front, recommend

view = v.setup(
    "tradeoff",
    "Trade-off: accuracy and fairness versus λ",
    "θ(λ) = θ₀ + λ·Σ_g τ_g (or λ/G with mean normalisation), merged in memory on the bundle's "
    "real model. FFT and LoRA are dashed baselines; hollow markers are previews, solid ones exact.",
)
store = view.store
c1, c2, c3 = st.columns([3, 1, 1])
with c1:
    lam = v.lam_slider(help="Each value on the grid is merged and evaluated exactly (and cached).")
    method, params = v.merge_method(store.groups)
with c2:
    metric = v.metric_radio("Pareto axis")
with c3:
    show_ci = st.checkbox(
        "Bootstrap CIs",
        key="ci",
        help="95% intervals (200 resamples) for the current exact point's per-group rates.",
    )

curve = curve_settings(method.name, store.groups, grid.LAMBDA_GRID, view.normalize, params)
points = lam_points(curve)
current = method_setting(
    method.name, store.groups, {**params, "lam": lam, "normalize": view.normalize}
)
refs = [r for r in reference_settings(store.names) if r.method != "base"]
plan = tradeoff_plan(curve, current, refs, view.split, store.splits)


def curve_frame(split):
    return store.curve_frame(points, split)


def render(k):
    rows = store.curve_point(points, view.split, lam, current)
    frame = curve_frame(view.split)
    base = store.known_rows(refs, view.split)
    cur = overall(rows)
    left, right = st.columns([3, 2])
    with left:
        if frame.empty:
            st.info("No exact point yet: the first ones are being evaluated (coarse grid first).")
        fig = plots.tradeoff_figure(
            frame,
            split=view.split,
            normalize=view.normalize,
            current=cur or None,
            baselines=base,
            method_label=method.title.lower(),
        )
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
    with right:
        label = "exact" if cur.get("exact") else "preview"
        st.markdown(f"**Current point** λ = {lam:g} ({view.normalize}, {view.split}) — *{label}*")
        v.metrics(cur)
        if cur and not cur.get("exact"):
            err = store.preview_error(points, view.split)
            if err:
                st.caption(
                    f"Preview: logits interpolated between the nearest exact λ. Measured error "
                    f"({err['scheme']}, {len(err['points'])} points): predictions agree on "
                    f"{err['agreement']:.1%}; max |Δacc| {err['d_accuracy']:.3f}, |ΔDPD| "
                    f"{err['d_dpd']:.3f}, |ΔEOD| {err['d_eod']:.3f}."
                )
            else:
                st.caption(
                    "Preview: interpolated between the nearest exact λ (its error is measured "
                    "once three exact points exist)."
                )
        ci = None
        if show_ci and cur.get("exact"):
            with st.spinner("Bootstrapping…"):
                ci = ac.bootstrap(store, current, view.split)
        st.dataframe(
            v.group_table(rows, ci), column_config=v.TABLE_CONFIG, width="stretch", key=f"table-{k}"
        )
        for note in (store.warnings(current, view.split) if cur.get("exact") else [])[:3]:
            st.caption(f"⚠ {note}")
    st.subheader("Pareto view")
    rec = recommend(store, curve, refs, metric)
    shown = None
    if rec is not None:
        at = method_setting(
            method.name, store.groups, {**params, "lam": rec["lam"], "normalize": view.normalize}
        )
        shown = overall(store.rows(at, view.split))
        shown = {**shown, "lam": rec["lam"]} if shown else None
    fig = plots.pareto_figure(
        frame,
        x=metric,
        y="accuracy",
        split=view.split,
        normalize=view.normalize,
        front=front(frame, metric),
        recommended=shown,
        current=cur or None,
        baselines=base,
    )
    p1, p2 = st.columns([3, 2])
    with p1:
        st.plotly_chart(fig, width="stretch", key=f"pareto-{k}")
    with p2:
        if rec is None:
            st.info(
                "The recommended λ is chosen on the validation split once its grid is evaluated."
            )
        else:
            st.markdown(
                f"**Recommended λ = {rec['lam']:g}** — {rec['text']}  \n"
                f"Shown on **{view.split}**: accuracy {v.fmt(shown.get('accuracy') if shown else None)}, "
                f"{metric.upper()} {v.fmt(shown.get(metric) if shown else None)}."
            )


v.live(render, plan, view, current=[(current, view.split)])

"""Trade-off: steer the global λ of task addition and watch accuracy and fairness move."""

import pandas as pd
import streamlit as st

import app_cache as ac
from pages import _view as v
from taskfair import grid, plots

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
with c2:
    metric = v.metric_radio("Pareto axis")
with c3:
    show_ci = st.checkbox(
        "Bootstrap CIs",
        key="ci",
        help="95% intervals (200 resamples) for the current exact point's per-group rates.",
    )

curve = ac.curve_settings(store, grid.LAMBDA_GRID, view.normalize)
current = ac.task_addition(store, lam, view.normalize)
refs = ac.references(store)
other = [s for s in store.splits if s != view.split]


def pending():
    coarse = [s for s in curve if s.lam in grid.COARSE_GRID]
    fine = [s for s in curve if s.lam not in grid.COARSE_GRID]
    plan = (
        [(current, view.split)]
        + [(s, view.split) for s in coarse]  # a first complete (coarse) curve
        + [(r, view.split) for r in refs]  # its baselines
        + [(s, view.split) for s in fine]  # the refined curve
        + [(s, o) for o in other for s in coarse + fine]  # validation: the recommended λ
        + [(r, o) for o in other for r in refs]
    )
    return [p for p in v.dedupe(plan) if not store.has(*p)]


def point(setting, split):
    """Exact rows if evaluated, else a preview between the nearest exact λ (or None)."""
    rows = store.rows(setting, split)
    if rows is None:
        rows = ac.curve_preview(store, ac.lam_points(curve), split, setting.lam, setting)
    return rows


def curve_frame(split):
    parts = [r for s in curve if (r := point(s, split)) is not None]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def render(k):
    rows = point(current, view.split)
    frame = curve_frame(view.split)
    base = ac.known_rows(store, refs, view.split)
    cur = ac.overall(rows)
    left, right = st.columns([3, 2])
    with left:
        if frame.empty:
            st.info("No exact point yet: the first ones are being evaluated (coarse grid first).")
        fig = plots.tradeoff_figure(
            frame, split=view.split, normalize=view.normalize, current=cur or None, baselines=base
        )
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
    with right:
        label = "exact" if cur.get("exact") else "preview"
        st.markdown(f"**Current point** λ = {lam:g} ({view.normalize}, {view.split}) — *{label}*")
        v.metrics(cur)
        if cur and not cur.get("exact"):
            err = ac.preview_error(store, ac.lam_points(curve), view.split)
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
    rec = ac.recommend(store, curve, refs, metric)
    shown = None
    if rec is not None:
        shown = ac.overall(
            store.rows(ac.task_addition(store, rec["lam"], view.normalize), view.split)
        )
        shown = {**shown, "lam": rec["lam"]} if shown else None
    fig = plots.pareto_figure(
        frame,
        x=metric,
        y="accuracy",
        split=view.split,
        normalize=view.normalize,
        front=ac.front(frame, metric),
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


v.live(render, pending, view, current=[(current, view.split)])

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
from taskfair.sweep.ship import Position, position_index, ship_view, view_json
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
    slider_slot = st.empty()  # the server's slider, unless the browser moves λ itself
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
refs = [r for r in reference_settings(store.names) if r.method != "base"]


def settings_at(lam):
    current = method_setting(
        method.name, store.groups, {**params, "lam": lam, "normalize": view.normalize}
    )
    return current, tradeoff_plan(curve, current, refs, view.split, store.splits)


# The browser moves λ itself when every point of the view is exact and cached (and the
# intervals, computed on demand, are not asked for); otherwise the server redraws.
lam = v.url_value("lam", v.DEFAULT_LAM)
at_index = position_index(grid.LAMBDA_GRID, lam)
current, plan = settings_at(lam)
scrub = at_index is not None and not show_ci and v.scrub_ready(view, plan)
if not scrub:
    with slider_slot:
        lam = v.lam_slider(
            help="Each value on the grid is merged and evaluated exactly (and cached)."
        )
    current, plan = settings_at(lam)


def curve_frame(split):
    return store.curve_frame(points, split)


def curves(frame, cur, base):
    return plots.tradeoff_figure(
        frame,
        split=view.split,
        normalize=view.normalize,
        current=cur or None,
        baselines=base,
        method_label=method.title.lower(),
    )


def recommendation():
    """The recommended λ (chosen on validation) and its point on the split in view."""
    rec = recommend(store, curve, refs, metric)
    shown = None
    if rec is not None:
        at = method_setting(
            method.name, store.groups, {**params, "lam": rec["lam"], "normalize": view.normalize}
        )
        shown = overall(store.rows(at, view.split))
        shown = {**shown, "lam": rec["lam"]} if shown else None
    return rec, shown


def pareto(frame, cur, base, shown):
    return plots.pareto_figure(
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


def recommendation_text(rec, shown) -> str:
    return (
        f"**Recommended λ = {rec['lam']:g}** — {rec['text']}  \n"
        f"Shown on **{view.split}**: accuracy {v.fmt(shown.get('accuracy') if shown else None)}, "
        f"{metric.upper()} {v.fmt(shown.get(metric) if shown else None)}."
    )


def render(k):
    rows = store.curve_point(points, view.split, lam, current)
    frame = curve_frame(view.split)
    base = store.known_rows(refs, view.split)
    cur = overall(rows)
    left, right = st.columns([3, 2])
    with left:
        if frame.empty:
            st.info("No exact point yet: the first ones are being evaluated (coarse grid first).")
        st.plotly_chart(curves(frame, cur, base), width="stretch", key=f"curves-{k}")
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
    rec, shown = recommendation()
    fig = pareto(frame, cur, base, shown)
    p1, p2 = st.columns([3, 2])
    with p1:
        st.plotly_chart(fig, width="stretch", key=f"pareto-{k}")
    with p2:
        if rec is None:
            st.info(
                "The recommended λ is chosen on the validation split once its grid is evaluated."
            )
        else:
            st.markdown(recommendation_text(rec, shown))


def shipped() -> str:
    """Every grid point of the view, for the browser: rows, figures and texts per λ."""
    frame = curve_frame(view.split)
    base = store.known_rows(refs, view.split)
    rec, shown = recommendation()
    positions, figures = [], []
    for x, s in points:
        rows = store.rows(s, view.split)
        cur = overall(rows)
        title = f"Current point λ = {x:g} ({view.normalize}, {view.split}) — exact"
        positions.append(Position(x, rows, title, store.warnings(s, view.split)[:3]))
        figures.append([curves(frame, cur, base), pareto(frame, cur, base, shown)])
    aside = (
        recommendation_text(rec, shown).replace("**", "").replace("  \n", " ")
        if rec is not None
        else "The recommended λ is chosen on the validation split once its grid is evaluated."
    )
    return view_json(
        ship_view(
            positions,
            figures,
            param="lam",
            label=v.LAM_LABEL,
            default=v.DEFAULT_LAM,
            decimals=v.LAM_DECIMALS,
            blocks=[
                [(3, ["slider"]), (2, [])],
                [(3, ["figure:0"]), (2, ["title", "cards", "table", "notes"])],
                [(1, ["heading:Pareto view"])],
                [(3, ["figure:1"]), (2, [f"text:{aside}"])],
            ],
        )
    )


if scrub:
    key = ("tradeoff", method.name, tuple(sorted(params.items())), metric)
    v.ship(view, key, shipped, at_index)
else:
    v.live(render, plan, view, current=[(current, view.split)])

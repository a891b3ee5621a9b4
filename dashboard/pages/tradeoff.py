"""Trade-off: steer the global λ of task addition and watch accuracy and fairness move."""

import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair import grid
from taskfair.analysis.diagnostics import diagnostic_text, store_diagnostic
from taskfair.metrics import OVERALL
from taskfair.sweep import overall, tradeoff_plan
from taskfair.sweep.settings import BASELINE_CHOICES, baseline_note, matched_variant
from taskfair.views.ship import position_index, view_json
from taskfair.views.tradeoff import TradeoffModel

view = v.setup("tradeoff", TradeoffModel.TITLE, TradeoffModel.CAPTION)
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
        help="95% intervals (Wilson) for the current exact point's per-group rates.",
    )
    with_degenerate = v.include_degenerate()
    seeds = view.bundle.seeds
    all_seeds = len(seeds) > 1 and st.checkbox(
        "All seeds (mean ± 1 SE)",
        key="seeds",
        bind="query-params",
        help="Curves as the mean over the bundle's seeds with error bars of one standard "
        "error across seeds; the band is then the 95% interval of that mean.",
    )

hold = v.link_hold()
drawn = None
if matched_variant(store.names) is not None:  # a variant's bundle: matched FFT / LoRA too
    drawn = st.selectbox("Baselines", BASELINE_CHOICES, key="baselines", bind="query-params")
model = TradeoffModel(
    store,
    view.split,
    view.normalize,
    method.name,
    params,
    metric,
    with_degenerate,
    view.positive_label,
    seed_stores=[ac.store(view.path, s) for s in seeds] if all_seeds else (),
    seed=view.seed,
    n_seeds=len(seeds),
    drawn=drawn,
)
if drawn is not None:
    st.caption(baseline_note(model.refs))
curve, points, refs = model.curve, model.points, model.refs


def settings_at(lam):
    current = model.setting(lam)
    plan = tradeoff_plan(curve, current, refs, view.split, store.splits)
    # The fine grid in the order adaptive refinement gives it: where exact neighbours
    # disagree most in fairness units first (the current point stays first).
    return current, store.refined_plan(plan, points, view.split)


# The browser moves λ itself when every point of the view is exact and cached; the
# server redraws when the view asks for what is computed per point on demand (bootstrap
# intervals of the per-group table) or read over intersections.
lam = v.url_value("lam", v.DEFAULT_LAM)
at_index = position_index(grid.LAMBDA_GRID, lam)
current, plan = settings_at(lam)
scrub = at_index is not None and not show_ci and not view.over and v.scrub_ready(view, plan)
if not scrub:
    with slider_slot.container():
        lam = v.lam_slider(
            help="Each value on the grid is merged and evaluated exactly (and cached)."
        )
        v.off_grid_note({"λ": lam})
    current, plan = settings_at(lam)


def empty_curve_note() -> str:
    """What is true of a curve with no exact point: evaluated now, on a click, or never."""
    if not view.can_evaluate:
        return (
            "No point of this curve is in the bundle's cache, and this server evaluates "
            "nothing: the curve cannot be shown here. Choose a method and parameters the "
            "bundle ships (task addition with its defaults)."
        )
    if hold is not None:
        return "No exact point yet: press the button above to evaluate this curve."
    if not st.session_state.get("refine", True):
        return "No exact point yet: turn on *Refine in background* to evaluate the curve."
    return "No exact point yet: the first ones are being evaluated (coarse grid first)."


def render(k):
    rows = store.curve_point(points, view.split, lam, current)
    frame = model.frame()
    base, references = model.baselines(), model.references()
    cur = overall(rows)
    said = model.readings(lam, current, cur, escape=v.say)
    left, right = st.columns([3, 2])
    with left:
        if frame.empty:
            st.info(empty_curve_note())
        fig = model.curves_figure(frame, cur, base, references)
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
        v.degenerate_caption(frame)
        st.caption(model.band_caption())
    with right:
        st.markdown(said.title)
        v.metrics(cur)
        if said.degenerate:
            st.warning(said.degenerate, icon=":material/warning:")
            if cur.get("exact"):  # why it collapsed: the shared shift
                diag = store_diagnostic(store, current, view.split)
                if diag is not None:
                    st.caption(diagnostic_text(diag, positive=store.positive_label or "label 1"))
        if said.paired:
            st.markdown(said.paired)
        if cur and not cur.get("exact"):
            err = store.preview_error(points, view.split)
            if err:
                st.caption(v.preview_error_caption(err))
            else:
                st.caption(
                    "Preview: interpolated between the nearest exact λ (its error is measured "
                    "once three exact points exist)."
                )
        ci = None
        if show_ci and cur.get("exact"):
            try:
                with st.spinner("Bootstrapping…"):
                    ci = ac.bootstrap(store, current, view.split, session=v.session_id())
            except ac.Busy:
                st.caption(
                    "No intervals now: the server is evaluating for other visitors (or "
                    "another tab of yours). They are computed on a later redraw."
                )
        st.dataframe(
            v.group_table(rows, ci), column_config=v.TABLE_CONFIG, width="stretch", key=f"table-{k}"
        )
        for note in said.warnings:
            st.caption(v.say(note))
        if view.over:
            intersections(k)
    st.subheader("Pareto view")
    rec, shown = model.recommendation()
    fig = model.pareto_figure(frame, cur, base, shown, references)
    p1, p2 = st.columns([3, 2])
    with p1:
        st.plotly_chart(fig, width="stretch", key=f"pareto-{k}")
        st.caption(model.degenerate_rule())
    with p2:
        text = model.recommendation_text(rec, shown)
        if rec is None:
            st.info(text)
        elif rec["lam"] is None:
            st.warning(text, icon=":material/warning:")
        else:
            st.markdown(text)


def intersections(k):
    """The current point read over the intersections of the chosen attributes: its
    DPD and EOD, the cells' table and the worst cell named."""
    crossed = store.intersection_rows(current, view.split, view.over)
    name = v.say(" × ".join(view.over))
    if crossed is None:
        st.caption(f"Over {name}: shown once the current point is exact.")
    else:
        top = overall(crossed)
        st.markdown(
            f"**Over {name}** — DPD {v.fmt(top.get('dpd'))}, EOD {v.fmt(top.get('eod'))} "
            f"across {int((crossed['group'] != OVERALL).sum())} cells"
        )
        st.dataframe(
            v.group_table(crossed),
            column_config=v.TABLE_CONFIG,
            width="stretch",
            key=f"crossed-{k}",
        )
        v.worst_caption(crossed)


def shipped() -> str:
    """Every grid point of the view, for the browser (:meth:`TradeoffModel.ship`)."""
    return view_json(model.ship())


if scrub:
    v.ship(view, model.key(), shipped, at_index)
else:
    v.live(render, plan, view, current=[(current, view.split)], explicit=v.off_grid(lam), hold=hold)

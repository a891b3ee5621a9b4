"""Trade-off: steer the global λ of task addition and watch accuracy and fairness move."""

import streamlit as st

from dashboard import cache as ac
from dashboard import view as v
from taskfair import grid, plots
from taskfair.analysis.diagnostics import diagnostic_text, store_diagnostic
from taskfair.metrics import OVERALL
from taskfair.sweep import (
    curve_settings,
    lam_points,
    method_setting,
    overall,
    reference_settings,
    tradeoff_plan,
)
from taskfair.sweep.settings import (
    BASELINE_CHOICES,
    baseline_note,
    drawn_baselines,
    matched_variant,
)
from taskfair.views.readings import front, recommend, seed_curve_frame
from taskfair.views.ship import Position, position_index, ship_view, view_json

view = v.setup(
    "tradeoff",
    "Trade-off: accuracy and fairness versus λ",
    "θ(λ) = θ₀ + λ·Σ_g τ_g (or λ/G with mean normalisation), merged in memory on the bundle's "
    "real model. FFT and LoRA are dashed baselines; hollow markers are previews, solid ones exact; "
    "crossed-out dark markers are degenerate (nearly constant) predictors; thin grey lines are the reference "
    "predictors (constant and label oracle); the shaded band is each exact point's 95% interval.",
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
curve = curve_settings(method.name, store.groups, grid.LAMBDA_GRID, view.normalize, params)
points = lam_points(curve)
refs = [r for r in reference_settings(store.names) if r.method != "base"]
if matched_variant(store.names) is not None:  # a variant's bundle: matched FFT / LoRA too
    drawn = st.selectbox("Baselines", BASELINE_CHOICES, key="baselines", bind="query-params")
    refs = drawn_baselines(refs, drawn)
    st.caption(baseline_note(refs))
fft = next((r for r in refs if r.method in ("fft", "fft_balanced")), None)


def settings_at(lam):
    current = method_setting(
        method.name, store.groups, {**params, "lam": lam, "normalize": view.normalize}
    )
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


def curve_frame(split):
    if all_seeds:
        return seed_curve_frame([ac.store(view.path, s) for s in seeds], points, split)
    return store.curve_frame(points, split, bands=True)


def band_caption(frame):
    if all_seeds:
        what = (
            f"Curves: mean of {len(seeds)} seeds, error bars one standard error across seeds; "
            "band: 95% interval of that mean"
        )
    else:
        what = (
            f"Curves: seed {view.seed}"
            + (f" of {len(seeds)} (tick *All seeds* for mean ± 1 SE)" if len(seeds) > 1 else "")
            + "; band: 95% interval"
        )
    st.caption(
        f"{what} of each exact point on the {view.split} rows (Wilson for accuracy; "
        "simultaneous group gaps projected onto max − min for DPD and EOD, which hold at a "
        "true 0; see docs/STATISTICS.md), from the cached logits; previews have none."
    )


def curves(frame, cur, base, references):
    return plots.tradeoff_figure(
        frame,
        split=view.split,
        normalize=view.normalize,
        current=cur or None,
        baselines=base,
        method_label=method.title.lower(),
        references=references,
        positive_label=view.positive_label,
    )


def recommendation():
    """The recommended λ (chosen on validation) and its point on the split in view."""
    rec = recommend(store, curve, refs, metric, include_degenerate=with_degenerate)
    shown = None
    if rec is not None and rec["lam"] is not None:
        at = method_setting(
            method.name, store.groups, {**params, "lam": rec["lam"], "normalize": view.normalize}
        )
        shown = overall(store.rows(at, view.split))
        shown = {**shown, "lam": rec["lam"]} if shown else None
    return rec, shown


def pareto(frame, cur, base, shown, references):
    return plots.view_pareto_figure(
        frame,
        metric,
        view,
        front(frame, metric, include_degenerate=with_degenerate),
        shown,
        cur,
        base,
        references,
    )


def recommendation_text(rec, shown) -> str:
    if rec["lam"] is None:
        return f"No recommendation: {rec['text']}"
    return (
        f"**Recommended λ = {rec['lam']:g}** — {rec['text']}  \n"
        f"Shown on **{view.split}**: accuracy {v.fmt(shown.get('accuracy') if shown else None)}, "
        f"{metric.upper()} {v.fmt(shown.get(metric) if shown else None)}."
    )


def degenerate_rule() -> str:
    return (
        "Degenerate points (crossed out) are "
        + ("**included** in" if with_degenerate else "left out of")
        + " the front and the recommendation"
        + ("." if with_degenerate else " (tick *Include degenerate points* to put them back).")
    )


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
    frame = curve_frame(view.split)
    base = store.known_rows(refs, view.split)
    references = store.reference_rows(view.split)
    cur = overall(rows)
    left, right = st.columns([3, 2])
    with left:
        if frame.empty:
            st.info(empty_curve_note())
        fig = curves(frame, cur, base, references)
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
        v.degenerate_caption(frame)
        band_caption(frame)
    with right:
        label = "exact" if cur.get("exact") else "preview"
        st.markdown(f"**Current point** λ = {lam:g} ({view.normalize}, {view.split}) — *{label}*")
        v.metrics(cur)
        v.degenerate_notice(cur)
        if cur.get("exact") and cur.get("degenerate"):  # why it collapsed: the shared shift
            diag = store_diagnostic(store, current, view.split)
            if diag is not None:
                st.caption(diagnostic_text(diag, positive=store.positive_label or "label 1"))
        if cur.get("exact") and fft is not None:
            # every λ of the grid reads its difference: held together (Šidák), and said so
            line = v.paired_lines(store.paired(current, fft, view.split, looks=len(points)))
            if line:
                st.markdown(line)
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
        for note in (store.warnings(current, view.split) if cur.get("exact") else [])[:3]:
            st.caption(f"⚠ {v.say(note)}")
        if view.over:
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
    st.subheader("Pareto view")
    rec, shown = recommendation()
    fig = pareto(frame, cur, base, shown, references)
    p1, p2 = st.columns([3, 2])
    with p1:
        st.plotly_chart(fig, width="stretch", key=f"pareto-{k}")
        st.caption(degenerate_rule())
    with p2:
        if rec is None:
            st.info(
                "The recommended λ is chosen on the validation split once its grid is evaluated."
            )
        elif rec["lam"] is None:
            st.warning(recommendation_text(rec, shown), icon=":material/warning:")
        else:
            st.markdown(recommendation_text(rec, shown))


def _plain(markdown: str | None) -> str | None:
    """A Markdown sentence of this page as the plain text a shipped view prints."""
    return None if markdown is None else markdown.replace("**", "").replace("  \n", " ")


def shipped() -> str:
    """Every grid point of the view, for the browser: rows, figures and texts per λ (the
    readings the server draws too: bands, reference predictors, degeneracy notes, the
    paired difference against FFT)."""
    frame = curve_frame(view.split)
    base = store.known_rows(refs, view.split)
    references = store.reference_rows(view.split)
    rec, shown = recommendation()
    positions, figures = [], []
    for x, s in points:
        rows = store.rows(s, view.split)
        cur = overall(rows)
        title = f"Current point λ = {x:g} ({view.normalize}, {view.split}) — exact"
        notes = []
        if cur.get("degenerate"):
            notes.append(
                f"Degenerate point: {cur.get('degenerate_note') or 'constant predictions'}."
            )
        paired = store.paired(s, fft, view.split, looks=len(points)) if fft else None
        against = _plain(v.paired_lines(paired))
        if against:
            notes.append(against)
        notes += [f"⚠ {n}" for n in store.warnings(s, view.split)[:3]]
        positions.append(Position(x, rows, title, notes))
        figures.append(
            [curves(frame, cur, base, references), pareto(frame, cur, base, shown, references)]
        )
    aside = (
        _plain(recommendation_text(rec, shown))
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
                [(3, ["figure:1"]), (2, [f"text:{aside}", f"text:{_plain(degenerate_rule())}"])],
            ],
        )
    )


if scrub:
    key = (
        "tradeoff",
        method.name,
        tuple(sorted(params.items())),
        metric,
        with_degenerate,
        all_seeds,
    )
    v.ship(view, key, shipped, at_index)
else:
    v.live(render, plan, view, current=[(current, view.split)], explicit=v.off_grid(lam), hold=hold)

"""Trade-off: steer the global λ of task addition and watch accuracy and fairness move."""

import streamlit as st

import app_cache as ac
from pages import _view as v
from taskfair import grid, plots
from taskfair.sweep import (
    curve_settings,
    lam_points,
    method_setting,
    overall,
    reference_settings,
    tradeoff_plan,
)
from taskfair.sweep.views import front, recommend, seed_curve_frame

view = v.setup(
    "tradeoff",
    "Trade-off: accuracy and fairness versus λ",
    "θ(λ) = θ₀ + λ·Σ_g τ_g (or λ/G with mean normalisation), merged in memory on the bundle's "
    "real model. FFT and LoRA are dashed baselines; hollow markers are previews, solid ones exact; "
    "crossed-out dark markers are degenerate (nearly constant) predictors; thin grey lines are the reference "
    "predictors (constant and label oracle); the shaded band is a 95% bootstrap over rows.",
)
store = view.store
c1, c2, c3 = st.columns([3, 1, 1])
with c1:
    lam = v.lam_slider(help="Each value on the grid is merged and evaluated exactly (and cached).")
    v.off_grid_note({"λ": lam})
    method, params = v.merge_method(store.groups)
with c2:
    metric = v.metric_radio("Pareto axis")
with c3:
    show_ci = st.checkbox(
        "Bootstrap CIs",
        key="ci",
        help="95% intervals (200 resamples) for the current exact point's per-group rates.",
    )
    with_degenerate = v.include_degenerate()
    seeds = view.bundle.seeds
    all_seeds = len(seeds) > 1 and st.checkbox(
        "All seeds (mean ± 1 SE)",
        key="seeds",
        bind="query-params",
        help="Curves as the mean over the bundle's seeds with error bars of one standard "
        "error across seeds; the band is then the row bootstrap of that mean.",
    )

curve = curve_settings(method.name, store.groups, grid.LAMBDA_GRID, view.normalize, params)
points = lam_points(curve)
current = method_setting(
    method.name, store.groups, {**params, "lam": lam, "normalize": view.normalize}
)
refs = [r for r in reference_settings(store.names) if r.method != "base"]
plan = tradeoff_plan(curve, current, refs, view.split, store.splits)
# The fine grid in the order adaptive refinement gives it: where exact neighbours disagree
# most in fairness units first (the current point stays first).
plan = store.refined_plan(plan, points, view.split)


def curve_frame(split):
    if all_seeds:
        return seed_curve_frame([ac.store(view.path, s) for s in seeds], points, split)
    return store.curve_frame(points, split, bands=True)


def band_caption(frame):
    if all_seeds:
        what = (
            f"Curves: mean of {len(seeds)} seeds, error bars one standard error across seeds; "
            "band: 95% row bootstrap of that mean"
        )
    else:
        what = (
            f"Curves: seed {view.seed}"
            + (f" of {len(seeds)} (tick *All seeds* for mean ± 1 SE)" if len(seeds) > 1 else "")
            + "; band: 95% bootstrap over rows"
        )
    st.caption(
        f"{what} (200 resamples of the {view.split} rows at each exact point, from the cached "
        "logits; previews have none)."
    )


def render(k):
    rows = store.curve_point(points, view.split, lam, current)
    frame = curve_frame(view.split)
    base = store.known_rows(refs, view.split)
    references = store.reference_rows(view.split)
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
            references=references,
            positive_label=view.positive_label,
        )
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
        v.degenerate_caption(frame)
        band_caption(frame)
    with right:
        label = "exact" if cur.get("exact") else "preview"
        st.markdown(f"**Current point** λ = {lam:g} ({view.normalize}, {view.split}) — *{label}*")
        v.metrics(cur)
        v.degenerate_notice(cur)
        fft = next((r for r in refs if r.method == "fft"), None)
        if cur.get("exact") and fft is not None:
            line = v.paired_lines(store.paired(current, fft, view.split))
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
            with st.spinner("Bootstrapping…"):
                ci = ac.bootstrap(store, current, view.split)
        st.dataframe(
            v.group_table(rows, ci), column_config=v.TABLE_CONFIG, width="stretch", key=f"table-{k}"
        )
        for note in (store.warnings(current, view.split) if cur.get("exact") else [])[:3]:
            st.caption(f"⚠ {note}")
        if view.over:
            crossed = store.intersection_rows(current, view.split, view.over)
            name = " × ".join(view.over)
            if crossed is None:
                st.caption(f"Over {name}: shown once the current point is exact.")
            else:
                top = overall(crossed)
                st.markdown(
                    f"**Over {name}** — DPD {v.fmt(top.get('dpd'))}, EOD {v.fmt(top.get('eod'))} "
                    f"across {int((crossed['group'] != '__overall__').sum())} cells"
                )
                st.dataframe(
                    v.group_table(crossed),
                    column_config=v.TABLE_CONFIG,
                    width="stretch",
                    key=f"crossed-{k}",
                )
                v.worst_caption(crossed)
    st.subheader("Pareto view")
    rec = recommend(store, curve, refs, metric, include_degenerate=with_degenerate)
    shown = None
    if rec is not None and rec["lam"] is not None:
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
        front=front(frame, metric, include_degenerate=with_degenerate),
        recommended=shown,
        current=cur or None,
        baselines=base,
        references=references,
        positive_label=view.positive_label,
    )
    p1, p2 = st.columns([3, 2])
    with p1:
        st.plotly_chart(fig, width="stretch", key=f"pareto-{k}")
        st.caption(
            "Degenerate points (crossed out) are "
            + ("**included** in" if with_degenerate else "left out of")
            + " the front and the recommendation"
            + ("." if with_degenerate else " (tick *Include degenerate points* to put them back).")
        )
    with p2:
        if rec is None:
            st.info(
                "The recommended λ is chosen on the validation split once its grid is evaluated."
            )
        elif rec["lam"] is None:
            st.warning(f"No recommendation: {rec['text']}", icon=":material/warning:")
        else:
            st.markdown(
                f"**Recommended λ = {rec['lam']:g}** — {rec['text']}  \n"
                f"Shown on **{view.split}**: accuracy {v.fmt(shown.get('accuracy') if shown else None)}, "
                f"{metric.upper()} {v.fmt(shown.get(metric) if shown else None)}."
            )


v.live(render, plan, view, current=[(current, view.split)], explicit=v.off_grid(lam))

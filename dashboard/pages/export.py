"""Export: the current view's metrics as CSV and its figures as a standalone HTML report."""

import datetime as _dt

import pandas as pd
import streamlit as st

from dashboard import view as v
from taskfair import grid, plots
from taskfair.sweep import (
    concat_rows,
    export_plan,
    overall,
    reference_settings,
    task_addition_settings,
)
from taskfair.variant import manifest_departures, variant_line
from taskfair.views.readings import front, recommend

view = v.setup(
    "export",
    "Export",
    "Download what this view shows: tidy metric rows (CSV) and the figures as one HTML file "
    "that opens offline. Only exactly evaluated points are exported. Every row carries "
    "`degenerate` / `degenerate_note` (a nearly constant predictor) and its 95% bootstrap band "
    "(`<metric>_lo` / `_hi`); the reference predictors (constant, label oracle) are rows of "
    "their own.",
)
store = view.store
c1, c2 = st.columns([3, 1])
with c1:
    lam = v.lam_slider()
    v.off_grid_note({"λ": lam})
with c2:
    metric = v.metric_radio("Pareto axis")
    with_degenerate = v.include_degenerate()
curve = task_addition_settings(store.groups, grid.LAMBDA_GRID, view.normalize)
refs = [r for r in reference_settings(store.names) if r.method != "base"]
current = task_addition_settings(store.groups, [lam], view.normalize)[0]
plan = export_plan(curve, refs, current, view.split, store.splits)


def figures(frame, base, cur, references) -> list:
    rec = recommend(store, curve, refs, metric, include_degenerate=with_degenerate)
    shown = None
    if rec is not None and rec["lam"] is not None:
        at = task_addition_settings(store.groups, [rec["lam"]], view.normalize)[0]
        shown = overall(store.rows(at, view.split))
    figs = [
        (
            "Accuracy and fairness versus λ",
            plots.tradeoff_figure(
                frame,
                split=view.split,
                normalize=view.normalize,
                current=cur or None,
                baselines=base,
                references=references,
                positive_label=view.positive_label,
            ),
        ),
        (
            "Pareto view",
            plots.view_pareto_figure(
                frame,
                metric,
                view,
                front(frame, metric, include_degenerate=with_degenerate),
                shown,
                cur,
                base,
                references,
            ),
        ),
    ]
    for m in ("accuracy", "vs_rest_dpd", "vs_rest_eod"):
        figs.append(
            (
                f"Per-group heatmap: {plots.METRIC_LABELS[m]}",
                plots.group_heatmap(
                    frame, m, split=view.split, normalize=view.normalize, groups=store.groups
                ),
            )
        )
    cmp = store.known_rows([*refs, current], view.split)
    if not cmp.empty:
        figs.append(
            (
                "Methods compared",
                plots.compare_overall_figure(cmp, split=view.split, normalize=view.normalize),
            )
        )
    return figs


def exact_rows(settings, split) -> pd.DataFrame:
    """The exact rows of ``settings`` with their band columns (missing points skipped)."""
    return concat_rows([store.with_bands(s, split) for s in settings])


def report_notes(frame, stamp: str) -> list[str]:
    """The HTML report's notes: what the view is, how its bands read, and its degenerate
    points."""
    notes = [
        f"Bundle {view.bundle.name} (model {view.bundle.model_spec.get('name')}, attribute "
        f"{view.attribute}, groups {', '.join(store.groups)}), seed {view.seed}.",
        f"Normalisation: {view.normalize}. Split shown: {view.split}. Current λ = {lam:g}. "
        "λ is recommended on the validation split and shown on the split above.",
        f"Generated {stamp} by taskfair from exactly evaluated points only.",
        "Shaded bands and error bars: 95% intervals (Wilson for rates; simultaneous group "
        "gaps projected onto max − min for DPD and EOD). Thin grey lines / hollow markers: reference predictors (constant "
        "all-positive / all-negative, label oracle).",
    ]
    top = frame[(frame["group"] == "__overall__") & frame["degenerate"].astype(bool)]
    for lam_d, note in zip(top["lam"], top["degenerate_note"], strict=True):
        notes.append(f"Degenerate point λ = {lam_d:g}: {note}.")
    if not top.empty:
        notes.append(
            "Degenerate points are "
            + ("included in" if with_degenerate else "left out of")
            + " the Pareto front and the recommendation."
        )
    return notes


def render(k):
    frame = exact_rows(curve, view.split)
    base = store.known_rows(refs, view.split)
    references = store.reference_rows(view.split)
    rows = store.with_bands(current, view.split)
    cur = overall(rows)
    everything = pd.concat(
        [exact_rows(list(dict.fromkeys([*curve, *refs, current])), s) for s in store.splits]
        + [store.reference_rows(s) for s in store.splits],
        ignore_index=True,
    )
    # The variant line travels with every exported row and heads the HTML report.
    variant = variant_line(manifest_departures(view.bundle.manifest))
    if rows is not None:
        rows = rows.assign(variant=variant)
    everything = everything.assign(variant=variant)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    name = f"taskfair-{view.bundle.name}-seed{view.seed}-{view.normalize}-{view.split}-lam{lam:g}"
    st.markdown(
        f"**View**: bundle *{v.say(view.bundle.name)}*, seed {view.seed}, attribute *{v.say(view.attribute)}*, "
        f"normalisation **{view.normalize}**, split **{view.split}**, λ = {lam:g}, Pareto axis "
        f"{metric.upper()}. {len(everything)} exact rows available."
    )
    d1, d2, d3 = st.columns(3)
    with d1:
        st.download_button(
            "Current point (CSV)",
            data=(rows.to_csv(index=False) if rows is not None else ""),
            file_name=f"{name}-point.csv",
            mime="text/csv",
            on_click="ignore",
            disabled=rows is None,
            key=f"dl-point-{k}",
            help="One row per group (and the overall row) at the current λ, with the "
            "per-group AUCs and calibration and the variant line.",
        )
    with d2:
        st.download_button(
            "All exact points of this view (CSV)",
            data=everything.to_csv(index=False),
            file_name=f"{name}-sweep.csv",
            mime="text/csv",
            on_click="ignore",
            key=f"dl-sweep-{k}",
            help="The λ grid, the baselines and the reference predictors on both splits, tidy "
            "(one row per group), with the degeneracy flag and the bootstrap bands.",
        )
    with d3:
        notes = report_notes(frame, stamp)

        def html():  # built on click only: plotly.js inlined makes it megabytes
            return plots.html_report(
                figures(frame, base, cur, references),
                title=f"taskfair report: {view.bundle.name}",
                notes=notes,
                variant=variant,
            )

        st.download_button(
            "Figures (standalone HTML)",
            data=html,
            on_click="ignore",
            file_name=f"{name}-report.html",
            mime="text/html",
            key=f"dl-html-{k}",
        )
    st.dataframe(everything.head(200), width="stretch", hide_index=True, key=f"rows-{k}")


v.live(render, plan, view, current=[(current, view.split)], explicit=v.off_grid(lam))

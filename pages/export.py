"""Export: the current view's metrics as CSV and its figures as a standalone HTML report."""

import datetime as _dt

import pandas as pd
import streamlit as st

import app_cache as ac
from pages import _view as v
from taskfair import grid, plots

view = v.setup(
    "export",
    "Export",
    "Download what this view shows: tidy metric rows (CSV) and the figures as one HTML file "
    "that opens offline. Only exactly evaluated points are exported.",
)
store = view.store
c1, c2 = st.columns([3, 1])
with c1:
    lam = v.lam_slider()
with c2:
    metric = v.metric_radio("Pareto axis")
curve = ac.curve_settings(store, grid.LAMBDA_GRID, view.normalize)
refs = ac.references(store)
current = ac.task_addition(store, lam, view.normalize)


def pending():
    plan = (
        [(current, view.split)] + [(s, view.split) for s in curve] + [(r, view.split) for r in refs]
    )
    plan += [(s, o) for o in store.splits if o != view.split for s in [*curve, *refs]]
    return [p for p in v.dedupe(plan) if not store.has(*p)]


def figures(frame, base, cur) -> list:
    rec = ac.recommend(store, curve, refs, metric)
    shown = None
    if rec is not None:
        shown = ac.overall(
            store.rows(ac.task_addition(store, rec["lam"], view.normalize), view.split)
        )
    figs = [
        (
            "Accuracy and fairness versus λ",
            plots.tradeoff_figure(
                frame,
                split=view.split,
                normalize=view.normalize,
                current=cur or None,
                baselines=base,
            ),
        ),
        (
            "Pareto view",
            plots.pareto_figure(
                frame,
                x=metric,
                split=view.split,
                normalize=view.normalize,
                front=ac.front(frame, metric),
                recommended=shown,
                current=cur or None,
                baselines=base,
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
    cmp = ac.known_rows(store, [*refs, current], view.split)
    if not cmp.empty:
        figs.append(
            (
                "Methods compared",
                plots.compare_overall_figure(cmp, split=view.split, normalize=view.normalize),
            )
        )
    return figs


def render(k):
    frame = ac.known_rows(store, curve, view.split)
    base = ac.known_rows(store, refs, view.split)
    rows = store.rows(current, view.split)
    cur = ac.overall(rows)
    everything = pd.concat(
        [ac.known_rows(store, [*curve, *refs, current], s) for s in store.splits], ignore_index=True
    )
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    name = f"taskfair-{view.bundle.name}-seed{view.seed}-{view.normalize}-{view.split}-lam{lam:g}"
    st.markdown(
        f"**View**: bundle `{view.bundle.name}`, seed {view.seed}, attribute `{view.attribute}`, "
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
            help="One row per group (and the overall row) at the current λ.",
        )
    with d2:
        st.download_button(
            "All exact points of this view (CSV)",
            data=everything.to_csv(index=False),
            file_name=f"{name}-sweep.csv",
            mime="text/csv",
            on_click="ignore",
            key=f"dl-sweep-{k}",
            help="The λ grid and the baselines on both splits, tidy (one row per group).",
        )
    with d3:
        notes = [
            f"Bundle {view.bundle.name} (model {view.bundle.model_spec.get('name')}, attribute "
            f"{view.attribute}, groups {', '.join(store.groups)}), seed {view.seed}.",
            f"Normalisation: {view.normalize}. Split shown: {view.split}. Current λ = {lam:g}. "
            "λ is recommended on the validation split and shown on the split above.",
            f"Generated {stamp} by taskfair from exactly evaluated points only.",
        ]

        def html():  # built on click only: plotly.js inlined makes it megabytes
            return plots.html_report(
                figures(frame, base, cur), title=f"taskfair report: {view.bundle.name}", notes=notes
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


v.live(render, pending, view, current=[(current, view.split)])

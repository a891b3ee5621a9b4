"""Export: the current view's metrics as CSV and its figures as a standalone HTML report."""

import datetime as _dt

import pandas as pd
import streamlit as st

import app_view as v
from taskfair import grid, plots
from taskfair.sweep import export_plan, overall, reference_settings, task_addition_settings
from taskfair.sweep.views import front, recommend

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
curve = task_addition_settings(store.groups, grid.LAMBDA_GRID, view.normalize)
refs = [r for r in reference_settings(store.names) if r.method != "base"]
current = task_addition_settings(store.groups, [lam], view.normalize)[0]
plan = export_plan(curve, refs, current, view.split, store.splits)


def figures(frame, base, cur) -> list:
    rec = recommend(store, curve, refs, metric)
    shown = None
    if rec is not None:
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
            ),
        ),
        (
            "Pareto view",
            plots.pareto_figure(
                frame,
                x=metric,
                split=view.split,
                normalize=view.normalize,
                front=front(frame, metric),
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
    cmp = store.known_rows([*refs, current], view.split)
    if not cmp.empty:
        figs.append(
            (
                "Methods compared",
                plots.compare_overall_figure(cmp, split=view.split, normalize=view.normalize),
            )
        )
    return figs


def render(k):
    frame = store.known_rows(curve, view.split)
    base = store.known_rows(refs, view.split)
    rows = store.rows(current, view.split)
    cur = overall(rows)
    everything = pd.concat(
        [store.known_rows([*curve, *refs, current], s) for s in store.splits], ignore_index=True
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


v.live(render, plan, view, current=[(current, view.split)])

"""Subgroup injection: toggle each subgroup's vector, give it its own λ_g, pick the anchor."""

import pandas as pd
import streamlit as st

import app_view as v
from taskfair import grid, plots
from taskfair.sweep import injection_plan, mix_setting, overall, reference_settings

view = v.setup(
    "injection",
    "Subgroup injection",
    "θ = anchor + Σ_g λ_g τ_g over the toggled subgroups. Anchored on FFT this is the paper's "
    "injection (θ_FFT + λ τ_g, no normalisation); anchored on the base it is task addition "
    "with one coefficient per vector. The curve varies one group's λ_g with the others fixed.",
)
store = view.store
has_fft = "fft" in store.names
controls, main = st.columns([1, 3])
with controls:
    # Plain option names: a bound widget writes the shown option into the URL (anchor=base).
    anchor = st.radio(
        "Anchor",
        ["fft", "base"] if has_fft else ["base"],
        captions=["θ_FFT + Σ λ_g τ_g", "θ₀ + Σ λ_g τ_g"] if has_fft else ["θ₀ + Σ λ_g τ_g"],
        key="anchor",
        bind="query-params",
        horizontal=True,
    )
    st.markdown("**Subgroup vectors**")
    lams = {}
    for i, g in enumerate(store.groups):
        on = st.checkbox(f"τ_{g}", value=(i == 0), key=f"on_{g}", bind="query-params")
        lam_g = st.slider(
            f"λ_{g}",
            min_value=grid.LAMBDA_MIN,
            max_value=grid.LAMBDA_MAX,
            value=0.4,
            step=grid.LAMBDA_STEP,
            key=f"lam_{g}",
            bind="query-params",
            disabled=not on,
            label_visibility="collapsed",
        )
        if on:
            lams[g] = round(float(lam_g), 10)
    along = (
        st.selectbox("Curve along", list(lams), key="along", bind="query-params") if lams else None
    )
    normalize = view.normalize if anchor == "base" else "sum"
    if anchor == "fft":
        st.caption(
            "Injection adds λ_g τ_g to FFT as is: the sidebar's normalisation does not apply."
        )

refs = reference_settings(store.names)
ref_by_method = {s.method: s for s in refs}
if lams:
    current = mix_setting(store.groups, lams, anchor, normalize)
    others = {g: x for g, x in lams.items() if g != along}
    curve = [
        mix_setting(store.groups, {**others, along: lam}, anchor, normalize)
        for lam in grid.INJECTION_GRID
    ]
    points = list(zip(grid.INJECTION_GRID, curve, strict=True))
else:  # nothing toggled: the anchor itself
    current = ref_by_method["fft" if anchor == "fft" else "base"]
    curve, points, others = [], [], {}
plan = injection_plan(current, curve, refs, view.split)


def rows_at(x, setting):
    rows = store.curve_point(points, view.split, x, setting) if points else None
    rows = store.rows(setting, view.split) if rows is None else rows
    return None if rows is None else rows.assign(lam=x)


def render(k):
    x_now = lams.get(along, 0.0) if along else 0.0
    rows = rows_at(x_now, current)
    parts = [r for x, s in points if (r := rows_at(x, s)) is not None]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    base = store.known_rows(refs, view.split)
    cur = overall(rows)
    mix_text = " + ".join(f"{x:g}·τ_{g}" for g, x in lams.items()) or "nothing"
    label = "exact" if cur.get("exact") else ("preview" if cur else "not evaluated yet")
    st.markdown(f"**Current mix**: {'θ_FFT' if anchor == 'fft' else 'θ₀'} + {mix_text} — *{label}*")
    v.metrics(cur)
    if along:
        fig = plots.tradeoff_figure(
            frame,
            split=view.split,
            normalize=normalize if anchor == "base" else "none (injection)",
            current={**cur, "lam": x_now} if cur else None,
            baselines=base,
            method_label=f"vary λ_{along}",
            x_label=f"λ_{along}",
            title=f"Accuracy and fairness versus λ_{along}"
            + (
                f" (others fixed: {', '.join(f'λ_{g}={x:g}' for g, x in others.items())})"
                if others
                else ""
            ),
        )
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
    st.dataframe(
        v.group_table(rows), column_config=v.TABLE_CONFIG, width="stretch", key=f"table-{k}"
    )


with main:
    v.live(render, plan, view, current=[(current, view.split)])

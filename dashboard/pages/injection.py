"""Subgroup injection: toggle each subgroup's vector, give it its own λ_g, pick the anchor."""

import pandas as pd
import streamlit as st

from dashboard import view as v
from taskfair import grid, plots
from taskfair.sweep import injection_plan, mix_setting, overall, reference_settings
from taskfair.views.ship import Position, position_index, ship_view, view_json

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
    ons, slots = {}, {}
    for i, g in enumerate(store.groups):
        # Widget labels are Markdown: a group name is shown as the text it is.
        ons[g] = st.checkbox(v.say(f"τ_{g}"), value=(i == 0), key=f"on_{g}", bind="query-params")
        slots[g] = st.empty()  # λ_g's slider (unless the browser moves it: see below)
    toggled = [g for g in store.groups if ons[g]]
    along = (
        st.selectbox("Curve along", toggled, key="along", bind="query-params") if toggled else None
    )
    normalize = view.normalize if anchor == "base" else "sum"
    if anchor == "fft":
        st.caption(
            "Injection adds λ_g τ_g to FFT as is: the sidebar's normalisation does not apply."
        )

LAM_DEFAULT = 0.4
refs = reference_settings(store.names)
ref_by_method = {s.method: s for s in refs}


def view_at(lams):
    """The current setting, the curve along ``along`` and the page's plan at ``lams``."""
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
    return current, curve, points, others, injection_plan(current, curve, refs, view.split)


def lam_slider(g):
    with slots[g]:
        return st.slider(
            v.say(f"λ_{g}"),
            min_value=grid.LAMBDA_MIN,
            max_value=grid.LAMBDA_MAX,
            value=LAM_DEFAULT,
            step=grid.LAMBDA_STEP,
            key=f"lam_{g}",
            bind="query-params",
            disabled=not ons[g],
            label_visibility="collapsed",
        )


# The browser moves λ_along itself over the curve's grid when every point of the view is
# exact and cached; the other groups' λ stay server sliders (each move is a new curve).
lams = {g: v.url_value(f"lam_{g}", LAM_DEFAULT) for g in toggled}
at_index = position_index(grid.INJECTION_GRID, lams[along]) if along else None
scrub = at_index is not None and v.scrub_ready(view, view_at(lams)[-1])
for g in store.groups:
    if scrub and g == along:
        slots[g].caption(v.say(f"λ_{g}: the slider above the curve"))
        continue
    value = lam_slider(g)
    if ons[g]:
        lams[g] = v.on_grid_value(value)
with controls:
    v.off_grid_note({f"λ_{g}": x for g, x in lams.items()})
current, curve, points, others, plan = view_at(lams)


def rows_at(x, setting):
    rows = store.curve_point(points, view.split, x, setting) if points else None
    rows = store.rows(setting, view.split) if rows is None else rows
    if rows is not None and rows["exact"].all():  # bands at exact points (cached records)
        rows = store.with_bands(setting, view.split)
    return None if rows is None else rows.assign(lam=x)


def mix_title(lams_now, label, markdown=True):
    """The mix in words; as Markdown (group names escaped) or as plain text (the shipped
    view prints its titles as text, never markup)."""
    mix_text = " + ".join(f"{x:g}·τ_{g}" for g, x in lams_now.items()) or "nothing"
    mix_text = v.say(mix_text) if markdown else mix_text
    return f"{'θ_FFT' if anchor == 'fft' else 'θ₀'} + {mix_text} — {label}"


def curve_figure(frame, cur, base, x_now):
    return plots.tradeoff_figure(
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
        references=store.reference_rows(view.split),
        positive_label=view.positive_label,
    )


def curve_rows():
    parts = [r for x, s in points if (r := rows_at(x, s)) is not None]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def render(k):
    x_now = lams.get(along, 0.0) if along else 0.0
    rows = rows_at(x_now, current)
    frame = curve_rows()
    base = store.known_rows(refs, view.split)
    cur = overall(rows)
    label = "exact" if cur.get("exact") else ("preview" if cur else "not evaluated yet")
    st.markdown(f"**Current mix**: {mix_title(lams, f'*{label}*')}")
    v.metrics(cur)
    v.degenerate_notice(cur)
    if along:
        fig = curve_figure(frame, cur, base, x_now)
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
        v.degenerate_caption(frame, what=f"λ_{along}")
    st.dataframe(
        v.group_table(rows), column_config=v.TABLE_CONFIG, width="stretch", key=f"table-{k}"
    )


def shipped() -> str:
    """The curve along λ_along for the browser: every grid point's rows and figure."""
    frame = curve_rows()
    base = store.known_rows(refs, view.split)
    positions, figures = [], []
    for x, s in points:
        rows = store.rows(s, view.split)
        cur = overall(rows)
        title = f"Current mix: {mix_title({**lams, along: x}, 'exact', markdown=False)}"
        positions.append(Position(x, rows, title, store.warnings(s, view.split)[:3]))
        figures.append([curve_figure(frame, cur, base, x)])
    return view_json(
        ship_view(
            positions,
            figures,
            param=f"lam_{along}",
            label=f"λ_{along}",
            default=LAM_DEFAULT,
            decimals=v.LAM_DECIMALS,
            blocks=[
                [(1, ["slider"]), (1, [])],
                [(1, ["title", "cards"])],
                [(1, ["figure:0"])],
                [(1, ["table", "notes"])],
            ],
        )
    )


with main:
    if scrub:
        key = ("injection", anchor, normalize, along, tuple(sorted(others.items())))
        v.ship(view, key, shipped, at_index)
    else:
        v.live(
            render, plan, view, current=[(current, view.split)], explicit=v.off_grid(*lams.values())
        )

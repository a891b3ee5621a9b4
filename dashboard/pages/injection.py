"""Subgroup injection: toggle each subgroup's vector, give it its own λ_g, pick the anchor."""

import streamlit as st

from dashboard import view as v
from taskfair import grid
from taskfair.sweep import overall
from taskfair.views.injection import LAM_DEFAULT, InjectionModel
from taskfair.views.ship import position_index, view_json

view = v.setup("injection", InjectionModel.TITLE, InjectionModel.CAPTION)
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


def model_at(lams) -> InjectionModel:
    """The view at ``lams`` (its current setting, curve along ``along`` and plan)."""
    return InjectionModel(
        store, view.split, anchor, normalize, dict(lams), along, view.positive_label, escape=v.say
    )


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
scrub = at_index is not None and v.scrub_ready(view, model_at(lams).plan())
for g in store.groups:
    if scrub and g == along:
        slots[g].caption(v.say(f"λ_{g}: the slider above the curve"))
        continue
    value = lam_slider(g)
    if ons[g]:
        lams[g] = v.on_grid_value(value)
with controls:
    v.off_grid_note({f"λ_{g}": x for g, x in lams.items()})
model = model_at(lams)
current, plan = model.current, model.plan()


def render(k):
    x_now = lams.get(along, 0.0) if along else 0.0
    rows = model.rows_at(x_now, current)
    frame = model.frame()
    cur = overall(rows)
    label = "exact" if cur.get("exact") else ("preview" if cur else "not evaluated yet")
    st.markdown(model.title(lams, label))
    v.metrics(cur)
    v.degenerate_notice(cur)
    if along:
        fig = model.figure(frame, cur, model.baselines(), x_now)
        st.plotly_chart(fig, width="stretch", key=f"curves-{k}")
        caption = model.degenerate_caption(frame, escape=v.say)
        if caption:
            st.caption(caption)
    st.dataframe(
        v.group_table(rows), column_config=v.TABLE_CONFIG, width="stretch", key=f"table-{k}"
    )


with main:
    if scrub:
        v.ship(view, model.key(), lambda: view_json(model.ship()), at_index)
    else:
        v.live(
            render, plan, view, current=[(current, view.split)], explicit=v.off_grid(*lams.values())
        )

"""The widget controls a page builds, each bound to the URL: the λ slider (and a
slider's value read from the link), the merge method and its parameters from the
registry, the fairness metric, and the control that lets degenerate points back in.

A link may set a method's parameters; :func:`link_hold` says which of them this session
has not yet asked to evaluate (:func:`dashboard.live.live` holds their points)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import streamlit as st

from dashboard import cache as ac
from dashboard.readings import say
from taskfair import grid
from taskfair.merge import MergeMethod, curve_methods, get_method
from taskfair.metrics import DEGENERATE_HIGH, DEGENERATE_LOW
from taskfair.views.slider import DEFAULT_LAM, LAM_FORMAT, LAM_LABEL

__all__ = [
    "METRICS",
    "include_degenerate",
    "lam_slider",
    "link_hold",
    "merge_method",
    "metric_radio",
    "off_grid",
    "off_grid_note",
    "on_grid_value",
    "snap_link_param",
    "url_value",
]

METRICS = ("dpd", "eod")


def lam_slider(
    label: str = LAM_LABEL,
    key: str = "lam",
    default: float = DEFAULT_LAM,
    help: str | None = None,
) -> float:
    """A λ slider over the grid of :mod:`taskfair.grid`, bound to the URL."""
    value = st.slider(
        label,
        min_value=grid.LAMBDA_MIN,
        max_value=grid.LAMBDA_MAX,
        value=default,
        step=grid.LAMBDA_STEP,
        format=LAM_FORMAT,
        key=key,
        bind="query-params",
        help=help,
    )
    return on_grid_value(value)


def on_grid_value(value: float) -> float:
    """A slider's value, with a grid point's float noise (and ``-0.0``) removed; a value
    off the grid (only a link can give one) is returned as is (see :func:`off_grid`)."""
    value = round(float(value), 10)
    return grid.snap(value) if grid.on_grid(value) else value


def off_grid(*values: float) -> bool:
    """Whether any of these λ values is off the sliders' grid: it came from a typed or
    edited link, and is evaluated exactly only on an explicit click (never in viewer
    mode, which serves the shipped points and previews between them)."""
    return any(not grid.on_grid(x) for x in values)


def off_grid_note(values: dict[str, float]) -> None:
    """Say which values of the link are off the grid and what is shown for them."""
    odd = ", ".join(f"{k} = {x:g}" for k, x in values.items() if not grid.on_grid(x))
    if odd:
        st.caption(
            say(
                f"{odd} (from the link) lies between the grid's points: shown as a preview "
                "between the nearest exact points"
                + ("." if ac.viewer_mode() else "; evaluate it exactly with the button.")
            )
        )


def merge_method(groups: Sequence[str]) -> tuple[MergeMethod, dict]:
    """The merge method of a λ curve and its own parameters, with controls built from the
    registry's declared parameters (:mod:`taskfair.merge.methods`); λ and the
    normalisation come from the page's slider and the sidebar. Bound to the URL as
    ``merge=<name>`` and ``<name>_<param>=<value>``."""
    methods = curve_methods()
    method = methods[0]
    if len(methods) > 1:
        # Plain option names: a bound widget writes the shown option into the URL.
        name = st.selectbox(
            "Merge method",
            [m.name for m in methods],
            key="merge",
            bind="query-params",
            help=" · ".join(f"{m.name}: {m.formula}" for m in methods),
        )
        method = get_method(name)
    linked = _linked_values()
    if len(methods) > 1:
        _note_link("merge", method.name, methods[0].name, linked)
    params = {}
    for p in method.own_params:
        key, label = f"{method.name}_{p.name}", f"{p.name} ({method.title})"
        if p.kind in ("float", "int"):
            cast = float if p.kind == "float" else int
            raw = _pending_snap(key)  # the link's value, before the widget's own
            params[p.name] = st.slider(
                label,
                min_value=cast(p.low),
                max_value=cast(p.high),
                value=cast(p.default),
                step=cast(p.step) if p.step else None,
                key=key,
                bind="query-params",
                help=p.help or None,
            )
            if raw is not None:
                snap_link_param(key, p, raw, params[p.name])
        elif p.kind == "choice":
            params[p.name] = st.radio(
                label, list(p.choices), key=key, bind="query-params", horizontal=True
            )
        elif p.kind == "group":
            params[p.name] = st.selectbox(label, list(groups), key=key, bind="query-params")
        _note_link(key, params.get(p.name), p.default, linked)
    return method, params


# Session keys: the method controls whose value came from the link (key -> value), and
# the link settings this session has asked to evaluate with the button.
_LINKED = "_taskfair_linked"
_ACCEPTED = "_taskfair_accepted"


def _linked_values() -> dict:
    return st.session_state.setdefault(_LINKED, {})


def _note_link(key: str, value, default, linked: dict) -> None:
    """Remember a control whose value the link set (its first run in this session, the
    URL naming a value other than the default); forget it once the visitor moves it."""
    if key not in linked and not st.session_state.get(f"{_LINKED}:{key}"):
        st.session_state[f"{_LINKED}:{key}"] = True  # only the first run reads the link
        if key in st.query_params and value is not None and value != default:
            linked[key] = value
    elif key in linked and linked[key] != value:
        linked.pop(key)


_SNAPPED = "_taskfair_snapped"


def _pending_snap(key: str) -> str | None:
    """Before a method parameter's slider: a value snapped on the previous run is put in
    place (and said); on the slider's first run, the link's raw value (else None)."""
    pending = st.session_state.setdefault(_SNAPPED, {})
    if key in pending:
        value, note = pending.pop(key)
        st.session_state[key] = value  # after the first run, session state wins the URL
        st.caption(note)
        return None
    return st.query_params.get(key) if key not in st.session_state else None


def snap_link_param(key: str, p, raw: str, value) -> None:
    """The link's value of a numeric method parameter put on its control: clamped to
    [low, high] and rounded to the step (``dare_p=0.37`` -> 0.35, ``ties_k=3.14159`` ->
    3), so a link names only points a visitor could reach with the control. When the
    slider took another value, the page runs again with the snapped one (the URL seeds a
    widget on its first run only) and says what it changed."""
    cast = float if p.kind == "float" else int
    try:
        x = float(value)
    except (TypeError, ValueError):
        return
    low, high = float(p.low), float(p.high)
    snapped = min(max(x, low), high)
    if p.step:
        snapped = min(low + round((snapped - low) / float(p.step)) * float(p.step), high)
    snapped = cast(round(snapped, 10))
    if abs(snapped - x) <= 1e-12:
        return
    note = say(
        f"{key} = {str(raw)[:40]} (from the link) is not a value of its control "
        f"([{p.low:g}, {p.high:g}] in steps of {p.step or 'any'}): shown at {snapped:g}."
    )
    st.session_state[_SNAPPED][key] = (snapped, note)  # the widget writes the URL
    st.rerun()


def link_hold() -> tuple | None:
    """The method settings that came from the link and that this session has not asked to
    evaluate yet (a key for :func:`live`'s ``hold``), or None: a link may show a method's
    parameters, but their points are evaluated only on an explicit click."""
    linked = _linked_values()
    if not linked:
        return None
    key = tuple(sorted((k, str(x)) for k, x in linked.items()))
    return None if key in st.session_state.get(_ACCEPTED, set()) else key


def metric_radio(label: str = "Fairness metric") -> str:
    """``"dpd"`` or ``"eod"``. Bound widgets store their *shown* option in the URL, so the
    options are the plain names (no format_func) and the URL reads ``metric=EOD``."""
    chosen = st.radio(
        label,
        [m.upper() for m in METRICS],
        key="metric",
        bind="query-params",
        horizontal=True,
        help="DPD: demographic parity difference; EOD: equalized odds difference. Lower is fairer.",
    )
    return chosen.lower()


def url_value(
    key: str, default: float, low: float = grid.LAMBDA_MIN, high: float = grid.LAMBDA_MAX
) -> float:
    """A slider's value as the link gives it (the browser-side slider keeps it there), or
    ``default`` when the link has none or an unreadable one. A value outside the
    slider's range [``low``, ``high``] (``?lam=11``, ``lam=-1e308``) is refused with a
    message and dropped from the link, so the slider shows ``default``."""
    raw = st.query_params.get(key)
    try:
        x = float(raw) if raw is not None else default
    except ValueError:
        return default
    if not math.isfinite(x):
        return default
    if not low - 1e-9 <= x <= high + 1e-9:
        st.warning(
            say(
                f"{key} = {raw[:40]} (from the link) is outside the slider's range "
                f"[{low:g}, {high:g}]: showing {key} = {default:g} instead."
            ),
            icon=":material/warning:",
        )
        del st.query_params[key]
        return default
    return round(x, 10)


def include_degenerate() -> bool:
    """The control that puts degenerate points back into the Pareto front and the
    recommendation (they are left out by default), bound to the URL as ``degen``."""
    return st.checkbox(
        "Include degenerate points",
        key="degen",
        bind="query-params",
        help=f"A point whose overall selection rate is ≤ {DEGENERATE_LOW:.0%} or ≥ "
        f"{DEGENERATE_HIGH:.0%} is a (nearly) constant predictor: its DPD/EOD near 0 is no "
        "evidence of fairness. Left out of the front and the recommendation unless ticked. "
        "A group alone that extreme is flagged in the group table; its disparity counts.",
    )

"""What every page shares: the sidebar, the view's URL state, the live evaluation loop.

Not a page (``app.py`` lists the pages); imported by them. The view's state lives in
the URL: widgets are bound to query parameters (``bind="query-params"``), so a copied
link reproduces the page, the bundle, λ, the toggles, the split and the metric. A
parameter that equals its default is dropped from the URL by Streamlit.

Query parameters (every one optional):

=========== ================================================ =====================
name        meaning                                          default
=========== ================================================ =====================
page        tradeoff|heatmaps|injection|compare|steer|theory|  tradeoff
            claims|data|export
bundle      bundle name (a folder under models/, or the      TASKFAIR_BUNDLE, else
            TASKFAIR_BUNDLE folder's name)                   the first bundle
attr        sensitive attribute                              the bundle's
seed        vector seed                                      the bundle's first
split       val | test                                       test
norm        sum | mean (task-addition normalisation)         sum
lam         global λ of task addition                        0.3
metric      DPD | EOD (Pareto axis)                          DPD
anchor      base | fft (subgroup injection)                  fft
on_<g>      subgroup g's vector is in the mix (injection)    true for the first
lam_<g>     subgroup g's own λ (injection)                   0.2
along       the group whose λ the injection curve varies     first toggled group
method      addition | injection (heatmaps)                  addition
offset      true: bound in triangle-inequality form (theory) false
estimator   per_example | group_mean (theory's L)            per_example
over        groups read over one attribute or an             the bundle's attribute
            intersection, e.g. ``gender × race``
degen       true: degenerate points back in the Pareto       false
            front and the recommendation
seeds       all: curves as seed means ± 1 SE (several seeds) one
=========== ================================================ =====================
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import cache as ac
from dashboard import scrub as app_scrub
from taskfair import grid
from taskfair.data import EVAL_SPLITS
from taskfair.errors import USER_ERRORS
from taskfair.merge import NORMALIZATIONS, MergeMethod, curve_methods, get_method
from taskfair.metrics import (
    DEGENERATE_HIGH,
    DEGENERATE_LOW,
    MIN_CLASS_ROWS,
    OVERALL,
    SEPARATOR,
    SMALL_CELL_ROWS,
    worst_cell,
)
from taskfair.names import shown
from taskfair.safe_text import escape_markdown, redact_paths
from taskfair.sweep import LOADING, PointStore, work
from taskfair.sweep.plan import Item
from taskfair.sweep.refine import PREVIEW_TARGET, target_met
from taskfair.variant import manifest_departures, variant_line
from taskfair.views import notes
from taskfair.views.ship import CARDS, GROUP_COLUMNS
from taskfair.views.slider import DEFAULT_LAM, LAM_DECIMALS, LAM_FORMAT, LAM_LABEL  # noqa: F401

SPLITS = EVAL_SPLITS[::-1]  # the radio's order: test (reported) first
METRICS = ("dpd", "eod")
# One refinement step spends at most this long evaluating before it redraws, so the
# page shows progress at least this often (a single point may take longer). A fast
# machine (or a test) can raise it: TASKFAIR_REFINE_SLICE_S.
REFINE_SLICE_S = 1.0


def refine_slice_s() -> float:
    try:
        return float(os.environ.get("TASKFAIR_REFINE_SLICE_S", REFINE_SLICE_S))
    except ValueError:
        return REFINE_SLICE_S


TICK = "0.5s"
# Shown while the server's evaluation slots are all taken by other sessions.
BUSY = (
    "The server is evaluating for other visitors: exact points follow when a slot frees. "
    "Previews are shown meanwhile."
)
# Shown when a button's work is refused by the admission bound (the click must be repeated).
BUSY_CLICK = (
    "The server is evaluating for other visitors (or for another tab of yours): press the "
    "button again when it is free."
)
# Shown when a view has nothing left to evaluate (the browser test waits for it, too).
DONE = "✓ Every point of this view is exact and cached."


@dataclass(frozen=True)
class View:
    """The state every page reads: the bundle (opened) and the sidebar's choices."""

    path: str
    bundle: object
    seed: int
    split: str
    normalize: str
    attribute: str
    can_evaluate: bool
    #: the attributes whose intersections the groups are read over, or None (the
    #: bundle's own attribute)
    over: tuple[str, ...] | None = None

    @property
    def positive_label(self) -> str | None:
        """The name of class 1 (e.g. ``"toxic"``), from the bundle's manifest."""
        return self.bundle.manifest.get("dataset", {}).get("label_name")

    @property
    def store(self) -> PointStore:
        return ac.store(self.path, self.seed)

    def store_of(self, item: Item) -> PointStore:
        """The store of a plan item (items of a view over seeds carry their seed)."""
        return ac.store(self.path, item[2] if len(item) > 2 else self.seed)

    def missing(self, plan: Sequence[Item]) -> list[Item]:
        return [p for p in plan if not self.store_of(p).has(p[0], p[1])]


#: What a viewer shows for a failure that is not the user's (the details are logged).
UNEXPECTED = (
    "Something went wrong on this page (the server's log has the details). Reload the "
    "page, or open another view from the navigation."
)


def say(text: object) -> str:
    """``text`` from outside the app (a message, a name from a link or a file) ready for
    Markdown: escaped, so it reads as written; in viewer mode, server paths hidden."""
    text = str(text)
    return escape_markdown(redact_paths(text) if ac.viewer_mode() else text)


def error(exc: BaseException) -> None:
    """A user-caused failure: one clear message, the app stays up."""
    st.error(say(f"{type(exc).__name__}: {exc}"), icon=":material/error:")


_VIEW = "_taskfair_view"


def setup(slug: str, title: str, caption: str | None = None) -> View:
    """A page's title; returns the view :func:`frame` opened (app.py calls it first)."""
    st.query_params["page"] = slug
    st.title(title)
    if caption:
        st.caption(caption)
    view = st.session_state.get(_VIEW)
    if view is None:  # pragma: no cover - only if a page runs without app.py
        view = frame()
    return view


def frame() -> View:
    """The sidebar every page shares (bundle, attribute, seed, split, normalisation) and
    the opened bundle; stops the run with a message when there is no usable bundle.

    Called by app.py, not by the pages: Streamlit keeps a widget's URL binding across
    page switches only for widgets of the entrypoint script, so these choices survive
    navigation (a page's own widgets, such as λ, belong to that page).
    """
    st.session_state.pop(_VIEW, None)
    problem = ac.mode_problem()
    if problem:  # a typo must not silently mean full mode (nor open anything)
        st.error(problem, icon=":material/error:")
        st.stop()
    # Streamlit's default top padding hides half a figure on a laptop screen.
    st.html("<style>.block-container{padding-top:2.2rem}</style>")
    choices = ac.bundle_choices()
    with st.sidebar:
        raw = st.query_params.get("bundle")
        if raw is not None and raw not in choices:
            # A bound widget would silently drop an unknown value; say why instead.
            st.error(say(ac.check_bundle_name(raw) or f"Unknown bundle {shown(raw)}."))
        if not choices:
            st.error(
                "No bundle found. Build the demo with `make demo`, or build one with "
                "`python -m taskfair build --config CONFIG --out models/NAME` and set "
                "TASKFAIR_BUNDLE=models/NAME."
            )
            st.stop()
        name = st.selectbox(
            "Bundle",
            list(choices),
            key="bundle",
            bind="query-params",
            help="A built bundle: base model, task vectors, evaluation rows, cached sweeps.",
        )
    try:
        with st.spinner(f"Opening {say(name)} and checking its checksums…"):
            bundle = ac.open_bundle(choices[name])
    except USER_ERRORS as exc:
        error(exc)
        st.stop()
    variant_banner(bundle)
    with st.sidebar:
        attribute = st.selectbox(
            "Sensitive attribute",
            [bundle.attribute],
            key="attr",
            bind="query-params",
            help="Each bundle is trained for one attribute; its subgroups define the vectors.",
        )
        over = None
        others = [a for a in bundle.attributes if a != bundle.attribute]
        if others:
            # Two attributes in the eval rows: metrics can be read over their
            # intersections; the vectors stay those of the trained attribute.
            options = [bundle.attribute] + [f"{bundle.attribute}{SEPARATOR}{a}" for a in others]
            chosen = st.radio(
                "Read groups over",
                options,
                key="over",
                bind="query-params",
                help="The per-group table, the heatmaps and the current point's DPD/EOD "
                "over intersections (each cell's n shown; cells under "
                f"{SMALL_CELL_ROWS} rows are marked, not coloured). Curves and the "
                "recommendation stay on the trained attribute.",
            )
            if chosen != bundle.attribute:
                over = tuple(chosen.split(SEPARATOR))
        seeds = bundle.seeds
        seed = (
            st.selectbox("Seed", seeds, key="seed", bind="query-params")
            if len(seeds) > 1
            else seeds[0]
        )
        split = st.radio(
            "Split",
            SPLITS,
            key="split",
            bind="query-params",
            horizontal=True,
            help="λ is *chosen* on val and *reported* on test.",
        )
        normalize = st.radio(
            "Normalisation",
            NORMALIZATIONS,
            key="norm",
            bind="query-params",
            horizontal=True,
            help="sum: θ₀ + λ Σ_g τ_g (the paper's code). mean: θ₀ + λ/G Σ_g τ_g (its theory).",
        )
        st.divider()
        can = ac.can_evaluate(bundle)
        if can:
            # Defaults through session state (not value=), so a test or a callback can set
            # them before the widget exists without Streamlit's double-default warning.
            st.session_state.setdefault("auto_exact", True)
            st.session_state.setdefault("refine", True)
            st.toggle(
                "Exact on release",
                key="auto_exact",
                help="Evaluate the merged model exactly as soon as a slider is released "
                "(the preview is drawn first). Off: use the button.",
            )
            st.toggle(
                "Refine in background",
                key="refine",
                help="Evaluate the rest of the λ grid point by point (coarse grid first); "
                "every exact point is cached on disk.",
            )
            st.caption(
                f"Device: **{ac.device_name()}** · mode: {'viewer' if ac.viewer_mode() else 'full'}"
            )
        elif not bundle.has_weights:
            st.info(
                "This bundle has no model weights: exact points come from its cached sweeps "
                "and anything else is a preview."
            )
        else:
            st.info(
                "Read-only viewer: exact points are the bundle's shipped sweeps; anything "
                "between them is a preview (hollow markers). Nothing is evaluated here."
            )
    view = View(choices[name], bundle, int(seed), split, normalize, attribute, can, over)
    st.session_state[_VIEW] = view
    return view


def variant_banner(bundle) -> None:
    """Every page's line naming how this bundle departs from the paper's method (none
    drawn for the paper's method): :func:`taskfair.variant.variant_line`."""
    line = variant_line(manifest_departures(bundle.manifest))
    if line:
        st.warning(say(line), icon=":material/science:")


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


def session_id() -> str:
    """This browser session's id (one per tab), for the admission bound."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else str(id(st.session_state))


_session = session_id


def live(
    render: Callable[[int], None],
    plan: Sequence[Item],
    view: View,
    *,
    current: Sequence[Item] = (),
    explicit: bool = False,
    hold: tuple | None = None,
) -> None:
    """Draw now, then evaluate the plan's missing points and redraw, without freezing.

    ``render(k)`` draws the page's figures from what is known (exact points solid,
    previews hollow); it may be called twice in one run (before and after evaluating),
    so its elements need keys that include ``k`` (two identical charts in one run would
    otherwise collide). ``plan`` lists the points the view reads, most wanted first
    (:mod:`taskfair.sweep.plan`). ``current`` are the points the user is looking at: they
    are evaluated on release (or on the button). The rest is refined in the background:
    the body is a fragment that reruns itself every :data:`TICK` while work remains,
    each run spending about :data:`REFINE_SLICE_S` on exact evaluation, so the figure
    grows point by point and a slider move interrupts it between two batches.

    ``explicit``: the current points came from a link, off the grid: they are evaluated
    only when the button is pressed (never on release, never in the background), so a
    link cannot make the server evaluate arbitrary points. Evaluation is admitted per
    session and overall (:mod:`taskfair.views.admission`); a refused session shows
    previews, says the server is busy and asks again on its next refresh.

    ``hold`` (:func:`link_hold`): the merge method or its parameters came from the link
    and the session has not asked for them: nothing is evaluated (neither the current
    point nor the curve) until the visitor presses the button, which accepts them for
    this session; from then on the view evaluates as usual.
    """
    if hold is not None and view.can_evaluate and view.missing(plan):
        _held(render, hold)
        return
    auto = st.session_state.get("auto_exact", True) and not explicit
    refine = st.session_state.get("refine", True)
    current_set = set(current)

    def pending() -> list[Item]:
        todo = view.missing(plan) if view.can_evaluate else []
        # Off-grid current points only ever on the button: not in the background either.
        return [p for p in todo if p not in current_set] if explicit else todo

    todo = pending()
    want_current = [p for p in current if p in set(todo)]
    background = [p for p in todo if p not in set(want_current)]
    run_every = (
        TICK if view.can_evaluate and ((refine and background) or (auto and want_current)) else None
    )

    @st.fragment(run_every=run_every)
    def body():
        note = st.empty()  # the preview notice and its button (kept while refining)
        status = st.empty()  # progress, then what is left
        alert = st.empty()  # a cache that cannot be written
        holder = st.empty()
        with holder.container():
            render(0)

        def unwritten() -> None:  # shown on every run while the store cannot write
            if view.store.write_error:
                alert.warning(say(view.store.write_error), icon=":material/warning:")

        unwritten()
        todo_now = pending()
        cur = [p for p in current if p in set(todo_now)]
        if explicit and view.can_evaluate:
            cur = view.missing(list(current))
        go_current = bool(cur) and auto
        if cur and explicit:
            with note.container():
                st.info(
                    "This link asks for a point off the grid: it is shown as a **preview** "
                    "(hollow marker). Evaluate it exactly with the button."
                )
                go_current = st.button("Evaluate exactly", type="primary", icon=":material/bolt:")
        elif cur and not auto:
            with note.container():
                st.info(
                    "Showing a **preview** at the current setting (hollow marker). Evaluate it "
                    "exactly with the button, or turn on *Exact on release*."
                )
                go_current = st.button("Evaluate exactly", type="primary", icon=":material/bolt:")
        items = cur if go_current else []
        if refine:
            items = items + [p for p in todo_now if p not in set(cur)]
        if items:
            with status.container():
                bar = st.progress(0.0, text="Evaluating…")

                def progress_for(i, n, item):
                    setting, split = item[0], item[1]
                    left = len(todo_now) - i

                    def progress(done, total, message=""):
                        if message == LOADING:
                            bar.progress(
                                0.0,
                                text="Loading the model and its task vectors (once per server)…",
                            )
                            return
                        bar.progress(
                            min(done / max(total, 1), 1.0),
                            text=f"Evaluating exactly: {setting.label()} on {split} — batch "
                            f"{done}/{total} · {left} point{'s' if left != 1 else ''} to go",
                        )

                    return progress

                with ac.admission().ticket(_session()) as admitted:
                    if not admitted:
                        n = 0
                    else:
                        try:
                            n = work(view.store_of, items, refine_slice_s(), progress_for)
                        except USER_ERRORS as exc:
                            error(exc)
                            return
            if not admitted:  # the fragment's timer asks again; a button press must be repeated
                status.caption(BUSY + (" This view retries by itself." if run_every else ""))
                return
            status.empty()
            with holder.container():
                render(1)
            unwritten()
            if len(todo_now) - n > 0 and refine:
                status.caption(
                    f"Refining: {len(todo_now) - n} point(s) left (exact points are cached)."
                )
            elif run_every is not None:
                st.rerun()  # done: redeclare the fragment without its timer
            else:
                status.caption(DONE)
        elif todo_now and not refine and not cur:
            status.caption(
                f"{len(todo_now)} point(s) not evaluated yet (background refinement is off)."
            )
        elif not view.can_evaluate:
            status.caption(
                "Exact points come from the bundle's cached sweeps; others are previews."
            )
        elif not todo_now:
            status.caption(DONE)

    body()


def _held(render: Callable[[int], None], hold: tuple) -> None:
    """Draw the view from what is cached (previews elsewhere) and offer the button that
    evaluates the link's method settings; nothing else runs."""
    what = ", ".join(f"{k} = {x}" for k, x in hold)
    st.info(
        say(
            f"This link chooses the merge method's settings ({what}), whose points are not "
            "all cached: shown from the cache and as previews. Evaluate them with the button."
        )
    )
    if st.button("Evaluate these settings", type="primary", icon=":material/bolt:"):
        st.session_state.setdefault(_ACCEPTED, set()).add(hold)
        st.rerun()
    render(0)


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


def scrub_ready(view: View, plan: Sequence[Item]) -> bool:
    """Whether the browser can move this view's slider by itself: every point of the
    plan is exact and cached (so the view can ship them all) and scrubbing is on."""
    return app_scrub.enabled() and not view.missing(plan)


def ship(view: View, key: tuple, build: Callable[[], str], index: int) -> None:
    """Draw a view shipped to the browser (``build()`` makes its JSON, once per ``key``
    for all sessions) at slider position ``index``; its moves cost the server nothing."""
    payload = ac.shipped_view(view.path, (view.seed, view.split, view.normalize, *key), build)
    app_scrub.scrub(payload, index, key=f"scrub-{key[0]}")
    st.caption(f"{DONE} The slider redraws in your browser, from these exact points.")


def metrics(point: dict) -> None:
    """Accuracy, macro accuracy, DPD and EOD of the current point, two by two (the cards
    the browser-side view draws too: :data:`taskfair.views.ship.CARDS`)."""
    for i in range(0, len(CARDS), 2):
        for col, card in zip(st.columns(2), CARDS[i : i + 2], strict=False):
            col.metric(card.label, fmt(point.get(card.key)), help=card.help)


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


def degenerate_notice(point: dict) -> None:
    """A visible warning when the current point is degenerate (its note in words)."""
    text = notes.degenerate_point(point, escape=say)
    if text:
        st.warning(text, icon=":material/warning:")


def degenerate_caption(
    frame: pd.DataFrame, what: str = "λ", mark: str = "crossed-out dark markers"
) -> None:
    """One caption naming the degenerate points of a view (:func:`notes.degenerate_caption`)."""
    text = notes.degenerate_caption(frame, what, mark, escape=say)
    if text:
        st.caption(text)


#: The paired bootstrap against a baseline in one sentence (:mod:`taskfair.views.notes`).
paired_lines = notes.paired_sentence


def preview_error_caption(err: dict) -> str:
    """The preview's measured error in fairness units beside the agreement, with the
    target and whether it is met."""
    met = target_met(err)
    return (
        f"Preview: logits interpolated between the nearest exact λ. Measured error "
        f"({err['scheme']}, {len(err['points'])} points): predictions agree on "
        f"{err['agreement']:.1%}; max |Δacc| {err['d_accuracy']:.3f}, |ΔDPD| "
        f"{err['d_dpd']:.3f}, |ΔEOD| {err['d_eod']:.3f} — target |ΔDPD|, |ΔEOD| ≤ "
        f"{PREVIEW_TARGET:g}: {'met' if met else '**not met**'}. Background refinement "
        "evaluates first where neighbouring exact points disagree most."
    )


def worst_caption(rows: pd.DataFrame, what: str = "intersection") -> None:
    """Name the worst group of a point's rows (lowest accuracy, highest DPD vs rest)
    among those with at least SMALL_CELL_ROWS rows."""
    table = rows[rows["group"] != OVERALL].set_index("group")
    parts = []
    for metric, label in (("accuracy", "lowest accuracy"), ("vs_rest_dpd", "largest DPD vs rest")):
        w = worst_cell(table, metric, SMALL_CELL_ROWS)
        if w is not None:
            parts.append(f"{label}: **{say(w[0])}** ({fmt(w[1])}, n = {w[2]})")
    small = int((table["n"] < SMALL_CELL_ROWS).sum())
    text = (
        f"Worst {what} — " + "; ".join(parts)
        if parts
        else f"No {what} has {SMALL_CELL_ROWS} rows or more: none is named the worst"
    )
    st.caption(
        text + f". {small} of {len(table)} cells have fewer than {SMALL_CELL_ROWS} rows "
        "(marked, their rates are noise)."
    )


def fmt(v, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def group_table(rows: pd.DataFrame, ci: pd.DataFrame | None = None) -> pd.DataFrame:
    """The per-group table of one point: n, accuracy, selection rate, TPR, FPR, vs-rest
    disparities (with CI columns when bootstrapped)."""
    if rows is None or rows.empty:
        return pd.DataFrame()
    t = rows[rows["group"] != OVERALL].set_index("group")
    out = t[[c.key for c in GROUP_COLUMNS]].copy()
    # how much each group can tell: its positives, negatives and (with bands) its MDD
    for col in ("n_pos", "n_neg", "mdd_selection_rate", "mdd_tpr", "mdd_fpr"):
        if col in t.columns:
            out[col] = t[col]
    out["flag"] = [_flag(r, n) for r, n in zip(t["selection_rate"], t["n"], strict=True)]
    if {"n_pos", "n_neg"} <= set(t.columns):
        small = (t["n_pos"] < MIN_CLASS_ROWS) | (t["n_neg"] < MIN_CLASS_ROWS)
        out.loc[small, "flag"] = [
            " · ".join(x for x in (f, "too small for a finding") if x) for f in out["flag"][small]
        ]
    if ci is not None and not ci.empty:
        for m in ("accuracy", "selection_rate", "tpr", "fpr"):
            if f"{m}_lo" in ci.columns:
                out[f"{m} 95% CI"] = [
                    f"[{fmt(ci.at[g, f'{m}_lo'])}, {fmt(ci.at[g, f'{m}_hi'])}]"
                    if g in ci.index
                    else "–"
                    for g in out.index
                ]
    return out


def _flag(rate, n) -> str:
    """The per-group table's badge: a group whose predictions are (nearly) one class, or
    a cell too small to read."""
    marks = []
    if pd.notna(rate) and (rate <= DEGENERATE_LOW + 1e-12 or rate >= DEGENERATE_HIGH - 1e-12):
        marks.append(f"⚠ constant ({rate:.0%} positive)")
    if n < SMALL_CELL_ROWS:
        marks.append(f"small (n < {SMALL_CELL_ROWS})")
    return " · ".join(marks)


# The columns the browser-side view's table shows too (:data:`taskfair.views.ship.GROUP_COLUMNS`).
TABLE_CONFIG = {
    c.key: st.column_config.NumberColumn(c.label, format=c.format, help=c.help)
    for c in GROUP_COLUMNS
}
TABLE_CONFIG.update(
    n_pos=st.column_config.NumberColumn("positives", format="%d"),
    n_neg=st.column_config.NumberColumn("negatives", format="%d"),
    mdd_selection_rate=st.column_config.NumberColumn(
        "MDD sel.",
        format="%.3f",
        help="Smallest selection-rate gap to the other groups "
        "this group's size could detect (80% power, 5% two-sided)",
    ),
    mdd_tpr=st.column_config.NumberColumn("MDD TPR", format="%.3f", help="The same for TPR"),
    mdd_fpr=st.column_config.NumberColumn("MDD FPR", format="%.3f", help="The same for FPR"),
)
TABLE_CONFIG["flag"] = st.column_config.TextColumn(
    "flag",
    help=f"⚠ constant: the group's selection rate is ≤ {DEGENERATE_LOW:.0%} or ≥ "
    f"{DEGENERATE_HIGH:.0%} (its rates are a constant predictor's); small: fewer than "
    f"{SMALL_CELL_ROWS} rows; too small for a finding: fewer than {MIN_CLASS_ROWS} positives "
    "or negatives.",
)

"""What every page shares: the sidebar, the view's URL state, and (re-exported) the
widget controls (:mod:`dashboard.controls`), the live evaluation loop
(:mod:`dashboard.live`) and the captions and tables (:mod:`dashboard.readings`).

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

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from dashboard import cache as ac
from dashboard.controls import (
    METRICS,
    include_degenerate,
    lam_slider,
    link_hold,
    merge_method,
    metric_radio,
    off_grid,
    off_grid_note,
    on_grid_value,
    snap_link_param,
    url_value,
)
from dashboard.live import (
    BUSY,
    BUSY_CLICK,
    DONE,
    REFINE_SLICE_S,
    TICK,
    live,
    refine_slice_s,
    scrub_ready,
    session_id,
    ship,
)
from dashboard.readings import (
    TABLE_CONFIG,
    UNEXPECTED,
    degenerate_caption,
    degenerate_notice,
    error,
    fmt,
    group_table,
    metrics,
    paired_lines,
    preview_error_caption,
    say,
    worst_caption,
)
from taskfair.data import EVAL_SPLITS
from taskfair.errors import USER_ERRORS
from taskfair.merge import NORMALIZATIONS
from taskfair.metrics import SEPARATOR, SMALL_CELL_ROWS
from taskfair.names import shown
from taskfair.sweep import PointStore
from taskfair.sweep.plan import Item
from taskfair.variant import manifest_departures, variant_line
from taskfair.views.slider import DEFAULT_LAM, LAM_DECIMALS, LAM_FORMAT, LAM_LABEL

# The pages read every shared name here (``from dashboard import view as v``): the
# controls, the live loop and the readings are re-exported from their own modules.
__all__ = [
    "BUSY",
    "BUSY_CLICK",
    "DEFAULT_LAM",
    "DONE",
    "LAM_DECIMALS",
    "LAM_FORMAT",
    "LAM_LABEL",
    "METRICS",
    "REFINE_SLICE_S",
    "SPLITS",
    "TABLE_CONFIG",
    "TICK",
    "UNEXPECTED",
    "View",
    "degenerate_caption",
    "degenerate_notice",
    "error",
    "fmt",
    "frame",
    "group_table",
    "include_degenerate",
    "lam_slider",
    "link_hold",
    "live",
    "merge_method",
    "metric_radio",
    "metrics",
    "off_grid",
    "off_grid_note",
    "on_grid_value",
    "paired_lines",
    "preview_error_caption",
    "refine_slice_s",
    "say",
    "scrub_ready",
    "session_id",
    "setup",
    "ship",
    "snap_link_param",
    "url_value",
    "variant_banner",
    "worst_caption",
]

SPLITS = EVAL_SPLITS[::-1]  # the radio's order: test (reported) first


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
    name = _bundle_name(choices)
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
        over = _read_over(bundle)
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
        can = _evaluation_controls(bundle)
    view = View(choices[name], bundle, int(seed), split, normalize, attribute, can, over)
    st.session_state[_VIEW] = view
    return view


def _bundle_name(choices: dict) -> str:
    """The sidebar's bundle selector; an unknown bundle in the link is said, and no
    bundle at all stops the run with how to build one."""
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
    return name


def _read_over(bundle) -> tuple[str, ...] | None:
    """The attributes whose intersections the groups are read over (the radio shown only
    when the eval rows carry a second attribute), or None: the trained attribute."""
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
    return over


def _evaluation_controls(bundle) -> bool:
    """Whether this server evaluates the bundle; when it does, the toggles for exact
    evaluation and background refinement, else a note on where exact points come from."""
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
    return can


def variant_banner(bundle) -> None:
    """Every page's line naming how this bundle departs from the paper's method (none
    drawn for the paper's method): :func:`taskfair.variant.variant_line`."""
    line = variant_line(manifest_departures(bundle.manifest))
    if line:
        st.warning(say(line), icon=":material/science:")

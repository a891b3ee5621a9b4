"""The live evaluation loop: draw a view now, then evaluate its missing points and
redraw (:func:`live`), under the server's admission bound; and a view shipped whole to
the browser once every point is exact (:func:`scrub_ready`, :func:`ship`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import cache as ac
from dashboard import scrub as app_scrub
from dashboard.controls import _ACCEPTED
from dashboard.readings import error, say
from taskfair.errors import USER_ERRORS
from taskfair.sweep import LOADING, work
from taskfair.sweep.plan import Item

if TYPE_CHECKING:
    from dashboard.view import View

__all__ = [
    "BUSY",
    "BUSY_CLICK",
    "DONE",
    "REFINE_SLICE_S",
    "TICK",
    "live",
    "refine_slice_s",
    "scrub_ready",
    "session_id",
    "ship",
]

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
    todo = _pending(view, plan, current, explicit)
    want_current = [p for p in current if p in set(todo)]
    background = [p for p in todo if p not in set(want_current)]
    run_every = (
        TICK if view.can_evaluate and ((refine and background) or (auto and want_current)) else None
    )
    step = _Step(render, plan, view, tuple(current), explicit, auto, refine, run_every)

    @st.fragment(run_every=run_every)
    def body():
        _run(step)

    body()


@dataclass(frozen=True)
class _Step:
    """What one run of :func:`live`'s fragment reads: the view, its plan and the settings
    of the run that declared the fragment."""

    render: Callable[[int], None]
    plan: Sequence[Item]
    view: View
    current: tuple[Item, ...]
    explicit: bool
    auto: bool
    refine: bool
    run_every: str | None


def _pending(view: View, plan: Sequence[Item], current: Sequence[Item], explicit: bool):
    """The plan's points still to evaluate (none where this server cannot evaluate)."""
    todo = view.missing(plan) if view.can_evaluate else []
    # Off-grid current points only ever on the button: not in the background either.
    return [p for p in todo if p not in set(current)] if explicit else todo


def _run(s: _Step) -> None:
    """One run of the fragment: draw, evaluate a slice of the missing points (the current
    ones first, when released or on the button), redraw, and say what is left."""
    view = s.view
    note = st.empty()  # the preview notice and its button (kept while refining)
    status = st.empty()  # progress, then what is left
    alert = st.empty()  # a cache that cannot be written
    holder = st.empty()
    with holder.container():
        s.render(0)

    def unwritten() -> None:  # shown on every run while the store cannot write
        if view.store.write_error:
            alert.warning(say(view.store.write_error), icon=":material/warning:")

    unwritten()
    todo_now = _pending(view, s.plan, s.current, s.explicit)
    cur = [p for p in s.current if p in set(todo_now)]
    if s.explicit and view.can_evaluate:
        cur = view.missing(list(s.current))
    go_current = _offer_current(note, cur, s.explicit, s.auto)
    items = cur if go_current else []
    if s.refine:
        items = items + [p for p in todo_now if p not in set(cur)]
    if not items:
        _idle_status(status, view, todo_now, s.refine, cur)
        return
    admitted, n = _evaluate(view, status, items, len(todo_now))
    if n is None:  # a user-caused failure, said
        return
    if not admitted:  # the fragment's timer asks again; a button press must be repeated
        status.caption(BUSY + (" This view retries by itself." if s.run_every else ""))
        return
    status.empty()
    with holder.container():
        s.render(1)
    unwritten()
    if len(todo_now) - n > 0 and s.refine:
        status.caption(f"Refining: {len(todo_now) - n} point(s) left (exact points are cached).")
    elif s.run_every is not None:
        st.rerun()  # done: redeclare the fragment without its timer
    else:
        status.caption(DONE)


def _offer_current(note, cur: list[Item], explicit: bool, auto: bool) -> bool:
    """Whether to evaluate the current points now: on release (``auto``), else only on
    the button, offered with a preview notice (a link's off-grid point: always)."""
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
    return go_current


def _evaluate(view: View, status, items: list[Item], n_todo: int) -> tuple[bool, int | None]:
    """Evaluate ``items`` for one slice under the admission bound, with a progress bar:
    (admitted, points done); points done is None after a user-caused failure (said)."""
    with status.container():
        bar = st.progress(0.0, text="Evaluating…")

        def progress_for(i, n, item):
            setting, split = item[0], item[1]
            left = n_todo - i

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
                return False, 0
            try:
                return True, work(view.store_of, items, refine_slice_s(), progress_for)
            except USER_ERRORS as exc:
                error(exc)
                return True, None


def _idle_status(status, view: View, todo_now: list[Item], refine: bool, cur: list[Item]) -> None:
    """What is left when nothing is evaluated in this run."""
    if todo_now and not refine and not cur:
        status.caption(
            f"{len(todo_now)} point(s) not evaluated yet (background refinement is off)."
        )
    elif not view.can_evaluate:
        status.caption("Exact points come from the bundle's cached sweeps; others are previews.")
    elif not todo_now:
        status.caption(DONE)


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

"""The dashboard's one door into taskfair: bundle discovery and every cached call.

Nothing here computes: it finds bundles and wraps library objects in Streamlit's
caches: the UI stays thin, and what sessions share is shared read-only.

* ``st.cache_resource`` holds what all sessions share read-only: the opened
  :class:`~taskfair.bundle.Bundle`, one :class:`~taskfair.sweep.Evaluator` per
  (bundle, seed) and one :class:`~taskfair.sweep.PointStore` per (bundle, seed, mode).
  The evaluator's merger owns a *private* working model and merges under its lock, so
  two users dragging different sliders never see each other's weights.
* The store keeps exact points in memory once read and on disk (``bundle/sweeps/``) once
  evaluated, except in viewer mode, where new points stay in memory; previews are
  memoised in the store (bounded).
* ``st.cache_data`` holds derived tables: bootstrap CIs and the vectors' geometry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from taskfair.bundle import MANIFEST, Bundle
from taskfair.errors import UnsafePathError
from taskfair.models import resolve_device
from taskfair.names import check_name, shown
from taskfair.sweep import Evaluator, PointStore, Setting
from taskfair.views.admission import Admission
from taskfair.views.payloads import cached_payload
from taskfair.views.readings import vector_geometry

ROOT = Path(__file__).resolve().parents[1]  # the app folder (app.py, models/)
MODELS_ROOT = ROOT / "models"
ENV_BUNDLE = "TASKFAIR_BUNDLE"
ENV_MODE = "TASKFAIR_MODE"


# ----------------------------------------------------------------------------- bundles


#: The values ``TASKFAIR_MODE`` may take (case and spaces ignored; unset: full).
MODES = ("full", "viewer")
#: ``TASKFAIR_VIEWER_BUNDLES=all``: the viewer's picker lists every bundle under
#: ``models/``, not only viewer copies.
ENV_VIEWER_BUNDLES = "TASKFAIR_VIEWER_BUNDLES"


def _mode() -> str:
    return os.environ.get(ENV_MODE, "").strip().lower()


def mode_problem() -> str | None:
    """Why ``TASKFAIR_MODE`` cannot be read (a typo: ``view``, ``read-only``), or None."""
    mode = _mode()
    if mode in ("", *MODES):
        return None
    return (
        f"TASKFAIR_MODE is set to {shown(os.environ.get(ENV_MODE, ''))[:60]}, which is not "
        f"a mode: set it to one of {', '.join(MODES)} (or unset it for full mode) and "
        "restart the server."
    )


def viewer_mode() -> bool:
    """``TASKFAIR_MODE=viewer``: the hosted read-only viewer (no paths from users). An
    unknown value counts as viewer mode (the safe side) and the pages refuse to open
    (:func:`mode_problem`)."""
    mode = _mode()
    return mode == "viewer" or mode not in ("", *MODES)


def _is_viewer_copy(folder: Path) -> bool:
    """Whether ``folder``'s manifest is an ``export-viewer`` copy's (it has ``viewer``)."""
    try:
        m = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and isinstance(m.get("viewer"), dict)


def bundle_choices() -> dict[str, str]:
    """``{name: folder}`` of the bundles the picker offers.

    ``TASKFAIR_BUNDLE`` (an operator's explicit path, any folder) comes first; then every
    folder under ``models/`` with a manifest (in viewer mode: every viewer copy, unless
    ``TASKFAIR_VIEWER_BUNDLES=all``). Users choose among these names only.
    """
    out: dict[str, str] = {}
    env = os.environ.get(ENV_BUNDLE, "").strip()
    if env:
        p = Path(env)
        if not p.is_absolute():
            p = (ROOT / p) if (ROOT / p).exists() or not p.exists() else p
        out[p.name or env] = str(p.resolve())
    # A public viewer lists viewer copies only (a full bundle holds weights and the eval
    # texts), unless the operator says otherwise.
    only_copies = viewer_mode() and os.environ.get(ENV_VIEWER_BUNDLES, "").strip() != "all"
    if MODELS_ROOT.is_dir():
        for d in sorted(MODELS_ROOT.iterdir()):
            if (d / MANIFEST).is_file() and d.name not in out and not d.name.startswith("."):
                if only_copies and not _is_viewer_copy(d):
                    continue
                out[d.name] = str(d.resolve())
    return out


def check_bundle_name(name: str) -> str | None:
    """Why a user-given bundle name (from a link) cannot be opened, or None if it can.

    Only the picker's names open. Nothing here touches the file system: a name the
    system would refuse (a NUL byte, 10,000 characters) is refused by the rule of
    :func:`taskfair.names.check_name` first, and any other name is answered the same
    whether or not a folder of that name exists on the server. The viewer answers every
    unknown name alike (it never says which rule a name broke).
    """
    choices = bundle_choices()
    if name in choices:
        return None
    if not viewer_mode():
        try:
            check_name(name, "bundle name")
        except UnsafePathError as exc:
            return str(exc)
    return f"There is no bundle named {shown(name)}. Available: {', '.join(choices) or 'none'}."


def _stamp(path: str) -> float:
    """The manifest's mtime: a rebuilt bundle is a new cache entry."""
    try:
        return (Path(path) / MANIFEST).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_bundle(path: str, stamp: float) -> Bundle:
    return Bundle.open(path, verify=True)


def open_bundle(path: str) -> Bundle:
    """The bundle at ``path``, opened and checksum-verified once per build."""
    return _open_bundle(path, _stamp(path))


@st.cache_resource(show_spinner=False, max_entries=8)
def _evaluator(path: str, stamp: float, seed: int) -> Evaluator:
    return Evaluator.from_bundle(_open_bundle(path, stamp), seed=seed)


def evaluator(path: str, seed: int) -> Evaluator:
    """The shared evaluator of (bundle, seed): base + vectors loaded once, private merger."""
    return _evaluator(path, _stamp(path), int(seed))


def can_evaluate(bundle: Bundle) -> bool:
    """Whether this server evaluates points exactly: it needs the weights, and never in
    viewer mode, which serves the shipped points (and previews between them) only, so
    that no visitor can make the server compute."""
    return bundle.has_weights and not viewer_mode()


@st.cache_resource(show_spinner=False)
def admission() -> Admission:
    """The server's one admission to exact evaluation (bounded per session and overall)."""
    return Admission()


def device_name() -> str:
    return resolve_device().type


# ----------------------------------------------------------------------------- points


def new_store(path: str, seed: int) -> PointStore:
    """A point store of (bundle, seed) as the app uses it (not cached: see :func:`store`).

    Viewer mode keeps new points in memory (the hosted viewer serves a read-only
    bundle); a bundle without weights can only serve its cache.
    """
    bundle = open_bundle(path)
    # Viewer mode: no evaluator at all, so nothing a page asks for can be evaluated.
    load = (lambda: evaluator(path, seed)) if can_evaluate(bundle) else None
    return PointStore.for_bundle(bundle, int(seed), load, persist=not viewer_mode())


@st.cache_resource(show_spinner=False, max_entries=16)
def _store(path: str, stamp: float, seed: int, viewer: bool) -> PointStore:
    return new_store(path, seed)


def store(path: str, seed: int) -> PointStore:
    """The point store every session of this server shares for (bundle, seed)."""
    return _store(path, _stamp(path), int(seed), viewer_mode())


# ----------------------------------------------------------------------------- derived


@st.cache_data(show_spinner=False, max_entries=16)
def _geometry(path: str, stamp: float, seed: int) -> dict:
    # The evaluator's vectors are already in memory (they are read-only here).
    return vector_geometry(_evaluator(path, stamp, seed).vectors)


def geometry(path: str, seed: int) -> dict:
    """Norms, Gram matrix and cosines of one seed's vectors (computed once per build)."""
    return _geometry(path, _stamp(path), int(seed))


@st.cache_data(show_spinner=False, max_entries=64)
def _bootstrap(_store: PointStore, key: str, _setting: Setting, split: str, n_boot: int):
    # The key (a content hash of the point) identifies it; the store and setting are not
    # hashed (leading underscores).
    return _store.bootstrap(_setting, split, n_boot)


@st.cache_resource(show_spinner=False)
def _bootstrapped() -> set:
    # The keys whose intervals ``_bootstrap`` holds already (reading them costs nothing).
    return set()


class Busy(Exception):
    """The admission bound refused this session's work: the server is busy."""


def bootstrap(
    store: PointStore, setting: Setting, split: str, n_boot: int = 200, session: str = ""
) -> pd.DataFrame | None:
    """Per-group bootstrap CIs (fairlearn) of an exact point, cached; None if not exact.

    Resampling costs tens of seconds of CPU on a large bundle: the first computation of a
    point goes through the admission bound (per session and overall, in both modes) and
    raises :class:`Busy` when it is refused."""
    if store.logits(setting, split) is None:
        return None
    key = store.key(setting, split)
    done = _bootstrapped()
    if (key, split, n_boot) in done:
        return _bootstrap(store, key, setting, split, n_boot)
    with admission().ticket(session) as admitted:
        if not admitted:
            raise Busy
        got = _bootstrap(store, key, setting, split, n_boot)
    done.add((key, split, n_boot))
    return got


# ----------------------------------------------------------------------------- shipped


@st.cache_resource(show_spinner=False, max_entries=64)
def _shipped(path: str, stamp: float, key: tuple, _build) -> str:
    # Exact points never change once stored, so a view shipped for these choices is the
    # same for every session; ``_build`` (not hashed) draws it the first time, unless the
    # bundle stores it already (made when the viewer copy was exported, or by an earlier
    # server; a viewer never writes into the bundle it serves).
    return cached_payload(path, key, _build, write=not viewer_mode())


def shipped_view(path: str, key: tuple, build) -> str:
    """The JSON of a view shipped to the browser (:func:`taskfair.views.ship.view_json`),
    built once per (bundle build, ``key``) by ``build()`` and shared by every session.
    ``key`` names every choice the view depends on (page, seed, split, normalisation,
    method and its parameters, ...), never the slider's own value."""
    return _shipped(path, _stamp(path), key, build)

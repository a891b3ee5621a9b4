"""The browser-side slider: a Streamlit component that draws a view shipped by the library
(:mod:`taskfair.views.ship`) and moves its slider without the server.

The component is a folder of static files served by Streamlit itself: its own
(``dashboard/assets/scrub/``: index.html, scrub.js, which speaks Streamlit's protocol),
the drawing the serverless share uses too (``taskfair/views/assets/``: view.js, view.css)
and the plotly.js that the ``plotly`` package ships (copied once per server process;
nothing is downloaded). The page sends the view once per script run; a move of the slider then
redraws in the browser and writes the value into the page's URL, and the server hears
nothing. ``TASKFAIR_SCRUB=off`` turns it off: every move is then a server redraw, as
when a view still has points to evaluate.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import plotly
import streamlit as st
import streamlit.components.v1 as components

import taskfair.views

ASSETS = Path(__file__).resolve().parent / "assets" / "scrub"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
VIEW_ASSETS = Path(taskfair.views.__file__).resolve().parent / "assets"
ENV_SCRUB = "TASKFAIR_SCRUB"


def enabled() -> bool:
    """Browser-side sliders are on unless ``TASKFAIR_SCRUB`` is off/0/false/no."""
    return os.environ.get(ENV_SCRUB, "").strip().lower() not in ("off", "0", "false", "no")


@st.cache_resource(show_spinner=False)
def _folder() -> str:
    """The component's files in one folder: Streamlit serves a component's files from one
    folder only (links out of it are refused), and plotly.js lives in the plotly package."""
    folder = Path(tempfile.mkdtemp(prefix="taskfair-scrub-"))
    atexit.register(shutil.rmtree, folder, True)
    for f in [*ASSETS.iterdir(), *VIEW_ASSETS.iterdir()]:
        if f.is_file():
            shutil.copy2(f, folder / f.name)
    shutil.copy2(PLOTLY_JS, folder / PLOTLY_JS.name)
    return str(folder)


def scrub(view_json: str, index: int, key: str) -> None:
    """Draw the shipped view ``view_json`` (:func:`taskfair.views.ship.view_json`) at
    position ``index``. The component keeps its position across reruns while the view
    stays the same and the server's ``index`` does not change."""
    component = components.declare_component("scrub", path=_folder())
    component(view=view_json, index=int(index), key=key, default=None)

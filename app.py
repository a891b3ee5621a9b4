"""taskfair dashboard: the router (and the sidebar all pages share).

Each page lives in ``dashboard/pages/`` and reads its state from ``st.query_params``; the page
itself is one of those parameters (``?page=tradeoff``), so a copied link opens the same
view. ``TASKFAIR_BUNDLE=DIR`` chooses the bundle (``make demo`` sets models/demo).
"""

import logging

import streamlit as st

from dashboard import auth as app_auth
from dashboard import cache as app_cache
from dashboard import view as _view

log = logging.getLogger("taskfair.app")

# slug -> (file, title, icon). The slug is both the URL path and the ``page`` parameter.
PAGES = {
    "tradeoff": ("dashboard/pages/tradeoff.py", "Trade-off", ":material/tune:"),
    "heatmaps": ("dashboard/pages/heatmaps.py", "Per-group heatmaps", ":material/grid_on:"),
    "injection": ("dashboard/pages/injection.py", "Subgroup injection", ":material/call_merge:"),
    "compare": ("dashboard/pages/compare.py", "Compare methods", ":material/bar_chart:"),
    "steer": ("dashboard/pages/steer.py", "Steering assistant", ":material/explore:"),
    "theory": ("dashboard/pages/theory.py", "Theory", ":material/functions:"),
    "claims": ("dashboard/pages/claims.py", "Claims report", ":material/fact_check:"),
    "data": ("dashboard/pages/data.py", "Data & model", ":material/dataset:"),
    "export": ("dashboard/pages/export.py", "Export", ":material/download:"),
}

# The icon from our own files: a material icon as page_icon is fetched from Google's fonts.
ICON = str(app_cache.ROOT / "assets" / "favicon.png")
st.set_page_config(page_title="taskfair", page_icon=ICON, layout="wide")
VIEWER = app_cache.viewer_mode()
if VIEWER:
    # A public viewer shows strangers no traceback (server paths, code), whatever the
    # deployment's config says: uncaught errors show Streamlit's generic notice, and the
    # details go to the server's log.
    st.set_option("client.showErrorDetails", "none")
# Optional password (st.secrets["password"] or TASKFAIR_PASSWORD): before any page exists.
if not app_auth.gate():
    st.stop()

# Every page has its own path (/tradeoff, /heatmaps, ...) and none of them is the default:
# a default page is served at "/" only, so a link naming it by path would meet "page not
# found". The root URL is a hidden page that opens the page the link names (``?page=``;
# an unknown value: the first page) at its own path, keeping the link's parameters.
pages = {
    slug: st.Page(path, title=title, icon=icon, url_path=slug)
    for slug, (path, title, icon) in PAGES.items()
}


def _root() -> None:
    wanted = st.query_params.get("page")
    target = pages.get(wanted) or next(iter(pages.values()))
    st.switch_page(target, query_params=st.query_params.to_dict())


root = st.Page(_root, title="taskfair", url_path="home", default=True, visibility="hidden")
page = st.navigation([root, *pages.values()])


def _draw() -> None:
    if page is not root:
        # The shared sidebar (bundle, split, normalisation) is drawn here, in the
        # entrypoint, and not by each page: only the entrypoint's widgets keep their URL
        # parameters when the user switches pages, so a link copied on any page keeps the
        # whole view.
        _view.frame()
    page.run()


if not VIEWER:
    _draw()
else:
    try:
        _draw()
    except Exception:  # a bug: Streamlit's own control flow is a BaseException, not caught
        log.exception("page %s failed", page.url_path)
        st.error(_view.UNEXPECTED, icon=":material/error:")

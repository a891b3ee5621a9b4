"""``python -m taskfair share``: a bundle's views as a static site that needs no server.

Every view the viewer ships to the browser (the Trade-off page with its Pareto view, the
heatmaps, the injection curve of each group, Compare) is packed from the bundle's cached
exact points by the views' own position models (:mod:`taskfair.views.tradeoff` and its
siblings) — the same JSON the dashboard sends its browser-side slider — and written as
one HTML page per view beside one copy of plotly.js (the ``plotly`` package's own file)
and the drawing script the dashboard uses (``dashboard/assets/scrub/view.js``). The λ
sliders move in the browser, from ``file://`` or any static host; no page asks any other
host for anything. Nothing is evaluated: a point not cached is an error naming the fix.

The site is written into a temporary folder beside ``--out`` and renamed into place
once complete; ``--out`` must not exist (or be an empty folder) and is never a link.
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import plotly

from taskfair.bundle import Bundle
from taskfair.errors import BundleError, UnsafePathError
from taskfair.progress import Progress, report, tqdm_progress
from taskfair.sweep import PointStore
from taskfair.variant import manifest_departures, variant_line
from taskfair.views.compare import CompareModel
from taskfair.views.heatmaps import HeatmapsModel
from taskfair.views.injection import InjectionModel
from taskfair.views.ship import view_json
from taskfair.views.tradeoff import TradeoffModel

__all__ = ["SharePage", "check_out", "configure", "run", "share_pages", "write_share"]

ASSETS = Path(__file__).resolve().parent / "assets"  # view.js/css (the dashboard's too), share.*
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
SPLIT, NORMALIZE = "test", "sum"


@dataclass(frozen=True)
class SharePage:
    """One page of the share: its file name, navigation label, heading, caption and the
    shipped view (:func:`taskfair.views.ship.ship_view`) it draws."""

    file: str
    label: str
    title: str
    caption: str
    build: Callable[[], dict]


def check_out(out: str | os.PathLike) -> Path:
    """``out`` as a folder the share may be written to, or a clear error (checked before
    any work): it must not be a link, must not exist or be an empty folder, and its
    parent must be an existing folder."""
    out = Path(out)
    if out.is_symlink():
        raise UnsafePathError(f"--out {out} is a symbolic link: give a new folder's path.")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise BundleError(f"--out {out}: its folder {parent} does not exist; create it first.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(
            f"--out {out} already exists and is not an empty folder: give a new folder "
            "(the share is never written over other files)."
        )
    return out


def _missing(store: PointStore, plan, what: str) -> None:
    gone = [p for p in plan if not store.has(p[0], p[1])]
    if gone:
        raise BundleError(
            f"The {what} view reads {len(gone)} point(s) the bundle has not cached (the first: "
            f"{gone[0][0].label()} on {gone[0][1]}). A share holds exact points only: run "
            "`python -m taskfair export-viewer --bundle BUNDLE --out NEW` (it evaluates "
            "every grid point) and share that copy."
        )


def share_pages(bundle: Bundle) -> list[SharePage]:
    """The views of ``bundle`` a share holds, at the viewer's first choices (the first
    seed, the test split, sum normalisation, DPD, degenerate points left out). Raises
    :class:`BundleError` when a view reads a point that is not cached."""
    seed = bundle.seeds[0]
    stores = {s: PointStore.for_bundle(bundle, s, None, persist=False) for s in bundle.seeds}
    store = stores[seed]
    label = bundle.manifest.get("dataset", {}).get("label_name")
    pages: list[SharePage] = []

    trade = TradeoffModel(store, SPLIT, NORMALIZE, positive_label=label, seed=seed,
                          n_seeds=len(bundle.seeds))  # fmt: skip
    _missing(store, [(s, SPLIT) for s in trade.curve + trade.refs], "Trade-off")
    _missing(store, [(s, "val") for s in trade.curve + trade.refs], "Trade-off (validation)")
    pages.append(SharePage("index.html", "Trade-off", TradeoffModel.TITLE, TradeoffModel.CAPTION,
                           trade.ship))  # fmt: skip

    methods = ["task_addition"] + (["injection"] if "fft" in store.names else [])
    for method in methods:
        heat = HeatmapsModel(store, SPLIT, NORMALIZE, method)
        _missing(store, heat.plan(), "heatmaps")
        name = "heatmaps.html" if method == "task_addition" else "heatmaps-injection.html"
        nav = "Heatmaps" if method == "task_addition" else "Heatmaps (injection)"
        pages.append(SharePage(name, nav, HeatmapsModel.TITLE, HeatmapsModel.CAPTION, heat.ship))

    anchor = "fft" if "fft" in store.names else "base"
    for i, group in enumerate(store.groups, 1):
        inj = InjectionModel(store, SPLIT, anchor, NORMALIZE, {group: 0.4}, group, label)
        _missing(store, inj.plan(), f"injection ({group})")
        pages.append(SharePage(f"injection-{i}.html", f"Injection: τ_{group}",
                               InjectionModel.TITLE, InjectionModel.CAPTION, inj.ship))  # fmt: skip

    comp = CompareModel(stores, seed, SPLIT, NORMALIZE)
    for x in comp.lams:
        for s, st_ in stores.items():
            _missing(st_, [p for p in comp.plan(x) if p[2] == s], "Compare")
    pages.append(SharePage("compare.html", "Compare", CompareModel.TITLE, CompareModel.CAPTION,
                           comp.ship))  # fmt: skip
    return pages


def _page_html(
    page: SharePage, pages: list[SharePage], bundle: str, payload: str, variant: str = ""
) -> str:
    esc = html.escape
    nav = "".join(
        f'<a href="{esc(p.file)}"{" aria-current=page" if p is page else ""}>{esc(p.label)}</a>'
        for p in pages
    )
    # JSON inside a script element: "<" escaped, so no text can close the element.
    data = payload.replace("<", "\\u003c")
    # The method's variant, named on every page as the dashboard's banner names it.
    banner = f'<p class="variant" role="note">{esc(variant)}</p>' if variant else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(page.label)} · {esc(bundle)} · taskfair share</title>
<link rel="stylesheet" href="assets/view.css">
<link rel="stylesheet" href="assets/share.css">
</head>
<body>
<nav>{nav}</nav>
<main>
<h1>{esc(page.title)}</h1>
{banner}
<p class="caption">{esc(page.caption)}</p>
<p class="caption share-note">A static share of the bundle <b>{esc(bundle)}</b>: every number
is a cached exact point ({SPLIT} split, {NORMALIZE} normalisation); the slider redraws in
this page, with no server.</p>
<div id="root" data-state="loading">Loading the view…</div>
</main>
<script type="application/json" id="view">{data}</script>
<script src="assets/plotly.min.js"></script>
<script src="assets/view.js"></script>
<script src="assets/share.js"></script>
</body>
</html>
"""


def write_share(
    bundle: Bundle, out: str | os.PathLike, progress: Progress | None = None
) -> list[Path]:
    """Write the share of ``bundle`` to ``out`` (see :func:`check_out`), atomically; returns
    the pages written."""
    out = check_out(out)
    pages = share_pages(bundle)
    variant = variant_line(manifest_departures(bundle.manifest))
    total = len(pages) + 1
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.absolute().parent))
    try:
        assets = tmp / "assets"
        assets.mkdir()
        for src in (
            PLOTLY_JS,
            *(ASSETS / n for n in ("view.js", "view.css", "share.js", "share.css")),
        ):
            shutil.copyfile(src, assets / src.name)
        report(progress, 1, total, "assets")
        for i, page in enumerate(pages, 2):
            payload = view_json(page.build())
            (tmp / page.file).write_text(
                _page_html(page, pages, bundle.name, payload, variant), "utf-8"
            )
            report(progress, i, total, page.label)
        os.chmod(tmp, 0o755)
        if out.is_dir():
            out.rmdir()  # an empty folder (check_out): replaced by the finished share
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / p.file for p in pages]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="a bundle whose views are all cached")
    parser.add_argument("--out", required=True, help="a new folder for the static site")


def run(args) -> int:
    check_out(args.out)  # before opening the bundle: a wrong --out costs nothing
    bundle = Bundle.open(args.bundle)
    written = write_share(bundle, args.out, tqdm_progress("share", unit="page"))
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(f"wrote {len(written)} pages to {args.out} ({size / 1e6:.1f} MB); open "
          f"{Path(args.out) / 'index.html'} in a browser, or put the folder on any static host.")  # fmt: skip
    return 0

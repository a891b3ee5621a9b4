"""Shipped views stored on disk beside a bundle's points, made once, read by any server.

Packing a view for the browser (:mod:`taskfair.views.ship`) draws every figure at every
slider position: seconds of work. The result depends only on the bundle's exact points
(which never change once stored), the view's choices and this code, so it is made once:
when a viewer copy is exported (:func:`write_payloads`, the views a first visitor opens),
or by the first server that needs a view not stored yet. Each file is named by a hash of
the choices and of this package's code (:func:`fingerprint`): a new version of the
figures or texts makes new files, never reads stale ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from taskfair.io import atomic_path
from taskfair.progress import Progress, report

__all__ = ["VIEWS_DIR", "cached_payload", "default_views", "fingerprint", "payload_path",
           "write_payloads"]  # fmt: skip

#: The folder of a bundle that holds its stored views.
VIEWS_DIR = "views"
_CODE = [Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "plots"]


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """A hash of the code that makes a shipped view (this package and the figures')."""
    h = hashlib.sha256()
    for folder in _CODE:
        for f in sorted(folder.glob("*.py")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def payload_path(root: str | Path, key: tuple) -> Path:
    """Where the view of ``key`` (its choices, as the dashboard keys it) is stored."""
    digest = hashlib.sha256(f"{fingerprint()}|{key!r}".encode()).hexdigest()[:24]
    return Path(root) / VIEWS_DIR / f"{digest}.json"


def cached_payload(
    root: str | Path, key: tuple, build: Callable[[], str], write: bool = True
) -> str:
    """The stored view of ``key`` under bundle ``root``, or ``build()`` (then stored when
    ``write`` and the bundle is writable; a read-only bundle keeps it in memory only)."""
    path = payload_path(root, key)
    if path.is_file() and not path.is_symlink():
        return path.read_text("utf-8")
    text = build()
    if write:
        try:
            with atomic_path(path) as tmp:
                tmp.write_text(text, "utf-8")
        except OSError:
            pass  # a read-only copy: this process keeps the view in memory
    return text


def default_views(bundle) -> list[tuple[tuple, Callable[[], dict]]]:
    """``(key, build)`` of the views a first visitor of ``bundle`` opens (first seed, sum
    normalisation, each split): Trade-off, the heatmaps and the first group's injection,
    those whose every point is cached (the others are drawn by the server)."""
    from taskfair.sweep import PointStore
    from taskfair.views.heatmaps import HeatmapsModel
    from taskfair.views.injection import LAM_DEFAULT, InjectionModel
    from taskfair.views.tradeoff import TradeoffModel

    seed, normalize = bundle.seeds[0], "sum"
    store = PointStore.for_bundle(bundle, seed, None, persist=False)
    label = bundle.manifest.get("dataset", {}).get("label_name")
    out = []

    def add(model, items) -> None:  # a view is shipped only when all its points are exact
        if all(store.has(s, sp) for s, sp, *_ in items):
            out.append(((seed, split, normalize, *model.key()), model.ship))

    for split in store.splits:
        trade = TradeoffModel(store, split, normalize, positive_label=label, seed=seed,
                              n_seeds=len(bundle.seeds))  # fmt: skip
        add(trade, [(s, sp) for s in trade.curve + trade.refs for sp in store.splits])
        methods = ["task_addition"] + (["injection"] if "fft" in store.names else [])
        for method in methods:
            heat = HeatmapsModel(store, split, normalize, method)
            add(heat, heat.plan())
        if store.groups:
            anchor = "fft" if "fft" in store.names else "base"
            g = store.groups[0]
            inj = InjectionModel(store, split, anchor, normalize, {g: LAM_DEFAULT}, g, label)
            add(inj, inj.plan())
    return out


def write_payloads(bundle, progress: Progress | None = None) -> list[Path]:
    """Store the views a first visitor opens (:func:`default_views`) in ``bundle``."""
    from taskfair.views.ship import view_json

    views = default_views(bundle)
    written = []
    for i, (key, build) in enumerate(views, 1):
        path = payload_path(bundle.root, key)
        cached_payload(bundle.root, key, lambda b=build: view_json(b()))
        written.append(path)
        report(progress, i, len(views), "views")
    return written

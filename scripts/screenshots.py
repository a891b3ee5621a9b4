"""Regenerate every picture the docs show (``docs/screenshots/*.png``) from a bundle.

    python scripts/screenshots.py --bundle models/demo [--vision-bundle models/demo-vision]
        [--out docs/screenshots] [--only tradeoff,viewer-tradeoff] [--wait 900]

(``make screenshots`` runs it on ``$(DEMO)``.) Starts the dashboard on a free loopback
port for each bundle and mode a picture needs, opens each page in Debian's Chromium
(Playwright, ``tests/real_browser.py``), waits until the page is quiet — no progress bar,
spinner or "Refining" note, the "every point is exact" line where the page evaluates,
and the browser-side slider's frame drawn where the page ships one (it renders a few
seconds after the page) — and writes a 1400×900 PNG. Points a page needs and the bundle
has not cached yet are evaluated first (minutes on a bundle built without its last step).

A picture is one :class:`Shot` in :data:`SHOTS`: a file name, a page slug, a query, the
bundle it is taken on (``text`` or ``vision``: a shot whose bundle is not given is
skipped, and said so), the mode (``full``, or ``viewer`` for the read-only hosted
viewer) and optionally a button to press first. Add a line there for a new picture (the
static share, once it exists).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import real_browser  # noqa: E402
from real_browser import CHROMIUM, NO_CHROMIUM, browser_page  # noqa: E402

#: dashboard/live.py's line once every point of a view is exact.
DONE = "Every point of this view is exact and cached."


def _pages() -> list[str]:
    """The page slugs of app.py's ``PAGES``, read without running the app."""
    for node in ast.parse((ROOT / "app.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise LookupError("app.py has no PAGES assignment")


@dataclass(frozen=True)
class Shot:
    """One picture: ``name``.png of page ``page`` (with ``query``), on the ``bundle``
    (``text`` / ``vision``) served in ``mode`` (``full`` / ``viewer``)."""

    name: str
    page: str
    query: str = ""
    bundle: str = "text"
    mode: str = "full"
    #: Whether the page evaluates on opening (then it shows ``DONE`` once complete).
    evaluates: bool = True
    #: A button to press once the page is quiet, and a text that shows when its work is
    #: done (the claims report: judge, then wait for the report's download buttons).
    click: str = ""
    then: str = ""


#: The pages that evaluate nothing on opening (no live loop: no "every point" line).
QUIET_PAGES = ("steer", "claims", "data")
#: Every picture the docs show.
SHOTS: tuple[Shot, ...] = (
    *(
        Shot(slug, slug, evaluates=False, click="Judge the claims", then="claims.md")
        if slug == "claims"
        # As a visitor sees it: the viewer cuts server paths (the data's source) to a name.
        else Shot(slug, slug, evaluates=False, mode="viewer")
        if slug == "data"
        else Shot(slug, slug, evaluates=slug not in QUIET_PAGES)
        for slug in _pages()
    ),
    Shot("viewer-tradeoff", "tradeoff", mode="viewer"),
    Shot("vision-tradeoff", "tradeoff", bundle="vision"),
)


@contextlib.contextmanager
def app_server(bundle: Path, mode: str, log: Path):
    """The dashboard on a free loopback port, serving ``bundle`` in ``mode``."""
    env = {"TASKFAIR_MODE": "viewer" if mode == "viewer" else ""}
    try:
        with real_browser.app_server(bundle, log, env=env) as (url, _pid):
            yield url
    except real_browser.ServerError as e:
        raise SystemExit(str(e)) from None


def wait_quiet(page, evaluates: bool, timeout_s: float, quiet_s: float = 3.0) -> None:
    """Until the page has been quiet for ``quiet_s``: no progress bar, spinner or
    "Refining" note, the ``DONE`` line shown where the page evaluates (or its view
    shipped to the browser), and a shipped view's frame drawn."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    busy = "[data-testid=stProgress], [data-testid=stSpinner]"
    while time.monotonic() < deadline:
        frames = page.locator("iframe[title*=scrub]").count()
        active = page.locator(busy).count() > 0 or page.get_by_text("Refining:").count() > 0
        active = active or (evaluates and not frames and page.get_by_text(DONE).count() == 0)
        if frames:
            frame = page.frame_locator("iframe[title*=scrub]").first
            active = active or frame.locator("#root[data-state=ready]").count() == 0
        if active:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.25)
    raise SystemExit(f"{page.url} was still busy after {timeout_s:.0f} s")


def take(shots: list[Shot], url: str, out: Path, timeout_s: float) -> None:
    with browser_page() as page:
        for shot in shots:
            page.goto(f"{url}/?page={shot.page}{'&' + shot.query if shot.query else ''}")
            page.get_by_role("heading", level=1).first.wait_for(timeout=120_000)
            wait_quiet(page, shot.evaluates, timeout_s)
            if shot.click:
                page.get_by_role("button", name=shot.click).click()
                page.get_by_text(shot.then).first.wait_for(timeout=timeout_s * 1000)
                wait_quiet(page, False, timeout_s)
            page.wait_for_timeout(1500)  # plotly's transitions
            path = out / f"{shot.name}.png"
            page.screenshot(path=str(path))
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True, type=Path, help="the text demo bundle")
    ap.add_argument("--vision-bundle", type=Path, help="the image demo bundle (optional)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--only", help="comma-separated picture names (default: every one)")
    ap.add_argument("--wait", type=float, default=900.0, help="seconds a page may take")
    args = ap.parse_args(argv)
    # Stopped with SIGTERM: unwind, so the servers started here are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not CHROMIUM.exists():
        raise SystemExit(f"scripts/screenshots.py {NO_CHROMIUM}")
    bundles = {"text": args.bundle, "vision": args.vision_bundle}
    for path in bundles.values():
        if path is not None and not (path / "manifest.json").is_file():
            raise SystemExit(f"{path} is not a built bundle (no manifest.json): build it first.")
    wanted = set(args.only.split(",")) if args.only else None
    names = {s.name for s in SHOTS}
    if wanted and wanted - names:
        raise SystemExit(f"unknown picture(s) {sorted(wanted - names)}; known: {sorted(names)}")
    shots = [s for s in SHOTS if wanted is None or s.name in wanted]
    args.out.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="screenshots-"))
    for key, mode in dict.fromkeys((s.bundle, s.mode) for s in shots):
        group = [s for s in shots if (s.bundle, s.mode) == (key, mode)]
        if bundles[key] is None:
            print(f"skipped {', '.join(s.name for s in group)}: no --vision-bundle given")
            continue
        with app_server(bundles[key].resolve(), mode, logs / f"{key}-{mode}.log") as url:
            take(group, url, args.out, args.wait)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

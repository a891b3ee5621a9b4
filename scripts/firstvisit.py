"""First visit: how long a fresh server takes to show a page complete.

For each page and each bundle given (side by side, in turns, so that both meet the same
machine load), starts the dashboard on a free loopback port (127.0.0.1 only; a fresh
server process, so nothing is in its memory), opens the page by its path in one headless
Chromium (Debian's, driven by Playwright) and times from the request until the page is
complete: until the page says "Every point of this view is exact and cached." and
until its slider is handed to the browser (``#root[data-state=ready]`` in the scrub
component, drawn only once every point of the view is exact and cached; it follows
once plotly.js has loaded in the page). Reports both times per page and bundle, the
server's CPU seconds over the visit, and the load average.

    .venv/bin/python scripts/firstvisit.py --bundle models/demo --bundle models/demo-nosweeps

A bundle built by ``build`` (its last step caches every point the pages read) should be
complete at once; one built with ``--no-sweeps`` evaluates the view's points on the
first visit (and writes them into its ``sweeps/``, so the next page or visitor gains).
Everything is bounded: a per-page time limit; the script stops by itself.

``--share DIR`` times a serverless share (``python -m taskfair share``) instead: each page
opened three times from ``file://`` and from a local static server (``http.server`` on
127.0.0.1), from navigation start until the view is drawn, then 24 λ moves timed inside
the page (input event to the frame after the redraw):

    .venv/bin/python scripts/firstvisit.py --share share-demo
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadtest import CHROME_ARGS, CHROMIUM, app_server, cpu_seconds  # noqa: E402
from real_browser import free_port  # noqa: E402

DONE = "Every point of this view is exact and cached."  # dashboard.view.DONE, without the tick
SCRUB_FRAME = "iframe[title*=scrub]"
GRACE_S = 60.0  # how long the slider may take to reach the browser once all is exact


def visit(url: str, page_slug: str, chromium: str, timeout: float) -> tuple[float, float]:
    """Seconds from the request until ``page_slug`` says every point is exact, and until
    its slider is in the browser (NaN where it never is: bootstrap intervals, scrub off,
    a page with no slider; waited for ``GRACE_S`` after the first)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROME_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            t0 = time.perf_counter()
            page.goto(f"{url}/{page_slug}", timeout=timeout * 1000)
            done, exact, slider = page.get_by_text(DONE), math.nan, math.nan
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                frame = page.locator(SCRUB_FRAME)
                if math.isnan(slider) and frame.count():
                    inner = frame.first.element_handle().content_frame()
                    if inner and inner.locator("#root[data-state=ready]").count():
                        slider = time.perf_counter() - t0
                        deadline = min(deadline, time.monotonic() + 2.0)
                if math.isnan(exact) and done.count():
                    exact = time.perf_counter() - t0
                    deadline = min(deadline, time.monotonic() + GRACE_S)
                if not math.isnan(exact) and not math.isnan(slider):
                    break
                page.wait_for_timeout(100)
            if math.isnan(exact) and not math.isnan(slider):
                exact = slider  # the browser gets the slider only once every point is exact
            if math.isnan(exact):
                raise TimeoutError(f"{page_slug} was not complete within {timeout:.0f} s")
            return exact, slider
        finally:
            browser.close()


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


MOVE_JS = """(k) => { const e = document.querySelector('input[type=range]');
  e.value = String(k); e.dispatchEvent(new Event('input')); }"""


def share_visits(site: Path, chromium: str, opens: int = 3, moves: int = 24) -> list[dict]:
    """Open every page of a share from file:// and from a static server; time moves."""
    import subprocess

    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory",
         str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    out = []
    try:
        time.sleep(1.0)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROME_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for base in (site.resolve().as_uri(), f"http://127.0.0.1:{port}"):
                for html in sorted(site.glob("*.html")):
                    times = []
                    for _ in range(opens):
                        page.goto("about:blank")
                        page.goto(f"{base}/{html.name}")
                        page.wait_for_selector("#root[data-state=ready]", timeout=120_000)
                        times.append(page.evaluate("() => performance.now()"))
                    top = int(
                        page.evaluate("() => document.querySelector('input[type=range]').max")
                    )
                    at = int(
                        page.evaluate("() => document.querySelector('input[type=range]').value")
                    )
                    for i in range(moves):
                        at = (at + 1) % (top + 1)
                        page.evaluate(MOVE_JS, at)
                        page.wait_for_function("(k) => window.taskfairScrub.moves >= k", arg=i + 1)
                    r = page.evaluate("() => window.taskfairScrub.redraws")
                    row = dict(where=base.split(":")[0], page=html.name, open_ms=times,
                               move_p50_ms=_pct(r, 0.5), move_p95_ms=_pct(r, 0.95))  # fmt: skip
                    out.append(row)
                    print(f"{row['where']:5} {html.name:24} open {[round(t) for t in times]} ms, "
                          f"move p50 {row['move_p50_ms']:.1f} p95 {row['move_p95_ms']:.1f} ms "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    print(f"share size {size / 1e6:.2f} MB ({len(list(site.glob('*.html')))} pages)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", action="append", help="bundle folder (repeat)")
    p.add_argument("--share", default=None, help="a share's folder: time its pages instead")
    p.add_argument("--pages", default="tradeoff,heatmaps,injection", help="comma-separated")
    p.add_argument("--mode", choices=["full", "viewer"], default="full")
    p.add_argument("--timeout", type=float, default=600.0, help="per page (s)")
    p.add_argument("--chromium", default=CHROMIUM)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if args.share:
        visits = share_visits(Path(args.share), args.chromium)
        if args.json:
            Path(args.json).write_text(json.dumps({"args": vars(args), "share": visits}, indent=2))
        return 0
    if not args.bundle:
        p.error("--bundle (or --share) is required")
    for b in args.bundle:
        if not (Path(b) / "manifest.json").is_file():
            p.error(f"--bundle: no manifest.json in {b}")
    if not Path(args.chromium).exists():
        p.error(f"--chromium: {args.chromium} not found (apt-get install -y chromium)")
    pages = [s.strip() for s in args.pages.split(",") if s.strip()]
    results = []
    print(f"{os.cpu_count()} CPUs, {args.mode} mode, pages {pages}, bundles {args.bundle}")
    for slug in pages:
        for b in args.bundle:
            log = Path(tempfile.gettempdir()) / f"taskfair-firstvisit-{os.getpid()}.log"
            load = os.getloadavg()[0]
            with app_server(Path(b), args.mode, "on", log, 180.0) as (url, pid):
                c0 = cpu_seconds(pid)
                try:
                    exact, slider = visit(url, slug, args.chromium, args.timeout)
                    failed = ""
                except Exception as exc:  # a page that never completes: reported, not fatal
                    exact = slider = math.nan
                    failed = f"  failed: {str(exc).splitlines()[0][:200]}"
                cpu = cpu_seconds(pid) - c0
            results.append(
                dict(page=slug, bundle=b, exact_s=exact, slider_s=slider, server_cpu_s=cpu,
                     load=load, failed=failed)
            )  # fmt: skip
            print(
                f"{slug:>10}  {b}: every point exact {exact:7.1f} s, slider in the browser "
                f"{slider:7.1f} s  (server CPU {cpu:.1f} s, load {load:.1f}){failed}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "visits": results}, indent=2))
    return 0 if not any(r["failed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""One real browser against the real app: move the λ slider, see the DPD change.

Starts ``streamlit run app.py`` on a free loopback port with the tiny bundle and drives
Debian's Chromium through Playwright (never a downloaded browser). Every wait is
bounded. Screenshots go to ``artifacts/browser/`` (gitignored). With
``TASKFAIR_SCREENSHOTS=DIR`` set, :func:`test_page_screenshots` also writes one
screenshot per page to DIR (how ``docs/screenshots/`` is made; point
``TASKFAIR_SCREENSHOT_BUNDLE`` at models/demo for those).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "browser"
SLIDER = "λ (task addition)"
PAGES = ("tradeoff", "heatmaps", "injection", "compare", "theory", "data", "export")
DONE = "Every point of this view is exact and cached."  # app_view.py's DONE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium); "
        "CI installs it",
    ),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(bundle: Path, log: Path):
    """The app on a free loopback port; terminated (then killed) on exit."""
    port = _free_port()
    env = dict(os.environ, TASKFAIR_BUNDLE=str(bundle))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(
                        f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}"
                    )
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                time.sleep(0.3)
            else:
                pytest.fail("streamlit did not open its port within 90 s")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


@contextlib.contextmanager
def _browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def _metric(page, label: str) -> str:
    return (
        page.locator("[data-testid=stMetric]", has_text=label)
        .first.locator("[data-testid=stMetricValue]")
        .inner_text()
    )


def _exact_at(page, lam: float, timeout_ms: int = 120_000) -> None:
    """Until the current point shown is λ=``lam``, evaluated exactly."""
    page.get_by_text(re.compile(rf"Current point λ = {lam:g} \(.*\) — exact")).wait_for(
        timeout=timeout_ms
    )


def _wait_idle(page, timeout_s: float = 240.0, quiet_s: float = 2.0, done: bool = True) -> None:
    """Until the page says every point is exact (``done``) and no progress bar, spinner or
    "Refining" note has shown for ``quiet_s``."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    busy = "[data-testid=stProgress], [data-testid=stSpinner]"
    while time.monotonic() < deadline:
        active = page.locator(busy).count() > 0 or page.get_by_text("Refining:").count() > 0
        active = active or (done and page.get_by_text(DONE).count() == 0)
        if active:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.25)
    raise AssertionError(f"the page was still busy after {timeout_s:.0f} s")


def test_slider_moves_dpd(tiny_bundle):
    from taskfair import grid
    from taskfair.bundle import Bundle
    from taskfair.merge import task_addition_coeffs
    from taskfair.sweep import Evaluator

    # Where the DPD shown must go: computed directly, so the test knows which step changes it.
    bundle = Bundle.open(tiny_bundle)
    ev = Evaluator.from_bundle(bundle)
    groups = [g for g in bundle.groups if g in ev.names]
    dpd = {
        lam: ev.report(task_addition_coeffs(groups, lam), "test").dpd for lam in grid.LAMBDA_GRID
    }
    # Start where one step to the right changes the DPD shown (3 decimals).
    grid_ = grid.LAMBDA_GRID
    pairs = [
        (a, b) for a, b in zip(grid_, grid_[1:], strict=False) if f"{dpd[a]:.3f}" != f"{dpd[b]:.3f}"
    ]
    if not pairs:
        pytest.skip("the tiny bundle's DPD is the same at every λ of the grid")
    start, target = pairs[0]
    steps = 1

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _server(tiny_bundle, ARTIFACTS / "server.log") as url, _browser() as page:
        page.goto(f"{url}/?page=tradeoff&lam={start}")
        slider = page.get_by_role("slider", name=SLIDER)
        slider.wait_for(timeout=90_000)
        _exact_at(page, start)
        before = _metric(page, "DPD")
        assert before == f"{dpd[start]:.3f}"
        page.screenshot(path=str(ARTIFACTS / "tradeoff-before.png"))

        slider.focus()
        for _ in range(steps):
            slider.press("ArrowRight")
        page.wait_for_function(
            "(t) => Math.abs(parseFloat(document.querySelector('[data-testid=stSliderThumbValue]')"
            "?.innerText) - t) < 1e-9",
            arg=target,
            timeout=30_000,
        )
        want = f"{dpd[target]:.3f}"
        _exact_at(page, target)  # the preview first, then the exact point on release
        after = _metric(page, "DPD")
        page.screenshot(path=str(ARTIFACTS / "tradeoff-after.png"))
        assert after != before and after == want
        assert f"lam={target:g}" in page.url  # the link now reproduces the view


@pytest.mark.skipif(
    not os.environ.get("TASKFAIR_SCREENSHOTS"),
    reason="set TASKFAIR_SCREENSHOTS=DIR to write page screenshots",
)
def test_page_screenshots(request):
    out = Path(os.environ["TASKFAIR_SCREENSHOTS"])
    out = out if out.is_absolute() else ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    chosen = os.environ.get("TASKFAIR_SCREENSHOT_BUNDLE")
    # The tiny bundle is built only when no other bundle is named.
    bundle = Path(chosen) if chosen else Path(request.getfixturevalue("tiny_bundle"))
    with _server(bundle, ARTIFACTS / "server-screenshots.log") as url, _browser() as page:
        for slug in PAGES:
            page.goto(f"{url}/?page={slug}")
            page.get_by_role("heading", level=1).first.wait_for(timeout=120_000)
            _wait_idle(
                page,
                timeout_s=float(os.environ.get("TASKFAIR_SCREENSHOT_WAIT", "600")),
                done=slug != "data",  # the data page evaluates nothing
            )
            page.wait_for_timeout(1500)  # let plotly finish its transitions
            page.screenshot(path=str(out / f"{slug}.png"))

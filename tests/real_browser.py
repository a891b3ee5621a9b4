"""Debian's Chromium driven by Playwright, and what the browser tests read off a page.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` with the
flags that keep it off the network. Used by ``test_browser.py`` (the app as a process)
and ``test_container.py`` (the app in the image); :func:`app_server` also starts the app
for ``scripts/screenshots.py``, ``scripts/loadtest.py`` and ``scripts/firstvisit.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = Path("/usr/bin/chromium")
SLIDER = "λ (task addition)"
NO_CHROMIUM = (
    "needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium); CI installs it"
)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(RuntimeError):
    """The app's server exited, or did not answer its health check in time."""


@contextlib.contextmanager
def app_server(bundle: Path, log: Path, *, env: dict | None = None, start_timeout: float = 120):
    """``streamlit run app.py`` serving ``bundle`` on a free loopback port, its output in
    ``log``; yields ``(url, pid)`` once ``/_stcore/health`` answers, and terminates (then
    kills) the server on exit. ``env`` adds variables (``TASKFAIR_MODE``, ...); the
    caller's ``STREAMLIT_*`` variables are dropped so the flags below decide."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    full_env.update(TASKFAIR_BUNDLE=str(bundle), **(env or {}))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(proc, url, log, start_timeout)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise ServerError(f"streamlit exited with {proc.returncode}: {tail}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r,
        ):
            if r.status == 200:
                return
        if time.monotonic() > deadline:
            raise ServerError(f"streamlit gave no health answer within {timeout:.0f} s: see {log}")
        time.sleep(0.3)


@contextlib.contextmanager
def browser_page():
    """A fresh headless page (1400×900, 60 s default timeout); the browser closes on exit."""
    # playwright (a dev dependency) only when a browser test runs: collecting stays light.
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


def metric(page, label: str) -> str:
    """The shown value of the first ``st.metric`` whose label contains ``label``."""
    return (
        page.locator("[data-testid=stMetric]", has_text=label)
        .first.locator("[data-testid=stMetricValue]")
        .inner_text()
    )


def exact_at(page, lam: float, timeout_ms: int = 120_000) -> None:
    """Until the current point shown is λ=``lam``, evaluated exactly."""
    page.get_by_text(re.compile(rf"Current point λ = {lam:g} \(.*\) — exact")).wait_for(
        timeout=timeout_ms
    )


def press_slider_to(page, slider, target: float, steps: int = 1) -> None:
    """Press ArrowRight ``steps`` times on ``slider``, until its thumb shows ``target``."""
    slider.focus()
    for _ in range(steps):
        slider.press("ArrowRight")
    page.wait_for_function(
        "(t) => Math.abs(parseFloat(document.querySelector('[data-testid=stSliderThumbValue]')"
        "?.innerText) - t) < 1e-9",
        arg=target,
        timeout=30_000,
    )


def scrub_frame(page, timeout_ms: int = 120_000):
    """The browser-side view of a page whose points are all cached (its component's
    frame), once it has drawn."""
    frame = page.frame_locator("iframe[title*=scrub]")
    frame.locator("#root[data-state=ready]").wait_for(timeout=timeout_ms)
    return frame


def card(frame, key: str) -> str:
    """The shown value of a browser-side view's metric card (``dpd``, ``accuracy``...)."""
    return frame.locator(f".card .value[data-key={key}]").inner_text()

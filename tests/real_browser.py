"""Debian's Chromium driven by Playwright, and what the browser tests read off a page.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` with the
flags that keep it off the network. Used by ``test_browser.py`` (the app as a process)
and ``test_container.py`` (the app in the image).
"""

from __future__ import annotations

import contextlib
import re
import socket
from pathlib import Path

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

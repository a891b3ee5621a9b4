"""One real browser on the Steering assistant page: fill the form, search, get a card.

The same server and browser as tests/test_browser.py (Debian's Chromium through
Playwright, a loopback port, bounded waits), on a linked copy of the tiny bundle so the
search's state and points stay out of the session's bundle. The test also ticks *Allow
degenerate points* (many of the tiny model's points are), so the form's checkbox is driven.
"""

from __future__ import annotations

import re

import pytest
from real_browser import CHROMIUM, browser_page
from test_app import _linked_copy
from test_browser import ARTIFACTS, _server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


def test_the_steering_page_searches_in_a_browser(tiny_bundle, tmp_path):
    bundle = _linked_copy(tiny_bundle, tmp_path / "tiny")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _server(bundle, ARTIFACTS / "server-steer.log") as url, browser_page() as page:
        page.goto(f"{url}/?page=steer")
        page.get_by_role("heading", name="Steering assistant").wait_for(timeout=120_000)
        page.get_by_text("No search for these settings yet").wait_for(timeout=120_000)
        page.get_by_label("Budget (exact validation evaluations)", exact=True).fill("14")
        page.get_by_label("Accuracy margin below FFT", exact=True).fill("0.3")
        page.get_by_text("Allow degenerate points").click()
        page.get_by_role("button", name="Search (or resume)").click()
        page.get_by_text("Recommendation", exact=True).wait_for(timeout=900_000)
        page.get_by_text(re.compile(r"exact validation points of a budget of 14")).wait_for()
        page.get_by_role("button", name="card.json").wait_for(timeout=120_000)
        assert page.get_by_role("button", name="card.json").count() == 1
        assert page.locator(".js-plotly-plot").count() >= 2
        page.screenshot(path=str(ARTIFACTS / "steer.png"), full_page=True)

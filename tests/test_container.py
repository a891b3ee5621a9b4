"""The image itself: a container of it, driven by a real browser.

Runs when ``TASKFAIR_IMAGE`` names an image built from the ``Dockerfile`` and a Docker
engine answers (``docker/ci-build.sh`` builds one and runs this file); skipped otherwise.
Each container runs the image's own command and health check on the host network,
listening on 127.0.0.1 only (``STREAMLIT_SERVER_ADDRESS``) on a free port, with a viewer
copy of the tiny bundle mounted read-only at the path the image serves. The test waits
for Docker to report the container healthy, then drives Debian's Chromium: the λ slider
moves and the DPD shown equals the cached exact point; no page has an upload widget; with
``TASKFAIR_PASSWORD`` set the password gate comes first. Containers are removed at the end
of each test; their logs go to ``artifacts/container/``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from page_slugs import PAGES
from real_browser import (
    CHROMIUM,
    NO_CHROMIUM,
    SLIDER,
    browser_page,
    card,
    free_port,
    scrub_frame,
)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "container"
IMAGE = os.environ.get("TASKFAIR_IMAGE", "")
SERVED = "/app/models/demo"  # the Dockerfile's TASKFAIR_BUNDLE
HEALTHY_TIMEOUT = 300  # the image's check runs every 30 s; a cold start on 2 cores ~1 min
PASSWORD = "container test password"


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not IMAGE,
        reason="set TASKFAIR_IMAGE to an image built from the Dockerfile on a running Docker "
        "engine (docker/ci-build.sh does both)",
    ),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


@pytest.fixture(scope="module", autouse=True)
def _image_is_there():
    """An image was named: from here on a missing engine or image is a failure, not a skip."""
    assert shutil.which("docker"), "TASKFAIR_IMAGE is set but there is no docker command"
    probe = _docker("image", "inspect", IMAGE)
    assert probe.returncode == 0, f"docker image inspect {IMAGE}: {probe.stderr.strip()}"


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _logs(name: str) -> str:
    out = _docker("logs", name)
    return out.stdout + out.stderr


@contextlib.contextmanager
def _container(bundle: Path, **env: str):
    """A container of the image serving ``bundle`` (read-only); yields its URL once Docker
    reports it healthy. Removed on exit, its log kept in ``artifacts/container/``."""
    port = free_port()
    name = f"taskfair-test-{os.getpid()}-{port}"
    settings = {"STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", **env}
    run = _docker(
        "run", "--detach", "--name", name, "--network", "host",
        *[a for k, v in settings.items() for a in ("--env", f"{k}={v}")],
        "--volume", f"{bundle}:{SERVED}:ro",
        IMAGE,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    try:
        deadline, state = time.monotonic() + HEALTHY_TIMEOUT, ""
        while time.monotonic() < deadline:
            state = _docker(
                "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", name
            )
            state = state.stdout.strip()
            if state == "running healthy":
                break
            assert state.startswith("running") and "unhealthy" not in state, (
                f"container {state}: {_logs(name)[-3000:]}"
            )
            time.sleep(2)
        else:
            pytest.fail(f"not healthy after {HEALTHY_TIMEOUT} s ({state}): {_logs(name)[-3000:]}")
        yield f"http://127.0.0.1:{port}"
        log = _logs(name)
        assert "Traceback" not in log, log[-3000:]
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}.log").write_text(_logs(name))
        _docker("rm", "--force", name)


@pytest.fixture(scope="module")
def copies(tiny_bundle, tmp_path_factory) -> dict[str, Path]:
    """Viewer copies of the tiny bundle, with and without weights (every point cached)."""
    from taskfair.viewer import export_viewer

    root = tmp_path_factory.mktemp("container")
    source = root / "source"
    shutil.copytree(tiny_bundle, source)  # the export caches its sweeps in the source
    return {
        "weights": export_viewer(source, root / "viewer", weights=True),
        "no_weights": export_viewer(source, root / "viewer-sweeps", weights=False),
    }


def _cached_dpd(copy: Path) -> dict[float, float]:
    """The test split's DPD of each λ of the grid, as the copy's sweep cache holds it."""
    from taskfair import grid
    from taskfair.bundle import Bundle
    from taskfair.sweep import SweepCache, bundle_keys, task_addition_settings

    bundle = Bundle.open(copy)
    seed = bundle.seeds[0]
    groups = [g for g in bundle.groups if g in bundle.vector_names(seed)]
    keys, cache = bundle_keys(bundle, seed), SweepCache(copy / "sweeps")
    out = {}
    for lam in grid.LAMBDA_GRID:
        (setting,) = task_addition_settings(groups, [lam])
        rows = cache.get(keys.key(setting, "test"))
        assert rows is not None, f"λ={lam} is not cached in the viewer copy"
        out[lam] = float(rows[rows["group"] == "__overall__"].iloc[0]["dpd"])
    return out


def test_image_serves_the_cached_points_in_viewer_mode(copies):
    copy = copies["weights"]
    dpd = _cached_dpd(copy)
    grid_ = sorted(dpd)
    pairs = [(a, b) for a, b in itertools.pairwise(grid_) if f"{dpd[a]:.3f}" != f"{dpd[b]:.3f}"]
    if not pairs:
        pytest.skip("the tiny bundle's DPD is the same at every λ of the grid")
    start, target = pairs[0]

    with _container(copy) as url, browser_page() as page:
        # Every point of the copy is cached: the page ships them and the slider moves in
        # the browser (the view's own frame).
        page.goto(f"{url}/?page=tradeoff&lam={start}")
        frame = scrub_frame(page)
        frame.get_by_text(re.compile(rf"Current point λ = {start:g} \(.*\) — exact")).wait_for()
        assert card(frame, "dpd") == f"{dpd[start]:.3f}"
        page.get_by_text("Read-only viewer").first.wait_for(timeout=30_000)  # the viewer says so
        slider = frame.get_by_role("slider", name=SLIDER)
        slider.focus()
        slider.press("ArrowRight")
        frame.get_by_text(re.compile(rf"Current point λ = {target:g} \(.*\) — exact")).wait_for()
        assert card(frame, "dpd") == f"{dpd[target]:.3f}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tradeoff.png"), full_page=True)
        for slug in PAGES:  # no page offers an upload
            page.goto(f"{url}/?page={slug}")
            page.get_by_role("heading", level=1).first.wait_for(timeout=120_000)
            page.wait_for_timeout(1000)  # let the page's widgets render
            assert page.locator("[data-testid=stFileUploader]").count() == 0, slug
            assert page.locator("input[type=file]").count() == 0, slug


def test_image_asks_for_the_password_when_one_is_set(copies):
    with (
        _container(copies["no_weights"], TASKFAIR_PASSWORD=PASSWORD) as url,
        browser_page() as page,
    ):
        page.goto(f"{url}/?page=tradeoff")
        box = page.get_by_label("Password", exact=True)
        box.wait_for(timeout=120_000)
        assert page.locator("iframe").count() == 0  # nothing of the app yet
        assert page.get_by_role("slider", name=SLIDER).count() == 0
        box.fill("wrong")
        page.get_by_role("button", name="Enter").click()
        page.get_by_text("Wrong password").wait_for(timeout=60_000)
        assert page.locator("iframe").count() == 0
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Enter").click()
        scrub_frame(page).get_by_role("slider", name=SLIDER).wait_for(timeout=120_000)
        page.get_by_text("no model weights").first.wait_for(timeout=60_000)
        assert page.get_by_label("Password", exact=True).count() == 0

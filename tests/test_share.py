"""The serverless share: ``python -m taskfair share`` writes a static site whose λ sliders
move from ``file://`` with no server, showing the cached exact points, and asking no host
for anything.

The share is made from a viewer copy of the tiny bundle cut to a few rows per split
(every point the views read cached). The browser tests drive Debian's Chromium
(tests/real_browser.py) on the written files, with no server running.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from real_browser import CHROMIUM, NO_CHROMIUM, browser_page

ROOT = Path(__file__).resolve().parents[1]
SCHEMES_OF_A_FILE = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def viewer_copy(tiny_bundle, tmp_path_factory) -> Path:
    """A viewer copy (no weights) of the tiny bundle cut to a few rows per split, every
    point the views read evaluated and cached."""
    from test_viewer import _small_copy

    from taskfair.viewer import export_viewer

    small = _small_copy(Path(tiny_bundle), tmp_path_factory.mktemp("share") / "small")
    return export_viewer(small, small.parent / "viewer", weights=False)


@pytest.fixture(scope="module")
def site(viewer_copy, tmp_path_factory) -> Path:
    from taskfair.cli import main

    out = tmp_path_factory.mktemp("site") / "share"
    assert main(["share", "--bundle", str(viewer_copy), "--out", str(out)]) == 0
    return out


def _view(page: Path) -> dict:
    """The shipped view a page of the share holds (its JSON script element)."""
    text = page.read_text("utf-8")
    found = re.search(r'<script type="application/json" id="view">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))


def _cached(bundle: Path, setting, split: str = "test") -> dict:
    """The overall row of a cached exact point, read from the bundle's sweep cache."""
    from taskfair.bundle import Bundle
    from taskfair.sweep import SweepCache, bundle_keys

    rows = SweepCache(bundle / "sweeps").get(
        bundle_keys(Bundle.open(bundle), 0).key(setting, split)
    )
    return rows[rows["group"] == "__overall__"].iloc[0].to_dict()


def _same(shown, cached) -> bool:
    """A shipped number is the cached one (JSON writes NaN, an undefined rate, as null)."""
    if cached is None or cached != cached:
        return shown is None
    return shown == pytest.approx(cached, rel=1e-12, abs=1e-15)


# ----------------------------------------------------------------------------- the command


def test_out_is_checked_before_any_work(tmp_path, capsys):
    from taskfair.cli import main

    missing_bundle = str(tmp_path / "no-such-bundle")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["share", "--bundle", missing_bundle, "--out", str(full)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not an empty folder" in err and "no-such-bundle" not in err
    assert (full / "keep.txt").read_text() == "mine"

    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    assert main(["share", "--bundle", missing_bundle, "--out", str(link)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()

    assert main(["share", "--bundle", missing_bundle, "--out", str(tmp_path / "a" / "b")]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err


def test_a_bundle_with_points_missing_is_refused_and_nothing_is_written(
    tiny_bundle, tmp_path, capsys
):
    from test_viewer import _small_copy

    from taskfair.cli import main

    # Nothing cached: a share holds exact points only, and says how to get them.
    bare = _small_copy(Path(tiny_bundle), tmp_path / "bare")
    out = tmp_path / "out"
    assert main(["share", "--bundle", str(bare), "--out", str(out)]) == 2
    assert "export-viewer" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bare"]


def test_the_share_holds_every_view_with_the_cached_exact_points(site, viewer_copy):
    from taskfair import grid
    from taskfair.bundle import Bundle
    from taskfair.sweep import mix_setting, task_addition_settings

    bundle = Bundle.open(viewer_copy)
    groups = [g for g in bundle.groups if g in bundle.vector_names()]
    files = sorted(p.name for p in site.glob("*.html"))
    want = ["compare.html", "heatmaps-injection.html", "heatmaps.html", "index.html"]
    assert files == sorted(want + [f"injection-{i}.html" for i in range(1, len(groups) + 1)])
    assert (site / "assets" / "plotly.min.js").stat().st_size > 1_000_000

    trade = _view(site / "index.html")
    assert trade["values"] == list(grid.LAMBDA_GRID)
    for lam, step in zip(trade["values"], trade["steps"], strict=True):
        (setting,) = task_addition_settings(groups, [lam])
        cached = _cached(viewer_copy, setting)
        for m in ("accuracy", "dpd", "eod"):
            assert _same(step["overall"][m], cached[m]), (lam, m)
        assert step["title"] == f"Current point λ = {lam:g} (sum, test) — exact"
    # the honest readings travel: bands and reference predictors in the curves, the
    # Pareto view beside them, the paired difference against FFT in the notes
    roles = [{t.get("meta", {}).get("role") for t in f["traces"]} for f in trade["figures"]]
    assert {"band", "reference", "baseline", "current", "curve"} <= roles[0]
    assert {"points", "reference", "current"} <= roles[1] and len(roles) == 2
    assert any(n.startswith("Against FFT") for s in trade["steps"] for n in s["notes"])

    heat = _view(site / "heatmaps-injection.html")
    assert heat["values"] == list(grid.INJECTION_GRID)
    inj = _view(site / "injection-1.html")
    first = [mix_setting(groups, {groups[0]: x}, "fft", "sum") for x in grid.INJECTION_GRID]
    for step, setting in zip(inj["steps"], first, strict=True):
        assert _same(step["overall"]["dpd"], _cached(viewer_copy, setting)["dpd"])
    compare = _view(site / "compare.html")
    assert len(compare["figures"]) == 4 and compare["values"] == list(grid.LAMBDA_GRID)
    # the method's variant (the tiny config trains its vectors on class-balanced rows) is
    # named on every page, as the dashboard's banner names it
    from taskfair.variant import manifest_departures, variant_line

    line = variant_line(manifest_departures(bundle.manifest))
    assert "balanced" in line
    for page in site.glob("*.html"):
        assert html.escape(line) in page.read_text("utf-8"), page.name


# ----------------------------------------------------------------------------- in a browser

browser = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)


def _outside(page) -> list[str]:
    """Every request the page makes to anything but its own files, refused and recorded."""
    seen: list[str] = []

    def refuse(route):
        seen.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^(?!file:|data:|blob:|about:).*"), refuse)
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith(SCHEMES_OF_A_FILE) or r.url in seen else seen.append(r.url)
        ),
    )
    return seen


def _ready(page, value: float) -> None:
    page.wait_for_function(
        "(v) => { const r = document.getElementById('root');"
        " return r.dataset.state === 'ready' && Math.abs(parseFloat(r.dataset.value) - v) < 1e-9; }",
        arg=value,
        timeout=30_000,
    )


@pytest.mark.browser
@browser
def test_the_share_moves_lambda_from_file_with_no_server_and_no_outside_request(site):
    with browser_page() as page:
        seen = _outside(page)
        for html in sorted(site.glob("*.html")):
            view = _view(html)
            page.goto(html.as_uri())
            start = min(
                range(len(view["values"])), key=lambda i: abs(view["values"][i] - view["default"])
            )
            _ready(page, view["values"][start])
            slider = page.get_by_role("slider", name=view["label"])
            slider.focus()
            for i in range(start + 1, min(start + 3, len(view["values"]))):
                slider.press("ArrowRight")
                _ready(page, view["values"][i])
                step = view["steps"][i]
                assert page.locator(".title").first.inner_text() == step["title"]
                for card in view["cards"] if page.locator(".card").count() else []:
                    got = page.locator(f".card .value[data-key={card['key']}]").inner_text()
                    v = step["overall"].get(card["key"])
                    assert got == ("–" if v is None else f"{v:.3f}"), (html.name, card["key"])
                assert f"{view['param']}=" in page.url  # the link keeps λ
            timings = page.evaluate("() => window.taskfairScrub.redraws")
            assert timings and all(t > 0 for t in timings)
            page.goto(page.url)  # the link reopens the view at the same λ
            _ready(page, view["values"][min(start + 2, len(view["values"]) - 1)])
        assert seen == []


@pytest.mark.browser
@browser
def test_scrub_frame_draws_only_what_its_parent_sends(site, tmp_path):
    """The dashboard's component ignores a render message from any window but its parent."""
    import shutil

    import plotly

    import taskfair.views

    comp = tmp_path / "scrub"
    comp.mkdir()
    for f in [*(ROOT / "dashboard" / "assets" / "scrub").iterdir(),
              *(Path(taskfair.views.__file__).parent / "assets").iterdir(),
              Path(plotly.__file__).parent / "package_data" / "plotly.min.js"]:  # fmt: skip
        shutil.copy(f, comp / f.name)
    host = tmp_path / "host.html"
    host.write_text('<!doctype html><iframe id="c" src="scrub/index.html"></iframe>')
    raw = json.dumps(_view(site / "index.html"))
    message = {"type": "streamlit:render", "args": {"view": raw, "index": 2}}
    with browser_page() as page:
        seen = _outside(page)
        page.goto(host.as_uri())
        frame = page.frame_locator("#c")
        frame.locator("#root[data-state=loading]").wait_for()
        child = page.frames[1]
        child.wait_for_function("() => typeof Plotly !== 'undefined'")
        child.evaluate("(m) => window.postMessage(m, '*')", message)  # not from its parent
        page.wait_for_timeout(1500)
        assert frame.locator("#root").get_attribute("data-state") == "loading"
        page.evaluate(
            "(m) => document.getElementById('c').contentWindow.postMessage(m, '*')", message
        )
        frame.locator("#root[data-state=ready]").wait_for(timeout=30_000)
        assert seen == []

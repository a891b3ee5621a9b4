"""The hosted viewer: ``export-viewer`` copies (with and without weights), the dashboard in
``TASKFAIR_MODE=viewer`` serving them read-only, and the optional password gate.

The export runs every sweep the pages read; to keep that to about a minute here, it runs
on a copy of the tiny bundle cut to a few evaluation rows (the settings are the real
ones: nothing about the grid is shrunk).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from bundle_copy import linked_copy
from page_slugs import PAGES

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300


def _hashes(folder: Path) -> dict[str, str]:
    from taskfair.io import sha256_file

    return {str(p.relative_to(folder)): sha256_file(p) for p in folder.rglob("*") if p.is_file()}


def _small_copy(src: Path, dst: Path, rows_per_split: int = 12) -> Path:
    """The tiny bundle with only the first rows of each evaluation split (hard links for
    everything else; eval.parquet and the manifest replaced, never written through)."""
    from taskfair.io import sha256_file

    linked_copy(src, dst)
    frame = pd.read_parquet(dst / "eval.parquet")
    small = frame.groupby("split", sort=False).head(rows_per_split).reset_index(drop=True)
    (dst / "eval.parquet").unlink()
    small.to_parquet(dst / "eval.parquet", index=False)
    m = json.loads((dst / "manifest.json").read_text())
    m["artifacts"]["eval.parquet"] = sha256_file(dst / "eval.parquet")
    (dst / "manifest.json").unlink()
    (dst / "manifest.json").write_text(json.dumps(m, indent=2))
    return dst


@pytest.fixture(scope="module")
def source(tiny_bundle, tmp_path_factory) -> Path:
    return _small_copy(Path(tiny_bundle), tmp_path_factory.mktemp("viewer") / "small")


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory) -> dict:
    """Both viewer copies of ``source``; the second export finds every point cached."""
    from taskfair.viewer import export_viewer

    before = _hashes(source)
    out = tmp_path_factory.mktemp("viewers")
    copies = {
        "no_weights": export_viewer(source, out / "demo-viewer", weights=False),
        "weights": export_viewer(source, out / "demo-full", weights=True),
    }
    after = _hashes(source)
    return {"copies": copies, "source_before": before, "source_after": after}


def _app(bundle: Path, monkeypatch, **params):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TASKFAIR_BUNDLE", str(bundle))
    monkeypatch.setenv("TASKFAIR_MODE", "viewer")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = str(v)
    return at


# ----------------------------------------------------------------------------- export


def test_export_without_weights_ships_sweeps_only(exported, source):
    from taskfair.bundle import Bundle
    from taskfair.viewer import _missing, _splits, viewer_settings

    copy = exported["copies"]["no_weights"]
    m = json.loads((copy / "manifest.json").read_text())
    assert m["weights"] is False and m["viewer"]["source"]
    assert not (copy / "base").exists() and not (copy / "vectors").exists()
    src = json.loads((source / "manifest.json").read_text())["artifacts"]
    # Every artifact is either shipped (and listed) or withheld (its checksum kept).
    assert set(m["artifacts"]) | set(m["withheld"]) == set(src)
    assert not set(m["artifacts"]) & set(m["withheld"])
    assert all(r.startswith(("base/", "vectors/")) for r in m["withheld"])
    assert {"eval.parquet", "logs/seed-0/fft.json"} <= set(m["artifacts"])
    bundle = Bundle.open(copy, verify=True)  # checksums hold for what is shipped
    assert not bundle.has_weights
    for seed in bundle.seeds:  # every point the pages read is found without a model
        assert not _missing(bundle, seed, viewer_settings(bundle, seed), _splits(bundle))
    # The source gained cached points only.
    before, after = exported["source_before"], exported["source_after"]
    assert {k: v for k, v in after.items() if not k.startswith("sweeps")} == before
    assert not list(copy.parent.glob(".*partial*"))  # no leftover temporary folder


def test_export_with_weights_is_a_complete_bundle(exported):
    from taskfair.bundle import Bundle

    copy = exported["copies"]["weights"]
    bundle = Bundle.open(copy, verify=True)
    assert bundle.has_weights and bundle.manifest["withheld"] == {}
    assert (copy / "base" / "model.safetensors").is_file()


def test_export_refuses_an_existing_or_overlapping_folder(exported, source):
    for out in (exported["copies"]["weights"], source / "viewer"):
        res = subprocess.run(
            [sys.executable, "-m", "taskfair", "export-viewer", "--bundle", str(source),
             "--out", str(out), "--no-weights"],
            cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert res.returncode == 2, res.stderr[-2000:]
        assert "refusing to overwrite" in res.stderr or "overlaps the source" in res.stderr
    assert not (source / "viewer").exists()


# ----------------------------------------------------------------------------- serving


def test_viewer_without_weights_serves_every_page_from_the_cache(exported, monkeypatch):
    """No weights: every page opens without an error, nothing offers evaluation or a
    path, grid points are exact (the cached numbers), points between them previews."""
    from taskfair.bundle import Bundle
    from taskfair.merge import task_addition_coeffs
    from taskfair.sweep import SweepCache, bundle_keys, task_addition_settings

    copy = exported["copies"]["no_weights"]
    before = _hashes(copy)
    for page in PAGES:
        at = _app(copy, monkeypatch, page=page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert any("no model weights" in i.value for i in at.info), page
        assert not at.toggle or page == "theory", page  # no exact/refine switches
        assert not [b for b in at.button if "Evaluate" in b.label], page
        assert not at.text_input, page  # no path, no upload, nothing typed
        assert not at.get("file_uploader"), page

    bundle = Bundle.open(copy)
    groups = [g for g in bundle.groups if g in bundle.vector_names()]
    # The server's own redraw (the browser-side slider is tested below).
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")
    at = _app(copy, monkeypatch, page="tradeoff", lam=0.3)
    at.run()
    assert any("— *exact*" in m.value for m in at.markdown)
    (setting,) = task_addition_settings(groups, [0.3])
    rows = SweepCache(copy / "sweeps").get(bundle_keys(bundle, 0).key(setting, "test"))
    top = rows[rows["group"] == "__overall__"].iloc[0]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Accuracy"] == f"{top['accuracy']:.3f}"
    assert task_addition_coeffs(groups, 0.3) == setting.coeff_dict

    at = _app(copy, monkeypatch, page="tradeoff", lam=0.35)
    at.run()
    assert not at.exception
    assert any("— *preview*" in m.value for m in at.markdown)
    assert _hashes(copy) == before  # served read-only


def _shipped(at) -> tuple[dict, dict]:
    """The component's arguments and the view it ships."""
    (comp,) = at.get("component_instance")
    assert comp.proto.component_name.endswith("scrub")
    args = json.loads(comp.proto.json_args)
    return args, json.loads(args["view"])


def test_viewer_ships_every_page_to_the_browser(exported, monkeypatch):
    """Every point cached: the Trade-off, heatmaps and injection pages ship their points
    to the browser (no server slider). The shipped numbers are the cached exact points,
    and the figure at each position is the one the server draws for that λ."""
    from taskfair import grid
    from taskfair.bundle import Bundle
    from taskfair.plots.steps import unpack_step
    from taskfair.sweep import SweepCache, bundle_keys, task_addition_settings

    copy = exported["copies"]["no_weights"]
    before = _hashes(copy)
    bundle = Bundle.open(copy)
    groups = [g for g in bundle.groups if g in bundle.vector_names()]
    keys, cache = bundle_keys(bundle, 0), SweepCache(copy / "sweeps")
    at = _app(copy, monkeypatch, page="tradeoff", lam=0.7)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.slider and not at.get("plotly_chart")  # the browser draws and moves it
    args, view = _shipped(at)
    assert args["index"] == 7 and view["values"] == list(grid.LAMBDA_GRID)
    assert view["param"] == "lam" and view["default"] == 0.3
    for i, lam in enumerate(grid.LAMBDA_GRID):
        (setting,) = task_addition_settings(groups, [lam])
        rows = cache.get(keys.key(setting, "test"))
        top = rows[rows["group"] == "__overall__"].iloc[0]
        step = view["steps"][i]
        assert step["title"] == f"Current point λ = {lam:g} (sum, test) — exact"
        for col in ("accuracy", "dpd", "eod"):
            want = None if pd.isna(top[col]) else pytest.approx(float(top[col]))
            assert step["overall"][col] == want, (lam, col)
        assert [g["group"] for g in step["groups"]] == list(
            rows["group"][rows["group"] != "__overall__"]
        )
        fig = unpack_step(view["figures"][0], i)
        (cur,) = [
            t
            for t in fig["data"]
            if t["meta"] == {**t["meta"], "role": "current", "metric": "accuracy"}
        ]
        assert cur["x"] == [lam] and cur["y"][0] == pytest.approx(float(top["accuracy"]))
    # What the browser draws at λ = 0.7 is what the server draws there.
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")
    server = _app(copy, monkeypatch, page="tradeoff", lam=0.7)
    server.run()
    charts = [json.loads(c.proto.spec) for c in server.get("plotly_chart")]
    for j in (0, 1):  # the trade-off panels and the Pareto view
        assert charts[j]["data"] == unpack_step(view["figures"][j], 7)["data"]
    monkeypatch.delenv("TASKFAIR_SCRUB")

    at = _app(copy, monkeypatch, page="heatmaps", lam=0.4)
    at.run()
    assert not at.exception
    args, view = _shipped(at)
    assert args["index"] == 4 and len(view["figures"]) == 3
    for i in range(len(grid.LAMBDA_GRID)):
        for packed in view["figures"]:
            (shape,) = unpack_step(packed, i)["layout"]["shapes"]
            assert (shape["x0"], shape["x1"]) == (i - 0.5, i + 0.5)  # the column of λ

    g0 = groups[0]
    at = _app(copy, monkeypatch, page="injection", **{f"lam_{g0}": 0.6})
    at.run()
    assert not at.exception
    args, view = _shipped(at)
    assert view["param"] == f"lam_{g0}" and view["values"] == list(grid.INJECTION_GRID)
    assert args["index"] == 3 and view["default"] == 0.4
    assert not [s for s in at.slider if s.key == f"lam_{g0}"]  # moved in the browser
    assert _hashes(copy) == before  # served read-only


def test_viewer_with_weights_evaluates_nothing(exported, monkeypatch):
    """With weights too, the viewer serves the shipped points only: a setting off the
    cached grid (a per-vector mix, not in the export) is not evaluated, so no visitor can
    make the server compute, and the bundle folder is never written."""
    from dashboard import cache as ac

    copy = exported["copies"]["weights"]
    before = _hashes(copy)
    at = _app(copy, monkeypatch, page="injection", anchor="base")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("— *not evaluated yet*" in m.value for m in at.markdown)
    assert not ac.store(str(copy), 0).can_evaluate
    assert _hashes(copy) == before


def test_viewer_picker_lists_names_only(exported, monkeypatch):
    from dashboard import cache as ac

    copy = exported["copies"]["no_weights"]
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(copy))
    monkeypatch.setenv("TASKFAIR_MODE", "viewer")
    choices = ac.bundle_choices()
    # viewer copies only: a full bundle (weights, eval texts) is not offered by a viewer
    under_models = {d.name for d in ac.MODELS_ROOT.glob("*") if ac._is_viewer_copy(d)}
    assert set(choices) == {copy.name} | under_models
    # A real bundle's path is still not a name: the viewer resolves nothing from users.
    assert ac.check_bundle_name(str(exported["copies"]["weights"])) is not None


# ----------------------------------------------------------------------------- password


def test_password_gate(exported, monkeypatch):
    copy = exported["copies"]["no_weights"]
    at = _app(copy, monkeypatch, page="data")
    at.run()
    assert not at.text_input and at.title[0].value == "Data & model"  # no secret: no gate

    at = _app(copy, monkeypatch, page="data")
    at.secrets["password"] = "correct horse"
    at.run()
    assert [t.label for t in at.text_input] == ["Password"]
    assert not at.selectbox and not at.get("plotly_chart")  # nothing of the app yet
    at.text_input[0].input("wrong")
    at.button[0].click()
    at.run()
    assert any("Wrong password" in e.value for e in at.error) and not at.selectbox
    at.text_input[0].input("correct horse")
    at.button[0].click()
    at.run()
    assert not at.exception and not at.text_input
    assert at.title[0].value == "Data & model"


def test_password_from_the_environment(monkeypatch):
    from dashboard import auth as app_auth

    monkeypatch.setenv("TASKFAIR_PASSWORD", "from-env")
    assert app_auth.expected_password() == "from-env"
    monkeypatch.delenv("TASKFAIR_PASSWORD")
    assert app_auth.expected_password() is None


def test_secrets_example_is_not_a_real_secret():
    """The example names the key the app reads; the real file is gitignored and never
    copied into the image."""
    text = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    assert 'password = "' in text
    assert ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".streamlit/secrets.toml" in (ROOT / ".dockerignore").read_text().splitlines()

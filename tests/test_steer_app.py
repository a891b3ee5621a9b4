"""The assistant end to end on the tiny bundle: the ``steer`` CLI writes a merge card whose
script rebuilds the merger's model bit for bit, the Steering assistant page runs a search
in AppTest, and the new merge methods are offered and cached by their parameters.

The tiny bundle's model predicts (nearly) one class for small λ and for FFT: those points
are degenerate, drawn and flagged but never recommended unless asked, which these tests use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file
from streamlit.testing.v1 import AppTest
from test_app import (  # noqa: F401 (fixtures)
    ROOT,
    TIMEOUT,
    _free_shared_models,
    bundle_dir,
    check_point,
    figures,
    settle,
    traces,
)

from taskfair.bundle import Bundle
from taskfair.cli import main
from taskfair.metrics import fairness_report
from taskfair.sweep import Evaluator, PointStore, Setting, curve_settings, method_mix


@pytest.fixture(scope="module")
def evaluator(bundle_dir):  # noqa: F811
    return Evaluator.from_bundle(Bundle.open(bundle_dir))


def _cli_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_cli_steer_writes_the_card_and_its_script_rebuilds_the_merger(
    bundle_dir,  # noqa: F811
    evaluator,
    tmp_path,
    capsys,
):
    out = tmp_path / "card"
    argv = ["steer", "--bundle", str(bundle_dir), "--objective", "dpd", "--budget", "15",
            "--n-boot", "200", "--margin", "0.3", "--allow-degenerate", "--out", str(out),
            "--json", str(tmp_path / "result.json")]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "merge card:" in printed and "recommendation:" in printed
    card = json.loads((out / "card.json").read_text())
    bundle = Bundle.open(bundle_dir)
    artifacts = bundle.manifest["artifacts"]
    for name, v in card["vectors"].items():
        assert v["sha256"] == artifacts[v["path"]], name
    assert card["base"]["fingerprint"] == bundle.base_fingerprint
    assert card["dataset"]["fingerprint"] == bundle.manifest["dataset"]["fingerprint"]
    assert {"accuracy", "dpd", "eod", "degenerate"} <= set(card["metrics"])
    for split in ("validation", "test"):
        for m in ("accuracy", "dpd", "eod"):
            iv = card[split][m]
            assert iv["lo"] <= iv["value"] <= iv["hi"], (split, m)
    # the metrics' one rule: only a (nearly) constant predictor is degenerate, and says so;
    # a constant group alone is not hidden (the tiny model's recommendation may have one)
    assert all("not fairness" in note for note in card["validation"]["degenerate"])
    assert "## Degeneracy" in (out / "card.md").read_text()
    doc = yaml.safe_load((out / "mergekit.yaml").read_text())
    assert doc["merge_method"] == "task_arithmetic" and len(doc["models"]) == len(card["vectors"])
    # The numbers on the card are the fairlearn numbers of the merged model on test.
    setting = Setting(**card["merge"]["setting"])
    logits = evaluator.setting_logits(setting, ["test"])["test"]
    rep = fairness_report(
        evaluator.labels("test"), logits.argmax(1), sensitive_features=evaluator.groups("test")
    )
    assert card["test"]["accuracy"]["value"] == pytest.approx(rep.accuracy, abs=1e-12)
    assert card["test"]["dpd"]["value"] == pytest.approx(rep.dpd, abs=1e-12)
    # ... and its degeneracy is the metrics' one rule on those predictions
    assert card["test"]["degenerate"] == ([rep.degenerate_note] if rep.degenerate else [])
    # The script, run as a user would, rebuilds the very weights the evaluator merged.
    merged = tmp_path / "merged"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [sys.executable, str(out / "rebuild.py"), "--bundle", str(bundle_dir), "--out", str(merged)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    got = load_file(str(merged / "model.safetensors"))
    with evaluator.merged(setting) as model:
        want = model.state_dict()
        assert got and all(torch.equal(got[k], want[k]) for k in got)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["n_exact"] <= 15 and result["recommendation"] is not None


def test_cli_steer_refuses_bad_questions_in_one_line(bundle_dir, capsys):  # noqa: F811
    line = _cli_error(capsys, "steer", "--bundle", str(bundle_dir), "--objective", "mix")
    assert "positive weight" in line
    line = _cli_error(capsys, "steer", "--bundle", str(bundle_dir), "--range", "race=1")
    assert "--range" in line
    line = _cli_error(capsys, "steer", "--bundle", str(bundle_dir), "--method", "ties",
                      "--param", "p=0.5")  # fmt: skip
    assert "no parameter" in line


def test_sweep_cli_keys_a_method_on_its_parameters(bundle_dir, capsys):  # noqa: F811
    argv = ["sweep", "--bundle", str(bundle_dir), "--method", "ties", "--param", "k=50",
            "--lams", "0.5", "--splits", "val"]  # fmt: skip
    assert main(argv) == 0
    bundle = Bundle.open(bundle_dir)
    store = PointStore.for_bundle(bundle, bundle.seeds[0])
    groups = store.groups
    (k50,) = curve_settings("ties", groups, [0.5], "sum", {"k": 50})
    (k20,) = curve_settings("ties", groups, [0.5], "sum", {"k": 20})
    assert store.has(k50, "val") and not store.has(k20, "val")
    assert store.meta(k50, "val")["setting"]["params"] == {"k": 50.0}
    line = _cli_error(capsys, "sweep", "--bundle", str(bundle_dir), "--method", "ties",
                      "--param", "k=500")  # fmt: skip
    assert "outside" in line


@pytest.fixture
def app(bundle_dir, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(bundle_dir))
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    monkeypatch.setenv("TASKFAIR_REFINE_SLICE_S", "60")
    # These tests read the server's widgets: a complete view would hand its slider and
    # cards to the browser (tested in test_viewer.py and test_browser.py).
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")

    def make(**params):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT * 4)
        for k, v in params.items():
            at.query_params[k] = str(v)
        return at

    return make


def test_the_steering_page_searches_certifies_and_offers_the_card(app, evaluator):
    at = app(page="steer")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Steering assistant"
    assert any("No search" in str(i.value) for i in at.info)
    at.radio(key="steer_objective").set_value("DPD")
    at.number_input(key="steer_budget").set_value(15)
    at.number_input(key="steer_margin").set_value(0.3)
    at.form_submit_button[0].click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    # The small-λ points and FFT are degenerate on the tiny bundle: drawn, flagged, and
    # not what is recommended.
    fig = figures(at)[0]
    (deg,) = traces(fig, role="degenerate")
    (rec,) = traces(fig, role="recommended")
    assert deg["text"] and rec["text"][0] not in deg["text"]
    assert len(at.download_button) == 4
    # The page's test numbers are the merged model's, by fairlearn.
    summary = at.dataframe[0].value  # the recommendation's table comes first
    row = summary[(summary["point"] == "recommendation") & (summary["split"] == "test")].iloc[0]
    (text,) = [str(m.value) for m in at.markdown if str(m.value).startswith("**Recommendation**")]
    coeffs = {}
    for part in text.split(": ", 1)[1].split(", "):
        name, _, value = part.partition(" = ")
        coeffs[name] = float(value)
    assert set(coeffs) == set(evaluator.subgroups)
    setting = method_mix("task_addition", evaluator.subgroups, coeffs, "sum")
    logits = evaluator.setting_logits(setting, ["test"])["test"]
    rep = fairness_report(
        evaluator.labels("test"), logits.argmax(1), sensitive_features=evaluator.groups("test")
    )
    assert row["DPD"].startswith(f"{rep.dpd:.3f}")
    assert row["accuracy"].startswith(f"{rep.accuracy:.3f}")
    assert len(figures(at)) == 2  # the search's Pareto view and the influence heatmap
    assert figures(at)[1]["data"][0]["meta"]["role"] == "influence"

    # Asked to, the search may also recommend a degenerate point; the page still offers one.
    at.checkbox(key="steer_degenerate").check()
    at.form_submit_button[0].click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(traces(figures(at)[0], role="recommended")) == 1


def test_tradeoff_offers_ties_with_its_parameter_and_evaluates_it(app, evaluator):
    at = app(page="tradeoff", lam="0.5")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (picker,) = [s for s in at.selectbox if s.label == "Merge method"]
    assert {"ties", "dare", "magnitude"} <= set(picker.options)
    picker.set_value("ties")
    at.run()
    (k,) = [s for s in at.slider if s.label == "k (TIES)"]
    assert (k.min, k.max, k.value) == (1.0, 100.0, 20.0)
    k.set_value(50.0)
    at = settle(at)
    (setting,) = curve_settings("ties", evaluator.subgroups, [0.5], "sum", {"k": 50})
    logits = evaluator.setting_logits(setting, ["test"])["test"]
    check_point(
        at,
        fairness_report(
            evaluator.labels("test"), logits.argmax(1), sensitive_features=evaluator.groups("test")
        ),
    )

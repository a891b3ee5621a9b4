"""The shared-shift diagnostic: mean margin, spread, ROC AUC and accuracy at the
validation threshold, from a merge's logits; on a tiny bundle built to collapse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taskfair.analysis.diagnostics import (
    best_threshold,
    bundle_diagnostics,
    diagnostic_text,
    roc_auc,
    shift_diagnostic,
)

ROOT = Path(__file__).resolve().parents[1]


def _logits(margin: np.ndarray) -> np.ndarray:
    return np.stack([np.zeros_like(margin), margin], axis=1)


def test_roc_auc_counts_ties_as_half_and_needs_both_classes():
    assert roc_auc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([0, 1])) == 0.5
    assert roc_auc(np.array([0.1, 0.9]), np.array([1, 1])) is None


def test_a_shared_shift_keeps_the_ranking_and_loses_the_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    good = (2 * y - 1) * 1.0 + rng.normal(0, 0.8, 600)
    shifted = good + 6.0  # every margin pushed the same way
    d = shift_diagnostic(_logits(shifted[300:]), y[300:], _logits(shifted[:300]), y[:300])
    assert d.verdict == "ranking kept, threshold lost"
    assert d.positive_rate >= 0.95 and d.auc > 0.8
    assert d.accuracy_at_val_threshold > d.accuracy + 0.2  # the val threshold restores it
    assert 4.0 < d.threshold < 8.0 and d.mean_margin > 5.0
    assert "Shared shift" in diagnostic_text(d, "toxic") and "fairness lever" in diagnostic_text(d)
    # A collapse with no ranking left: noise shifted to one side.
    noise = rng.normal(0, 1, 600) + 6.0
    lost = shift_diagnostic(_logits(noise[300:]), y[300:], _logits(noise[:300]), y[:300])
    assert lost.verdict == "ranking lost" and "no threshold" in diagnostic_text(lost)
    ok = shift_diagnostic(_logits(good), y)
    assert ok.verdict == "no collapse" and abs(ok.threshold) < 1.0


def test_best_threshold_maximises_accuracy_and_prefers_zero_on_ties():
    s, y = np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1])
    assert best_threshold(s, y) == 0.0
    s2 = s + 10
    t = best_threshold(s2, y)
    assert ((s2 > t).astype(int) == y).all()


@pytest.fixture(scope="module")
def collapse_bundle(tmp_path_factory, hatexplain_csv) -> Path:
    """configs/tiny.yaml in the paper's form (stratified subgroup rows, 62-77% toxic in
    three of the four groups) with a learning rate that makes each vector learn its
    group's prior: task addition pushes every post to "toxic"."""
    from taskfair.build import DatasetConfig, build_bundle, load_config

    cfg = load_config(ROOT / "configs" / "tiny.yaml")
    cfg = cfg.replace(
        dataset=DatasetConfig("hatexplain", {"label": "toxic", "path": str(hatexplain_csv)}),
        device="cpu",
        group_sampling="stratified",
        lr=2e-3,
        group_epochs=2,
    )
    out = tmp_path_factory.mktemp("collapse") / "collapse"
    build_bundle(cfg, out, sweeps=True)
    return out


def test_the_collapsing_merge_shows_why_in_info_and_on_the_tradeoff_page(
    collapse_bundle, monkeypatch, capsys
):
    from streamlit.testing.v1 import AppTest

    from taskfair import cli
    from taskfair.bundle import Bundle

    rows = bundle_diagnostics(Bundle.open(collapse_bundle), split="test")
    collapsed = [r for r in rows if r["verdict"] != "no collapse" and "λ=" in r["label"]]
    assert collapsed, [(r["label"], r["positive_rate"]) for r in rows]
    assert all(max(r["positive_rate"], 1 - r["positive_rate"]) >= 0.95 for r in collapsed)
    assert cli.main(["info", str(collapse_bundle)]) == 0
    out = capsys.readouterr().out
    assert "shared-shift diagnostic" in out and collapsed[0]["verdict"] in out
    # The first screen of the collapsing merge: the Trade-off page's current point.
    label = collapsed[0]["label"]  # "task_addition λ=..."
    lam = float(label.split("λ=")[1])
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(collapse_bundle))
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["page"] = "tradeoff"
    at.query_params["lam"] = f"{lam:g}"
    at.query_params["split"] = "test"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    captions = " ".join(str(c.value) for c in at.caption)
    word = "Shared shift" if collapsed[0]["verdict"].startswith("ranking kept") else "Ranking lost"
    assert word in captions and f"{collapsed[0]['positive_rate']:.0%} predicted" in captions

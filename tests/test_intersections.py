"""Intersections on the tiny image bundle (UTKFace: gender × race): the cells' numbers
against fairlearn with two sensitive features, small cells marked, and a bundle built
before the eval rows kept the second attribute."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_copy import link_or_copy
from fairlearn.metrics import MetricFrame, count, equalized_odds_difference, selection_rate
from sklearn.metrics import accuracy_score

from taskfair import plots
from taskfair.bundle import Bundle
from taskfair.metrics import OVERALL, SMALL_CELL_ROWS, intersection_labels, worst_cell
from taskfair.sweep import Evaluator, PointStore, reference_settings

ROOT = Path(__file__).resolve().parents[1]
ATTRS = ("gender", "race")


@pytest.fixture(scope="module")
def image_store(tiny_image_bundle):
    bundle = Bundle.open(tiny_image_bundle)
    ev = Evaluator.from_bundle(bundle)
    # persist=False: the session's bundle stays read-only
    store = PointStore.for_bundle(bundle, bundle.seeds[0], lambda: ev, persist=False)
    return bundle, store


def test_the_build_keeps_both_attributes(image_store):
    bundle, _ = image_store
    assert bundle.attribute == "gender" and bundle.attributes == ["gender", "race"]
    assert {"gender", "race"} <= set(bundle.eval_frame.columns)
    assert bundle.manifest["dataset"]["attributes"] == ["gender", "race"]


def test_intersection_cells_equal_fairlearn_with_two_sensitive_features(image_store):
    bundle, store = image_store
    fft = next(s for s in reference_settings(store.names) if s.method == "fft")
    store.evaluate(fft, "test")
    rows = store.intersection_rows(fft, "test", ATTRS)
    frame = bundle.eval_frame
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    y = test["label"].to_numpy()
    preds = store.logits(fft, "test").argmax(axis=1)
    mf = MetricFrame(
        metrics={"accuracy": accuracy_score, "selection_rate": selection_rate, "n": count},
        y_true=y,
        y_pred=preds,
        sensitive_features=test[list(ATTRS)],
    )
    want = mf.by_group
    want.index = [f"{g} × {r}" for g, r in want.index]
    cells = rows[rows["group"] != OVERALL].set_index("group")
    assert sorted(cells.index) == sorted(want.index)
    assert len(cells) > 2  # several gender × race cells in 60 faces
    for col in ("accuracy", "selection_rate", "n"):
        np.testing.assert_allclose(
            cells.loc[want.index, col].to_numpy(float), want[col].to_numpy(float)
        )
    top = rows[rows["group"] == OVERALL].iloc[0]
    assert top["dpd"] == pytest.approx(mf.difference()["selection_rate"])
    assert top["accuracy"] == pytest.approx(accuracy_score(y, preds))
    per_cell = test.groupby(list(ATTRS))["label"].agg(["min", "max"])
    if (
        per_cell["min"] == per_cell["max"]
    ).any():  # fairlearn would report a TPR of 0 there; ours is undefined, never 0
        assert np.isnan(top["eod"])
    else:
        eod = equalized_odds_difference(y, preds, sensitive_features=test[list(ATTRS)])
        assert top["eod"] == pytest.approx(eod)


def test_small_cells_are_marked_not_coloured_and_never_the_worst(image_store):
    _, store = image_store
    fft = next(s for s in reference_settings(store.names) if s.method == "fft")
    store.evaluate(fft, "test")
    rows = store.intersection_rows(fft, "test", ATTRS)
    cells = rows[rows["group"] != OVERALL].set_index("group")
    hm = plots.group_heatmap(
        rows.assign(lam=1.0), "accuracy", split="test", normalize="sum",
        groups=sorted(cells.index), min_n=SMALL_CELL_ROWS, y_label="gender × race",
    ).data[0]  # fmt: skip
    for i, g in enumerate(hm.y):
        n = int(cells.at[g, "n"])
        if n < SMALL_CELL_ROWS:
            assert hm.z[i][0] is None and hm.text[i][0] == f"n={n}"
            assert hm.meta["small"][i][0] is True
        else:
            assert hm.z[i][0] == pytest.approx(cells.at[g, "accuracy"])
    big = cells[cells["n"] >= SMALL_CELL_ROWS]
    worst = worst_cell(cells, "accuracy")
    if big.empty:
        assert worst is None
    else:
        assert worst[0] == big["accuracy"].idxmin()
    # a table with a large enough cell names it
    table = pd.DataFrame({"n": [40, 10], "accuracy": [0.7, 0.1]}, index=["big", "small"])
    assert worst_cell(table, "accuracy") == ("big", 0.7, 40)


def test_intersection_labels_missing_in_either_attribute_is_no_cell():
    frame = pd.DataFrame({"a": ["x", None, "y"], "b": ["p", "q", None]})
    labels = intersection_labels(frame, ["a", "b"])
    assert labels.iloc[0] == "x × p" and labels.iloc[1:].isna().all()


def _copy_without_attributes(src: Path, dst: Path, sweeps: bool = False) -> Path:
    """A bundle as built before the eval rows listed their attributes (manifest only;
    hard links, the manifest rewritten after breaking its link). Cached points stay
    valid: the keys hash the trained attribute only."""

    ignore = None if sweeps else shutil.ignore_patterns("sweeps")
    shutil.copytree(src, dst, copy_function=link_or_copy, ignore=ignore)
    manifest = json.loads((dst / "manifest.json").read_text())
    del manifest["dataset"]["attributes"]
    (dst / "manifest.json").unlink()
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_an_older_bundle_reads_one_attribute_only(tiny_image_bundle, tmp_path):
    old = Bundle.open(_copy_without_attributes(Path(tiny_image_bundle), tmp_path / "old"))
    assert old.attributes == ["gender"]
    store = PointStore.for_bundle(old, old.seeds[0], None, persist=False)
    assert store.split("test").attributes is None
    with pytest.raises(ValueError, match="rebuild"):
        store.intersection_scorer("test", ATTRS)


def test_heatmaps_page_reads_intersections_and_older_bundles_open(
    tiny_image_bundle, tmp_path, monkeypatch
):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TASKFAIR_REFINE_SLICE_S", "600")
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    fresh = tmp_path / "img"  # hard links; the app writes new files only (atomic renames)
    shutil.copytree(
        tiny_image_bundle,
        fresh,
        copy_function=link_or_copy,
        ignore=shutil.ignore_patterns("sweeps"),
    )
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(fresh))
    # these tests read the server's widgets (a complete view would move to the browser)
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params["page"] = "heatmaps"
        at.query_params["over"] = "gender × race"
        for _ in range(20):
            at.run()
            assert not at.exception, [e.message for e in at.exception]
            if not any(str(c.value).startswith("Refining") for c in at.caption):
                break
        hm = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
        assert all(" × " in g for g in hm["y"]) and len(hm["y"]) > 2
        assert hm["meta"]["n"] and any(any(row) for row in hm["meta"]["small"])
        assert any("Worst intersection" in str(m.value) for m in at.markdown)

        older = _copy_without_attributes(fresh, tmp_path / "older", sweeps=True)
        monkeypatch.setenv("TASKFAIR_BUNDLE", str(older))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params["page"] = "heatmaps"
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert not [r for r in at.radio if r.label == "Read groups over"]
        hm = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
        assert set(hm["y"]) == {"female", "male"}
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()

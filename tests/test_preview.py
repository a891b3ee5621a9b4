"""Previews: exact at exact points, their error measured at held-out points, fast metrics
equal to fairlearn's."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from derivatives import assert_directional_derivative
from test_sweep import GROUPS, make_evaluator, parts  # noqa: F401 (fixture)

from taskfair import metrics, sweep
from taskfair.metrics import FairnessWarning, fairness_report
from taskfair.sweep import preview, preview_error


@pytest.fixture(scope="module")
def ev(parts):  # noqa: F811
    return make_evaluator(parts)


def test_interpolation_exact_at_grid_points_and_linear_between():
    rng = np.random.default_rng(0)
    grid = {
        0.0: rng.normal(size=(5, 2)),
        0.5: rng.normal(size=(5, 2)),
        1.0: rng.normal(size=(5, 2)),
    }
    p = preview.InterpolationPreview([1.0, 0.0, 0.5], [grid[1.0], grid[0.0], grid[0.5]])
    for lam, want in grid.items():
        np.testing.assert_array_equal(p.logits(lam), want.astype(np.float32))
    np.testing.assert_allclose(p.logits(0.25), (grid[0.0] + grid[0.5]) / 2, rtol=1e-6)
    np.testing.assert_allclose(p.logits(0.6), 0.8 * grid[0.5] + 0.2 * grid[1.0], rtol=1e-5)
    assert p.neighbours(0.6) == (0.5, 1.0)
    with pytest.raises(ValueError, match="outside"):
        p.logits(1.2)
    assert preview.InterpolationPreview(grid).n == 5


def test_preview_at_an_exact_point_equals_it(ev, tmp_path):
    cache = sweep.SweepCache(tmp_path)
    lams = (0.0, 0.5, 1.0)
    p = sweep.curve_preview(ev, lams=lams, split="val", cache=cache)
    for st in sweep.task_addition_settings(GROUPS, lams):
        np.testing.assert_array_equal(p.logits(st.lam), ev.logits(st.coeff_dict, "val"))


def test_interpolation_error_measured_at_midpoints_and_stored(ev, tmp_path):
    cache = sweep.SweepCache(tmp_path)
    lams = (0.0, 0.25, 0.5, 0.75, 1.0)
    before = ev.n_evaluations
    err = sweep.interpolation_error(ev, lams=lams, split="val", cache=cache)
    assert ev.n_evaluations - before == len(lams) + len(lams) - 1  # grid + midpoints
    assert [pt["point"] for pt in err["points"]] == [0.125, 0.375, 0.625, 0.875]
    assert 0.0 <= err["agreement_min"] <= err["agreement"] <= 1.0
    for key in ("d_accuracy", "d_dpd", "d_eod"):
        assert err[key] >= 0 or np.isnan(err[key])
    assert err["agreement"] > 0.8  # tiny model, coarse grid: still mostly right
    # stored with the cache: asking again costs nothing
    n = ev.n_evaluations
    assert sweep.interpolation_error(ev, lams=lams, split="val", cache=cache) == err
    assert ev.n_evaluations == n
    # leave-one-out reuses the grid: free
    loo = sweep.interpolation_error(
        ev, lams=lams, split="val", holdout="leave_one_out", cache=cache
    )
    assert ev.n_evaluations == n and len(loo["points"]) == 3


def test_jvp_through_attention_is_the_derivative(parts):  # noqa: F811
    """The JVP is the directional derivative of the logits along a vector, through eager
    attention and GELU: checked in float64 against two central differences
    (tests/derivatives.py), so no CPU's rounding decides it."""
    ev64 = make_evaluator(parts, dtype=torch.float64)
    anchor = {"women": 0.5, "men": 0.5}
    fo = preview.FirstOrderPreview.build(ev64, anchor, "val", names=["women"])
    assert_directional_derivative(
        lambda t: ev64.logits({"women": 0.5 + t, "men": 0.5}, "val"), fo.jvps["women"]
    )


def test_first_order_preview_at_anchor_is_exact_and_error_is_measured(ev):
    anchor = {"women": 0.5, "men": 0.5}
    fo = preview.FirstOrderPreview.build(ev, anchor, "val", names=GROUPS)
    np.testing.assert_array_equal(fo.logits(anchor), ev.logits(anchor, "val"))
    # linear in the direction: a mix is the sum of its parts
    mix = fo.logits({"women": 0.6, "men": 0.4}) - fo.anchor_logits
    parts_sum = 0.1 * fo.jvps["women"] - 0.1 * fo.jvps["men"]
    np.testing.assert_allclose(mix, parts_sum, rtol=1e-5, atol=1e-6)
    # sdpa restored after the JVPs
    assert ev.merger.model.config._attn_implementation != "eager"
    points = [{"women": 0.55, "men": 0.45}, {"women": 0.45, "men": 0.6}, {"women": 0.8, "men": 0.5}]
    err = preview_error.measure_error(
        fo.logits, lambda p: ev.logits(p, "val"), points, ev.labels("val"), ev.groups("val")
    )
    assert len(err["points"]) == 3 and err["points"][0]["point"] == points[0]
    assert err["points"][0]["agreement"] >= 0.9  # close to the anchor
    assert 0 <= err["agreement"] <= 1
    with pytest.raises(ValueError, match="No JVP"):
        fo.logits({"women": 0.5, "men": 0.5, "fft": 1.0})


def test_nearest_anchor_uses_parameter_distance():
    anchors = [{"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]
    assert preview.nearest_anchor({"a": 0.9, "b": 0.2}, anchors) == 1
    # b's vector is tiny: moving along b costs little distance
    near = [{"a": 0.0, "b": 0.0}, {"a": 0.3, "b": 0.9}]
    assert preview.nearest_anchor({"a": 0.1, "b": 0.9}, near) == 1
    gram = np.diag([1.0, 1e-6])
    assert preview.nearest_anchor({"a": 0.1, "b": 0.9}, near, ["a", "b"], gram) == 0


@pytest.mark.parametrize("case", ["random", "degenerate", "categorical"])
def test_preview_scorer_equals_fairness_report(case):
    rng = np.random.default_rng(1)
    n = 300
    y = rng.integers(0, 2, n)
    logits = rng.normal(size=(n, 2))
    groups = pd.Series(rng.choice(["a", "b", "c", None], n), dtype=object)
    if case == "degenerate":
        y[(groups == "c").to_numpy()] = 1  # c has no negatives: EOD undefined
        groups[groups == "b"] = None  # b vanishes
    if case == "categorical":
        groups = pd.Series(pd.Categorical(groups, categories=["c", "b", "a", "empty"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)
        want = fairness_report(y, logits.argmax(1), sensitive_features=groups)
    got = metrics.preview_report(logits, y, groups)
    for name in ("accuracy", "macro_accuracy", "worst_group_accuracy", "dpd", "eod"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), equal_nan=True)
    assert list(got.by_group.index) == list(want.by_group.index)
    assert list(got.by_group.columns) == list(want.by_group.columns)
    np.testing.assert_allclose(
        got.by_group.to_numpy(float), want.by_group.to_numpy(float), equal_nan=True, atol=1e-12
    )
    pd.testing.assert_frame_equal(got.to_frame(), want.to_frame(), check_dtype=False)


def test_preview_redraw_is_fast_for_10k_rows():
    rng = np.random.default_rng(0)
    n = 10_000
    p = preview.InterpolationPreview([0.0, 0.1], [rng.normal(size=(n, 2)), rng.normal(size=(n, 2))])
    scorer = metrics.PreviewScorer(rng.integers(0, 2, n), rng.choice(["a", "b", "c"], n))
    scorer.report(p.logits(0.05))  # warm-up
    import time

    t = time.perf_counter()
    for lam in np.linspace(0.01, 0.09, 5):
        scorer.report(p.logits(lam))
    per = (time.perf_counter() - t) / 5
    assert per < 0.5  # generous on a loaded 2-core machine; the benchmark measures it


def test_first_order_error_is_measured_and_stored(ev, tmp_path):
    cache = sweep.SweepCache(tmp_path)
    anchor = {"women": 0.5, "men": 0.5}
    points = [{"women": 0.6, "men": 0.5}, {"women": 0.5, "men": 0.35}]
    err = sweep.first_order_error(ev, anchor, points, names=GROUPS, cache=cache)
    assert [p["point"] for p in err["points"]] == points
    assert err["scheme"] == "first_order" and err["setup_s"] > 0
    assert 0.9 <= err["agreement_min"] <= err["agreement"] <= 1.0
    n = ev.n_evaluations
    assert sweep.first_order_error(ev, anchor, points, names=GROUPS, cache=cache) == err
    assert ev.n_evaluations == n  # stored with the cache: free the second time

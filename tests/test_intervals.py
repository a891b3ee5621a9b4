"""The fairness-inference core: plug-ins equal fairlearn's, intervals hold their shape,
the resampler keeps the design, and the coverage study's smoke runs."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from taskfair.metrics import (
    Interval,
    bootstrap_replicates,
    degeneracy,
    fairness_intervals,
    paired_intervals,
    simultaneous_band,
)

SIZES = {"a": 60, "b": 25, "c": 80}


def _data(seed=0, none=40):
    rng = np.random.default_rng(seed)
    g = np.array(sum(([k] * n for k, n in SIZES.items()), []) + [None] * none, dtype=object)
    y = rng.integers(0, 2, len(g))
    shift = np.select([g == "a", g == "b"], [0.15, -0.1], 0.0)
    p = (rng.random(len(g)) < 0.3 + 0.3 * y + shift).astype(int)
    return y, p, g


def _fair(y, p, g):
    m = np.array([x is not None for x in g])
    gg = g[m].astype(str)
    return (
        demographic_parity_difference(y[m], p[m], sensitive_features=gg),
        equalized_odds_difference(y[m], p[m], sensitive_features=gg),
    )


def _intervals(r):
    for v in r.values():
        if isinstance(v, Interval):
            yield v
        elif isinstance(v, dict):
            yield from _intervals(v)


def test_plug_ins_are_fairlearns_numbers_and_inside_their_intervals():
    y, p, g = _data()
    r = fairness_intervals(y, p, sensitive_features=g, n_boot=50)
    dpd, eod = _fair(y, p, g)
    assert r["dpd"].estimate == pytest.approx(dpd)
    assert r["eod"].estimate == pytest.approx(eod)
    assert r["accuracy"].estimate == pytest.approx((y == p).mean())
    b = np.asarray(g == "b")
    assert r["groups"]["b"]["tpr"].estimate == pytest.approx(p[b & (y == 1)].mean())
    for iv in _intervals(r):
        assert iv.lo <= iv.estimate <= iv.hi
        assert iv.lo >= 0.0 and iv.hi <= 1.0  # levels stay inside [0, 1]
    assert r["dpd"].corrected is not None and 0.0 <= r["dpd"].corrected <= 1.0


def test_seeds_give_the_mean_of_each_seeds_fairlearn_number():
    y, p, g = _data()
    rng = np.random.default_rng(3)
    seeds = np.stack([p, np.where(rng.random(len(p)) < 0.1, 1 - p, p), p[::-1]])
    r = fairness_intervals(y, seeds, sensitive_features=g, n_boot=0)
    per_seed = [_fair(y, s, g) for s in seeds]
    assert r["dpd"].estimate == pytest.approx(np.mean([d for d, _ in per_seed]))
    assert r["eod"].estimate == pytest.approx(np.mean([e for _, e in per_seed]))
    assert r["seeds"] == 3 and r["dpd"].corrected is None


def test_a_zero_disparity_gets_a_lower_bound_of_zero_and_more_looks_widen():
    rng = np.random.default_rng(1)
    g = np.repeat(["x", "y"], 200)
    y = np.tile([0, 1], 200)
    p = (rng.random(400) < 0.5).astype(int)
    one = fairness_intervals(y, p, sensitive_features=g, n_boot=0)
    many = fairness_intervals(y, p, sensitive_features=g, n_boot=0, looks=11)
    assert one["dpd"].lo == 0.0
    assert many["dpd"].hi > one["dpd"].hi
    assert "11 looks" in many["dpd"].method and many["dpd"].level == 0.95


def test_the_resampler_keeps_every_stratum_and_pairs_the_predictors():
    y, p, g = _data()
    reps = bootstrap_replicates(
        y, {"labels": y, "p": p, "p again": p}, sensitive_features=g, n_boot=64, random_state=5
    )
    # predicting the label: a group's selection rate is its share of positives, which a
    # resample stratified by group × label never changes
    sel = reps.draws["group.selection_rate"][:, 0, :]
    assert np.allclose(sel, sel[0]) and np.allclose(
        sel[0], reps.estimate["group.selection_rate"][0]
    )
    assert np.array_equal(reps.draws["dpd"][:, 1], reps.draws["dpd"][:, 2])  # the same rows
    assert reps.draws["eod"].shape == (64, 3)
    assert reps.estimate["dpd"][1] == pytest.approx(_fair(y, p, g)[0])


def test_identical_seeds_resample_like_one_vector():
    y, p, g = _data()
    one = bootstrap_replicates(y, {"p": p}, sensitive_features=g, n_boot=32, random_state=2)
    three = bootstrap_replicates(
        y, {"p": np.stack([p, p, p])}, sensitive_features=g, n_boot=32, random_state=2
    )
    assert np.allclose(one.draws["dpd"], three.draws["dpd"], equal_nan=True)
    assert three.seeds == (3,)


def test_paired_intervals_of_a_predictor_with_itself_and_with_another():
    y, p, g = _data()
    same = paired_intervals(y, p, p, sensitive_features=g, n_boot=100)
    assert same["dpd"].estimate == 0.0 and same["dpd"].lo <= 0.0 <= same["dpd"].hi
    assert not same["accuracy"].excludes(0.0)
    q = np.ones_like(p)
    q[::2] = p[::2]
    d = paired_intervals(y, p, q, sensitive_features=g, n_boot=100)
    ra = fairness_intervals(y, p, sensitive_features=g, n_boot=0)
    rb = fairness_intervals(y, q, sensitive_features=g, n_boot=0)
    assert d["dpd"].estimate == pytest.approx(ra["dpd"].estimate - rb["dpd"].estimate)
    assert d["eod"].lo <= d["eod"].estimate <= d["eod"].hi
    assert d["selection_rate"].excludes(0.0)  # half the rows forced to 1: a real change


def test_simultaneous_band_is_wider_than_each_looks_own_interval():
    y, p, g = _data()
    rng = np.random.default_rng(0)
    preds = {f"λ{i}": np.where(rng.random(len(p)) < 0.05 * i, 1 - p, p) for i in range(6)}
    reps = bootstrap_replicates(y, preds, sensitive_features=g, n_boot=300, random_state=0)
    lo, hi, method = simultaneous_band(
        reps.draws["accuracy"], reps.estimate["accuracy"], bounds=(0, 1)
    )
    q = np.quantile(reps.draws["accuracy"], [0.025, 0.975], axis=0)
    assert (hi - lo > q[1] - q[0]).all() and method == "max-t over 6 looks"
    assert ((lo <= reps.estimate["accuracy"]) & (reps.estimate["accuracy"] <= hi)).all()


def test_degeneracy_tells_a_constant_predictor_from_a_constant_group():
    whole = degeneracy(0.01, {"a": (0.0, 50), "b": (0.02, 50)}, "toxic")
    assert whole.degenerate and whole.kind == "predictor" and "not fairness" in whole.note
    one = degeneracy(0.4, {"a": (0.0, 50), "b": (0.6, 50)}, "toxic")
    assert not one.degenerate and one.kind == "group" and one.groups == ("a",)
    assert "evidence of unfairness" in one.note
    assert degeneracy(0.4, {"a": (0.3, 50), "b": (0.5, 50)}).kind == ""


def test_group_info_and_the_noise_floor():
    y, p, g = _data()
    g = g.copy()
    small = np.flatnonzero(g == "b")[:8]
    g[np.flatnonzero(g == "b")[8:]] = "c"
    g[small] = "b"
    r = fairness_intervals(y, p, sensitive_features=g, n_boot=0)
    info = r["info"]
    assert info["b"].too_small and "too small for a finding" in info["b"].note
    assert not info["c"].too_small
    assert info["b"].mdd_selection_rate > info["c"].mdd_selection_rate
    assert info["b"].n + info["a"].n + info["c"].n == int(sum(x is not None for x in g))
    floor = r["noise_floor"]["dpd"]
    assert 0.0 < floor.lo <= floor.typical <= floor.hi
    flat = fairness_intervals(y, np.ones_like(p), sensitive_features=g, n_boot=0)
    assert flat["noise_floor"]["dpd"].hi == 0.0  # a constant predictor has no floor


def _coverage_module():
    path = Path(__file__).resolve().parents[1] / "scripts" / "coverage.py"
    spec = importlib.util.spec_from_file_location("coverage_study", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


def test_coverage_study_smoke():
    cov = _coverage_module()
    cell = cov.gap_cell("2 groups × 100, gap 0", [100, 100], 0.0)
    rows = {r["metric"]: r for r in cov.run_cell(cell, 80, seed=0)}
    # at a true disparity of 0, the percentile bootstrap of max − min almost never covers
    assert rows["DPD"]["chosen_cover"] >= 0.9 > rows["DPD"]["today_cover"]
    assert rows["EOD"]["chosen_cover"] >= 0.9
    assert not math.isnan(rows["ACCURACY"]["chosen_width"])
    assert "| 2 groups × 100, gap 0 | DPD |" in cov.table(list(rows.values()))

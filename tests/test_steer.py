"""The steering assistant's library: metrics from count tables against fairlearn, the
paired bootstrap, degeneracy, the search strategies, the driver (budget, acceptance,
stop and resume) and the influence matrix against finite differences."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from derivatives import assert_directional_derivative
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from test_sweep import GROUPS, make_evaluator, make_frame, parts  # noqa: F401 (fixture)

from taskfair.errors import ConfigError
from taskfair.metrics import fairness_report
from taskfair.steer import (
    Constraints,
    CountMetrics,
    Objective,
    Problem,
    RowBootstrap,
    degeneracy,
    influence_at,
    soft_rates,
    steer,
)
from taskfair.steer.score import acceptance
from taskfair.steer.search import STRATEGIES, make
from taskfair.sweep import PointStore, SweepCache, method_mix

RNG = np.random.default_rng(0)
N = 300
Y = RNG.integers(0, 2, N)
G = pd.Series(RNG.choice(["a", "b", "c", None], N, p=[0.4, 0.3, 0.2, 0.1]), dtype=object)
P = (RNG.random(N) < np.where(G == "a", 0.7, 0.4)).astype(int)


def _reference(y, p, g):
    """fairlearn on the grouped rows, and plain accuracy over all rows."""
    has = pd.Series(g, dtype=object).notna().to_numpy()
    yg, pg, gg = y[has], p[has], np.asarray(g, dtype=object)[has]
    return {
        "accuracy": float((y == p).mean()),
        "dpd": demographic_parity_difference(yg, pg, sensitive_features=gg),
        "eod": equalized_odds_difference(yg, pg, sensitive_features=gg),
    }


# ----------------------------------------------------------------------------- certify


def test_count_metrics_equal_fairlearn_and_the_report():
    m = CountMetrics(Y, G).of_predictions(P[None, :])
    ref, rep = _reference(Y, P, G), fairness_report(Y, P, sensitive_features=G)
    for k in ("accuracy", "dpd", "eod"):
        assert m[k][0] == pytest.approx(ref[k], abs=1e-12), k
    assert m["worst_group_error"][0] == pytest.approx(1 - rep.worst_group_accuracy, abs=1e-12)
    for col, mine in (("accuracy", "group_accuracy"), ("selection_rate", "selection_rate"),
                      ("tpr", "tpr"), ("fpr", "fpr")):  # fmt: skip
        np.testing.assert_allclose(m[mine][0], rep.by_group[col].to_numpy(float), atol=1e-12)


def test_eod_is_undefined_when_a_group_lacks_positives_as_in_the_report():
    y = Y.copy()
    y[(G == "c").to_numpy()] = 0
    m = CountMetrics(y, G).of_predictions(P[None, :])
    assert math.isnan(m["eod"][0]) and math.isnan(fairness_report(y, P, sensitive_features=G).eod)
    assert not math.isnan(m["dpd"][0])


def test_every_bootstrap_resample_scores_as_fairlearn_does_on_its_rows():
    scorer = CountMetrics(Y, G)
    rng = np.random.default_rng(5)
    for _ in range(5):
        idx = rng.integers(0, N, N)
        got = scorer.of_weights(P, np.bincount(idx, minlength=N)[None, :].astype(float))
        ref = _reference(Y[idx], P[idx], G.to_numpy()[idx])
        for k in ("accuracy", "dpd", "eod"):
            assert got[k][0] == pytest.approx(ref[k], abs=1e-12), k


def test_paired_difference_of_a_point_with_itself_is_zero_and_intervals_bracket():
    boot = RowBootstrap(Y, G, n_boot=300, seed=1)
    # no row disagrees, but the rows do not pin the populations' differences: the
    # intervals stay open around 0, narrow for accuracy (Agresti–Min), wider for EOD
    d = boot.difference(P, P, "accuracy")
    assert d.value == 0.0 and -0.02 < d.lo < 0.0 < d.hi < 0.02
    d = boot.difference(P, P, "eod")
    assert d.value == 0.0 and d.lo < 0.0 < d.hi
    s = boot.summary(P, Objective("eod"))
    for m in ("accuracy", "dpd", "eod", "worst_group_error", "objective"):
        assert s[m].lo <= s[m].value <= s[m].hi, m
    assert s["objective"].value == s["eod"].value
    assert set(s["groups"]) == {"a", "b", "c"}


def test_the_paired_interval_of_a_difference_covers_the_truth_at_about_its_level():
    """Two classifiers with known accuracies 0.80 and 0.75 on fresh data each time: the
    95% interval of the accuracy difference covers 0.05 in about 95% of 120 draws."""
    rng = np.random.default_rng(11)
    covered = 0
    for rep in range(120):
        y = rng.integers(0, 2, 400)
        g = pd.Series(rng.choice(["a", "b"], 400), dtype=object)
        a = np.where(rng.random(400) < 0.80, y, 1 - y)
        b = np.where(rng.random(400) < 0.75, y, 1 - y)
        d = RowBootstrap(y, g, n_boot=300, seed=rep).difference(a, b, "accuracy")
        covered += d.lo <= 0.05 <= d.hi
    assert 0.88 <= covered / 120 <= 0.995, covered


def test_degeneracy_is_the_metrics_rule_a_constant_group_is_not_hidden():
    g = pd.Series(["a"] * 50 + ["b"] * 50, dtype=object)
    assert "not fairness" in degeneracy(np.ones(100, int), g)[0]
    one_group = np.r_[np.zeros(50, int), (np.arange(50) % 2)]
    assert degeneracy(one_group, g) == []  # its DPD of 0.5 counts against it instead
    border = np.zeros(100, int)
    border[[0, 1]] = 1  # 2 of 100 = 2%: the whole predictor at the border
    assert degeneracy(border, g) != []
    border[2] = 1  # 3%
    assert degeneracy(border, g) == []


def test_a_degenerate_point_is_never_accepted():
    boot = RowBootstrap(Y, G, n_boot=200)
    constant = np.ones(N, int)
    s = boot.summary(constant, Objective("dpd"))
    ok, reasons = acceptance(s, Problem(objective=Objective("dpd")), 0.0, degeneracy(constant, G))
    assert s["objective"].value == 0.0 and not ok
    assert any("degenerate" in r for r in reasons)


def test_bad_questions_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match="Unknown objective"):
        Objective("auc")
    with pytest.raises(ConfigError, match="positive weight"):
        Objective("mix", {"eod": 0})
    with pytest.raises(ConfigError, match="low ≤ high"):
        Constraints(ranges={"a": (1, 0)})
    with pytest.raises(ConfigError, match="no FFT vector"):
        Constraints().resolve_floor(None)
    with pytest.raises(ConfigError, match="no parameter"):
        Problem(method="ties", params={"p": 0.5})
    with pytest.raises(ConfigError, match="mixes from fft"):
        Problem(method="injection")
    assert Objective("mix", {"eod": 1, "dpd": 0.5}).value({"eod": 0.2, "dpd": 0.1}) == 0.25


# ----------------------------------------------------------------------------- search


def _bowl(center):
    center = np.asarray(center)

    def f(X):
        return ((np.atleast_2d(X) - center) ** 2).sum(axis=1)

    return f


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_descends_a_bowl_within_budget(name):
    f = _bowl([0.3, 0.7, 0.55])
    x0 = np.array([0.5, 0.5, 0.5])
    s = make(name, x0, float(f(x0)[0]), [0, 0, 0], [1, 1, 1], 0.01, seed=0)
    for _ in range(60):
        x = s.propose(f if s.uses_preview else None)
        if x is None:
            break
        assert np.all(x >= 0) and np.all(x <= 1)
        assert np.allclose(x, np.round(x, 2))  # on the resolution
        s.observe(x, float(f(x)[0]))
    assert s.f < 0.1 * float(f(x0)[0]), (name, s.x, s.f)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_a_strategy_restored_from_its_json_state_proposes_what_it_would_have(name):
    f = _bowl([0.2, 0.9])
    x0 = np.array([0.5, 0.5])
    a = make(name, x0, float(f(x0)[0]), [0, 0], [1, 1], 0.01, seed=3)
    pv = f if a.uses_preview else None
    x = a.propose(pv)  # one step, then the state travels through JSON
    a.observe(x, float(f(x)[0]))
    b = make(name, x0, float(f(x0)[0]), [0, 0], [1, 1], 0.01, seed=3)
    b.restore(json.loads(json.dumps(a.state())))
    compared = 0
    for _ in range(5):
        xa, xb = a.propose(pv), b.propose(pv)
        if xa is None:
            assert xb is None
            break
        np.testing.assert_array_equal(xa, xb)
        compared += 1
        a.observe(xa, float(f(xa)[0]))
        b.observe(xb, float(f(xb)[0]))
    assert compared >= 1


# ----------------------------------------------------------------------------- driver


@pytest.fixture(scope="module")
def wide(parts):  # noqa: F811
    """The toy evaluator on 160 + 160 rows (the bootstrap needs some rows per group)."""
    base, tok, vecs, _ = parts
    return base, tok, vecs, make_frame(160, 160, seed=3)


def _store(ev, folder):
    return PointStore.for_evaluator(ev, SweepCache(folder))


def test_steer_spends_its_budget_certifies_and_reports_on_test(wide, tmp_path):
    ev = make_evaluator(wide)
    problem = Problem(objective=Objective("eod"), constraints=Constraints(margin=0.1),
                      budget=18, n_boot=300)  # fmt: skip
    seen = []
    res = steer(problem, _store(ev, tmp_path), lambda: ev, progress=lambda d, t, m: seen.append(d))
    assert res.n_exact <= 18 and res.n_new == res.n_exact
    assert seen and max(seen) <= 18
    labels = [c["label"] for c in res.candidates]
    assert (
        labels[:2] == ["FFT", "LORA"] and sum(c["source"] == "grid" for c in res.candidates) == 11
    )
    for c in res.candidates:  # the acceptance rule, as stated
        if c["accepted"]:
            assert c["val"]["accuracy"]["lo"] >= res.floor and not c["degenerate"]
    fft = res.candidates[0]["val"]["accuracy"]["value"]
    assert res.floor == pytest.approx(fft - 0.1)
    assert res.recommendation is not None and res.best_global is not None
    rec = res.candidates[res.recommendation]
    accepted = [c for c in res.candidates if c["accepted"] and c["x"] is not None]
    assert rec["val"]["objective"]["value"] == min(c["val"]["objective"]["value"] for c in accepted)
    # On test: the recommendation, the best global λ, FFT, LoRA; numbers = fairlearn's.
    assert {"recommendation", "best global λ", "FFT", "LORA"} <= set(res.test)
    logits = ev.setting_logits(res.setting(res.recommendation), ["test"])["test"]
    direct = fairness_report(
        ev.labels("test"), logits.argmax(1), sensitive_features=ev.groups("test")
    )
    t = res.test["recommendation"]
    assert t["accuracy"]["value"] == pytest.approx(direct.accuracy, abs=1e-12)
    assert t["eod"]["value"] == pytest.approx(direct.eod, abs=1e-12)
    assert set(res.differences) == {"val", "test"}
    assert res.influence is not None and list(res.influence.columns) == ev.subgroups
    # Asking again costs no evaluation: the points and the state are cached.
    n = ev.n_evaluations
    again = steer(problem, _store(ev, tmp_path), lambda: ev)
    assert ev.n_evaluations == n and again.n_new == 0
    assert [c["setting"] for c in again.candidates] == [c["setting"] for c in res.candidates]


def test_a_stopped_search_resumes_where_it_stood(wide, tmp_path):
    problem = Problem(objective=Objective("dpd"), constraints=Constraints(margin=0.1),
                      budget=20, n_boot=200, search="coordinate")  # fmt: skip
    ev_a = make_evaluator(wide)
    whole = steer(problem, _store(ev_a, tmp_path / "a"), lambda: ev_a, report_test=False)

    ev_b = make_evaluator(wide)
    store_b = _store(ev_b, tmp_path / "b")
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 2  # after two search points

    first = steer(problem, store_b, lambda: ev_b, stop=stop, report_test=False)
    assert first.stopped and first.n_exact < whole.n_exact
    n = ev_b.n_evaluations
    rest = steer(problem, _store(ev_b, tmp_path / "b"), lambda: ev_b, report_test=False)
    # Only the remaining points were evaluated (val only), no JVP redone, same path.
    assert ev_b.n_evaluations - n == rest.n_new == whole.n_exact - first.n_exact
    assert [c["setting"] for c in rest.candidates] == [c["setting"] for c in whole.candidates]


def test_a_larger_budget_continues_a_finished_search(wide, tmp_path):
    ev = make_evaluator(wide)
    store = _store(ev, tmp_path)
    small = Problem(objective=Objective("eod"), constraints=Constraints(margin=0.2),
                    budget=15, n_boot=200, search="cmaes")  # fmt: skip
    a = steer(small, store, lambda: ev, report_test=False)
    b = steer(dataclasses.replace(small, budget=19), store, lambda: ev, report_test=False)
    assert a.n_exact == 15 and b.n_exact == 19 and b.n_new == 4
    assert [c["setting"] for c in b.candidates[:15]] == [c["setting"] for c in a.candidates]


def test_steer_mixes_the_transformed_vectors_of_ties(wide, tmp_path):
    ev = make_evaluator(wide)
    problem = Problem(objective=Objective("eod"), constraints=Constraints(margin=0.2),
                      method="ties", params={"k": 50}, budget=15, n_boot=200)  # fmt: skip
    res = steer(problem, _store(ev, tmp_path), lambda: ev, report_test=False)
    methods = {c["setting"]["method"] for c in res.candidates if c["x"] is not None}
    assert methods == {"ties"}
    assert all(c["setting"]["params"] == {"k": 50.0} for c in res.candidates if c["x"] is not None)


def test_the_methods_own_parameter_is_searched_too_within_the_budget(wide, tmp_path):
    ev = make_evaluator(wide)
    problem = Problem(objective=Objective("eod"), constraints=Constraints(margin=0.2),
                      method="ties", param_values={"k": (30, 60)}, budget=30, n_boot=200)  # fmt: skip
    res = steer(problem, _store(ev, tmp_path), lambda: ev)
    ks = {c["setting"]["params"]["k"] for c in res.candidates if c["x"] is not None}
    assert ks == {30.0, 60.0} and res.n_exact <= 30
    assert [c["label"] for c in res.candidates[:2]] == ["FFT", "LORA"]  # once, not per k
    accepted = [c for c in res.candidates if c["accepted"] and c["x"] is not None]
    best = min(c["val"]["objective"]["value"] for c in accepted)
    assert res.candidates[res.recommendation]["val"]["objective"]["value"] == best
    assert "recommendation" in res.test


# ----------------------------------------------------------------------------- influence


@pytest.mark.parametrize("method", ["task_addition", "ties"])
def test_influence_is_the_derivative_of_the_soft_rates(parts, method):  # noqa: F811
    """Each column against central differences of the exact soft rates in float64, at two
    steps (tests/derivatives.py): the soft rates are smooth in λ, so no rounding decides it."""
    ev64 = make_evaluator(parts, dtype=torch.float64)
    lams = {"women": 0.4, "men": 0.6}
    params = {"k": 50} if method == "ties" else {}
    setting = method_mix(method, GROUPS, lams, "mean", params)
    matrix = influence_at(ev64, setting, "val")
    for g in GROUPS:

        def f(t, g=g):
            moved = {**lams, g: lams[g] + t}
            s = method_mix(method, GROUPS, moved, "mean", params)
            # Setting rounds λ to 10 decimals: exact at these steps (1e-4, 1e-5).
            logits = ev64.setting_logits(s, ["val"])["val"]
            return soft_rates(logits, ev64.labels("val"), ev64.groups("val")).to_numpy()

        assert_directional_derivative(f, matrix[g].to_numpy(), rtol=2e-3)
    assert set(matrix.index.get_level_values("rate")) == {"selection_rate", "tpr", "fpr"}


def test_soft_rates_follow_their_definition():
    logits = np.stack([np.zeros(N), np.linspace(-2, 2, N)], axis=1)
    r = soft_rates(logits, Y, G)
    p = 1 / (1 + np.exp(-logits[:, 1]))
    a = (G == "a").to_numpy()
    assert r[("a", "selection_rate")] == pytest.approx(p[a].mean())
    assert r[("a", "tpr")] == pytest.approx(p[a & (Y == 1)].mean())
    assert r[("a", "fpr")] == pytest.approx(p[a & (Y == 0)].mean())

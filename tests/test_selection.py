"""Choosing λ on validation only, reporting on test; and the bound's shape and L estimate."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from taskfair.analysis import bound, selection
from taskfair.sweep import COLUMNS, OVERALL

# (lam, accuracy, dpd, eod) of a made-up validation sweep
VAL = [
    (0.0, 0.70, 0.02, 0.05),
    (0.2, 0.90, 0.15, 0.20),
    (0.4, 0.89, 0.08, 0.12),
    (0.6, 0.88, 0.05, 0.04),
    (0.8, 0.85, 0.03, 0.06),
    (1.0, 0.80, 0.04, 0.03),
]
FFT_VAL = 0.90


def _row(method, lam, split, acc, dpd, eod, seed=0, coeffs=None, group=OVERALL):
    if coeffs is None:
        coeffs = (
            {} if method == "base" else ({"fft": 1.0} if method == "fft" else {"a": lam, "b": lam})
        )
    return {
        "method": method,
        "lam": math.nan if method in ("fft", "lora", "base") else lam,
        "normalize": "sum",
        "coeffs": json.dumps(coeffs, sort_keys=True),
        "split": split,
        "seed": seed,
        "group": group,
        "accuracy": acc,
        "macro_accuracy": acc,
        "worst_group_accuracy": acc - 0.1,
        "dpd": dpd,
        "eod": eod,
        "n": 100,
        "selection_rate": 0.5,
        "tpr": 0.5,
        "fpr": 0.5,
        "vs_rest_dpd": math.nan,
        "vs_rest_eod": math.nan,
        "exact": True,
    }


def sweep_frame(split="val", shift=0.0, seeds=(0,)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        rows += [_row("task_addition", lam, split, a + shift, d, e, seed) for lam, a, d, e in VAL]
        rows.append(_row("fft", None, split, FFT_VAL + shift, 0.10, 0.15, seed))
        rows.append(_row("task_addition", 0.6, split, 0.5, 0.5, 0.5, seed, group="a"))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_pareto_front_on_validation():
    front = selection.pareto_front(sweep_frame(), x="dpd", y="accuracy")
    # (dpd, acc): 0.02/0.70, 0.03/0.85, 0.05/0.88, 0.08/0.89, 0.10/0.90 (fft) dominate
    assert front["dpd"].tolist() == [0.02, 0.03, 0.05, 0.08, 0.10]
    assert front["method"].tolist()[-1] == "fft"
    assert (np.diff(front["accuracy"]) > 0).all()
    eod_front = selection.pareto_front(sweep_frame(), x="eod")
    assert eod_front["eod"].tolist() == [0.03, 0.04, 0.12, 0.15]
    with pytest.raises(ValueError, match="validation|'val'"):
        selection.pareto_front(pd.concat([sweep_frame(), sweep_frame("test")]))


def test_select_lambda_uses_fft_val_accuracy_and_the_margin():
    sel = selection.select_lambda(sweep_frame(), metric="dpd", within=0.02)
    assert sel.reference_accuracy == FFT_VAL
    assert sel.lam == 0.6 and sel.feasible  # acc 0.88 ≥ 0.88, dpd 0.05
    assert sel.val_metrics["dpd"] == 0.05
    assert selection.select_lambda(sweep_frame(), metric="dpd", within=0.05).lam == 0.8
    assert selection.select_lambda(sweep_frame(), metric="eod", within=0.02).lam == 0.6
    assert selection.select_lambda(sweep_frame(), within=0.0, reference_accuracy=0.85).lam == 0.8
    none = selection.select_lambda(sweep_frame(), within=0.0, reference_accuracy=0.99)
    assert not none.feasible and none.lam == 0.2  # falls back to the most accurate, says so
    assert "no setting" in none.reason


def test_selector_never_looks_at_test():
    val = sweep_frame("val")
    with pytest.raises(ValueError, match="test"):
        selection.select_lambda(pd.concat([val, sweep_frame("test")]))
    # poisoned test numbers cannot matter: the choice is made from the val frame alone,
    # and reported on a test frame whose values are wildly different
    poisoned = sweep_frame("test", shift=-0.5)
    poisoned["dpd"] = np.random.default_rng(0).uniform(size=len(poisoned))
    sel = selection.select_lambda(val, within=0.02)
    assert sel.lam == 0.6
    rep = selection.report_on_test(sel, pd.concat([val, poisoned]))
    top = rep[rep.group == OVERALL].iloc[0]
    assert top["split"] == "test" and top["accuracy"] == pytest.approx(0.38)
    assert set(rep["group"]) == {OVERALL, "a"}
    with pytest.raises(ValueError, match="test rows"):
        selection.report_on_test(sel, val)
    with pytest.raises(ValueError, match="FFT"):
        selection.select_lambda(val[val.method != "fft"])


def test_seeds_are_averaged_before_choosing():
    df = sweep_frame(seeds=(0, 1))
    df.loc[(df.seed == 1) & (df.lam == 0.6) & (df.group == OVERALL), "dpd"] = 0.25  # mean 0.15
    sel = selection.select_lambda(df, within=0.05)
    assert sel.lam == 0.8 and sel.seeds == [0, 1]
    assert sel.val_metrics["dpd"] == pytest.approx(0.03)


# ------------------------------------------------------------------------- the bound


def test_dpd_bound_curve_shape():
    lams = [0.0, 0.5, 1.0, 1.5]
    curve = bound.dpd_bound_curve(lams, {"a": 2.0, "b": 1.0}, L=0.1)
    assert list(curve.columns) == ["lam", "bound"]
    np.testing.assert_allclose(curve["bound"], 2 * 0.1 * np.abs(np.array(lams) - 1) * 3.0)
    mean = bound.dpd_bound_curve(lams, [2.0, 1.0], L=0.1, normalize="mean")
    np.testing.assert_allclose(mean["bound"], curve["bound"] / 2)
    shifted = bound.dpd_bound_curve(lams, [2.0, 1.0], L=0.1, offset=0.04)
    assert shifted["bound"].iloc[2] == pytest.approx(0.04)
    assert bound.dpd_bound({"a": 0.5, "b": 1.0}, {"a": 2.0, "b": 1.0}, L=0.1) == pytest.approx(0.2)
    assert "Lipschitz" in bound.ASSUMPTION and "lower estimate" in bound.ESTIMATOR_NOTE
    assert "not drawn" in bound.EOD_NOTE


def test_estimate_lipschitz_is_the_largest_observed_slope():
    # score s = sigmoid(z1 - z0); make z1 - z0 = logit(p) with known probabilities
    def logits(p):
        p = np.asarray(p, dtype=float)
        return np.stack([np.zeros_like(p), np.log(p / (1 - p))], axis=1)

    pts = [logits([0.5, 0.5]), logits([0.6, 0.5]), logits([0.6, 0.9])]
    coeffs = [{"a": 0.0}, {"a": 0.5}, {"a": 1.0}]
    names, gram = ["a"], np.array([[4.0]])  # ‖τ_a‖ = 2: steps of 0.5 move θ by 1
    est = bound.estimate_lipschitz(pts, coeffs, names, gram)
    assert pytest.approx(0.4) == est.L and est.pair == (1, 2) and est.n_pairs == 2
    allp = bound.estimate_lipschitz(pts, coeffs, names, gram, pairs="all")
    assert allp.n_pairs == 3 and pytest.approx(0.4) == allp.L
    gm = bound.estimate_lipschitz(
        pts, coeffs, names, gram, estimator="group_mean", groups=["g", "g"]
    )
    assert pytest.approx(0.2) == gm.L and gm.L <= est.L
    assert bound.param_distance({"a": 1.0}, {"a": 0.0}, names, gram) == pytest.approx(2.0)


def test_gram_matrix_of_task_vectors():
    import torch

    from taskfair.vectors import TaskVector

    a = TaskVector({"w": torch.tensor([3.0, 0.0])})
    b = TaskVector({"w": torch.tensor([0.0, 4.0])})
    names, gram = bound.gram_matrix({"a": a, "b": b})
    assert names == ["a", "b"]
    np.testing.assert_allclose(gram, [[9.0, 0.0], [0.0, 16.0]])
    assert bound.param_distance({"a": 1.0, "b": 1.0}, {}, names, gram) == pytest.approx(5.0)

"""The claims report: its bootstrap scores, its verdict rules, the CLI and the page."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_copy import linked_copy as _linked_copy
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.metrics import balanced_accuracy_score

from taskfair.analysis.claims import (
    ESTIMATE_COLUMNS,
    HOLDS,
    INCONCLUSIVE,
    NOT_HOLDS,
    delta_table,
    estimates,
    group_names,
    judge,
    replicates,
    stratified_weights,
    weighted_scores,
)
from taskfair.metrics import bootstrap_replicates, group_vs_rest

GROUPS = ("a", "b", "c")
LAMS = [round(i / 10, 10) for i in range(11)]
INJ = [0.2, 0.4, 0.6, 0.8, 1.0]


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    groups = rng.choice(["a", "b", "c", None], n).tolist()
    return rng, y, groups


# ----------------------------------------------------------------------------- bootstrap


def test_weighted_scores_are_fairlearns_on_the_rows_and_on_a_resample():
    rng, y, groups = _data()
    p = np.where(rng.random(len(y)) < 0.75, y, 1 - y)
    grouped = np.array([g is not None for g in groups])
    counts = stratified_weights(y, groups, 1, random_state=4)[0].astype(int)
    got = weighted_scores(y, groups, [p], np.stack([np.ones(len(y)), counts]))
    names = group_names(groups)
    for b, w in enumerate((np.ones(len(y), dtype=int), counts)):
        yy, pp = np.repeat(y, w), np.repeat(p, w)
        gg, keep = np.repeat(np.array(groups, dtype=object), w), np.repeat(grouped, w)
        assert got["accuracy"][0, b] == pytest.approx((yy == pp).mean())
        assert got["balanced_accuracy"][0, b] == pytest.approx(balanced_accuracy_score(yy, pp))
        accs = [(yy[gg == g] == pp[gg == g]).mean() for g in names]
        assert got["macro_accuracy"][0, b] == pytest.approx(np.mean(accs))
        dpd = demographic_parity_difference(yy[keep], pp[keep], sensitive_features=gg[keep])
        eod = equalized_odds_difference(yy[keep], pp[keep], sensitive_features=gg[keep])
        assert got["dpd"][0, b] == pytest.approx(dpd)
        assert got["eod"][0, b] == pytest.approx(eod)
        for j, g in enumerate(names):
            vs_dpd, vs_eod = group_vs_rest(yy, pp, gg, g)
            assert got["vs_rest_dpd"][0, b, j] == pytest.approx(vs_dpd)
            assert got["vs_rest_eod"][0, b, j] == pytest.approx(vs_eod)
            assert got["group_accuracy"][0, b, j] == pytest.approx(accs[j])


def test_scores_agree_with_the_metrics_engine():
    """The claims read the engine's numbers: same values on the rows, and the engine's
    stratified resample (every stratum keeps its size) behind the replicates."""
    rng, y, groups = _data()
    preds = {f"p{i}": np.where(rng.random(len(y)) < 0.7, y, 1 - y) for i in range(3)}
    ours = weighted_scores(y, groups, list(preds.values()), np.ones((1, len(y))))
    engine = bootstrap_replicates(y, preds, sensitive_features=groups, n_boot=20)
    for m in ("accuracy", "macro_accuracy", "dpd", "eod"):
        np.testing.assert_allclose(ours[m][:, 0], engine.estimate[m], rtol=1e-12)


def test_soft_dpd_is_the_spread_of_the_groups_mean_scores():
    rng, y, groups = _data()
    s = rng.random(len(y))
    got = weighted_scores(y, groups, [(s > 0.5).astype(int)], np.ones((1, len(y))), [s])
    g = pd.Series(groups, dtype=object)
    means = pd.Series(s)[g.notna()].groupby(g[g.notna()]).mean()
    assert got["soft_dpd"][0, 0] == pytest.approx(means.max() - means.min())


def test_stratified_resamples_keep_every_label_by_group_stratum():
    _, y, groups = _data()
    w = stratified_weights(y, groups, 30, random_state=1)
    g = pd.Series(groups, dtype=object).fillna("none").to_numpy()
    for stratum in {(gi, yi) for gi, yi in zip(g, y, strict=True)}:
        rows = (g == stratum[0]) & (y == stratum[1])
        np.testing.assert_array_equal(w[:, rows].sum(axis=1), rows.sum())
    assert (w.std(axis=0) > 0).any()
    np.testing.assert_array_equal(w, stratified_weights(y, groups, 30, random_state=1))


def test_replicates_are_paired_and_reproducible():
    rng, y, groups = _data()
    p = np.where(rng.random(len(y)) < 0.75, y, 1 - y)
    obs, reps = replicates(y, groups, [p, p.copy()], n_boot=50, random_state=3)
    assert reps["accuracy"].shape == (2, 50)
    assert reps["vs_rest_dpd"].shape == (2, 50, 3)
    # The same resamples score both copies: their differences are exactly zero.
    np.testing.assert_array_equal(reps["dpd"][0], reps["dpd"][1])
    again = replicates(y, groups, [p, p], n_boot=50, random_state=3)[1]
    np.testing.assert_array_equal(reps["eod"], again["eod"])
    assert np.nanstd(reps["accuracy"][0]) > 0


# ----------------------------------------------------------------------------- estimates


def _logits(p, rng=None, margin=1.0):
    """Logits whose argmax is ``p`` (and whose score varies when ``rng`` is given)."""
    z = (2 * np.asarray(p) - 1) * margin
    if rng is not None:
        z = z * (0.5 + rng.random(len(p)))
    return np.stack([np.zeros(len(p)), z], axis=1)


def _sweep(y, groups, pred_of, seeds=(0,), rng=None, degenerate=()):
    """Rows and logits of task addition on the grid, injection of each group on its
    grid, FFT and LoRA; ``pred_of(seed, method, lam, vector)`` gives the predictions."""
    rows, logits = [], {}
    points = [("task_addition", lam, "", {"a": lam}) for lam in LAMS]
    points += [("injection", lam, g, {"fft": 1.0, g: lam}) for g in GROUPS for lam in INJ]
    points += [("fft", None, "", {"fft": 1.0}), ("lora", None, "", {"lora": 1.0})]
    for seed in seeds:
        for method, lam, vector, coeffs in points:
            p = pred_of(seed, method, lam, vector)
            logits[(seed, method, lam, vector)] = _logits(p, rng)
            rows.append({"method": method, "lam": math.nan if lam is None else lam,
                         "coeffs": json.dumps(coeffs), "split": "test", "seed": seed,
                         "group": "__overall__",
                         "degenerate": (method, lam, vector) in degenerate})  # fmt: skip
    return pd.DataFrame(rows), logits


def test_estimates_from_sweep_rows_and_logits_with_two_seeds():
    rng, y, groups = _data()
    fft = np.where(rng.random(len(y)) < 0.8, y, 1 - y)
    noisy = {}

    def pred_of(seed, method, lam, vector):
        if method == "fft" or (method == "task_addition" and lam == 1.0):
            return fft
        key = (seed, method, lam, vector)
        noisy.setdefault(key, np.where(rng.random(len(y)) < 0.7, y, 1 - y))
        return noisy[key]

    rows, logits = _sweep(y, groups, pred_of, seeds=(0, 1), rng=rng)
    est = estimates(rows, logits, y, groups, n_boot=200, norm_scale=2.0)
    assert list(est.columns) == list(ESTIMATE_COLUMNS)
    assert (est["n_seeds"] == 2).all()
    ok = est["lo"].notna()
    assert ((est["lo"] <= est["estimate"] + 1e-12) & (est["estimate"] <= est["hi"] + 1e-12))[
        ok
    ].all()
    same = est[(est["lam"] == 1.0) & (est["method"] == "task_addition") & (est["against"] == "fft")]
    assert len(same) == 5  # every point metric but soft DPD
    assert (same[["estimate", "lo", "hi"]].abs() < 1e-12).all().all()
    level = est[(est["lam"] == 0.5) & (est["against"] == "") & (est["quantity"] == "dpd")]
    keep = np.array([g is not None for g in groups])
    g = np.array(groups, dtype=object)[keep]
    vals = [demographic_parity_difference(y[keep], pred_of(s, "task_addition", 0.5, "")[keep],
                                          sensitive_features=g) for s in (0, 1)]  # fmt: skip
    assert level["estimate"].item() == pytest.approx(np.mean(vals))
    assert level["se"].item() == pytest.approx(np.std(vals, ddof=1) / math.sqrt(2))
    assert set(est["band"]) == {"pointwise", "simultaneous", "reselected"}
    assert (est["quantity"] == "bound_margin").sum() == 5  # λ = 0.1, 0.3, …, 0.9


def test_c2_reselects_the_peak_inside_every_resample():
    """Two λ of equal accuracy: the re-selected peak's interval is not the fixed one's."""
    rng, y, groups = _data(n=600)
    base = np.where(rng.random(len(y)) < 0.7, y, 1 - y)
    flip = {lam: np.where(rng.random(len(y)) < 0.05, 1 - base, base) for lam in LAMS}

    def pred_of(seed, method, lam, vector):
        return flip[lam] if method == "task_addition" else base

    rows, logits = _sweep(y, groups, pred_of)
    est = estimates(rows, logits, y, groups, n_boot=300)
    share = est[est["quantity"] == "peak_early_share"]["estimate"].item()
    assert 0 < share < 1  # λ* moves between resamples
    star = est[est["quantity"] == "peak_gain"].iloc[0]
    fixed = est[(est["quantity"] == "macro_accuracy") & (est["against"] == "ta@1")
                & np.isclose(est["lam"], star["lam"])].iloc[0]  # fmt: skip
    assert star["estimate"] == pytest.approx(fixed["estimate"])
    # Selecting the best of 10 noisy λ in each resample: the gain's resampled values sit
    # higher than those of the one λ chosen on the rows as they are.
    assert star["hi"] > fixed["hi"]


def test_c4_matrix_intervals_are_simultaneous_and_wider_than_pointwise():
    rng, y, groups = _data(n=600)
    fft = np.where(rng.random(len(y)) < 0.75, y, 1 - y)
    other = {k: np.where(rng.random(len(y)) < 0.75, y, 1 - y) for k in range(64)}

    def pred_of(seed, method, lam, vector):
        return fft if method in ("fft", "lora") else other[hash((method, lam, vector)) % 64]

    rows, logits = _sweep(y, groups, pred_of)
    est = estimates(rows, logits, y, groups, n_boot=400)
    cells = est[(est["band"] == "simultaneous") & (est["method"] == "injection")]
    assert len(cells) == 3 * len(GROUPS) * len(INJ) * len(GROUPS)
    r = cells[cells["quantity"] == "vs_rest_dpd"].iloc[0]
    reps = replicates(y, groups, [pred_of(0, "injection", r["lam"], r["vector"]), fft],
                      n_boot=400)[1]  # fmt: skip
    j = group_names(groups).index(r["group"])
    d = reps["vs_rest_dpd"][0, :, j] - reps["vs_rest_dpd"][1, :, j]
    lo, hi = np.quantile(d, [0.025, 0.975])
    assert r["hi"] - r["lo"] > 1.5 * (hi - lo)  # 45 cells share one 95% level


# ----------------------------------------------------------------------------- verdicts


def _e(quantity, method, lam, estimate, half, vector="", against="", group=""):
    return {"quantity": quantity, "method": method, "lam": math.nan if lam is None else lam,
            "vector": vector, "group": group, "against": against, "estimate": estimate,
            "se": math.nan, "lo": estimate - half, "hi": estimate + half,
            "band": "pointwise", "n_seeds": 1}  # fmt: skip


_Q = ("macro_accuracy", "accuracy", "balanced_accuracy", "dpd", "eod")


def _frame(
    ta_diff=(-0.01, -0.05, -0.05),
    ta_half=0.01,
    peak=(0.2, 1.0, 0.05, 0.05, 0.05),
    peak_half=0.01,
    inj=None,
    inj_half=0.01,
    cells=None,
    cell_half=0.01,
    margins=(-0.05,) * 5,
    margin_half=0.01,
):
    """A hand-made estimates frame. ``ta_diff``: task addition minus FFT and LoRA
    (macro accuracy, DPD, EOD) at every λ; ``peak``: (λ*, share of resamples in the early
    window, macro gain, DPD and EOD differences from θ(1)); ``inj``: {vector: (macro,
    DPD, EOD) minus FFT and LoRA}; ``cells``: {(vector, group): vs-rest ΔDPD = ΔEOD};
    ``margins``: C5's D − bound at the five check λ."""
    out = []
    acc, dpd, eod = ta_diff
    for lam in LAMS:
        out.append(_e("accuracy", "task_addition", lam, 0.7, 0.02))
        for ref in ("fft", "lora"):
            for q, d in zip(_Q, (acc, acc, acc, dpd, eod), strict=True):
                out.append(_e(q, "task_addition", lam, d, ta_half, against=ref))
    star, share, gain, pd_, pe = peak
    out.append(_e("peak_gain", "task_addition", star, gain, peak_half, against="ta@1"))
    out.append(_e("peak_dpd", "task_addition", star, pd_, peak_half, against="ta@1"))
    out.append(_e("peak_eod", "task_addition", star, pe, peak_half, against="ta@1"))
    out.append(_e("peak_early_share", "task_addition", star, share, math.nan))
    for g in GROUPS:
        a, d, e = (inj or {}).get(g, (0.0, -0.03, -0.03))
        for lam in INJ:
            out.append(_e("accuracy", "injection", lam, 0.7, 0.02, vector=g))
            for ref in ("fft", "lora"):
                for q, v in zip(_Q, (a, a, a, d, e), strict=True):
                    out.append(_e(q, "injection", lam, v, inj_half, vector=g, against=ref))
            for h in GROUPS:
                v = (cells or {}).get((g, h), -0.05)
                for q in ("vs_rest_dpd", "vs_rest_eod", "group_accuracy"):
                    out.append(_e(q, "injection", lam, v, cell_half, g, "fft", h))
    for h in GROUPS:
        out.append(_e("vs_rest_dpd", "task_addition", 0.8, -0.05 if h != "c" else 0.05, 0.01,
                      against="fft", group=h))  # fmt: skip
    out.append(_e("bound_constant", "task_addition", None, 0.5, 0.1))
    for lam, m in zip((0.1, 0.3, 0.5, 0.7, 0.9), margins, strict=True):
        out.append(_e("deviation_check", "task_addition", lam, 0.1, 0.02))
        out.append(_e("bound", "task_addition", lam, 0.1 - m, 0.02))
        out.append(_e("bound_margin", "task_addition", lam, m, margin_half))
    return pd.DataFrame(out)


def _result(est, claim, **kw):
    return {r.claim: r for r in judge(est, **kw)}[claim]


def _verdict(est, claim, **kw):
    return _result(est, claim, **kw).verdict


def test_c1_holds_fails_and_is_inconclusive():
    assert _verdict(_frame(), "C1") == HOLDS
    assert _result(_frame(), "C1").direction is True
    # DPD above FFT's and LoRA's with a tight interval: refuted.
    assert _verdict(_frame(ta_diff=(-0.01, 0.05, -0.05)), "C1") == NOT_HOLDS
    # Macro accuracy far below the references (beyond δ): refuted, and the wrong direction.
    worse = _frame(ta_diff=(-0.10, -0.05, -0.05))
    assert _verdict(worse, "C1") == NOT_HOLDS
    assert _result(worse, "C1").direction is False
    # Intervals that straddle every threshold: neither, though the estimates point the
    # paper's way ("direction reproduced", not significant).
    loose = _frame(ta_diff=(-0.02, -0.01, -0.01), ta_half=0.05)
    assert _verdict(loose, "C1") == INCONCLUSIVE
    assert _result(loose, "C1").direction is True
    # δ is the rule's: the same gap (−0.05 ± 0.01) holds with δ = 0.1.
    est = _frame(ta_diff=(-0.05, -0.05, -0.05))
    assert _verdict(est, "C1") == NOT_HOLDS
    assert _verdict(est, "C1", delta=0.1) == HOLDS


def test_c1_and_c3_judge_macro_accuracy_not_overall_accuracy():
    est = _frame()
    overall = est["quantity"] == "accuracy"
    est.loc[overall & (est["against"] != ""), ["estimate", "lo", "hi"]] = [-0.2, -0.21, -0.19]
    assert _verdict(est, "C1") == HOLDS and _verdict(est, "C3") == HOLDS
    macro = est["quantity"] == "macro_accuracy"
    est.loc[macro, ["estimate", "lo", "hi"]] = [-0.2, -0.21, -0.19]
    assert _verdict(est, "C1") == NOT_HOLDS and _verdict(est, "C3") == NOT_HOLDS


def test_c2_holds_fails_and_is_inconclusive():
    assert _verdict(_frame(), "C2") == HOLDS
    # λ* late in (nearly) every resample, and fairer than θ(1): refuted on both parts.
    late = _frame(peak=(0.7, 0.0, 0.05, -0.05, -0.05))
    assert _verdict(late, "C2") == NOT_HOLDS
    assert _result(late, "C2").direction is False
    # An early λ* on the rows that moves in the resamples: direction only.
    unsure = _frame(peak=(0.2, 0.6, 0.05, 0.05, 0.05))
    assert _verdict(unsure, "C2") == INCONCLUSIVE
    assert _result(unsure, "C2").direction is True


def test_c3_holds_fails_and_is_inconclusive():
    assert _verdict(_frame(), "C3") == HOLDS
    worse = {g: (0.0, 0.03, 0.03) for g in GROUPS}
    assert _verdict(_frame(inj=worse), "C3") == NOT_HOLDS
    assert _verdict(_frame(inj_half=0.1), "C3") == INCONCLUSIVE
    # The sweep: one row per vector and λ of 0.2 … 1, against FFT and LoRA.
    details = _result(_frame(), "C3").details
    assert len(details) == len(GROUPS) * len(INJ)
    assert any("vs lora" in c for c in details.columns)


def test_c4_holds_fails_and_is_inconclusive():
    mixed = {("a", "a"): -0.05, ("a", "b"): 0.05, ("b", "c"): 0.0}
    result = _result(_frame(cells=mixed), "C4")
    assert result.verdict == HOLDS and result.direction is True
    # Every cell lowers both gaps (tight intervals): a uniform effect.
    assert _verdict(_frame(), "C4") == NOT_HOLDS
    assert _result(_frame(), "C4").direction is False
    assert _verdict(_frame(cell_half=0.1), "C4") == INCONCLUSIVE
    # The paper's count: two of three groups improve at task addition's λ = 0.8.
    assert "2 of 3 groups improve DPD vs FFT (2)" in result.measured


def test_c5_holds_fails_and_is_inconclusive():
    held = _result(_frame(), "C5")
    assert held.verdict == HOLDS and "contained at 5 of 5" in held.measured
    assert "tightness 1.50" in held.measured  # a bound of 0.15 over a measured 0.1
    assert _verdict(_frame(margins=(-0.05, -0.05, 0.05, -0.05, -0.05)), "C5") == NOT_HOLDS
    assert _verdict(_frame(margin_half=0.1), "C5") == INCONCLUSIVE


def _flag(est, where):
    """``est`` with the rows selected by ``where(est)`` marked degenerate."""
    return est.assign(degenerate=where(est))


def test_a_degenerate_points_dpd_and_eod_decide_nothing():
    """A near-constant predictor's small gaps are not fairness: the same numbers that hold
    (or fail) are inconclusive once the points they involve are degenerate."""
    fair = _frame()
    gaps = _flag(fair, lambda e: ~e["quantity"].str.contains("accuracy|gain|share"))
    for claim in ("C1", "C2", "C3", "C4"):
        assert _verdict(fair, claim) in (HOLDS, NOT_HOLDS)
        assert _verdict(gaps, claim) == INCONCLUSIVE, claim
    assert "8 of them involve a degenerate point" in _result(gaps, "C1").measured
    # Accuracy still counts: far below FFT and LoRA is refuted, degenerate or not.
    worse = _flag(_frame(ta_diff=(-0.10, -0.05, -0.05)), lambda e: e["quantity"] != "accuracy")
    assert _verdict(worse, "C1") == NOT_HOLDS
    # C5 is about scores: the degeneracy of thresholded predictions does not touch it.
    assert _verdict(gaps, "C5") == HOLDS


def test_delta_sensitivity_table():
    table = delta_table(_frame(ta_diff=(-0.025, -0.05, -0.05), inj={g: (-0.035, -0.05, -0.05)
                                                                      for g in GROUPS}))  # fmt: skip
    assert list(table.columns) == ["claim", "δ = 0.01", "δ = 0.02", "δ = 0.03", "δ = 0.05"]
    c1 = table.set_index("claim").loc["C1"].tolist()
    c3 = table.set_index("claim").loc["C3"].tolist()
    assert c1 == [NOT_HOLDS, INCONCLUSIVE, INCONCLUSIVE, HOLDS]
    assert c3 == [NOT_HOLDS, NOT_HOLDS, INCONCLUSIVE, HOLDS]


def test_every_result_states_its_rule_and_numbers():
    for r in judge(_frame()):
        assert r.verdict in (HOLDS, NOT_HOLDS, INCONCLUSIVE)
        assert "holds" in r.rule and "interval" in r.rule
        assert any(ch.isdigit() for ch in r.measured)
    c1 = judge(_frame())[0]
    assert "δ = 0.03" in c1.rule and "macro accuracy" in c1.rule
    assert len(c1.details) == 8  # λ = 0.3 … 1.0


# ----------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def swept(tiny_bundle, tmp_path_factory) -> Path:
    """A copy of the tiny bundle (hard links, not a copy of the weights) whose sweeps the
    claims need are computed once for this module's tests (into this copy only)."""
    from taskfair.analysis.reproduce import bundle_claims
    from taskfair.bundle import Bundle

    bundle = _linked_copy(tiny_bundle, tmp_path_factory.mktemp("claims") / "tiny")
    bundle_claims(Bundle.open(bundle), n_boot=100)
    return bundle


def test_reproduce_cli_on_the_tiny_bundle(swept, tmp_path, capsys):
    from taskfair.cli import main

    bundle = swept
    out = tmp_path / "report"
    rc = main(["reproduce", "--bundle", str(bundle), "--out", str(out), "--n-boot", "200"])
    assert rc == 0
    md = (out / "claims.md").read_text()
    page = (out / "claims.html").read_text()
    est = pd.read_csv(out / "estimates.csv")
    for claim in ("C1", "C2", "C3", "C4", "C5"):
        line = next(x for x in md.splitlines() if x.startswith(f"| {claim} |"))
        assert any(v in line for v in (HOLDS, NOT_HOLDS, INCONCLUSIVE)), line
        assert f"<td>{claim}</td>" in page
    assert "<script" not in page and "http" not in page  # readable offline
    assert set(est["method"]) >= {"task_addition", "injection", "fft", "lora"}
    printed = capsys.readouterr().out
    assert "claims.md" in printed and "C5:" in printed and "direction reproduced" in printed
    # The header names the variant (configs/tiny.yaml balances the vectors' rows); the
    # report has both readings, the δ table and the per-group AUC / calibration table.
    assert "- **variant**: Variant of the paper's method: group_sampling: balanced" in md
    assert "| claim | statement | direction reproduced | verdict | measured |" in md
    assert "## Sensitivity to δ" in md and "## Per-group AUC and calibration" in md
    ranking = pd.read_csv(out / "ranking.csv")
    assert {"subgroup_auc", "bpsn_auc", "bnsp_auc", "ece", "brier"} <= set(ranking.columns)
    inj = est[(est["method"] == "injection") & est["against"].isna() & est["group"].isna()]
    assert sorted(inj["lam"].unique()) == [0.2, 0.4, 0.6, 0.8, 1.0]
    # A second run reads every point from the bundle's sweep cache and says the same.
    assert main(["reproduce", "--bundle", str(bundle), "--out", str(out), "--n-boot", "200"]) == 0
    assert (out / "claims.md").read_text() == md


def test_a_report_regenerated_from_the_bundle_it_names_gives_the_same_numbers(
    swept, tiny_bundle, tmp_path
):
    """A committed report names its bundle in its header; regenerating from that bundle
    (here a fresh copy, its sweeps recomputed from the weights) reproduces every number."""
    from taskfair.analysis.reproduce import bundle_claims, write_report
    from taskfair.bundle import Bundle

    write_report(bundle_claims(Bundle.open(swept), n_boot=200), tmp_path / "report")
    header = (tmp_path / "report" / "claims.md").read_text().splitlines()
    named = next(x for x in header if x.startswith("- **bundle**: ")).split(": ")[1]
    assert named == "tiny"
    again = _linked_copy(tiny_bundle, tmp_path / "b" / named)
    write_report(bundle_claims(Bundle.open(again), n_boot=200), tmp_path / "again")
    for name in ("estimates.csv", "ranking.csv"):
        a, b = pd.read_csv(tmp_path / "report" / name), pd.read_csv(tmp_path / "again" / name)
        pd.testing.assert_frame_equal(a, b, rtol=1e-6, atol=1e-9)
    assert (tmp_path / "report" / "claims.md").read_text() == (
        tmp_path / "again" / "claims.md"
    ).read_text()


def test_the_html_report_escapes_every_bundle_derived_string():
    from taskfair.analysis.claims import ClaimResult
    from taskfair.analysis.claims_report import claims_html

    evil = '"><script>alert(1)</script>'
    result = ClaimResult("C1", evil, evil, evil, evil, pd.DataFrame({"verdict": [evil]}), True)
    page = claims_html([result], {"bundle": evil})
    assert "<script" not in page
    assert 'class="--' in page  # the verdict's class keeps letters, digits and hyphens only


def test_reproduce_cli_refuses_bad_input(tmp_path, capsys):
    from taskfair.cli import main

    assert main(["reproduce", "--bundle", str(tmp_path / "nope")]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--bundle", str(tmp_path), "--n-boot", "5"])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------- page


def test_claims_page_judges_the_open_bundle(swept, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from taskfair.analysis.reproduce import bundle_claims
    from taskfair.bundle import Bundle

    bundle = swept
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(bundle))
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app.py"), default_timeout=300)
    at.query_params["page"] = "claims"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Claims report"
    at.button(key="claims-run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    shown = at.dataframe[0].value
    assert list(shown["claim"]) == ["C1", "C2", "C3", "C4", "C5"]
    # The page shows what the library says for the same bundle (now fully cached).
    direct = bundle_claims(Bundle.open(bundle), n_boot=1000)
    assert list(shown["verdict"]) == [r.verdict for r in direct.results]
    assert list(shown["measured"]) == [r.measured for r in direct.results]
    assert list(shown["direction reproduced"]) == [
        {True: "yes", False: "no", None: "–"}[r.direction] for r in direct.results
    ]
    assert list(at.dataframe[1].value.columns)[:2] == ["claim", "δ = 0.01"]
    labels = [e.label for e in at.expander]
    assert labels[:5] == [f"{r.claim}: {r.verdict}" for r in direct.results]
    assert labels[5].startswith("Per-group AUC and calibration")


def test_claims_page_in_viewer_mode_says_it_evaluates_nothing(tiny_bundle, monkeypatch):
    from streamlit.testing.v1 import AppTest

    # The bundle has weights, but a viewer never computes: no button, one notice, and
    # nothing is written into the bundle.
    before = sorted(p.relative_to(tiny_bundle) for p in tiny_bundle.rglob("*"))
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(tiny_bundle))
    monkeypatch.setenv("TASKFAIR_MODE", "viewer")
    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app.py"), default_timeout=300)
    at.query_params["page"] = "claims"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Claims report"
    assert not [b for b in at.button if b.key == "claims-run"]
    assert any("evaluates nothing" in i.value and "taskfair reproduce" in i.value for i in at.info)
    assert sorted(p.relative_to(tiny_bundle) for p in tiny_bundle.rglob("*")) == before

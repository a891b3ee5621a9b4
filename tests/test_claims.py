"""The claims report: its bootstrap scores, its verdict rules, the CLI and the page."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_copy import linked_copy as _linked_copy
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from taskfair.analysis.claims import (
    ESTIMATE_COLUMNS,
    HOLDS,
    INCONCLUSIVE,
    NOT_HOLDS,
    estimates,
    judge,
    replicates,
    weighted_scores,
)

GROUPS = ("a", "b", "c")


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
    counts = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))
    got = weighted_scores(y, groups, [p], np.stack([np.ones(len(y)), counts]))[0]
    for row, w in zip(got, (np.ones(len(y), dtype=int), counts), strict=True):
        yy, pp = np.repeat(y, w), np.repeat(p, w)
        gg, keep = np.repeat(np.array(groups, dtype=object), w), np.repeat(grouped, w)
        assert row[0] == pytest.approx((yy == pp).mean())
        dpd = demographic_parity_difference(yy[keep], pp[keep], sensitive_features=gg[keep])
        eod = equalized_odds_difference(yy[keep], pp[keep], sensitive_features=gg[keep])
        assert row[1] == pytest.approx(dpd)
        assert row[2] == pytest.approx(eod)


def test_replicates_are_paired_and_reproducible():
    rng, y, groups = _data()
    p = np.where(rng.random(len(y)) < 0.75, y, 1 - y)
    a = replicates(y, groups, [p, p.copy()], n_boot=50, random_state=3)
    assert a.shape == (2, 50, 3)
    # The same resamples score both copies: their differences are exactly zero.
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_array_equal(a, replicates(y, groups, [p, p], n_boot=50, random_state=3))
    assert np.nanstd(a[0, :, 0]) > 0


def _rows(seed, method, lam, coeffs, acc, dpd, eod):
    return {
        "method": method,
        "lam": math.nan if lam is None else lam,
        "normalize": "sum",
        "coeffs": coeffs,
        "split": "test",
        "seed": seed,
        "group": "__overall__",
        "accuracy": acc,
        "dpd": dpd,
        "eod": eod,
    }


def test_estimates_from_sweep_rows_and_logits_with_two_seeds():
    """Point estimates are the rows' numbers; identical predictions differ by exactly 0."""
    rng, y, groups = _data()
    fft = np.where(rng.random(len(y)) < 0.8, y, 1 - y)
    logits, rows = {}, []
    for seed in (0, 1):
        for lam in (0.0, 0.5, 1.0):
            p = fft if lam == 1.0 else np.where(rng.random(len(y)) < 0.6 + 0.1 * lam, y, 1 - y)
            logits[(seed, "task_addition", lam, "")] = np.stack([1 - p, p], axis=1).astype(float)
            s = weighted_scores(y, groups, [p], np.ones((1, len(y))))[0, 0]
            rows.append(_rows(seed, "task_addition", lam, '{"a": 1}', *s))
        logits[(seed, "fft", None, "")] = np.stack([1 - fft, fft], axis=1).astype(float)
        s = weighted_scores(y, groups, [fft], np.ones((1, len(y))))[0, 0]
        rows.append(_rows(seed, "fft", None, '{"fft": 1.0}', *s))
    est = estimates(pd.DataFrame(rows), logits, y, groups, n_boot=200)
    assert list(est.columns) == list(ESTIMATE_COLUMNS)
    assert (est["n_seeds"] == 2).all()
    assert ((est["lo"] <= est["estimate"] + 1e-12) & (est["estimate"] <= est["hi"] + 1e-12)).all()
    same = est[(est["lam"] == 1.0) & (est["against"] == "fft")]
    assert len(same) == 3
    assert (same[["estimate", "lo", "hi"]].abs() < 1e-12).all().all()
    level = est[(est["lam"] == 0.5) & (est["against"] == "") & (est["quantity"] == "accuracy")]
    vals = [r["accuracy"] for r in rows if r["lam"] == 0.5]
    assert level["estimate"].item() == pytest.approx(np.mean(vals))
    assert level["se"].item() == pytest.approx(np.std(vals, ddof=1) / math.sqrt(2))
    assert (est["quantity"] == "dpd_slope").sum() == 1


# ----------------------------------------------------------------------------- verdicts


def _e(quantity, method, lam, vector, against, estimate, half):
    return {
        "quantity": quantity,
        "method": method,
        "lam": math.nan if lam is None else lam,
        "vector": vector,
        "against": against,
        "estimate": estimate,
        "se": math.nan,
        "lo": estimate - half,
        "hi": estimate + half,
        "n_seeds": 1,
    }


def _frame(
    ta_diff=(-0.01, -0.05, -0.05),
    ta_half=0.01,
    acc_curve=None,
    end_diff=None,
    end_half=0.01,
    inj=None,
    inj_half=0.01,
    slope=(0.1, 0.02),
):
    """A hand-made estimates frame: task addition on the 0..1 grid against fft, lora, θ(1);
    injection of each group against fft; the DPD slope."""
    lams = [round(i / 10, 10) for i in range(11)]
    acc_curve = acc_curve or {lam: 0.7 for lam in lams}
    out = []
    for lam in lams:
        out.append(_e("accuracy", "task_addition", lam, "", "", acc_curve[lam], 0.02))
        for ref in ("fft", "lora"):
            for q, d in zip(("accuracy", "dpd", "eod"), ta_diff, strict=True):
                out.append(_e(q, "task_addition", lam, "", ref, d, ta_half))
        diff = end_diff(lam) if end_diff else (0.0, 0.0, 0.0)
        for q, d in zip(("accuracy", "dpd", "eod"), diff, strict=True):
            out.append(_e(q, "task_addition", lam, "", "ta@1", d, 0.0 if lam == 1 else end_half))
    for g in GROUPS:
        for q, d in zip(
            ("accuracy", "dpd", "eod"), (inj or {}).get(g, (0, -0.03, -0.03)), strict=True
        ):
            out.append(_e(q, "injection", 1.0, g, "fft", d, inj_half))
    out.append(_e("dpd_slope", "task_addition", None, "", "", *slope))
    return pd.DataFrame(out)


def _verdict(est, claim, **kw):
    return {r.claim: r for r in judge(est, **kw)}[claim].verdict


def test_c1_holds_fails_and_is_inconclusive():
    assert _verdict(_frame(), "C1") == HOLDS
    # DPD above FFT's and LoRA's with a tight interval: refuted.
    assert _verdict(_frame(ta_diff=(-0.01, 0.05, -0.05)), "C1") == NOT_HOLDS
    # Accuracy far below the references (beyond δ): refuted.
    assert _verdict(_frame(ta_diff=(-0.10, -0.05, -0.05)), "C1") == NOT_HOLDS
    # Intervals that straddle every threshold: neither.
    assert _verdict(_frame(ta_diff=(-0.02, -0.01, -0.01), ta_half=0.05), "C1") == INCONCLUSIVE
    # δ is the rule's: the same accuracy gap (−0.05 ± 0.01) holds with δ = 0.1.
    est = _frame(ta_diff=(-0.05, -0.05, -0.05))
    assert _verdict(est, "C1") == NOT_HOLDS
    assert _verdict(est, "C1", delta=0.1) == HOLDS


def _early_peak(lam):
    return 0.8 if abs(lam - 0.2) < 1e-9 else 0.7


def test_c2_holds_fails_and_is_inconclusive():
    lams = [round(i / 10, 10) for i in range(11)]
    early = {lam: _early_peak(lam) for lam in lams}

    def above(lam):
        return (0.1, 0.05, 0.05) if lam < 1 else (0.0, 0.0, 0.0)

    assert _verdict(_frame(acc_curve=early, end_diff=above), "C2") == HOLDS
    late = {lam: 0.6 + 0.2 * lam for lam in lams}

    def below(lam):
        return (-0.1, -0.05, -0.05) if lam < 1 else (0.0, 0.0, 0.0)

    assert _verdict(_frame(acc_curve=late, end_diff=below), "C2") == NOT_HOLDS
    # An early peak whose differences from θ(1) are lost in their intervals.
    assert _verdict(_frame(acc_curve=early, end_diff=above, end_half=0.2), "C2") == INCONCLUSIVE


def test_c3_holds_fails_and_is_inconclusive():
    assert _verdict(_frame(), "C3") == HOLDS
    worse = {g: (0.0, 0.03, 0.03) for g in GROUPS}
    assert _verdict(_frame(inj=worse), "C3") == NOT_HOLDS
    assert _verdict(_frame(inj_half=0.1), "C3") == INCONCLUSIVE


def test_c4_holds_fails_and_is_inconclusive():
    mixed = {"a": (0, -0.03, 0.0), "b": (0, 0.03, 0.0), "c": (0, 0.0, 0.0)}
    assert _verdict(_frame(inj=mixed), "C4") == HOLDS
    # Every group lowers both DPD and EOD (tight intervals): a uniform effect.
    assert _verdict(_frame(), "C4") == NOT_HOLDS
    assert _verdict(_frame(inj_half=0.1), "C4") == INCONCLUSIVE


def test_c5_holds_fails_and_is_inconclusive():
    assert _verdict(_frame(slope=(0.1, 0.02)), "C5") == HOLDS
    assert _verdict(_frame(slope=(-0.1, 0.02)), "C5") == NOT_HOLDS
    assert _verdict(_frame(slope=(0.01, 0.05)), "C5") == INCONCLUSIVE


def _flag(est, where):
    """``est`` with the rows selected by ``where(est)`` marked degenerate."""
    return est.assign(degenerate=where(est))


def test_a_degenerate_points_dpd_and_eod_decide_nothing():
    """A near-constant predictor's small gaps are not fairness: the same numbers that hold
    (or fail) are inconclusive once the points they involve are degenerate."""
    fair = _frame()
    everywhere = _flag(fair, lambda e: e["quantity"] != "accuracy")
    for claim in ("C1", "C3", "C5"):
        assert _verdict(fair, claim) == HOLDS
        assert _verdict(everywhere, claim) == INCONCLUSIVE, claim
    c5 = {r.claim: r for r in judge(everywhere)}["C5"]
    assert "degenerate" in c5.measured and "degenerate" in c5.rule
    c1 = {r.claim: r for r in judge(everywhere)}["C1"]
    assert "8 of them involve a degenerate point" in c1.measured
    # Accuracy still counts: far below FFT and LoRA is refuted, degenerate or not.
    worse = _flag(_frame(ta_diff=(-0.10, -0.05, -0.05)), lambda e: e["quantity"] != "accuracy")
    assert _verdict(worse, "C1") == NOT_HOLDS
    # C4's mixed effect needs two groups whose gaps count.
    mixed = _frame(inj={"a": (0, -0.05, -0.05), "b": (0, 0.05, 0.05)})
    assert _verdict(mixed, "C4") == HOLDS
    assert _verdict(_flag(mixed, lambda e: e["vector"] == "b"), "C4") == INCONCLUSIVE


def test_estimates_mark_what_involves_a_degenerate_point():
    rng, y, groups = _data()
    fft = np.where(rng.random(len(y)) < 0.8, y, 1 - y)
    const = np.ones_like(y)  # predicts 1 for every row
    logits, rows = {}, []
    for lam, p in ((0.0, fft), (0.5, const), (1.0, fft)):
        logits[(0, "task_addition", lam, "")] = np.stack([1 - p, p], axis=1).astype(float)
        s = weighted_scores(y, groups, [p], np.ones((1, len(y))))[0, 0]
        rows.append({**_rows(0, "task_addition", lam, '{"a": 1}', *s), "degenerate": p is const})
    logits[(0, "fft", None, "")] = np.stack([1 - fft, fft], axis=1).astype(float)
    s = weighted_scores(y, groups, [fft], np.ones((1, len(y))))[0, 0]
    rows.append({**_rows(0, "fft", None, '{"fft": 1.0}', *s), "degenerate": False})
    est = estimates(pd.DataFrame(rows), logits, y, groups, n_boot=50)
    flagged = est[est["degenerate"]]
    assert set(flagged["lam"].dropna()) == {0.5}  # the point, and its differences
    assert set(flagged["against"]) == {"", "fft", "ta@1"}
    assert est.loc[est["quantity"] == "dpd_slope", "degenerate"].item()  # the grid holds it
    assert not est[(est["lam"] == 0.0) & (est["against"] == "fft")]["degenerate"].any()


def test_every_result_states_its_rule_and_numbers():
    for r in judge(_frame()):
        assert r.verdict in (HOLDS, NOT_HOLDS, INCONCLUSIVE)
        assert "holds" in r.rule and "interval" in r.rule
        assert any(ch.isdigit() for ch in r.measured)
    c1 = judge(_frame())[0]
    assert "δ = 0.03" in c1.rule
    assert len(c1.details) == 8  # λ = 0.3 … 1.0


# ----------------------------------------------------------------------------- CLI


def test_reproduce_cli_on_the_tiny_bundle(tiny_bundle, tmp_path, capsys):
    from taskfair.cli import main

    # Hard links, not a copy of the weights; the report's sweeps go into this copy only.
    bundle = _linked_copy(tiny_bundle, tmp_path / "tiny")
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
    assert "claims.md" in printed and "C5:" in printed
    # A second run reads every point from the bundle's sweep cache and says the same.
    assert main(["reproduce", "--bundle", str(bundle), "--out", str(out), "--n-boot", "200"]) == 0
    assert (out / "claims.md").read_text() == md


def test_reproduce_cli_refuses_bad_input(tmp_path, capsys):
    from taskfair.cli import main

    assert main(["reproduce", "--bundle", str(tmp_path / "nope")]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--bundle", str(tmp_path), "--n-boot", "5"])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------- page


def test_claims_page_judges_the_open_bundle(tiny_bundle, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from taskfair.analysis.reproduce import bundle_claims
    from taskfair.bundle import Bundle

    bundle = _linked_copy(tiny_bundle, tmp_path / "tiny")
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
    assert [e.label for e in at.expander] == [f"{r.claim}: {r.verdict}" for r in direct.results]


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

"""The count-table bootstrap: equal to fairlearn resample by resample, and a paired
difference whose interval covers the true difference at about the nominal rate."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from taskfair.metrics import (
    BAND_METRICS,
    GROUP_BAND_METRICS,
    PreviewScorer,
    bootstrap_bands,
    fairness_report,
    paired_difference,
    resample_indices,
    resampled_scores,
    seed_mean_bands,
)

_rng = np.random.default_rng(11)
N = 240
Y = _rng.integers(0, 2, N)
# a small group (often one-class or absent in a resample) and ungrouped rows
G = _rng.choice(np.array(["a", "b", "c", None], dtype=object), N, p=[0.5, 0.3, 0.05, 0.15])
P = np.where(_rng.random(N) < 0.7, Y, 1 - Y)


def test_resampled_scores_equal_fairlearn_on_the_same_indices():
    scorer = PreviewScorer(Y, G)
    idx = resample_indices(N, 25, random_state=3)
    fast = resampled_scores(scorer, P, idx)
    undefined = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in range(len(idx)):
            rows = idx[b]
            rep = fairness_report(Y[rows], P[rows], sensitive_features=G[rows])
            for m in ("accuracy", "macro_accuracy", "worst_group_accuracy", "dpd", "eod"):
                want = getattr(rep, m)
                undefined += np.isnan(want)
                assert fast[m][b] == pytest.approx(want, nan_ok=True), (m, b)
            assert fast["selection_rate"][b] == pytest.approx(P[rows].mean())
            table = rep.by_group.reindex(scorer.names)  # a group lost in the resample: NaN
            for m in GROUP_BAND_METRICS:
                np.testing.assert_allclose(
                    fast[f"group.{m}"][b], table[m].to_numpy(float), equal_nan=True, rtol=1e-12
                )
    assert undefined, "the case should include resamples with an undefined metric"


def test_bands_bracket_the_point_and_are_reproducible():
    scorer = PreviewScorer(Y, G)
    band = bootstrap_bands(scorer, P, n_boot=200, random_state=0)
    rep = scorer.report_preds(P)
    for m in ("accuracy", "macro_accuracy"):
        lo, hi = band["overall"][m]
        assert lo < getattr(rep, m) < hi
    assert set(band["overall"]) == set(BAND_METRICS)
    assert band["defined"]["accuracy"] == 200
    assert bootstrap_bands(scorer, P, n_boot=200, random_state=0) == band
    lo, hi = band["groups"]["a"]["accuracy"]
    assert lo < rep.by_group.loc["a", "accuracy"] < hi


def test_seed_mean_band_of_identical_seeds_is_the_single_band():
    scorer = PreviewScorer(Y, G)
    one = bootstrap_bands(scorer, P, n_boot=50)
    two = seed_mean_bands(scorer, [P, P], n_boot=50)
    for m in ("accuracy", "dpd"):
        np.testing.assert_allclose(two["overall"][m], one["overall"][m])
    assert two["seeds"] == 2


def _population():
    """A joint distribution over (group, y, ŷ_a, ŷ_b) with known metrics: two groups
    with different base rates, and predictor b a noisy copy of predictor a (paired)."""
    p_group = {0: 0.55, 1: 0.45}
    base = {0: 0.35, 1: 0.65}
    sel_a = {(0, 1): 0.80, (0, 0): 0.15, (1, 1): 0.75, (1, 0): 0.40}  # P(ŷa=1 | g, y)
    keep = 0.6  # b copies a with this probability, else draws from its own rates
    own_b = {(0, 1): 0.90, (0, 0): 0.45, (1, 1): 0.50, (1, 0): 0.10}
    cells, probs = [], []
    for g, pg in p_group.items():
        for y in (0, 1):
            py = base[g] if y else 1 - base[g]
            for a in (0, 1):
                pa = sel_a[g, y] if a else 1 - sel_a[g, y]
                for b in (0, 1):
                    pb = keep * (a == b) + (1 - keep) * (own_b[g, y] if b else 1 - own_b[g, y])
                    cells.append((g, y, a, b))
                    probs.append(pg * py * pa * pb)
    cells, probs = np.array(cells), np.array(probs)

    def truth(col):
        def rate(mask):
            return probs[mask & (cells[:, col] == 1)].sum() / probs[mask].sum()

        g0, g1 = cells[:, 0] == 0, cells[:, 0] == 1
        pos, neg = cells[:, 1] == 1, cells[:, 1] == 0
        acc = probs[cells[:, col] == cells[:, 1]].sum()
        dpd = abs(rate(g0) - rate(g1))
        eod = max(abs(rate(g0 & pos) - rate(g1 & pos)), abs(rate(g0 & neg) - rate(g1 & neg)))
        return {"accuracy": acc, "dpd": dpd, "eod": eod}

    ta, tb = truth(2), truth(3)
    return cells, probs, {m: ta[m] - tb[m] for m in ta}


def test_paired_difference_covers_the_true_difference_at_the_nominal_rate():
    cells, probs, true_diff = _population()
    # the max in EOD must not be a near tie, and no difference near 0, for a fair test
    assert all(abs(v) > 0.02 for v in true_diff.values())
    rng = np.random.default_rng(2024)
    reps, n = 200, 600
    covered = {m: 0 for m in true_diff}
    for r in range(reps):
        draw = cells[rng.choice(len(cells), size=n, p=probs)]
        groups = np.where(draw[:, 0] == 0, "g0", "g1").astype(object)
        scorer = PreviewScorer(draw[:, 1], groups)
        res = paired_difference(scorer, draw[:, 2], draw[:, 3], n_boot=200, random_state=r)
        for m, want in true_diff.items():
            covered[m] += res[m]["lo"] <= want <= res[m]["hi"]
    for m, c in covered.items():
        rate = c / reps
        assert 0.89 <= rate <= 0.99, (m, rate)  # nominal 0.95; 200 replications: SE 0.015


def test_paired_difference_reports_the_point_difference_and_the_finding_rule():
    scorer = PreviewScorer(Y, G)
    same = paired_difference(scorer, P, P, n_boot=100)
    assert same["accuracy"]["diff"] == 0.0 and not same["accuracy"]["finding"]
    worse = np.where(np.arange(N) % 3 == 0, 1 - Y, Y)  # wrong on a third of the rows
    diff = paired_difference(scorer, Y, worse, n_boot=100)
    acc = diff["accuracy"]
    assert acc["diff"] == pytest.approx(1.0 - (worse == Y).mean())
    assert acc["lo"] > 0 and acc["finding"]
